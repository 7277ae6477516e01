import time

from classifier_fn.claim import ClaimResult, claim
from gourmetgram import names
from gourmetgram.outcome import Outcome, Status


def fresh(worker: str = "w1") -> Outcome:
    return Outcome(id="p1", status=Status.PENDING, incoming_key="a.jpg", incoming_etag="e", worker=worker)


def stored(store) -> Outcome:
    doc, _ = store.get_json("events", "p1.json")
    return Outcome.from_json(doc)


def test_first_claim_writes_a_pending_record_with_expiry(fake_store):
    got = claim(fake_store, "events", fresh(), ttl_s=60)
    assert got.result is ClaimResult.CLAIMED
    record = stored(fake_store)
    assert record.status is Status.PENDING and record.worker == "w1" and record.attempts == 1
    assert not record.expired()


def test_a_live_claim_makes_others_wait(fake_store):
    claim(fake_store, "events", fresh("w1"), ttl_s=60)
    assert claim(fake_store, "events", fresh("w2"), ttl_s=60).result is ClaimResult.BUSY
    assert stored(fake_store).worker == "w1"


def test_an_expired_claim_is_taken_over(fake_store):
    claim(fake_store, "events", fresh("dead"), ttl_s=0)
    got = claim(fake_store, "events", fresh("w2"), ttl_s=60)
    assert got.result is ClaimResult.CLAIMED
    assert stored(fake_store).worker == "w2" and stored(fake_store).attempts == 2


def test_final_records_finish_without_work(fake_store):
    for status in (Status.DONE, Status.REJECTED):
        record = fresh()
        record.status = status
        fake_store.put_json("events", "p1.json", record.to_json())
        got = claim(fake_store, "events", fresh("w2"), ttl_s=60)
        assert got.result is ClaimResult.FINISHED and got.outcome.status is status


def test_failed_waits_for_its_back_off(fake_store):
    record = fresh()
    record.status = Status.FAILED
    record.retry_after = names.now_iso(time.time() + 60)
    fake_store.put_json("events", "p1.json", record.to_json())
    assert claim(fake_store, "events", fresh("w2"), ttl_s=60).result is ClaimResult.BUSY
    record.retry_after = names.now_iso(time.time() - 1)
    fake_store.put_json("events", "p1.json", record.to_json())
    assert claim(fake_store, "events", fresh("w2"), ttl_s=60).result is ClaimResult.CLAIMED


def test_a_takeover_race_has_one_winner(fake_store):
    claim(fake_store, "events", fresh("dead"), ttl_s=0)
    # Simulate the other taker writing between our read and our conditional write.
    original = fake_store.get_json

    def racing_get(bucket, key):
        doc, etag = original(bucket, key)
        fake_store.get_json = original
        winner = fresh("w3")
        winner.expires_at = names.now_iso(time.time() + 60)
        fake_store.put_json(bucket, key, winner.to_json())
        return doc, etag

    fake_store.get_json = racing_get
    assert claim(fake_store, "events", fresh("w2"), ttl_s=60).result is ClaimResult.BUSY
    assert stored(fake_store).worker == "w3"


def test_a_record_deleted_between_read_and_takeover_is_claimed_afresh(fake_store):
    record = fresh("dead")
    record.status = Status.FAILED
    record.retry_after = names.now_iso(time.time() - 1)
    fake_store.put_json("events", "p1.json", record.to_json())
    original = fake_store.get_json

    def get_then_requeue(bucket, key):  # `gourmetgram requeue` deletes failed records
        doc, etag = original(bucket, key)
        fake_store.get_json = original
        fake_store.delete(bucket, key)
        return doc, etag

    fake_store.get_json = get_then_requeue
    got = claim(fake_store, "events", fresh("w2"), ttl_s=60)
    assert got.result is ClaimResult.CLAIMED
    assert stored(fake_store).worker == "w2" and stored(fake_store).status is Status.PENDING


def test_a_record_of_another_object_version_is_foreign(fake_store):
    claim(fake_store, "events", fresh("w1"), ttl_s=60)
    other = fresh("w2")
    other.incoming_etag = "another-etag"
    got = claim(fake_store, "events", other, ttl_s=60)
    assert got.result is ClaimResult.FOREIGN and got.outcome.incoming_etag == "e"
    assert stored(fake_store).worker == "w1"  # untouched


def test_same_key_and_etag_at_another_time_is_another_version(fake_store):
    first = fresh("w1")
    first.incoming_modified = "2026-11-29T10:00:00Z"
    claim(fake_store, "events", first, ttl_s=60)
    later = fresh("w2")
    later.incoming_modified = "2026-11-29T10:05:00Z"
    assert claim(fake_store, "events", later, ttl_s=60).result is ClaimResult.FOREIGN
    again = fresh("w3")
    again.incoming_modified = "2026-11-29T10:00:00Z"
    assert claim(fake_store, "events", again, ttl_s=60).result is ClaimResult.BUSY

import time

import pytest

from classifier_fn.pipeline.claim import ClaimResult, IdFrom, claim
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
    got = claim(fake_store, "events", fresh("w2"), ttl_s=60)
    assert got.result is ClaimResult.BUSY and got.outcome.worker == "w1"  # the record found: who is on it
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


# --- records nobody could have written honestly, and the edges of what a claim honours -----------------------

TTL, MAX_BACKOFF, CLOCK_SLACK = 60, 300, 60  # claim's arguments below, and the slack it allows between clocks
NOW = 1_800_000_000.0


@pytest.fixture
def frozen(monkeypatch):
    """time.time() stands still at NOW, so a deadline can sit exactly on a boundary."""
    monkeypatch.setattr(time, "time", lambda: NOW)


def found(store, **fields) -> None:
    """A record of the same photo already there, as someone else left it."""
    store.put_json("events", "p1.json", {**fresh("other").to_json(), **fields})


def claim_now(store) -> ClaimResult:
    return claim(store, "events", fresh("w2"), ttl_s=TTL, max_backoff_s=MAX_BACKOFF).result


@pytest.mark.parametrize(
    ("fields", "result"),
    [
        pytest.param(
            {"status": "pending", "expires_at": names.now_iso(NOW + TTL + CLOCK_SLACK)},
            ClaimResult.BUSY,
            id="claim-as-long-as-granted-plus-slack-is-honoured",
        ),
        pytest.param(
            {"status": "pending", "expires_at": names.now_iso(NOW + TTL + CLOCK_SLACK + 0.001)},
            ClaimResult.CLAIMED,
            id="claim-a-millisecond-longer-is-taken-over",
        ),
        pytest.param(
            {"status": "pending", "expires_at": names.now_iso(NOW + MAX_BACKOFF)},
            ClaimResult.CLAIMED,
            id="claim-as-long-as-a-back-off-is-taken-over",
        ),
        pytest.param(
            {"status": "failed", "retry_after": names.now_iso(NOW + MAX_BACKOFF + CLOCK_SLACK)},
            ClaimResult.BUSY,
            id="back-off-as-long-as-granted-plus-slack-is-honoured",
        ),
        pytest.param(
            {"status": "failed", "retry_after": names.now_iso(NOW + MAX_BACKOFF + CLOCK_SLACK + 0.001)},
            ClaimResult.CLAIMED,
            id="back-off-a-millisecond-longer-is-taken-over",
        ),
        pytest.param(
            {"status": "failed", "retry_after": names.now_iso(NOW + TTL + CLOCK_SLACK + 1)},
            ClaimResult.BUSY,
            id="back-off-longer-than-a-claim-is-honoured",
        ),
        pytest.param(
            {
                "status": "failed",
                "retry_after": names.now_iso(NOW + 1),
                "expires_at": names.now_iso(NOW + 10 * MAX_BACKOFF),
            },
            ClaimResult.BUSY,
            id="a-failure-is-judged-by-its-back-off-not-an-old-claim",
        ),
        pytest.param(
            {
                "status": "pending",
                "expires_at": names.now_iso(NOW + 1),
                "retry_after": names.now_iso(NOW + 10 * MAX_BACKOFF),
            },
            ClaimResult.BUSY,
            id="a-claim-is-judged-by-its-expiry-not-an-old-back-off",
        ),
    ],
)
def test_a_claim_or_back_off_longer_than_any_granted_is_taken_over(fake_store, frozen, fields, result):
    found(fake_store, **fields)
    assert claim_now(fake_store) is result
    assert stored(fake_store).worker == ("w2" if result is ClaimResult.CLAIMED else "other")


@pytest.mark.parametrize(
    "expires_at",
    [
        pytest.param(None, id="no-expiry-would-never-lapse"),
        pytest.param("tomorrow", id="not-a-time"),
        pytest.param("2099-01-01T00:00:00", id="no-time-zone"),
        pytest.param(4_102_444_800, id="a-number"),
    ],
)
def test_a_claim_whose_end_is_missing_or_no_time_is_taken_over_not_a_crash(fake_store, expires_at):
    # The frontend may write records (for labels): such a claim is forged or broken, and must not keep the
    # photo from being classified (it was BUSY for ever, or claim() raised ValueError on every pass).
    found(fake_store, status="pending", expires_at=expires_at, attempts=4)
    got = claim(fake_store, "events", fresh("w2"), ttl_s=TTL)
    assert got.result is ClaimResult.CLAIMED
    record = stored(fake_store)
    assert record.worker == "w2" and record.attempts == 5 and not record.expired()


def test_a_failure_without_a_back_off_is_retried_at_once(fake_store):
    found(fake_store, status="failed", attempts=2)
    assert claim_now(fake_store) is ClaimResult.CLAIMED and stored(fake_store).attempts == 3


def test_a_takeover_keeps_the_earlier_steps_times_and_stamps_its_own(fake_store, frozen):
    found(
        fake_store,
        status="failed",
        retry_after=names.now_iso(NOW - 1),
        attempts=1,
        timestamps={"uploaded": "2026-11-29T10:00:00.000Z", "claimed": "2026-11-29T10:00:01.000Z"},
    )
    claim(fake_store, "events", fresh("w2"), ttl_s=TTL)
    record = stored(fake_store)
    assert record.timestamps == {"uploaded": "2026-11-29T10:00:00.000Z", "claimed": names.now_iso(NOW)}
    assert record.expires_at == names.now_iso(NOW + TTL) and record.status is Status.PENDING


def test_a_first_claim_counts_one_attempt_and_a_retried_one_keeps_its_count(fake_store):
    again = fresh()
    again.attempts = 3  # a caller that already counted attempts of its own
    claim(fake_store, "events", again, ttl_s=TTL)
    assert stored(fake_store).attempts == 3


def test_a_claim_that_loses_every_race_gives_up_busy_and_leaves_the_winners_record(fake_store):
    # GIVEN an expired claim, and another writer that rewrites the record after each of our reads
    found(fake_store, status="pending", expires_at=names.now_iso(time.time() - 1))
    original, reads = fake_store.get_json, []

    def racing_get(bucket, key):
        doc, etag = original(bucket, key)
        reads.append(1)
        fake_store.put_json(bucket, key, {**doc, "worker": f"racer{len(reads)}"})
        return doc, etag

    fake_store.get_json = racing_get
    # WHEN we try to claim THEN we give up after three looks, writing nothing of ours
    got = claim(fake_store, "events", fresh("w2"), ttl_s=TTL)
    assert got.result is ClaimResult.BUSY and len(reads) == 3
    assert got.outcome.id == "p1" and not got.record.etag  # no version of the record is ours to guard
    fake_store.get_json = original
    assert stored(fake_store).worker == "racer3"


def test_a_record_that_is_no_outcome_is_taken_over(fake_store, caplog):
    fake_store.put("events", "p1.json", b"not json at all")
    got = claim(fake_store, "events", fresh("w2"), ttl_s=TTL)
    assert got.result is ClaimResult.CLAIMED and stored(fake_store).worker == "w2"
    assert warnings(caplog) == ["events/p1.json is not JSON: taken over"]  # the operator sees why


def warnings(caplog) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "classifier_fn.pipeline.claim" and r.levelname == "WARNING"
    ]


def test_a_record_that_is_no_outcome_is_replaced_only_as_it_was_read(fake_store):
    # GIVEN a broken record, and a worker that writes a genuine claim just after we read the broken one
    fake_store.put("events", "p1.json", b"not json at all")
    original, raced = fake_store.get_json, []

    def racing_get(bucket, key):
        try:
            return original(bucket, key)
        finally:
            if not raced:
                raced.append(1)
                fake_store.put_json(
                    bucket, key, fresh("w1").to_json() | {"expires_at": names.now_iso(time.time() + TTL)}
                )

    fake_store.get_json = racing_get
    # THEN our takeover of the broken record does not overwrite the genuine claim
    got = claim(fake_store, "events", fresh("w2"), ttl_s=TTL)
    fake_store.get_json = original
    assert got.result is ClaimResult.BUSY and stored(fake_store).worker == "w1"


def test_a_record_deleted_while_we_look_is_claimed_afresh(fake_store):
    # GIVEN a live claim that a requeue deletes between our failed create and our read
    found(fake_store, status="pending", expires_at=names.now_iso(time.time() + TTL))
    original, reads = fake_store.get_json, []

    def deleting_get(bucket, key):
        if not reads:
            fake_store.delete(bucket, key)
        reads.append(1)
        return original(bucket, key)

    fake_store.get_json = deleting_get
    got = claim(fake_store, "events", fresh("w2"), ttl_s=TTL)
    fake_store.get_json = original
    assert got.result is ClaimResult.CLAIMED and stored(fake_store).worker == "w2" and len(reads) == 1


def test_the_default_back_off_honoured_is_the_workers_longest_plus_slack(fake_store, frozen):
    found(fake_store, status="failed", retry_after=names.now_iso(NOW + MAX_BACKOFF + CLOCK_SLACK))
    assert claim(fake_store, "events", fresh("w2"), ttl_s=TTL).result is ClaimResult.BUSY
    found(fake_store, status="failed", retry_after=names.now_iso(NOW + MAX_BACKOFF + CLOCK_SLACK + 0.001))
    assert claim(fake_store, "events", fresh("w2"), ttl_s=TTL).result is ClaimResult.CLAIMED


def test_a_final_record_without_its_work_is_taken_over_and_with_it_finishes(fake_store, caplog):
    done = fresh("other")
    done.status = Status.DONE
    fake_store.put_json("events", "p1.json", done.to_json())
    nowhere = claim(fake_store, "events", fresh("w2"), ttl_s=TTL, proof=lambda record: False)
    assert nowhere.result is ClaimResult.CLAIMED and stored(fake_store).status is Status.PENDING
    assert warnings(caplog) == ["record p1 says done but its work is nowhere: taken over"]
    fake_store.put_json("events", "p1.json", done.to_json())
    seen = []
    there = claim(fake_store, "events", fresh("w3"), ttl_s=TTL, proof=lambda record: seen.append(record) or True)
    assert there.result is ClaimResult.FINISHED and there.outcome.worker == "other"
    assert [r.status for r in seen] == [Status.DONE]


def test_another_versions_record_under_this_versions_own_id_is_taken_over(fake_store, caplog):
    other = fresh("other")
    other.incoming_etag = "another-etag"
    claim(fake_store, "events", other, ttl_s=TTL)
    got = claim(fake_store, "events", fresh("w2"), ttl_s=TTL, id_from=IdFrom.OBJECT)
    assert got.result is ClaimResult.CLAIMED and stored(fake_store).incoming_etag == "e"
    assert warnings(caplog) == ["record p1 names another object version under this version's own id: taken over"]


def _versioned(worker: str, version: str, key: str = "a.jpg"):
    record = fresh(worker)
    record.incoming_key, record.incoming_modified, record.incoming_version = key, "2026-11-29T18:00:00Z", version
    return record


def test_a_real_other_version_under_the_id_from_key_etag_and_second_is_foreign(fake_store):
    # Two versions of the same bytes under one key in one second: both real, neither replaces the other.
    claim(fake_store, "events", _versioned("w1", "v1"), ttl_s=TTL, id_from=IdFrom.OBJECT)
    got = claim(fake_store, "events", _versioned("w2", "v2"), ttl_s=TTL, id_from=IdFrom.OBJECT)
    assert got.result is ClaimResult.FOREIGN and stored(fake_store).incoming_version == "v1"
    # the same version again is the same photo (a redelivered event), not a foreign one
    assert (
        claim(fake_store, "events", _versioned("w3", "v1"), ttl_s=TTL, id_from=IdFrom.OBJECT).result is ClaimResult.BUSY
    )


def test_another_versions_record_under_an_id_derived_from_this_version_id_is_taken_over(fake_store, caplog):
    claim(fake_store, "events", _versioned("forger", "v1"), ttl_s=TTL)
    got = claim(fake_store, "events", _versioned("w2", "v2"), ttl_s=TTL, id_from=IdFrom.VERSION)
    assert got.result is ClaimResult.CLAIMED and stored(fake_store).incoming_version == "v2"
    assert warnings(caplog) == ["record p1 names another object version under this version's own id: taken over"]


def test_a_record_of_another_key_with_a_version_id_is_no_twin_and_is_taken_over(fake_store, caplog):
    claim(fake_store, "events", _versioned("forger", "v1", key="elsewhere.jpg"), ttl_s=TTL)
    got = claim(fake_store, "events", _versioned("w2", "v2"), ttl_s=TTL, id_from=IdFrom.OBJECT)
    assert got.result is ClaimResult.CLAIMED and stored(fake_store).incoming_key == "a.jpg"
    assert warnings(caplog) == ["record p1 names another object version under this version's own id: taken over"]

import random
import time
import uuid
from datetime import UTC, datetime

import pytest

from gourmetgram import eventlog, logorder, names
from gourmetgram.outcome import Outcome, Status
from gourmetgram.store import ObjectInfo


class Stop(Exception):
    pass


def write(store, pid: str, status: Status, age_s: float = 0) -> None:
    store.put_json(
        "events", f"{pid}.json", Outcome(id=pid, status=status, incoming_key=f"{pid}.jpg", incoming_etag="e").to_json()
    )
    if age_s:
        store.age("events", f"{pid}.json", age_s)


def test_follow_prints_the_tail_then_new_and_changed_records(fake_store):
    now = time.time()
    old, busy, new = (names.upload_id(now - age) for age in (100, 50, 0))
    write(fake_store, old, Status.DONE, age_s=100)
    write(fake_store, busy, Status.PENDING, age_s=50)
    ticks = []

    def sleep(seconds):
        ticks.append(seconds)
        if len(ticks) == 1:
            write(fake_store, new, Status.REJECTED)
            write(fake_store, busy, Status.DONE)  # the same photo, now finished
        else:
            raise Stop

    seen = []
    with pytest.raises(Stop):
        for doc in eventlog.follow(fake_store, "events", interval_s=0.5, sleep=sleep):
            seen.append((doc["id"], doc["status"]))
    assert seen[:2] == [(old, "done"), (busy, "pending")]
    assert sorted(seen[2:]) == sorted([(busy, "done"), (new, "rejected")])
    assert ticks == [0.5, 0.5]


def test_a_refresh_reads_only_the_records_that_changed(fake_store):
    for pid in ("a", "b", "c"):
        write(fake_store, pid, Status.DONE)
    cache = eventlog.RecordCache()
    assert {d["id"] for d in eventlog.recent(fake_store, "events", 10, cache)} == {"a", "b", "c"}
    assert fake_store.calls.count("get_json") == 3
    eventlog.recent(fake_store, "events", 10, cache)
    assert fake_store.calls.count("get_json") == 3  # nothing changed: the listing alone
    write(fake_store, "b", Status.REJECTED)
    shown = {d["id"]: d["status"] for d in eventlog.recent(fake_store, "events", 10, cache)}
    assert shown == {"a": "done", "b": "rejected", "c": "done"}
    assert fake_store.calls.count("get_json") == 4  # only the rewritten one


def test_the_record_cache_keeps_only_its_capacity(fake_store):
    for pid in ("a", "b", "c"):
        write(fake_store, pid, Status.DONE)
    cache = eventlog.RecordCache(capacity=2)
    eventlog.recent(fake_store, "events", 10, cache)
    eventlog.recent(fake_store, "events", 10, cache)
    assert fake_store.calls.count("get_json") == 6  # three records never fit in two places
    doc = eventlog.recent(fake_store, "events", 1, cache)[0]
    doc["status"] = "edited by a caller"
    assert eventlog.recent(fake_store, "events", 1, cache)[0]["status"] == "done"  # callers get copies


def test_a_broken_record_is_left_out_not_an_error_for_everyone(fake_store):
    fake_store.put_json(
        "events", "good.json", Outcome(id="good", status=Status.DONE, incoming_key="a.jpg", incoming_etag="e").to_json()
    )
    fake_store.put("events", "not-json.json", b"{{{ not json")
    fake_store.put_json("events", "a-list.json", ["not", "an", "outcome"])
    fake_store.put_json("events", "no-status.json", {"id": "x"})
    assert [doc["id"] for doc in eventlog.recent(fake_store, "events", 10)] == ["good"]


# --- reading by time -------------------------------------------------------------------------------------

NOW = datetime(2026, 11, 29, 10, 0, 30, tzinfo=UTC).timestamp()


def put(store, pid: str, written: float = NOW, status: Status = Status.DONE) -> str:
    """A record of `pid` whose last write was at `written`; its key."""
    key = names.record_key(pid)
    store.put_json(
        "events", key, Outcome(id=pid, status=status, incoming_key=f"{pid}.jpg", incoming_etag="e").to_json()
    )
    store.written_at("events", key, datetime.fromtimestamp(written, UTC))
    return key


def old_id(prefix: str = "", rng: random.Random | None = None) -> str:
    """A uuid4 (old format) whose key starts with `prefix`."""
    digits = prefix.replace("-", "") + "".join((rng or random).choice("0123456789abcdef") for _ in range(32))
    return str(uuid.UUID(hex=digits[:32], version=4))


def oracle(store, limit: int | None = None, since: float | None = None) -> list[str]:
    """What the log is, from every record: the keys newest first."""
    entries = [
        logorder.place(ObjectInfo("events", k, o.etag, 0, o.modified))
        for k, o in store.buckets["events"].items()
        if k.endswith(".json")
    ]
    entries = [e for e in logorder.newest_first(entries) if since is None or e.time >= since]
    return [e.key for e in entries[:limit]]


def reader(store, **kw) -> eventlog.EventLog:
    return eventlog.EventLog(store, "events", clock=lambda: NOW, **kw)


def test_the_newest_are_read_from_a_short_listing_whatever_the_size_of_the_log(fake_store):
    # GIVEN a log of one photo every 10 s for about 5 hours (then ten times as long)
    for i in range(2000):
        put(fake_store, names.upload_id(NOW - 10 * i - 5))
    events = reader(fake_store)
    # WHEN the newest 20 are read, twice
    first = [e.key for e in events.newest_entries(20)]
    again = [e.key for e in events.newest_entries(20)]
    # THEN they are exactly the newest, from a listing of a few dozen keys, not of the whole log
    assert first == again == oracle(fake_store, 20)
    listed_small = events.listed
    assert listed_small < 100
    for i in range(2000, 20000):
        put(fake_store, names.upload_id(NOW - 10 * i - 5))
    assert [e.key for e in events.newest_entries(20)] == oracle(fake_store, 20)
    assert events.listed == listed_small  # ten times the log, the same listing


def test_the_span_widens_until_it_holds_the_page_across_an_hour_and_a_day(fake_store):
    # GIVEN a quiet log: a photo every 7 minutes across an hour boundary, then days apart
    hour = NOW - NOW % 3600
    for i in range(12):
        put(fake_store, names.upload_id(hour + 1800 - 420 * i))
    for day in range(1, 40):
        put(fake_store, names.drop_id("incoming", f"{day}.jpg", "e", datetime.fromtimestamp(NOW - day * 86400, UTC)))
    events = reader(fake_store)
    for limit in (1, 5, 12, 13, 30, 51, 200):
        assert [e.key for e in events.newest_entries(limit)] == oracle(fake_store, limit), limit
    assert [e.key for e in events.entries_since(hour - 600)] == oracle(fake_store, since=hour - 600)[::-1]


def test_a_span_too_full_for_one_listing_is_narrowed_from_its_top(fake_store):
    # GIVEN a burst of 6,000 drops within two seconds an hour ago, and three photos since
    for i in range(6000):
        put(
            fake_store,
            names.drop_id("incoming", f"burst/{i}.jpg", "e", datetime.fromtimestamp(NOW - 3600 - i % 2, UTC)),
        )
    for i in range(3):
        put(fake_store, names.upload_id(NOW - 60 * i))
    events = reader(fake_store)
    # THEN the newest 10 are exact, and the listing stops well short of the whole burst twice over
    assert [e.key for e in events.newest_entries(10)] == oracle(fake_store, 10)
    assert events.listed < 12000


def test_old_format_ids_are_placed_by_their_last_write_wherever_their_keys_sort(fake_store):
    # GIVEN new records around now, and old-format ones whose random keys sort before, among and after them
    for i in range(50):
        put(fake_store, names.upload_id(NOW - 30 * i - 1))
    first_ever = old_id("00000000-0000")
    among = old_id(logorder.key_at(NOW - 45))  # inside the span a read lists
    last = old_id("ffffffff-ffff")
    uuid5 = str(uuid.uuid5(uuid.NAMESPACE_URL, "incoming/photo.jpg@etag"))
    put(fake_store, first_ever, written=NOW - 2)  # rewritten just now: at the top
    put(fake_store, among, written=NOW - 40 * 86400)
    put(fake_store, last, written=NOW - 100)
    put(fake_store, uuid5, written=NOW - 1000)
    future = names.upload_id(NOW + 30 * 86400)
    put(fake_store, future, written=NOW - 3)  # an id later than its own record: placed by that write
    fake_store.put("events", "notes.txt", b"not a record")
    events = reader(fake_store)
    for limit in (1, 2, 3, 10, 40, 100):
        assert [e.key for e in events.newest_entries(limit)] == oracle(fake_store, limit), limit
    newest = names.record_key(names.upload_id(NOW - 1))[:13]
    assert [e.key[:13] for e in events.newest_entries(3)] == [newest, first_ever[:13], future[:13]]
    assert [e.key for e in events.entries_since(NOW - 1000)] == oracle(fake_store, since=NOW - 1000)[::-1]


@pytest.mark.parametrize("seed", range(25))
def test_every_read_is_exactly_the_newest_of_a_mixed_log(fake_store, seed):
    """Random logs: bursts and gaps, drops and uploads, old-format ids anywhere, odd keys."""
    rng = random.Random(seed)
    moment = NOW - rng.uniform(0, 3 * 86400)
    first_new = moment
    for _ in range(rng.randrange(0, 400)):
        first_new = moment
        if rng.random() < 0.5:
            put(fake_store, names.upload_id(moment), written=moment + rng.uniform(0, 5))
        else:
            lm = datetime.fromtimestamp(int(moment), UTC)
            put(fake_store, names.drop_id("incoming", str(rng.random()), "e", lm), written=moment + rng.uniform(0, 5))
        moment -= rng.choice([0.001, 0.5, 10, 300, 3600, 86400 * rng.random()])
    for _ in range(rng.randrange(0, 40)):
        pid = old_id(rng.choice(["", "0", "00", "f", logorder.key_at(NOW - rng.uniform(0, 600))]), rng)
        inside = logorder.key_at(first_new) <= pid <= logorder.key_at(NOW + 600)
        # An old record among the new ones' keys was written before them (docs/architecture.md#the-event-log)
        written = first_new - rng.uniform(1, 86400) if inside else NOW - rng.choice([0, 1, 60, 3600, 90 * 86400])
        put(fake_store, pid, written=written)
    events = reader(fake_store, keep_outside=500)
    for limit in (1, 7, 100, 500):
        assert [e.key for e in events.newest_entries(limit)] == oracle(fake_store, limit), (seed, limit)
    since = NOW - rng.uniform(0, 86400)
    assert [e.key for e in reader(fake_store).entries_since(since)] == oracle(fake_store, since=since)[::-1]


def test_a_rewritten_record_keeps_its_place_and_only_changed_records_are_read_again(fake_store):
    pids = [names.upload_id(NOW - 60 * i) for i in range(5)]
    for pid in pids:
        put(fake_store, pid, status=Status.PENDING)
    events = reader(fake_store)
    assert [d["id"] for d in events.newest(5)] == pids
    reads = fake_store.calls.count("get_json")
    # WHEN the oldest is corrected late (its record written again, now)
    put(fake_store, pids[-1], written=NOW, status=Status.DONE)
    shown = events.newest(5)
    # THEN it stays in its place, shows its new content, and it alone was read again
    assert [d["id"] for d in shown] == pids and shown[-1]["status"] == "done"
    assert fake_store.calls.count("get_json") == reads + 1
    assert shown[-1]["time"] == logorder.iso(NOW - 240)  # the photo's time, not the record's write


def test_old_format_records_are_listed_again_only_now_and_then(fake_store):
    clock = [NOW]
    for i in range(30):
        put(fake_store, old_id(rng=random.Random(i)), written=NOW - 86400 - i)
    for i in range(30):
        put(fake_store, names.upload_id(NOW - 10 * i))
    events = eventlog.EventLog(fake_store, "events", clock=lambda: clock[0])
    assert [e.key for e in events.newest_entries(5)] == oracle(fake_store, 5)
    lists = fake_store.calls.count("list")
    events.newest_entries(5)
    assert fake_store.calls.count("list") == lists + 1  # the recent span alone
    corrected = sorted(k for k in fake_store.keys("events") if logorder.id_time_ms(k) is None)[0]
    fake_store.written_at("events", corrected, datetime.fromtimestamp(NOW + 1, UTC))
    clock[0] = NOW + eventlog.OUTSIDE_REFRESH_S + 1
    assert events.newest_entries(1)[0].key == corrected  # seen at the next listing of the old keys


def test_follow_prints_new_and_rewritten_records_of_recent_photos_only(fake_store):
    clock = [NOW]
    old_photo = names.upload_id(NOW - 2 * 3600)
    put(fake_store, old_photo)
    busy = names.upload_id(NOW - 5)
    put(fake_store, busy, status=Status.PENDING)

    def sleep(seconds):
        clock[0] += seconds
        if clock[0] - NOW > 1.5:
            raise Stop
        put(fake_store, busy, written=clock[0], status=Status.DONE)  # finished
        put(fake_store, old_photo, written=clock[0], status=Status.REJECTED)  # older than the window: not followed
        put(fake_store, names.upload_id(clock[0] - 0.5), written=clock[0])

    seen = []
    with pytest.raises(Stop):
        for doc in eventlog.follow(fake_store, "events", sleep=sleep, limit=1, clock=lambda: clock[0]):
            seen.append((doc["id"], doc["status"]))
    assert seen[0] == (busy, "pending") and seen[1] == (busy, "done")
    assert [status for _, status in seen[2:]] == ["done"] and old_photo not in {pid for pid, _ in seen}


def test_many_old_ids_before_the_first_new_one_are_all_placed(fake_store):
    rng = random.Random(7)
    for i in range(150):  # more than a first short page of keys before the first new id
        put(fake_store, old_id("00", rng), written=NOW - 1000 + i)
    for i in range(20):
        put(fake_store, names.upload_id(NOW - 2000 + i))
    assert [e.key for e in reader(fake_store).newest_entries(160)] == oracle(fake_store, 160)

import pytest

from gourmetgram import eventlog
from gourmetgram.outcome import Outcome, Status


class Stop(Exception):
    pass


def write(store, pid: str, status: Status, age_s: float = 0) -> None:
    store.put_json("events", f"{pid}.json", Outcome(id=pid, status=status, incoming_key=f"{pid}.jpg",
                                                     incoming_etag="e").to_json())
    if age_s:
        store.age("events", f"{pid}.json", age_s)


def test_follow_prints_the_tail_then_new_and_changed_records(fake_store):
    write(fake_store, "old", Status.DONE, age_s=100)
    write(fake_store, "busy", Status.PENDING, age_s=50)
    ticks = []

    def sleep(seconds):
        ticks.append(seconds)
        if len(ticks) == 1:
            write(fake_store, "new", Status.REJECTED)
            write(fake_store, "busy", Status.DONE)   # the same photo, now finished
        else:
            raise Stop

    seen = []
    with pytest.raises(Stop):
        for doc in eventlog.follow(fake_store, "events", interval_s=0.5, sleep=sleep):
            seen.append((doc["id"], doc["status"]))
    assert seen[:2] == [("old", "done"), ("busy", "pending")]
    assert sorted(seen[2:]) == [("busy", "done"), ("new", "rejected")]
    assert ticks == [0.5, 0.5]


def test_a_refresh_reads_only_the_records_that_changed(fake_store):
    for pid in ("a", "b", "c"):
        write(fake_store, pid, Status.DONE)
    cache = eventlog.RecordCache()
    assert {d["id"] for d in eventlog.recent(fake_store, "events", 10, cache)} == {"a", "b", "c"}
    assert fake_store.calls.count("get_json") == 3
    eventlog.recent(fake_store, "events", 10, cache)
    assert fake_store.calls.count("get_json") == 3      # nothing changed: the listing alone
    write(fake_store, "b", Status.REJECTED)
    shown = {d["id"]: d["status"] for d in eventlog.recent(fake_store, "events", 10, cache)}
    assert shown == {"a": "done", "b": "rejected", "c": "done"}
    assert fake_store.calls.count("get_json") == 4      # only the rewritten one


def test_the_record_cache_keeps_only_its_capacity(fake_store):
    for pid in ("a", "b", "c"):
        write(fake_store, pid, Status.DONE)
    cache = eventlog.RecordCache(capacity=2)
    eventlog.recent(fake_store, "events", 10, cache)
    eventlog.recent(fake_store, "events", 10, cache)
    assert fake_store.calls.count("get_json") == 6      # three records never fit in two places
    doc = eventlog.recent(fake_store, "events", 1, cache)[0]
    doc["status"] = "edited by a caller"
    assert eventlog.recent(fake_store, "events", 1, cache)[0]["status"] == "done"  # callers get copies


def test_a_broken_record_is_left_out_not_an_error_for_everyone(fake_store):
    fake_store.put_json("events", "good.json", Outcome(id="good", status=Status.DONE, incoming_key="a.jpg",
                                                       incoming_etag="e").to_json())
    fake_store.put("events", "not-json.json", b"{{{ not json")
    fake_store.put_json("events", "a-list.json", ["not", "an", "outcome"])
    fake_store.put_json("events", "no-status.json", {"id": "x"})
    assert [doc["id"] for doc in eventlog.recent(fake_store, "events", 10)] == ["good"]

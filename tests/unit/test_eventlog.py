import pytest

from classifier_fn.outcome import Outcome, Status
from gourmetgram import eventlog


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

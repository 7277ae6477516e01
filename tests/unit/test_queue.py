import threading
import time

from classifier_fn.queue import BACKLOG, LIVE, Item, WorkQueue


def item(key: str, lane: str = LIVE, etag: str = "e") -> Item:
    return Item("incoming", key, etag, lane)


def test_live_items_are_served_before_backlog():
    q = WorkQueue(backlog_per_s=1000, backlog_capacity=10)
    q.offer(item("old", BACKLOG))
    q.offer(item("fresh", LIVE))
    assert q.take(0.1).key == "fresh"
    assert q.take(0.1).key == "old"


def test_an_object_version_is_held_once_until_done():
    q = WorkQueue(100, 10)
    assert q.offer(item("a"))
    assert not q.offer(item("a"))                 # duplicate event
    assert not q.offer(item("a", BACKLOG))        # the reconciler racing the event
    assert q.offer(item("a", etag="other"))       # a new version is new work
    taken = q.take(0.1)
    assert q.holds("incoming", "a", "e")          # in flight still counts
    q.done(taken)
    assert not q.holds("incoming", "a", "e") and q.offer(item("a"))


def test_backlog_is_rate_limited_and_bounded():
    q = WorkQueue(backlog_per_s=5, backlog_capacity=3)
    accepted = [q.offer(item(f"k{i}", BACKLOG)) for i in range(5)]
    assert accepted == [True, True, True, False, False]
    started = time.monotonic()
    for _ in range(3):
        assert q.take(2.0) is not None
    # The first comes at once, the next two at 5/s.
    assert time.monotonic() - started >= 0.3


def test_a_fresh_upload_overtakes_a_waiting_backlog():
    q = WorkQueue(backlog_per_s=0.5, backlog_capacity=10)
    for i in range(5):
        q.offer(item(f"old{i}", BACKLOG))
    q.take(0.1)  # uses the backlog token
    threading.Timer(0.05, lambda: q.offer(item("fresh"))).start()
    assert q.take(1.0).key == "fresh"


def test_take_times_out_and_close_wakes_waiters():
    q = WorkQueue(1, 1)
    assert q.take(0.05) is None
    threading.Timer(0.05, q.close).start()
    assert q.take(5) is None
    assert not q.offer(item("late"))


def test_depth_and_oldest_age():
    q = WorkQueue(1, 5, clock=lambda: 110.0)
    assert q.oldest_age_s() == 0.0  # nothing waits
    q.offer(Item("incoming", "a", "e", LIVE, queued_at=103.0))
    q.offer(Item("incoming", "b", "e", BACKLOG, queued_at=100.5))
    assert q.depth() == {"live": 1, "backlog": 1, "held": 2}
    assert q.oldest_age_s() == 9.5  # the backlog's head waits longest
    q.take(0.1)  # the live one leaves; the backlog's is still the oldest
    assert q.oldest_age_s() == 9.5


def test_done_tells_its_listeners_the_result_after_releasing_the_version():
    q = WorkQueue(100, 10)
    seen = []
    q.on_done(lambda it, result: seen.append((it.key, result, q.holds("incoming", it.key, "e"))))
    q.offer(item("a"))
    q.done(q.take(0.1), "done")
    q.offer(item("b"))
    q.done(q.take(0.1))  # a worker that failed reports no result
    assert seen == [("a", "done", False), ("b", None, False)]

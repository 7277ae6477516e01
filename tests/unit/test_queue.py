import threading
import time

from classifier_fn.pipeline.queue import BACKLOG, LIVE, Item, Offered, WorkQueue


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
    assert not q.offer(item("a"))  # duplicate event
    assert not q.offer(item("a", BACKLOG))  # the reconciler racing the event
    assert q.offer(item("a", etag="other"))  # a new version is new work
    taken = q.take(0.1)
    assert q.holds("incoming", "a", "e")  # in flight still counts
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


# --- the backlog's room, and its rate at the edges ---------------------------------------------------------


def in_thread(call):
    """Run `call` in a thread; returns a function that waits (at most 5 s) for its result."""
    result = []
    thread = threading.Thread(target=lambda: result.append(call()), daemon=True)
    thread.start()

    def outcome():
        thread.join(5)
        assert not thread.is_alive(), "still blocked after 5 s"
        return result[0]

    return outcome


def full(capacity: int = 2, rate: float = 1000) -> WorkQueue:
    q = WorkQueue(backlog_per_s=rate, backlog_capacity=capacity)
    for i in range(capacity):
        assert q.offer(item(f"k{i}", BACKLOG))
    return q


def test_a_full_backlog_refuses_more_but_the_live_lane_always_has_room():
    q = full(capacity=2)
    assert not q.offer(item("one-more", BACKLOG))
    assert q.offer(item("fresh", LIVE)) and q.depth() == {"live": 1, "backlog": 2, "held": 3}


def test_there_is_backlog_room_below_capacity_and_none_at_it():
    q = WorkQueue(backlog_per_s=1000, backlog_capacity=2)
    q.offer(item("k0", BACKLOG))
    assert q.wait_for_backlog_room(timeout=0) is True
    q.offer(item("k1", BACKLOG))
    assert q.wait_for_backlog_room(timeout=0) is False


def test_waiting_for_room_ends_when_a_worker_takes_from_the_backlog():
    q = full()
    waited = in_thread(lambda: q.wait_for_backlog_room(timeout=0.5))
    time.sleep(0.05)
    assert q.take(1.0) is not None
    assert waited() is True


def test_waiting_for_room_gives_up_at_its_timeout_or_when_the_queue_closes():
    q = full()
    assert in_thread(lambda: q.wait_for_backlog_room(timeout=0.1))() is False
    waiting = in_thread(lambda: q.wait_for_backlog_room(timeout=30))
    time.sleep(0.05)
    q.close()
    assert waiting() is False
    assert q.wait_for_backlog_room(timeout=0) is False  # closed: never room again


def test_offer_when_room_queues_waits_or_says_why_not():
    q = full(capacity=1)
    never = threading.Event()
    assert q.offer_when_room(item("fresh", LIVE), never) is Offered.QUEUED
    assert q.offer_when_room(item("k0", BACKLOG), never) is Offered.HELD  # already queued
    stopped = threading.Event()
    stopped.set()
    assert q.offer_when_room(item("k0", BACKLOG), stopped) is Offered.HELD  # held is said before stopped
    assert q.offer_when_room(item("new", BACKLOG), stopped) is Offered.DEFERRED
    assert not q.holds("incoming", "new", "e")


def test_offer_when_room_waits_for_a_take_then_queues():
    q = full(capacity=1)
    offered = in_thread(lambda: q.offer_when_room(item("next", BACKLOG), threading.Event()))
    time.sleep(0.05)
    assert q.take(1.0).key == "k0"
    assert offered() is Offered.QUEUED and q.holds("incoming", "next", "e")


def test_offer_when_room_notices_a_stop_while_it_waits():
    q = full(capacity=1)
    stop = threading.Event()
    started = time.monotonic()
    offered = in_thread(lambda: q.offer_when_room(item("next", BACKLOG), stop))
    time.sleep(0.05)
    stop.set()
    assert offered() is Offered.DEFERRED
    print(f"stop noticed after {time.monotonic() - started:.2f} s (it checks every second)")


def test_offer_when_room_on_a_closed_queue_is_deferred():
    q = full(capacity=1)
    q.close()
    assert in_thread(lambda: q.offer_when_room(item("next", BACKLOG), threading.Event()))() is Offered.DEFERRED


def test_take_without_a_timeout_waits_for_work_and_for_close():
    q = WorkQueue(backlog_per_s=1000, backlog_capacity=2)
    taken = in_thread(q.take)
    time.sleep(0.05)
    q.offer(item("late"))
    assert taken().key == "late"
    waiting = in_thread(q.take)
    time.sleep(0.05)
    q.close()
    assert waiting() is None


def test_take_without_a_timeout_waits_for_the_next_backlog_token():
    q = WorkQueue(backlog_per_s=20, backlog_capacity=3)
    q.offer(item("k0", BACKLOG))
    q.offer(item("k1", BACKLOG))
    assert q.take(0).key == "k0"  # the first token is there at once
    started = time.monotonic()
    assert in_thread(q.take)().key == "k1"  # the next comes 50 ms later (no timeout to wake it)
    print(f"second backlog item after {time.monotonic() - started:.3f} s (50 ms expected)")


def test_one_token_per_backlog_item_and_never_more_than_one_saved_up():
    # GIVEN a queue at 1/s, idle long enough to have saved up two tokens if it could
    q = WorkQueue(backlog_per_s=1, backlog_capacity=5)
    time.sleep(1.1)
    for i in range(3):
        q.offer(item(f"k{i}", BACKLOG))
    # THEN one item goes at once, and the next only once its token came (a second later)
    assert q.take(0).key == "k0"
    assert q.take(0) is None
    time.sleep(1.1)
    assert q.take(0).key == "k1"
    assert q.take(0) is None


def test_a_rate_of_zero_is_no_limit():
    q = WorkQueue(backlog_per_s=0, backlog_capacity=5)
    for i in range(3):
        q.offer(item(f"k{i}", BACKLOG))
    assert [q.take(0).key for _ in range(3)] == ["k0", "k1", "k2"]


def test_oldest_age_is_in_milliseconds():
    q = WorkQueue(1, 5, clock=lambda: 110.0)
    q.offer(Item("incoming", "a", "e", LIVE, queued_at=100.00049))
    assert q.oldest_age_s() == 10.0
    q.offer(Item("incoming", "b", "e", BACKLOG, queued_at=99.9994))
    assert q.oldest_age_s() == 10.001


def test_a_new_queue_is_open_and_a_closed_one_says_so():
    q = WorkQueue(backlog_per_s=1, backlog_capacity=1)
    assert q.closed is False
    q.close()
    assert q.closed is True and not q.offer(item("late"))


def test_take_with_a_long_timeout_still_hands_out_the_next_backlog_item_when_its_token_comes():
    # At 20/s the second item is due 50 ms after the first: a worker asking with a 30 s timeout gets it
    # then, not when its timeout ends (nothing else wakes it).
    q = WorkQueue(backlog_per_s=20, backlog_capacity=3)
    q.offer(item("k0", BACKLOG))
    q.offer(item("k1", BACKLOG))
    assert q.take(0).key == "k0"
    started = time.monotonic()
    assert in_thread(lambda: q.take(30))().key == "k1"  # in_thread gives up after 5 s
    print(f"second backlog item after {time.monotonic() - started:.3f} s (50 ms expected)")


def test_a_deleted_version_is_remembered_and_nothing_else_is():
    q = WorkQueue(100, 10)
    assert not q.was_deleted(None) and not q.was_deleted("v1")
    q.deleted("v1")
    assert q.was_deleted("v1") and not q.was_deleted("v2") and not q.was_deleted(None)


def test_the_memory_of_deleted_versions_keeps_the_newest_up_to_its_size():
    q = WorkQueue(100, 10)
    q.DELETED_REMEMBERED = 3
    for v in ("v1", "v2", "v3"):
        q.deleted(v)
    assert all(q.was_deleted(v) for v in ("v1", "v2", "v3"))  # exactly full: nothing forgotten yet
    q.deleted("v4")
    assert not q.was_deleted("v1")  # the oldest goes first
    assert all(q.was_deleted(v) for v in ("v2", "v3", "v4"))

import threading

from classifier_fn.queue import LIVE, Item, WorkQueue
from classifier_fn.reconciler import reconcile_once
from tests.conftest import photo


def fill(store, count: int, age_s: float = 60) -> None:
    for i in range(count):
        store.put("incoming", f"old/{i:03d}.jpg", photo())
        store.age("incoming", f"old/{i:03d}.jpg", age_s)


def test_queues_old_objects_and_skips_young_ones_folders_and_held(fake_store):
    fill(fake_store, 3)
    fake_store.put("incoming", "fresh.jpg", photo())          # its live event is on the way
    fake_store.put("incoming", "folder/", b"")
    fake_store.age("incoming", "folder/", 60)
    queue = WorkQueue(backlog_per_s=100, backlog_capacity=10)
    held = fake_store.head("incoming", "old/000.jpg")
    queue.offer(Item("incoming", "old/000.jpg", held.etag, LIVE))
    report = reconcile_once(fake_store, "incoming", queue, grace_s=10)
    assert (report.listed, report.queued, report.in_grace, report.in_flight) == (5, 2, 1, 1)
    assert queue.depth()["backlog"] == 2


def test_a_long_backlog_drains_within_one_pass(fake_store):
    fill(fake_store, 30)
    queue = WorkQueue(backlog_per_s=1000, backlog_capacity=4)
    taken = []

    def consume():
        while len(taken) < 30:
            item = queue.take(timeout=5)
            if item is None:
                return
            taken.append(item.key)
            queue.done(item)

    consumer = threading.Thread(target=consume)
    consumer.start()
    report = reconcile_once(fake_store, "incoming", queue, grace_s=0)
    consumer.join(10)
    assert report.queued == 30 and report.deferred == 0
    assert sorted(taken) == [f"old/{i:03d}.jpg" for i in range(30)]


def test_stopping_leaves_the_rest_for_the_next_pass(fake_store):
    fill(fake_store, 10)
    queue = WorkQueue(backlog_per_s=1000, backlog_capacity=2)
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    report = reconcile_once(fake_store, "incoming", queue, grace_s=0, stop=stop)
    assert report.queued == 2 and report.deferred == 1 and report.listed == 3


def test_minio_down_is_reported_not_raised(fake_store):
    fake_store.down = True
    report = reconcile_once(fake_store, "incoming", WorkQueue(1, 1), grace_s=0)
    assert report.listed == 0 and "unreachable" in report.errors[0]

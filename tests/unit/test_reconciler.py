import threading

from classifier_fn.metrics import Metrics
from classifier_fn.pipeline.queue import LIVE, Item, WorkQueue
from classifier_fn.pipeline.reconciler import reconcile_once
from classifier_fn.pipeline.worker import process
from classifier_fn.runtime import Runtime
from tests.conftest import photo
from tests.unit.test_worker import FixedBatcher


def fill(store, count: int, age_s: float = 60) -> None:
    for i in range(count):
        store.put("incoming", f"old/{i:03d}.jpg", photo())
        store.age("incoming", f"old/{i:03d}.jpg", age_s)


def test_queues_old_objects_and_skips_young_ones_folders_and_held(fake_store):
    fill(fake_store, 3)
    fake_store.put("incoming", "fresh.jpg", photo())  # its live event is on the way
    fake_store.put("incoming", "folder/", b"")
    fake_store.age("incoming", "folder/", 60)
    queue = WorkQueue(backlog_per_s=100, backlog_capacity=10)
    held = fake_store.head("incoming", "old/000.jpg")
    queue.offer(Item("incoming", "old/000.jpg", held.etag, LIVE))
    report = reconcile_once(fake_store, "incoming", queue, grace_s=10)
    assert (report.listed, report.queued, report.in_grace, report.in_flight, report.markers) == (5, 2, 1, 1, 1)
    assert queue.depth()["backlog"] == 2


def test_a_key_ending_in_a_slash_that_holds_bytes_is_queued_not_skipped_as_a_folder(fake_store):
    fake_store.put("incoming", "weird/dirwithdata/", photo())
    fake_store.age("incoming", "weird/dirwithdata/", 60)
    queue = WorkQueue(backlog_per_s=100, backlog_capacity=10)
    report = reconcile_once(fake_store, "incoming", queue, grace_s=10)
    assert (report.queued, report.markers) == (1, 0)
    assert queue.take(timeout=1).key == "weird/dirwithdata/"


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


def _hide_behind_a_delete_marker(store, key: str) -> None:
    """What a plain `mc rm incoming/<key>` leaves with versioning on: the photo as a noncurrent version."""
    store.noncurrent["incoming"].setdefault(key, []).append(store.buckets["incoming"].pop(key))


def test_a_failed_photo_hidden_by_a_plain_delete_is_still_retried(settings, fake_store):
    # GIVEN a photo whose work failed (MinIO refused the copy) and which someone then hid with a plain `mc rm`
    fake_store.put("incoming", "x.jpg", photo())
    fake_store.age("incoming", "x.jpg", 60)
    info = fake_store.head("incoming", "x.jpg")
    no_backoff = settings.replace(reconcile_interval_s=0)  # the failed record is due again at once
    rt = Runtime(no_backoff, fake_store, WorkQueue(10, 10), FixedBatcher(), "food11-test", Metrics(), "w-test")
    fake_store.fail_next["copy"] = 100
    assert process(rt, Item("incoming", "x.jpg", info.etag, version_id=info.version_id)) == "failed"
    fake_store.fail_next.clear()
    _hide_behind_a_delete_marker(fake_store, "x.jpg")
    # WHEN the reconciler passes
    queue = WorkQueue(10, 10)
    report = reconcile_once(fake_store, "incoming", queue, grace_s=0)
    # THEN it finds that version (the record promised a retry), and the retry labels it and deletes it for good
    assert report.queued == 1
    item = queue.take(timeout=0)
    assert (item.etag, item.version_id) == (info.etag, info.version_id)
    assert process(rt, item) == "done"
    assert fake_store.versions("incoming", "x.jpg") == [] and len(fake_store.keys("production")) == 1


def test_an_older_version_replaced_before_its_event_was_worked_is_found_at_once(fake_store):
    fake_store.put("incoming", "k.jpg", photo())
    fake_store.age("incoming", "k.jpg", 60)
    v1 = fake_store.head("incoming", "k.jpg")
    fake_store.put("incoming", "k.jpg", photo("10_36.jpg"))
    fake_store.age("incoming", "k.jpg", 30)
    queue = WorkQueue(1000, 10)  # backlog rate high: both taken at once
    assert reconcile_once(fake_store, "incoming", queue, grace_s=0).queued == 2
    taken = {(i.etag, i.version_id) for i in (queue.take(timeout=1), queue.take(timeout=1))}
    assert taken == {
        (v1.etag, v1.version_id),
        (fake_store.head("incoming", "k.jpg").etag, fake_store.head("incoming", "k.jpg").version_id),
    }

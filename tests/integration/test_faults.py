"""Nothing lost, nothing twice: real processes killed and restarted, real MinIO, hostile input."""

from __future__ import annotations

import concurrent.futures
import copy
import io
import json
import os
import urllib.error
import urllib.request

import pytest
from PIL import Image

from gourmetgram import names
from gourmetgram.store import Store
from gourmetgram_tools.client import Dropped, drop, post_photo
from gourmetgram_tools.local import stack_ports
from minio_config import current
from minio_config.apply import configure
from tests.conftest import bomb_png, image_bytes, load_event, photo
from tests.stack import (
    free_port,
    production_objects,
    s3_client,
    stack_settings,
    start_stack,
    upload_multipart,
    wait_final,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PHOTOS = ["9_452.jpg", "10_36.jpg", "4_87.jpg", "7_226.jpg", "1_17.jpg"]


@pytest.fixture(scope="module")
def faults(tmp_path_factory):
    """A stack of its own: these tests stop, kill and restart its parts."""
    # Short claims: a killed worker's photos are taken over within seconds.
    stack = start_stack(tmp_path_factory.mktemp("faults"), stack_settings(claim_ttl_s=8.0))
    yield stack
    stack.stop_all(kill=True)


@pytest.fixture(scope="module")
def fstore(faults) -> Store:
    return Store.connect(faults.settings)


def drop_many(store: Store, prefix: str, count: int) -> dict[str, Dropped]:
    """Drop `count` distinct photos concurrently; returns key -> what was dropped."""

    def one(i: int) -> tuple[str, Dropped]:
        # A distinct object per key: the photo plus a comment after its end marker.
        data = photo(PHOTOS[i % len(PHOTOS)]) + f"#{prefix}{i}".encode()
        key = f"{prefix}/{i:03d} photo.jpg"
        return key, drop(store, "incoming", key, data)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        return dict(pool.map(one, range(count)))


def assert_each_once(store: Store, drops: dict[str, Dropped], timeout: float = 120.0) -> list[dict]:
    records = [wait_final(store, dropped, timeout) for dropped in drops.values()]
    for record in records:
        assert record["status"] == "done", record
        assert production_objects(store, record["id"]) == [record["production_key"]]
    wait_until(lambda: not [o for o in store.list("incoming") if o.key in drops], 30, "incoming drained")
    return records


def test_function_down_then_up(faults, fstore):
    faults.stop("function")
    drops = drop_many(fstore, "down", 20)
    faults.start_function()
    assert_each_once(fstore, drops)


def test_kill_9_in_the_middle_of_a_burst(faults, fstore):
    drops = drop_many(fstore, "crash", 50)
    wait_until(lambda: len(list(fstore.list("incoming", prefix="crash/"))) < 50, 30, "work to start")
    faults.stop("function", kill=True)
    remaining = len(list(fstore.list("incoming", prefix="crash/")))
    assert 0 < remaining < 50, "the kill should land mid-burst"
    faults.start_function()
    records = assert_each_once(fstore, drops, timeout=180)
    # the photos the killed process had claimed were taken over after their claims lapsed
    assert any(r["attempts"] >= 2 for r in records), [r["attempts"] for r in records]


def test_minio_restart_in_the_middle_of_a_burst(faults, fstore):
    drops = drop_many(fstore, "restart", 20)
    faults.stop("minio")
    faults.start_minio()
    drops.update(drop_many(fstore, "after-restart", 5))
    assert_each_once(fstore, drops, timeout=180)


def test_lost_events_are_found_by_the_reconciler(faults, fstore):
    mc = current.client(faults.settings)
    mc.delete_bucket_notification("incoming")
    try:
        drops = drop_many(fstore, "unsubscribed", 5)
        assert_each_once(fstore, drops, timeout=60)
    finally:
        configure(faults.settings, echo=lambda line: None)


def _event(key: str, etag: str) -> bytes:
    doc = copy.deepcopy(load_event("put_simple"))
    doc["Records"][0]["s3"]["object"].update({"key": key.replace(" ", "+"), "eTag": etag})
    return json.dumps(doc).encode()


def _post(url: str, body: bytes, token: str) -> int:
    request = urllib.request.Request(
        f"{url}/minio/events",
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_duplicates_to_two_function_processes(faults, fstore):
    second = faults.start_function(name="function-2", port=free_port(stack_ports(faults.settings)))
    try:
        drops = drop_many(fstore, "dupes", 10)
        token = faults.settings.webhook_token
        posts = [(url, _event(d.key, d.etag)) for d in drops.values() for url in (faults.function_base, second)] * 2
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(lambda p: _post(p[0], p[1], token), posts))
        assert set(statuses) <= {200, 202}
        assert_each_once(fstore, drops)
    finally:
        faults.stop("function-2")


def _cmyk_jpeg() -> bytes:
    out = io.BytesIO()
    Image.open(io.BytesIO(photo())).convert("CMYK").save(out, "JPEG")
    return out.getvalue()


def _animated_gif() -> bytes:
    frames = [Image.open(io.BytesIO(photo(p))).convert("P").resize((200, 150)) for p in PHOTOS[:3]]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100)
    return out.getvalue()


ZOO = [
    ("zoo/notes.txt", lambda: b"grocery list: eggs, milk\n", "rejected", "not an image"),
    ("zoo/truncated.jpg", lambda: image_bytes("JPEG", (800, 600))[:6000], "rejected", "truncated"),
    ("zoo/empty.jpg", lambda: b"", "rejected", "empty"),
    ("zoo/bomb.png", lambda: bomb_png(10000, 10000), "rejected", "too many pixels"),
    ("zoo/huge.jpg", lambda: photo() + os.urandom(30 * 1024 * 1024), "rejected", "file too large"),
    ("zoo/cmyk.jpg", _cmyk_jpeg, "done", None),
    ("zoo/animated.gif", _animated_gif, "done", None),
    ("zoo/one-pixel.png", lambda: image_bytes("PNG", (1, 1)), "done", None),
    ("zoo/with space+plus%percent/été 🍜.jpg", photo, "done", None),
    ("zoo/" + "/".join(f"d{i}" for i in range(12)) + "/deep.jpg", photo, "done", None),
]


@pytest.mark.parametrize(("key", "make", "status", "reason"), [pytest.param(*z, id=z[0][4:20]) for z in ZOO])
def test_bad_file_zoo(faults, fstore, key, make, status, reason):
    data = make()
    if len(data) > 5 * 1024 * 1024:
        dropped = upload_multipart(s3_client(faults.settings), key, data)
    else:
        dropped = drop(fstore, "incoming", key, data)
    record = wait_final(fstore, dropped, timeout=60)
    assert record["status"] == status, record
    if reason:
        assert reason in record["reason"]
        assert record["quarantine_key"].endswith("/" + key.split("/")[-1])
        assert reason in fstore.get_tags("quarantine", record["quarantine_key"])["reason"]
        assert production_objects(fstore, record["id"]) == []
    else:
        assert production_objects(fstore, record["id"]) == [record["production_key"]]
    print(
        f"\n{key[:40]:40} {len(data):>10} bytes -> {record['status']}: "
        f"{record.get('reason') or names.class_name(record['class_index'])}"
    )


def test_cli_reconcile_processes_the_backlog_while_the_function_is_down(faults, fstore):
    from click.testing import CliRunner

    from gourmetgram_tools import main

    faults.stop("function")
    try:
        drops = drop_many(fstore, "cli-reconcile", 4)
        dry = CliRunner().invoke(main, ["reconcile", "--dry-run"], env=faults.settings.to_env())
        assert dry.exit_code == 0 and "4 object(s) waiting" in dry.output
        result = CliRunner().invoke(main, ["reconcile"], env=faults.settings.to_env())
        assert result.exit_code == 0, result.output
        assert "queued 4 of 4" in result.output and "4 done" in result.output
        assert_each_once(fstore, drops, timeout=10)
    finally:
        faults.start_function()


def test_cli_requeue_moves_quarantined_objects_back(faults, fstore):
    from click.testing import CliRunner

    from gourmetgram_tools import main

    rejected = wait_final(fstore, drop(fstore, "incoming", "requeue/not-a-photo.jpg", b"plain text"))
    assert rejected["status"] == "rejected"
    qkey = rejected["quarantine_key"]
    faults.stop("function")
    try:
        result = CliRunner().invoke(main, ["requeue"], env=faults.settings.to_env())
        assert result.exit_code == 0, result.output
        assert f"requeued quarantine/{qkey} -> incoming/requeue/not-a-photo.jpg" in result.output
        assert [o.key for o in fstore.list("incoming", prefix="requeue/")] == ["requeue/not-a-photo.jpg"]
        assert not list(fstore.list("quarantine", prefix=qkey))
        assert wait_final(fstore, rejected["id"]) == rejected  # the old verdict stays, as history
    finally:
        faults.start_function()
    # The function takes it again, as a new object version with a record of its own, and rejects it
    # again: nothing is lost on the way.
    wait_until(
        lambda: [o for o in fstore.list("quarantine") if o.key.endswith("/not-a-photo.jpg") and o.key != qkey],
        60,
        "quarantined again",
    )


def test_cli_requeue_never_overwrites_a_photo_waiting_under_the_same_name(faults, fstore):
    from click.testing import CliRunner

    from gourmetgram_tools import main

    rejected = wait_final(fstore, drop(fstore, "incoming", "requeue2/IMG_0001.jpg", b"plain text"))
    faults.stop("function")
    try:
        waiting = drop(fstore, "incoming", "requeue2/IMG_0001.jpg", photo())  # a real photo, same name
        result = CliRunner().invoke(main, ["requeue"], env=faults.settings.to_env())
        assert result.exit_code == 0, result.output
        assert f"kept quarantine/{rejected['quarantine_key']}" in result.output
        assert fstore.head("incoming", "requeue2/IMG_0001.jpg").etag == waiting.etag  # not replaced
        assert list(fstore.list("quarantine", prefix=rejected["quarantine_key"]))  # still there
    finally:
        faults.start_function()
    assert wait_final(fstore, waiting)["status"] == "done"


def test_the_function_refuses_to_start_on_a_looping_subscription(faults):
    from minio.notificationconfig import NotificationConfig, QueueConfig

    from gourmetgram_tools.local import StartupError
    from minio_config.desired import ARN

    mc = current.client(faults.settings)
    mc.set_bucket_notification(
        "incoming",
        NotificationConfig(queue_config_list=[QueueConfig(queue=ARN, events=["s3:ObjectCreated:*"], config_id="loop")]),
    )
    try:
        with pytest.raises(StartupError, match="PutTagging|ObjectCreated"):
            faults.start_function(name="function-unsafe", port=free_port(stack_ports(faults.settings)), timeout_s=60)
    finally:
        configure(faults.settings, echo=lambda line: None)


def test_a_fresh_upload_overtakes_a_large_backlog(faults, fstore):
    """Objects that predate the subscription drain at backlog_per_s; a new photo does not queue behind them."""
    mc = current.client(faults.settings)
    mc.delete_bucket_notification("incoming")
    try:
        backlog = drop_many(fstore, "backlog", 150)  # no events: only the reconciler can find these
    finally:
        configure(faults.settings, echo=lambda line: None)
    wait_until(lambda: len(list(fstore.list("incoming", prefix="backlog/"))) < 150, 60, "the backlog to start")
    accepted = post_photo(faults.web_url, photo("7_226.jpg"))
    record = wait_final(fstore, accepted["id"])
    left = len(list(fstore.list("incoming", prefix="backlog/")))
    print(f"\nfresh upload labelled in {record['latency_ms']} ms with {left} of 150 backlog photos still waiting")
    assert record["status"] == "done"
    # At 20 backlog photos a second, most of the 150 are still waiting when the fresh one is labelled.
    assert left > 50, f"only {left} backlog photos left: the fresh upload waited behind the backlog"
    assert_each_once(fstore, backlog, timeout=120)


def test_a_record_forged_with_the_frontends_rights_gets_no_photo_deleted(faults, fstore):
    """The frontend may write records (labels go through them): a forged `done` record must not make the
    function delete a photo it never classified."""
    web = Store.connect(
        faults.settings.replace(
            **dict(zip(("minio_user", "minio_password"), faults.settings.component_credentials("web"), strict=True))
        )
    )
    faults.stop("function")
    try:
        dropped = drop(fstore, "incoming", "forged/victim.jpg", photo("7_226.jpg"))
        [listed] = web.list("incoming", prefix="forged/")  # what the frontend's identity can see
        pid = names.drop_id("incoming", listed.key, listed.etag, listed.last_modified)
        web.put_json(
            "events",
            names.record_key(pid),
            {
                "id": pid,
                "status": "done",
                "incoming_key": listed.key,
                "incoming_etag": listed.etag,
                "incoming_modified": names.timestamp_tag(listed.last_modified),
                "production_key": "class_00/x.jpg",
            },
        )
    finally:
        faults.start_function()
    record = wait_final(fstore, dropped, timeout=60)
    wait_until(lambda: wait_final(fstore, dropped)["production_key"] != "class_00/x.jpg", 60, "the record retaken")
    record = wait_final(fstore, dropped)
    assert record["id"] == pid and production_objects(fstore, pid) == [record["production_key"]]
    assert fstore.head("production", record["production_key"]).metadata["original-key"] == "forged/victim.jpg"


def test_two_uploads_under_one_key_are_both_labelled_and_leave_nothing_behind(faults, fstore):
    """MinIO's events name their versions: the first photo, replaced before its event was worked, is still
    labelled from its own version; each version is deleted by its id, so no version and no delete marker stay."""
    first = drop(fstore, "incoming", "overwritten/IMG_0001.jpg", photo("9_452.jpg"))
    second = drop(fstore, "incoming", "overwritten/IMG_0001.jpg", photo("10_36.jpg"))
    records = [wait_final(fstore, dropped) for dropped in (first, second)]
    assert [r["status"] for r in records] == ["done", "done"] and records[0]["id"] != records[1]["id"]
    assert [fstore.head("production", r["production_key"]).etag for r in records] == [first.etag, second.etag]
    mc = current.client(faults.settings)
    wait_until(
        lambda: not list(mc.list_objects("incoming", prefix="overwritten/", include_version=True)),
        30,
        "every version of overwritten/IMG_0001.jpg deleted, no delete marker left",
    )

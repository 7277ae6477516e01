"""The event log read by time on the real MinIO: exactly the newest records from a short listing, across an
hour boundary and with old-format ids among them; and a frontend that stays up while many clients read it."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from datetime import UTC, datetime

import pytest

from gourmetgram import logorder, names
from gourmetgram.eventlog import EventLog
from gourmetgram.store import Store
from gourmetgram_tools.bench_events import fill_event_log, log_record
from gourmetgram_tools.local import LocalStack
from tests.conftest import ROOT
from tests.stack import stack_settings

pytestmark = pytest.mark.integration
TIMEOUT_S = 5  # generous: /healthz stalled for 34 s behind 60 readers of a 10,000-record log


@pytest.fixture(scope="module")
def log_stack(tmp_path_factory):
    """MinIO and the frontend (no function: nothing here is classified)."""
    stack = LocalStack(stack_settings(), tmp_path_factory.mktemp("eventlog"))
    try:
        stack.claim()
        stack.start_minio()
        stack.configure()
        stack.start_web()
        yield stack
    finally:
        stack.stop_all()


def get_json(url: str, token: str, timeout: float = 30) -> tuple[int, object, dict]:
    """GET as an operator (the event log is theirs alone)."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:  # noqa: S310 (the test's own frontend)
            return r.status, json.load(r), dict(r.headers)
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.load(exc), dict(exc.headers)


def put(store: Store, pid: str, moment: float) -> str:
    key = names.record_key(pid)
    store.put_json("events", key, log_record(pid, moment))
    return key


def oracle(store: Store, since: float | None = None) -> list[str]:
    """The whole log, from a listing of every key: record keys, newest first."""
    entries = [logorder.place(info) for info in store.list("events") if logorder.is_record_key(info.key)]
    return [e.key for e in logorder.newest_first(entries) if since is None or e.time >= since]


def test_the_window_read_is_exactly_the_newest_across_an_hour_boundary_with_old_ids_among_them(log_stack):
    store = Store.connect(log_stack.settings)
    now = time.time()
    boundary = now - now % 3600 - 3600  # a full hour ago or more: the read has to widen to reach it
    # GIVEN uploads and drops every 90 s from half an hour before the boundary to half an hour after it,
    # written in a shuffled order (a record's write time says nothing of its place)
    moments = [boundary - 1800 + 90 * i for i in range(41)]
    written = []
    for i, moment in enumerate(moments[::2] + moments[1::2]):
        pid = (
            names.upload_id(moment)
            if i % 3
            else names.drop_id("incoming", f"drop/{i}.jpg", uuid.uuid4().hex, datetime.fromtimestamp(moment, UTC))
        )
        written.append(put(store, pid, moment))
    # AND old-format records (placed by their write, now) whose keys sort first, among the newest, and last
    old = [
        str(uuid.UUID(hex="00000000" + uuid.uuid4().hex[8:], version=4)),
        str(uuid.UUID(hex=logorder.key_at(now - 30).replace("-", "") + uuid.uuid4().hex[12:], version=4)),
        str(uuid.uuid5(uuid.NAMESPACE_URL, f"incoming/{uuid.uuid4()}@etag")),
        str(uuid.UUID(hex="ffffffff" + uuid.uuid4().hex[8:], version=4)),
    ]
    for pid in old:
        put(store, pid, now)
    # AND one record rewritten late (a correction): it keeps its place by the photo's time
    store.put_json("events", written[0], store.get_json("events", written[0])[0])
    whole = oracle(store)

    events = EventLog(store, "events")
    for limit in (1, 4, 5, 10, 30, len(whole), len(whole) + 10):
        assert [e.key for e in events.newest_entries(limit)] == whole[:limit], limit
    assert set(whole[:4]) == {names.record_key(pid) for pid in old}
    for since in (boundary - 1, boundary, boundary + 1, boundary - 1800):
        assert [e.key for e in events.entries_since(since)] == oracle(store, since)[::-1], since
    for limit in (5, 30, 100):
        status, rows, _ = get_json(
            f"{log_stack.web_url}/review/api/events?limit={limit}", log_stack.settings.local_review_token
        )
        assert status == 200 and [names.record_key(r["id"]) for r in rows] == whole[:limit], limit
    # AND the terminal shows the same, oldest first
    env = {**log_stack.settings.to_env(), "PATH": "/usr/bin:/bin"}
    moment = datetime.fromtimestamp(boundary - 90, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    shown = subprocess.run(
        [sys.executable, "-m", "gourmetgram", "events", "--since", moment],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=True,
    ).stdout.splitlines()
    expected = [k.removesuffix(".json") for k in oracle(store, boundary - 90)[::-1]]
    header, *rows = shown
    at = header.index("file name")  # a drop's file name is its key, here `<id>.jpg`: 40 characters at most
    assert [row[at : at + 40].strip().removesuffix(".jpg") for row in rows] == expected
    events.newest_entries(10)
    print(f"\n{len(whole)} records; the newest 10 again from a listing of {events.listed} keys")


def test_the_frontend_stays_up_while_sixty_clients_read_a_large_log(log_stack):
    store = Store.connect(log_stack.settings)
    # GIVEN a log of 6,000 records (a photo every 2 s)
    started = time.monotonic()
    fill_event_log(store, "events", 0, 6000, time.time() - 7 * 86400)
    print(f"\nfilled 6,000 records in {time.monotonic() - started:.1f} s")
    url, token = f"{log_stack.web_url}/review/api/events?limit=100", log_stack.settings.local_review_token
    answers: Counter = Counter()
    stop = threading.Event()

    def read_in_a_loop():
        while not stop.is_set():
            try:
                status, _, headers = get_json(url, token, timeout=60)
            except OSError as exc:  # a reset or a timeout: counted, and then the assertions say so
                status, headers = type(exc).__name__, {}
            answers[status, headers.get("Retry-After")] += 1

    # WHEN 60 clients read the event log in a loop
    clients = [threading.Thread(target=read_in_a_loop, daemon=True) for _ in range(60)]
    for client in clients:
        client.start()
    try:
        time.sleep(3)
        # THEN /healthz answers at once, and a reader is answered
        began = time.monotonic()
        status, body, _ = get_json(f"{log_stack.web_url}/healthz", token, timeout=TIMEOUT_S)
        healthz_s = time.monotonic() - began
        assert status == 200 and body == {"status": "ok"}
        time.sleep(2)
    finally:
        stop.set()
        for client in clients:
            client.join(70)
    print(f"/healthz in {healthz_s * 1000:.0f} ms under 60 readers; answers {dict(answers)}")
    assert answers[200, None] > 0 and answers[503, "1"] > 0  # the excess is told to come back in a second


@pytest.mark.slow
@pytest.mark.timeout(660)  # the subprocess's own limit, and a little
def test_bench_events_reports_every_figure_as_json():
    env = {**stack_settings().to_env(), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "gourmetgram",
            "bench-events",
            "--records",
            "300,900",
            "--old",
            "50",
            "--samples",
            "2",
            "--clients",
            "4",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["old_format"] == 50 and [f["records"] for f in result["sizes"]] == [300, 900]
    for figures in result["sizes"]:
        api, read, load = figures["api"], figures["read"], figures["under_load"]
        assert api["p95_ms"] >= api["p50_ms"] > 0 and api["cold_ms"] > 0 and figures["fill_records_per_s"] > 0
        assert read["s3_requests"] >= 1 and 0 < read["keys_listed"] < 900 and read["empty_listing_ms"] > 0
        assert load["clients"] == 4 and sum(load["answers"].values()) > 0 and load["healthz"]["max_ms"] > 0
    print(done.stdout)

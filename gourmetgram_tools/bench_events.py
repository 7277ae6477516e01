"""`gourmetgram bench-events`: `/review/api/events` on a large event log, filled on its own MinIO (issue 15's figures).

A page's refresh, what a warm read costs MinIO, and /healthz while many clients read the log at once.
"""

from __future__ import annotations

import concurrent.futures
import statistics
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import click

from gourmetgram import names
from gourmetgram.outcome import Outcome, Status
from gourmetgram.settings import Settings
from gourmetgram.store import Store
from gourmetgram_tools.bench import _machine, _percentiles
from gourmetgram_tools.local import LocalStack, on_loopback

LOG_SPACING_S = 2.0  # one photo every 2 s: 200,000 records span 4.6 days


def log_record(pid: str, moment: float) -> dict:
    """A small, realistic outcome record (about 700 bytes)."""
    record = Outcome(
        id=pid,
        status=Status.DONE,
        incoming_key=f"{pid}.jpg",
        incoming_etag=uuid.uuid4().hex,
        source="web",
        size=48213,
        predicted_class="Soup",
        class_index=9,
        confidence=0.873,
        production_key=names.production_key(9, pid, ".jpg"),
        model_version="food11-0123456789ab",
        latency_ms=135,
        attempts=1,
    )
    for step, after in (("uploaded", 0), ("received", 0.01), ("claimed", 0.02), ("finished", 0.135)):
        record.stamp(step, moment + after)
    return record.to_json()


def fill_event_log(
    store: Store,
    bucket: str,
    start: int,
    stop: int,
    newest: float,
    spacing_s: float = LOG_SPACING_S,
    old_format: bool = False,
    threads: int = 32,
    echo=None,
) -> None:
    """PUT records `start` to `stop` of a log whose record i is of a photo `i * spacing_s` before `newest`
    (with `old_format`, uuid4 ids instead, placed by their write), concurrently."""

    def put(i: int) -> None:
        moment = newest - i * spacing_s
        pid = str(uuid.uuid4()) if old_format else names.upload_id(moment)
        store.put_json(bucket, names.record_key(pid), log_record(pid, moment))

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        for done, _ in enumerate(pool.map(put, range(start, stop)), 1):
            if echo and done % 10000 == 0:
                echo(f"  {start + done:,} records", err=True)


def _get(url: str, timeout: float = 30, token: str | None = None) -> tuple[int, float]:
    started = time.perf_counter()
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:  # noqa: S310 (our own frontend, on loopback)
            r.read()
            status = r.status
    except urllib.error.HTTPError as exc:
        exc.read()
        exc.close()
        status = exc.code
    except OSError:  # no answer within the timeout: counted as status 0
        status = 0
    return status, time.perf_counter() - started


def _api_latency(web_url: str, samples: int, token: str) -> dict:
    """`samples` page refreshes one after another, each a fresh read of the log (a page refreshes every 3 s;
    the frontend reads at most once a second)."""
    url = f"{web_url}/review/api/events?limit=100"
    status, cold = _get(url, token=token)
    times = []
    for _ in range(samples):
        time.sleep(1.1)
        status, seconds = _get(url, token=token)
        assert status == 200, status
        times.append(seconds)
    return {"cold_ms": 1000 * cold, **_percentiles(times)}


def _read_cost(store: Store, bucket: str) -> dict:
    """What one warm read of the newest 100 costs MinIO, in process: keys listed and requests; and the time
    MinIO takes for a listing that returns nothing (it reads the bucket's whole directory for any listing)."""
    from gourmetgram.eventlog import EventLog

    requests: list[str] = []
    events = EventLog(store, bucket)
    events.newest(100)
    store.count_requests(requests.append)
    try:
        events.newest(100)
    finally:
        store.count_requests(lambda operation: None)
    empty = []
    for _ in range(7):
        started = time.perf_counter()
        next(iter(store.list(bucket, start_after="~", page_size=1)), None)  # "~" sorts after every id
        empty.append(time.perf_counter() - started)
    return {
        "keys_listed": events.listed,
        "s3_requests": len(requests),
        "empty_listing_ms": 1000 * statistics.median(empty),
    }


def _under_load(web_url: str, clients: int, seconds: float, token: str) -> dict:
    """`clients` loops requesting /review/api/events at once; meanwhile /healthz, four times a second."""
    stop = threading.Event()
    answers: dict[int, int] = {}
    lock = threading.Lock()

    def hammer() -> None:
        while not stop.is_set():
            status, _ = _get(f"{web_url}/review/api/events?limit=100", timeout=60, token=token)
            with lock:
                answers[status] = answers.get(status, 0) + 1

    threads = [threading.Thread(target=hammer, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    health = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        health.append(_get(f"{web_url}/healthz", timeout=60)[1])
        time.sleep(0.25)
    stop.set()
    for t in threads:
        t.join(70)
    return {
        "clients": clients,
        "seconds": seconds,
        "answers": {str(k): v for k, v in sorted(answers.items())},
        "healthz": {**_percentiles(health), "max_ms": 1000 * max(health)},
    }


def event_log(
    settings: Settings,
    sizes: tuple[int, ...] = (20_000, 200_000),
    old: int = 0,
    samples: int = 20,
    clients: int = 60,
    load_s: float = 10.0,
    echo=click.echo,
) -> dict:
    """`/review/api/events` on a log of each size (one MinIO, filled up to each size in turn): a page's refresh,
    what a read costs MinIO, and /healthz while `clients` request the log at once."""
    result: dict = {"date": time.strftime("%Y-%m-%d"), "machine": _machine(), "old_format": old, "sizes": []}
    with tempfile.TemporaryDirectory(prefix="gourmetgram-bench-events-") as tmp:
        stack = LocalStack(on_loopback(settings, free=True), Path(tmp))
        try:
            stack.claim()
            stack.start_minio()
            stack.configure()
            stack.start_web()
            store = Store.connect(stack.settings)
            bucket = stack.settings.bucket_events
            if old:
                echo(f"writing {old:,} old-format records…", err=True)
                fill_event_log(store, bucket, 0, old, time.time(), old_format=True, echo=echo)
            newest, filled = time.time(), 0  # every new record is newer than the old-format ones' writes
            for size in sorted(sizes):
                echo(f"filling the log to {size:,} records…", err=True)
                started = time.perf_counter()
                fill_event_log(store, bucket, filled, size, newest, echo=echo)
                fill_rate = (size - filled) / max(time.perf_counter() - started, 1e-9)
                filled = size
                echo(f"measuring /review/api/events at {size:,} records…", err=True)
                token = stack.settings.local_review_token  # the operators' log: the token `up` gives its frontend
                figures = {
                    "records": size,
                    "fill_records_per_s": fill_rate,
                    "api": _api_latency(stack.web_url, samples, token),
                    "read": _read_cost(store, bucket),
                }
                if clients:
                    figures["under_load"] = _under_load(stack.web_url, clients, load_s, token)
                result["sizes"].append(figures)
        finally:
            stack.stop_all()
    return result


def event_log_table(r: dict) -> str:
    lines = [
        f"GourmetGram event-log bench, {r['date']}, {r['machine']}"
        + (f", {r['old_format']:,} old-format records" if r["old_format"] else "")
    ]
    for f in r["sizes"]:
        api, read = f["api"], f["read"]
        lines.append(
            f"{f['records']:>9,} records: /review/api/events?limit=100 p50 {api['p50_ms']:.0f} ms, p95 "
            f"{api['p95_ms']:.0f} ms (first, cold {api['cold_ms']:.0f} ms); a warm read lists "
            f"{read['keys_listed']} keys in {read['s3_requests']} requests; an empty listing takes MinIO "
            f"{read['empty_listing_ms']:.0f} ms"
        )
        if "under_load" in f:
            load = f["under_load"]
            lines.append(
                f"{'':>19}{load['clients']} clients at once for {load['seconds']:.0f} s: answers "
                f"{load['answers']}; /healthz p50 {load['healthz']['p50_ms']:.0f} ms, max "
                f"{load['healthz']['max_ms']:.0f} ms"
            )
    return "\n".join(lines)

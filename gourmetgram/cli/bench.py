"""`gourmetgram bench`: the pipeline against the model's own ceiling, on the real MinIO, in one run.

Every figure is reported beside a baseline measured in the same run (this machine is small and noisy):
burst throughput as a ratio of the in-process ceiling, web latency as a ratio of the synchronous path.
"""

from __future__ import annotations

import base64
import concurrent.futures
import io
import json
import os
import re
import statistics
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import click
from PIL import Image

from gourmetgram import names
from gourmetgram.cli.client import drop, post_photo, wait_outcome
from gourmetgram.cli.local import LocalStack, on_loopback
from gourmetgram.outcome import Outcome, Status
from gourmetgram.settings import Settings
from gourmetgram.store import Store

SAMPLE_PHOTOS = Path(__file__).parent / "sample_photos"  # five Food-11 photos, shipped in the wheel
SIZES = (320, 800, 1600, 3000)  # longer side: thumbnails to camera-size photos


def sample_images() -> list[bytes]:
    """The fixture photos at four sizes each: a mix like real traffic."""
    images = []
    for path in sorted(SAMPLE_PHOTOS.glob("*.jpg")):
        original = Image.open(path).convert("RGB")
        for side in SIZES:
            scale = side / max(original.size)
            out = io.BytesIO()
            original.resize((round(original.width * scale), round(original.height * scale))).save(out, "JPEG",
                                                                                                  quality=90)
            images.append(out.getvalue())
    return images


def ceiling(settings: Settings, images: list[bytes], rounds: int = 2, decoders: int | None = None) -> dict:
    """The model alone, in process: decode + preprocess on `decoders` threads (default: one per core),
    forward at the best batch size; images per second."""
    import torch

    from classifier_fn import model, preprocess
    from classifier_fn.running import warm

    module = model.for_inference(model.load(settings.model_path).module)  # as the function serves it
    cores = os.cpu_count() or 1
    torch.set_num_threads(settings.torch_threads or cores)
    warm(module, 16)
    best: dict = {}
    with concurrent.futures.ThreadPoolExecutor(decoders or cores) as pool:
        for batch in (1, 4, 8, 16):
            started, cpu_started = time.perf_counter(), time.process_time()
            work = images * rounds
            # Decode the next batch while the current one runs, as the function's workers do.
            pending = pool.map(lambda data: preprocess.prepare(data).tensor, work)
            done = 0
            while done < len(work):
                tensors = [next(pending) for _ in range(min(batch, len(work) - done))]
                with torch.inference_mode():
                    torch.softmax(module(torch.stack(tensors).contiguous(memory_format=torch.channels_last)), 1)
                done += len(tensors)
            rate = done / (time.perf_counter() - started)
            if rate > best.get("images_per_s", 0):
                best = {"images_per_s": rate, "batch_size": batch,
                        "cpu_ms_per_image": 1000 * (time.process_time() - cpu_started) / done}
    return best


def _metric_total(function_url: str, name: str) -> float:
    with urllib.request.urlopen(f"{function_url}/metrics", timeout=10) as r:
        text = r.read().decode()
    return sum(float(v) for v in re.findall(rf"^{name}(?:{{[^}}]*}})? ([0-9.e+]+)$", text, re.M))


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_bound(ceiling_cpu_ms: float, burst_cpu_ms: dict[str, float]) -> float:
    """The best burst/ceiling ratio the measured CPU per photo allows: the model's own CPU per image over
    what the whole pipeline (function, MinIO, frontend, the load generator) spends per photo on the same cores."""
    return ceiling_cpu_ms / sum(burst_cpu_ms.values())


def _memory_mb(pid: int) -> dict[str, float]:
    """Peak RSS (VmHWM) and current anonymous RSS: torch's CUDA build maps ~450 MB of libraries."""
    status = Path(f"/proc/{pid}/status").read_text()
    return {k: int(re.search(rf"{k}:\s+(\d+) kB", status).group(1)) / 1024 for k in ("VmHWM", "RssAnon", "RssFile")}


class _MemorySampler(threading.Thread):
    """Samples a process's anonymous RSS every 50 ms; the kernel keeps no peak of it."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak_anon_mb, self._halt = pid, 0.0, threading.Event()

    def run(self) -> None:
        while not self._halt.wait(0.05):
            self.peak_anon_mb = max(self.peak_anon_mb, _memory_mb(self.pid)["RssAnon"])

    def stop(self) -> float:
        self._halt.set()
        self.join()
        return self.peak_anon_mb


def burst(stack: LocalStack, store: Store, images: list[bytes], count: int) -> dict:
    """`count` photos dropped concurrently, as mc cp would; first drop to last outcome record."""
    base = stack.function_base
    requests_before = _metric_total(base, "gourmetgram_s3_requests_total")
    function_pid = stack.children["function"].process.pid
    sampler = _MemorySampler(function_pid)
    sampler.start()
    # Everything here shares the machine's cores, the load generator (this process) included.
    processes = {name: child.process.pid for name, child in stack.children.items()}
    cpu_before = {name: _cpu_seconds(pid) for name, pid in processes.items()}
    own_cpu_before = time.process_time()
    run = uuid.uuid4().hex[:8]
    photos = [(f"bench-{run}/{i:04d}.jpg", images[i % len(images)] + f"#{run}{i}".encode()) for i in range(count)]
    started = time.time()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        dropped = list(pool.map(lambda d: drop(store, "incoming", d[0], d[1]), photos))
    with click.progressbar(dropped, label=f"burst of {count}", file=click.get_text_stream("stderr")) as bar:
        # The figure comes from the records' own timestamps, so a slow poll costs no accuracy, only less load.
        records = [wait_outcome(store, stack.settings.bucket_events, d, interval=0.25) for d in bar]
    cpu = {name: 1000 * (_cpu_seconds(pid) - cpu_before[name]) / count for name, pid in processes.items()}
    cpu["bench"] = 1000 * (time.process_time() - own_cpu_before) / count
    finished = max(names.parse_iso(r["timestamps"]["finished"]) for r in records)
    requests = _metric_total(base, "gourmetgram_s3_requests_total") - requests_before
    memory = _memory_mb(function_pid)
    return {"images": count, "seconds": finished - started, "images_per_s": count / (finished - started),
            "done": sum(r["status"] == "done" for r in records), "peak_rss_mb": memory["VmHWM"],
            "peak_anon_rss_mb": sampler.stop(), "libraries_rss_mb": memory["RssFile"],
            "s3_requests_per_image": requests / count, "cpu_ms_per_image": cpu}


def _percentiles(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {"p50_ms": 1000 * statistics.median(ordered),
            "p95_ms": 1000 * ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]}


def latency(stack: LocalStack, store: Store, images: list[bytes], singles: int) -> dict:
    """One photo at a time on an idle system: web upload + long-poll, a bucket drop, the sync path."""
    web, bucket, sync = [], [], []
    for i in range(singles):
        data = images[i % len(images)]
        started = time.perf_counter()
        accepted = post_photo(stack.web_url, data)
        with urllib.request.urlopen(f"{stack.web_url}{accepted['poll']}?wait=30", timeout=40) as r:
            assert json.load(r)["status"] == "done"
        web.append(time.perf_counter() - started)

        key = f"bench-single/{uuid.uuid4().hex}.jpg"
        started = time.perf_counter()
        wait_outcome(store, stack.settings.bucket_events, drop(store, "incoming", key, data), interval=0.01)
        bucket.append(time.perf_counter() - started)

        body = json.dumps({"image": base64.b64encode(data).decode()}).encode()
        started = time.perf_counter()
        request = urllib.request.Request(f"{stack.function_base}/predict", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as r:
            r.read()
        sync.append(time.perf_counter() - started)
    return {"web": _percentiles(web), "bucket": _percentiles(bucket), "sync": _percentiles(sync)}


def run(settings: Settings, photos: int = 200, singles: int = 20, echo=click.echo) -> dict:
    images = sample_images()
    echo(f"measuring the ceiling on {len(images)} images…", err=True)
    result = {"date": time.strftime("%Y-%m-%d"), "machine": _machine(), "ceiling": ceiling(settings, images),
              "ceiling_one_decoder": ceiling(settings, images, decoders=1)}
    with tempfile.TemporaryDirectory(prefix="gourmetgram-bench-") as tmp:
        for queue_dir in (True, False):
            stack = _stack(settings, Path(tmp) / f"queue-{queue_dir}", queue_dir)
            try:
                stack.start()
                store = Store.connect(stack.settings)
                mode = "queue_dir_on" if queue_dir else "queue_dir_off"
                echo(f"[{mode}] latency of {singles} single photos…", err=True)
                result[f"latency_{mode}"] = latency(stack, store, images, singles)
                result[f"burst_{mode}"] = burst(stack, store, images, photos)
                b = result[f"burst_{mode}"]
                b["ratio_to_ceiling"] = b["images_per_s"] / result["ceiling"]["images_per_s"]
                b["ratio_to_ceiling_one_decoder"] = b["images_per_s"] / result["ceiling_one_decoder"]["images_per_s"]
                b["cpu_bound_ratio"] = cpu_bound(result["ceiling"]["cpu_ms_per_image"], b["cpu_ms_per_image"])
            finally:
                stack.stop_all()
    on = result["latency_queue_dir_on"]
    on["web_vs_sync_target_ms"] = 1.5 * on["sync"]["p50_ms"] + 100
    return result


def _stack(settings: Settings, data: Path, queue_dir: bool) -> LocalStack:
    return LocalStack(on_loopback(settings, free=True), data, queue_dir=queue_dir)


def _machine() -> str:
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    return f"{os.cpu_count()} cores, {mem_kb / 1024 / 1024:.0f} GiB"


def table(r: dict) -> str:
    c, on, off = r["ceiling"], r["latency_queue_dir_on"], r["latency_queue_dir_off"]
    c1 = r["ceiling_one_decoder"]
    rows = [("ceiling: model alone, decoding on all cores", f"{c['images_per_s']:.1f} img/s (batch {c['batch_size']})",
             ""),
            ("ceiling: model alone, one decoding thread", f"{c1['images_per_s']:.1f} img/s (batch {c1['batch_size']})",
             "")]
    for label, b in (("queue_dir on", r["burst_queue_dir_on"]), ("queue_dir off", r["burst_queue_dir_off"])):
        rows += [
            (f"burst of {b['images']} drops, {label}", f"{b['images_per_s']:.1f} img/s",
             f"{b['ratio_to_ceiling']:.2f} / {b['ratio_to_ceiling_one_decoder']:.2f} of the ceilings (target >= 0.8)"),
            (f"CPU per photo, {label}", "  ".join(f"{name} {ms:.0f}" for name, ms in b["cpu_ms_per_image"].items())
             + " ms", f"model alone {c['cpu_ms_per_image']:.0f} ms: at most {b['cpu_bound_ratio']:.2f} of the ceiling"),
            (f"function peak RSS, {label}", f"{b['peak_rss_mb']:.0f} MB (anon {b['peak_anon_rss_mb']:.0f} MB)",
             f"target < 1024 MB; {b['libraries_rss_mb']:.0f} MB of it mapped libraries"),
        ]
    rows += [
        ("S3 requests per image (function)", f"{r['burst_queue_dir_on']['s3_requests_per_image']:.1f}", ""),
        ("sync POST /predict (course design)", f"p50 {on['sync']['p50_ms']:.0f} ms, p95 {on['sync']['p95_ms']:.0f} ms",
         "baseline"),
    ]
    for label, lat in (("queue_dir on", on), ("queue_dir off", off)):
        rows.append((f"web upload to label, {label}", f"p50 {lat['web']['p50_ms']:.0f} ms, p95 "
                     f"{lat['web']['p95_ms']:.0f} ms", f"{lat['web']['p50_ms'] / lat['sync']['p50_ms']:.1f}x sync"))
        drop = lat["bucket"]
        rows.append((f"bucket drop to record, {label}", f"p50 {drop['p50_ms']:.0f} ms, p95 {drop['p95_ms']:.0f} ms",
                     f"{drop['p50_ms'] / lat['sync']['p50_ms']:.1f}x sync"))
    rows.append(("target web p50 (1.5 x sync + 100 ms)", f"{on['web_vs_sync_target_ms']:.0f} ms", ""))
    width = max(len(row[0]) for row in rows)
    lines = [f"GourmetGram bench, {r['date']}, {r['machine']}"]
    lines += [f"{a:<{width}}  {b_:<32}  {c_}" for a, b_, c_ in rows]
    return "\n".join(lines)


# --- the event log: /api/events against a large log (`gourmetgram bench-events`) -----------------------

LOG_SPACING_S = 2.0  # one photo every 2 s: 200,000 records span 4.6 days


def log_record(pid: str, moment: float) -> dict:
    """A small, realistic outcome record (about 700 bytes)."""
    record = Outcome(id=pid, status=Status.DONE, incoming_key=f"{pid}.jpg", incoming_etag=uuid.uuid4().hex,
                     source="web", size=48213, predicted_class="Soup", class_index=9, confidence=0.873,
                     production_key=names.production_key(9, pid, ".jpg"), model_version="food11-0123456789ab",
                     latency_ms=135, attempts=1)
    for step, after in (("uploaded", 0), ("received", 0.01), ("claimed", 0.02), ("finished", 0.135)):
        record.stamp(step, moment + after)
    return record.to_json()


def fill_event_log(store: Store, bucket: str, start: int, stop: int, newest: float,
                   spacing_s: float = LOG_SPACING_S, old_format: bool = False, threads: int = 32,
                   echo=None) -> None:
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


def _get(url: str, timeout: float = 30) -> tuple[int, float]:
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 (our own frontend, on loopback)
            r.read()
            status = r.status
    except urllib.error.HTTPError as exc:
        exc.read()
        exc.close()
        status = exc.code
    except OSError:  # no answer within the timeout: counted as status 0
        status = 0
    return status, time.perf_counter() - started


def _api_latency(web_url: str, samples: int) -> dict:
    """`samples` page refreshes one after another, each a fresh read of the log (a page refreshes every 3 s;
    the frontend reads at most once a second)."""
    url = f"{web_url}/api/events?limit=100"
    status, cold = _get(url)
    times = []
    for _ in range(samples):
        time.sleep(1.1)
        status, seconds = _get(url)
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
    return {"keys_listed": events.listed, "s3_requests": len(requests),
            "empty_listing_ms": 1000 * statistics.median(empty)}


def _under_load(web_url: str, clients: int, seconds: float) -> dict:
    """`clients` loops requesting /api/events at once; meanwhile /healthz, four times a second."""
    stop = threading.Event()
    answers: dict[int, int] = {}
    lock = threading.Lock()

    def hammer() -> None:
        while not stop.is_set():
            status, _ = _get(f"{web_url}/api/events?limit=100", timeout=60)
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
    return {"clients": clients, "seconds": seconds, "answers": {str(k): v for k, v in sorted(answers.items())},
            "healthz": {**_percentiles(health), "max_ms": 1000 * max(health)}}


def event_log(settings: Settings, sizes: tuple[int, ...] = (20_000, 200_000), old: int = 0, samples: int = 20,
              clients: int = 60, load_s: float = 10.0, echo=click.echo) -> dict:
    """`/api/events` on a log of each size (one MinIO, filled up to each size in turn): a page's refresh,
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
                echo(f"measuring /api/events at {size:,} records…", err=True)
                figures = {"records": size, "fill_records_per_s": fill_rate,
                           "api": _api_latency(stack.web_url, samples), "read": _read_cost(store, bucket)}
                if clients:
                    figures["under_load"] = _under_load(stack.web_url, clients, load_s)
                result["sizes"].append(figures)
        finally:
            stack.stop_all()
    return result


def event_log_table(r: dict) -> str:
    lines = [f"GourmetGram event-log bench, {r['date']}, {r['machine']}"
             + (f", {r['old_format']:,} old-format records" if r["old_format"] else "")]
    for f in r["sizes"]:
        api, read = f["api"], f["read"]
        lines.append(f"{f['records']:>9,} records: /api/events?limit=100 p50 {api['p50_ms']:.0f} ms, p95 "
                     f"{api['p95_ms']:.0f} ms (first, cold {api['cold_ms']:.0f} ms); a warm read lists "
                     f"{read['keys_listed']} keys in {read['s3_requests']} requests; an empty listing takes MinIO "
                     f"{read['empty_listing_ms']:.0f} ms")
        if "under_load" in f:
            load = f["under_load"]
            lines.append(f"{'':>19}{load['clients']} clients at once for {load['seconds']:.0f} s: answers "
                         f"{load['answers']}; /healthz p50 {load['healthz']['p50_ms']:.0f} ms, max "
                         f"{load['healthz']['max_ms']:.0f} ms")
    return "\n".join(lines)

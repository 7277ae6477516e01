"""`gourmetgram bench`: the pipeline against the model's own ceiling and against the design it replaces, on
the real MinIO, in one run.

Every figure is reported beside a baseline measured in the same run (this machine is small and noisy):
burst throughput as a ratio of the in-process ceiling and of the bound the measured CPU per photo allows;
uploads through the page, 4 at a time and one at a time, beside the course's design built from our own
parts (`gourmetgram_tools.baseline`: a synchronous request that decodes, classifies one image at a time,
answers, then stores and tags from a thread pool).
"""

from __future__ import annotations

import base64
import concurrent.futures
import ctypes
import http.client
import io
import json
import os
import re
import statistics
import sys
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
from gourmetgram.cores import usable_cores
from gourmetgram.settings import Settings
from gourmetgram.store import Store
from gourmetgram_tools import bench_int8
from gourmetgram_tools.client import drop, post_photo, wait_outcome
from gourmetgram_tools.local import LocalStack, PartSpec, free_port, on_loopback, stack_ports
from gourmetgram_tools.spawn import FUNCTION_MALLOC_ENV, component_env

SAMPLE_PHOTOS = Path(__file__).parent / "sample_photos"  # five Food-11 photos, shipped in the wheel
SIZES = (320, 800, 1600, 3000)  # longer side: thumbnails to camera-size photos
UPLOADERS = 4  # people uploading at once, each waiting for a label before the next photo
FLOODERS = 4  # hostile clients on the function's network, each sending its next refused request at once
TARGETS = {
    "stored_vs_baseline": 1.5,
    "label_p50_vs_baseline": 1.2,
    "burst_vs_cpu_bound": 0.9,
    "function_own_cpu_ms": 5.0,
}


def sample_images() -> list[bytes]:
    """The fixture photos at four sizes each: a mix like real traffic."""
    images = []
    for path in sorted(SAMPLE_PHOTOS.glob("*.jpg")):
        original = Image.open(path).convert("RGB")
        for side in SIZES:
            scale = side / max(original.size)
            out = io.BytesIO()
            original.resize((round(original.width * scale), round(original.height * scale))).save(
                out, "JPEG", quality=90
            )
            images.append(out.getvalue())
    return images


# glibc's mallopt parameters (malloc.h) for FUNCTION_MALLOC_ENV's variables.
_MALLOPT = {"MALLOC_TRIM_THRESHOLD_": -1, "MALLOC_MMAP_THRESHOLD_": -3, "MALLOC_ARENA_MAX": -8}


def use_function_allocator() -> bool:
    """This process's allocator set as the function's (glibc reads MALLOC_* only at start): the ceiling is the
    model under the same allocator, else the function's "own CPU" measures the allocators' difference (it
    showed 10 ms when the function mapped every block over 4 MiB). False where glibc's mallopt is missing."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    applied = [libc.mallopt(_MALLOPT[name], int(value)) == 1 for name, value in FUNCTION_MALLOC_ENV.items()]
    return all(applied)  # every one tried: a refusal leaves the others in place, and the answer says so


def ceiling(settings: Settings, images: list[bytes], rounds: int = 2, decoders: int | None = None) -> dict:
    """The model alone, in process: decode (as the decode setting says, as the function does) + preprocess on `decoders`
    threads (default: one per core), forward at the best batch size the function may use (up to BATCH_SIZE);
    images per second. Call use_function_allocator() first, before the model allocates."""
    import torch

    from classifier_fn.inference import model, preprocess
    from classifier_fn.running import warm

    module = model.for_inference(model.load(settings.model_path).module)  # as the function serves it
    cores = usable_cores()
    torch.set_num_threads(settings.model_threads)  # as the function runs it
    warm(module, 16)
    best: dict = {}
    with concurrent.futures.ThreadPoolExecutor(decoders or cores) as pool:
        for batch in sorted({1, 4, 8, 16, settings.batch_size} & set(range(1, settings.batch_size + 1))):
            started, cpu_started = time.perf_counter(), time.process_time()
            work = images * rounds
            # Decode the next batch while the current one runs, as the function's workers do.
            pending = pool.map(lambda data: preprocess.prepare(data, decode=settings.decode).tensor, work)
            done = 0
            while done < len(work):
                tensors = [next(pending) for _ in range(min(batch, len(work) - done))]
                with torch.inference_mode():
                    torch.softmax(module(torch.stack(tensors).contiguous(memory_format=torch.channels_last)), 1)
                done += len(tensors)
            rate = done / (time.perf_counter() - started)
            if rate > best.get("images_per_s", 0):
                best = {
                    "images_per_s": rate,
                    "batch_size": batch,
                    "cpu_ms_per_image": 1000 * (time.process_time() - cpu_started) / done,
                }
    return best


def shadow_cost(settings: Settings, images: list[bytes], rounds: int = 2) -> dict:
    """The challenger's cost to the champion: photos decoded (as the function's workers do) and labelled through the
    function's own batcher, without a challenger then with one labelling in the shadow (a second copy of the model:
    any MobileNetV2 costs the same), alternately, best of `rounds` each. The queue is taken as empty, so the budget's
    share applies in full (a backlog over its bound would switch the shadow off): the worst case of its cost."""
    import torch

    from classifier_fn.inference import infer, model, preprocess
    from classifier_fn.running import warm

    def served() -> torch.nn.Module:
        module = model.for_inference(model.load(settings.model_path).module)
        warm(module, settings.batch_size)
        return module

    torch.set_num_threads(settings.model_threads)
    champion, challenger = served(), served()
    work = images * rounds
    pending = [0]  # photos decoded and not yet answered: what may still join a batch, as the queue tells the function
    batcher = infer.Batcher(
        champion, settings.batch_size, settings.batch_wait_ms, others_coming=lambda: pending[0], version="champion"
    ).start()
    best = {"without": 0.0, "with": 0.0}
    shadowed = 0
    try:
        with concurrent.futures.ThreadPoolExecutor(usable_cores()) as pool:
            for _ in range(rounds):
                for case in ("without", "with"):
                    role = infer.ServedModel(challenger, "challenger") if case == "with" else None
                    batcher.swap(infer.CHALLENGER, role).result(60)
                    pending[0] = len(work)
                    started = time.perf_counter()
                    futures = []
                    for tensor in pool.map(lambda data: preprocess.prepare(data, decode=settings.decode).tensor, work):
                        futures.append(batcher.submit(tensor, shadow=True))
                    answers = [f.result(120) for f in futures]
                    pending[0] = 0
                    best[case] = max(best[case], len(work) / (time.perf_counter() - started))
                    if case == "with":
                        shadowed = sum(a.shadow is not None for a in answers)
    finally:
        batcher.stop()
    return {
        "images": len(work),
        "without_challenger_images_per_s": best["without"],
        "with_challenger_images_per_s": best["with"],
        "ratio": best["with"] / best["without"],
        "shadowed_share": shadowed / len(work),
        "budget_share": infer.SHADOW_SHARE,
        # Where the model alone bounds throughput, the shadow's extra forward passes allow at least this ratio.
        "budget_ratio": 1 / (1 + infer.SHADOW_SHARE),
    }


def _metric_total(function_url: str, name: str) -> float:
    with urllib.request.urlopen(f"{function_url}/metrics", timeout=10) as r:
        text = r.read().decode()
    return sum(float(v) for v in re.findall(rf"^{name}(?:{{[^}}]*}})? ([0-9.e+]+)$", text, re.M))


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_bound(burst_cpu_ms: dict[str, float], cores: int) -> float:
    """The most photos per second that the measured CPU per photo allows on `cores` cores: what the whole
    pipeline (function, MinIO, frontend, the load generator) spends per photo, with every core busy. By cores,
    not by the ceiling: the ceiling keeps fewer than all the cores busy when the model runs on fewer threads
    than there are cores (one of two here: its decodes do not fill the other), and a bound drawn from it would
    then sit below the cores' own."""
    return cores * 1000 / sum(burst_cpu_ms.values())


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


def _machine_busy_seconds() -> float:
    """CPU time every process of the machine has used (all cores), from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    busy = sum(fields[:8]) - fields[3] - fields[4]  # user nice system idle iowait irq softirq steal: less idle
    return busy / os.sysconf("SC_CLK_TCK")


class _CpuMeter:
    """CPU time per photo of a set of processes (and of this one, the load generator) over a measurement,
    and the share of the machine that other processes (other people's work on a shared machine) took."""

    def __init__(self, processes: dict[str, int]):
        self.processes = processes
        self.before = {name: _cpu_seconds(pid) for name, pid in processes.items()}
        self.own_before = time.process_time()
        self.machine_before, self.started = _machine_busy_seconds(), time.monotonic()

    def per_photo_ms(self, count: int) -> dict[str, float]:
        cpu = {name: 1000 * (_cpu_seconds(pid) - self.before[name]) / count for name, pid in self.processes.items()}
        cpu["bench"] = 1000 * (time.process_time() - self.own_before) / count
        return cpu

    def others_share(self, count: int) -> float:
        """Of all the cores' time since the start, the share used by processes not measured here."""
        ours = sum(self.per_photo_ms(count).values()) * count / 1000
        elapsed = (time.monotonic() - self.started) * (os.cpu_count() or 1)
        return max(0.0, (_machine_busy_seconds() - self.machine_before - ours) / elapsed)


def burst(stack: LocalStack, store: Store, images: list[bytes], count: int) -> dict:
    """`count` photos dropped concurrently, as mc cp would; first drop to last outcome record."""
    base = stack.function_base
    requests_before = _metric_total(base, "gourmetgram_s3_requests_total")
    function_pid = stack.children["function"].process.pid
    sampler = _MemorySampler(function_pid)
    sampler.start()
    # Everything here shares the machine's cores, the load generator (this process) included.
    meter = _CpuMeter({name: child.process.pid for name, child in stack.children.items()})
    run = uuid.uuid4().hex[:8]
    photos = [(f"bench-{run}/{i:04d}.jpg", images[i % len(images)] + f"#{run}{i}".encode()) for i in range(count)]
    started = time.time()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        dropped = list(pool.map(lambda d: drop(store, "incoming", d[0], d[1]), photos))
    with click.progressbar(dropped, label=f"burst of {count}", file=click.get_text_stream("stderr")) as bar:
        # The figure comes from the records' own timestamps, so a slow poll costs no accuracy, only less load.
        records = [wait_outcome(store, stack.settings.bucket_events, d, interval=0.25) for d in bar]
    cpu, others = meter.per_photo_ms(count), meter.others_share(count)
    finished = max(names.parse_iso(r["timestamps"]["finished"]) for r in records)
    requests = _metric_total(base, "gourmetgram_s3_requests_total") - requests_before
    memory = _memory_mb(function_pid)
    return {
        "images": count,
        "seconds": finished - started,
        "images_per_s": count / (finished - started),
        "done": sum(r["status"] == "done" for r in records),
        "peak_rss_mb": memory["VmHWM"],
        "peak_anon_rss_mb": sampler.stop(),
        "libraries_rss_mb": memory["RssFile"],
        "s3_requests_per_image": requests / count,
        "cpu_ms_per_image": cpu,
        "others_cpu_share": others,
    }


def _percentiles(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {
        "p50_ms": 1000 * statistics.median(ordered),
        "p95_ms": 1000 * ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
    }


def _web_upload(stack: LocalStack, data: bytes) -> tuple[float, float]:
    """Seconds from sending a photo to the page to its label (by the page's long-poll), and from its record's
    `decoded` to its `classified` (whole milliseconds): the hand-off to the batcher and the forward pass."""
    started = time.perf_counter()
    accepted = post_photo(stack.web_url, data)
    with urllib.request.urlopen(f"{stack.web_url}{accepted['poll']}?wait=30", timeout=40) as r:
        record = json.load(r)
    assert record["status"] == "done"
    stamps = record["timestamps"]
    return time.perf_counter() - started, names.parse_iso(stamps["classified"]) - names.parse_iso(stamps["decoded"])


def latency(stack: LocalStack, store: Store, images: list[bytes], singles: int) -> dict:
    """One photo at a time on an idle system: web upload + long-poll, a bucket drop, the sync path."""
    web, classify, bucket, sync = [], [], [], []
    for i in range(singles):
        data = images[i % len(images)]
        seconds, classify_seconds = _web_upload(stack, data)
        web.append(seconds)
        classify.append(classify_seconds)

        key = f"bench-single/{uuid.uuid4().hex}.jpg"
        started = time.perf_counter()
        wait_outcome(store, stack.settings.bucket_events, drop(store, "incoming", key, data), interval=0.01)
        bucket.append(time.perf_counter() - started)

        body = json.dumps({"image": base64.b64encode(data).decode()}).encode()
        started = time.perf_counter()
        request = urllib.request.Request(
            f"{stack.function_base}/predict", data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as r:
            r.read()
        sync.append(time.perf_counter() - started)
    return {
        "web": _percentiles(web),
        "web_classify": _percentiles(classify),
        "bucket": _percentiles(bucket),
        "sync": _percentiles(sync),
    }


def under_flood(stack: LocalStack, images: list[bytes], singles: int) -> dict:
    """Single web uploads while FLOODERS clients send the function nudges without its token, each the moment the
    last is refused: what a hostile client that reaches the function costs a real photo."""
    stop, refused, lock = threading.Event(), [0], threading.Lock()

    def flood() -> None:
        request = urllib.request.Request(
            f"{stack.function_base}/nudge",
            data=b'{"key": "x.jpg"}',
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        while not stop.is_set():
            try:
                urllib.request.urlopen(request, timeout=5).close()
            except urllib.error.HTTPError as exc:
                exc.close()
                if exc.code == 401:  # what the flood is for: the token check, not some other refusal
                    with lock:
                        refused[0] += 1
            except (OSError, http.client.HTTPException):  # a dropped connection (the connection limit) floods too
                time.sleep(0.001)

    threads = [threading.Thread(target=flood, daemon=True) for _ in range(FLOODERS)]
    for t in threads:
        t.start()
    started = time.perf_counter()
    try:
        web, classify = zip(*(_web_upload(stack, images[i % len(images)]) for i in range(singles)), strict=True)
    finally:
        stop.set()
        elapsed = time.perf_counter() - started
        for t in threads:
            t.join(timeout=10)
    return {
        "web": _percentiles(web),
        "web_classify": _percentiles(classify),
        "refused_per_s": refused[0] / elapsed,
        "flooders": FLOODERS,
    }


def _uploads(count: int, upload) -> tuple[float, list[float], list]:
    """`count` photos by UPLOADERS clients at once, each sending its next photo once its upload is answered
    (the answer each design gives: a 202 here once the photo is stored in `incoming`, the label there):
    (start time, answer latencies in seconds, what `upload(i)` returned for each)."""
    latencies, results, lock = [], [None] * count, threading.Lock()
    indexes = iter(range(count))

    def uploader() -> None:
        while True:
            with lock:
                i = next(indexes, None)
            if i is None:
                return
            started = time.perf_counter()
            results[i] = upload(i)
            with lock:
                latencies.append(time.perf_counter() - started)

    started = time.time()
    threads = [threading.Thread(target=uploader) for _ in range(UPLOADERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return started, latencies, results


def uploads_here(stack: LocalStack, store: Store, images: list[bytes], count: int) -> dict:
    """Photos through the page, UPLOADERS at a time: each stored with its tags when its record is done (the
    production copy carries its tags from the start); its label is there from then on."""
    meter = _CpuMeter({name: child.process.pid for name, child in stack.children.items()})

    def upload(i: int) -> tuple[str, float]:
        sent = time.time()
        return post_photo(stack.web_url, images[i % len(images)])["id"], sent

    started, answered, uploaded = _uploads(count, upload)
    records = [wait_outcome(store, stack.settings.bucket_events, pid, interval=0.1) for pid, _ in uploaded]
    cpu = meter.per_photo_ms(count)  # the waiting above is the bench's, counted as such
    finished = [names.parse_iso(r["timestamps"]["finished"]) for r in records]
    return {
        "photos": count,
        "done": sum(r["status"] == "done" for r in records),
        "stored_per_s": count / (max(finished) - started),
        "answer": _percentiles(answered),
        "label": _percentiles([f - sent for f, (_, sent) in zip(finished, uploaded, strict=True)]),
        "cpu_ms_per_image": cpu,
    }


def baseline(
    stack: LocalStack, images: list[bytes], count: int, singles: int, course: bool = False, model_path=None
) -> dict:
    """The course's design (`gourmetgram_tools.baseline`) on the same MinIO, the pipeline's own processes
    stopped meanwhile: single uploads one at a time, then `count` photos UPLOADERS at a time. `course`: its model
    served as the course serves it (eager, BatchNorm not folded); `model_path`: another model than the stack's."""
    port = free_port(avoid=stack_ports(stack.settings))  # the pipeline's stopped parts come back on theirs
    base = f"http://127.0.0.1:{port}"
    env = {**FUNCTION_MALLOC_ENV, **component_env(stack.settings, "function")}
    if model_path is not None:
        env["MODEL_PATH"] = str(model_path)
    command = [sys.executable, "-m", "gourmetgram_tools.baseline", "--port", str(port)] + (
        ["--course"] if course else []
    )
    stack.spawn_part("baseline", PartSpec(command, env, f"{base}/healthz", port))
    try:
        stack.wait_ready("baseline", 120)
        single = []
        for i in range(singles):
            started = time.perf_counter()
            post_photo(base, images[i % len(images)], timeout=60)
            single.append(time.perf_counter() - started)
        with urllib.request.urlopen(f"{base}/drain", timeout=120) as r:
            r.read()
        meter = _CpuMeter({name: child.process.pid for name, child in stack.children.items()})
        started, answered, _ = _uploads(count, lambda i: post_photo(base, images[i % len(images)], timeout=60))
        with urllib.request.urlopen(f"{base}/drain", timeout=120) as r:
            drained = json.load(r)
        return {
            "photos": count,
            "done": drained["stored"] - singles,
            "stored_per_s": count / (drained["last_stored_at"] - started),
            "answer": _percentiles(answered),
            "label": _percentiles(answered),
            "single": _percentiles(single),
            "cpu_ms_per_image": meter.per_photo_ms(count),
        }
    finally:
        stack.stop("baseline")


def run(settings: Settings, photos: int = 200, singles: int = 20, echo=click.echo) -> dict:
    images = sample_images()
    allocator = use_function_allocator()
    echo(f"measuring the ceiling on {len(images)} images (the function's allocator: {allocator})…", err=True)
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": _machine(),
        "ceiling": ceiling(settings, images),
        "ceiling_one_decoder": ceiling(settings, images, decoders=1),
        "ceiling_allocator": "the function's" if allocator else "glibc's defaults",
    }
    echo("measuring the challenger's cost in the shadow…", err=True)
    result["shadow_cost"] = shadow_cost(settings, images)
    echo("quantizing the model to int8 (calibrated on the sample photos), the model alone fp32 vs int8…", err=True)
    int8_data = bench_int8.make_int8(settings, images)
    result["int8_model_alone"] = bench_int8.model_alone(settings, int8_data)
    result["int8_answers"] = bench_int8.answers_changed(settings, int8_data, sorted(SAMPLE_PHOTOS.glob("*.jpg")))
    with tempfile.TemporaryDirectory(prefix="gourmetgram-bench-") as tmp:
        int8_path = Path(tmp) / "food11_int8.pth"
        int8_path.write_bytes(int8_data)
        result.update(_int8_serving(settings, Path(tmp), int8_path, images, photos, singles, echo))
        for queue_dir in (True, False):
            stack = _stack(settings, Path(tmp) / f"queue-{queue_dir}", queue_dir)
            try:
                stack.start()
                store = Store.connect(stack.settings)
                mode = "queue_dir_on" if queue_dir else "queue_dir_off"
                echo(f"[{mode}] latency of {singles} single photos…", err=True)
                result[f"latency_{mode}"] = latency(stack, store, images, singles)
                if not queue_dir:
                    echo(f"[{mode}] {singles} single photos while {FLOODERS} clients flood the function…", err=True)
                    result["under_flood"] = under_flood(stack, images, singles)
                result[f"burst_{mode}"] = burst(stack, store, images, photos)
                b = result[f"burst_{mode}"]
                b["ratio_to_ceiling"] = b["images_per_s"] / result["ceiling"]["images_per_s"]
                b["ratio_to_ceiling_one_decoder"] = b["images_per_s"] / result["ceiling_one_decoder"]["images_per_s"]
                b["cpu_bound_images_per_s"] = cpu_bound(b["cpu_ms_per_image"], usable_cores())
                b["ratio_to_cpu_bound"] = b["images_per_s"] / b["cpu_bound_images_per_s"]
                b["function_own_cpu_ms"] = b["cpu_ms_per_image"]["function"] - result["ceiling"]["cpu_ms_per_image"]
                if queue_dir:  # side by side, as deployed: uploads through the page, then the course's design
                    echo(
                        f"[{mode}] {photos} uploads, {UPLOADERS} at a time, here and in the course's design…", err=True
                    )
                    result["uploads"] = uploads_here(stack, store, images, photos)
                    stack.stop("web")
                    stack.stop("function")
                    result["baseline"] = baseline(stack, images, photos, singles)
            finally:
                stack.stop_all()
    on = result["latency_queue_dir_on"]
    on["web_vs_sync_target_ms"] = 1.5 * on["sync"]["p50_ms"] + 100
    result["versus_baseline"] = {
        "stored_per_s": result["uploads"]["stored_per_s"] / result["baseline"]["stored_per_s"],
        "single_label_p50": on["web"]["p50_ms"] / result["baseline"]["single"]["p50_ms"],
    }
    i8, course = result["uploads_int8"], result["baseline_course"]
    result["int8_versus_course"] = {
        "stored_per_s": i8["stored_per_s"] / course["stored_per_s"],
        "single_label_p50": result["latency_int8"]["web"]["p50_ms"] / course["single"]["p50_ms"],
        "burst_vs_cpu_bound": result["burst_int8"]["ratio_to_cpu_bound"],
    }
    result["decode"] = settings.decode
    return result


def _int8_serving(
    settings: Settings, tmp: Path, int8_path: Path, images: list[bytes], photos: int, singles: int, echo
) -> dict:
    """The function serving the int8 model (queue_dir on): single uploads, a burst, UPLOADERS at a time; then the
    course's model as the course serves it (eager, float, exact decode, one image at a time) on the same MinIO."""
    out: dict = {}
    stack = _stack(settings.replace(model_path=int8_path), tmp / "int8", True)
    try:
        stack.start()
        store = Store.connect(stack.settings)
        echo(f"[int8] latency of {singles} single photos…", err=True)
        out["latency_int8"] = latency(stack, store, images, singles)
        b = out["burst_int8"] = burst(stack, store, images, photos)
        b["cpu_bound_images_per_s"] = cpu_bound(b["cpu_ms_per_image"], usable_cores())
        b["ratio_to_cpu_bound"] = b["images_per_s"] / b["cpu_bound_images_per_s"]
        echo(
            f"[int8] {photos} uploads, {UPLOADERS} at a time, then the course's model as the course serves it…",
            err=True,
        )
        out["uploads_int8"] = uploads_here(stack, store, images, photos)
        stack.stop("web")
        stack.stop("function")
        out["baseline_course"] = baseline(stack, images, photos, singles, course=True, model_path=settings.model_path)
    finally:
        stack.stop_all()
    # And a burst without MinIO's queue_dir, whose delivery (not the CPU) bounds the burst above (as with fp32).
    stack = _stack(settings.replace(model_path=int8_path), tmp / "int8-off", False)
    try:
        stack.start()
        echo("[int8, queue_dir off] burst…", err=True)
        b = out["burst_int8_queue_dir_off"] = burst(stack, Store.connect(stack.settings), images, photos)
        b["cpu_bound_images_per_s"] = cpu_bound(b["cpu_ms_per_image"], usable_cores())
        b["ratio_to_cpu_bound"] = b["images_per_s"] / b["cpu_bound_images_per_s"]
    finally:
        stack.stop_all()
    return out


def _stack(settings: Settings, data: Path, queue_dir: bool) -> LocalStack:
    return LocalStack(on_loopback(settings, free=True), data, queue_dir=queue_dir)


def _machine() -> str:
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    usable = usable_cores()  # what the bound counts; the machine's own count beside it when they differ
    cores = f"{os.cpu_count()} cores" + (f" ({usable} usable)" if usable != os.cpu_count() else "")
    return f"{cores}, {mem_kb / 1024 / 1024:.0f} GiB"


def table(r: dict) -> str:
    c, on, off = r["ceiling"], r["latency_queue_dir_on"], r["latency_queue_dir_off"]
    c1, here, base, versus = r["ceiling_one_decoder"], r["uploads"], r["baseline"], r["versus_baseline"]
    sh = r["shadow_cost"]
    t = TARGETS
    rows = [
        (
            f"{UPLOADERS} uploaders: photos stored with tags per second",
            f"{here['stored_per_s']:.1f} here, {base['stored_per_s']:.1f} baseline",
            f"{versus['stored_per_s']:.2f}x (target >= {t['stored_vs_baseline']}x)",
        ),
        (
            "single upload, page to label",
            f"p50 {on['web']['p50_ms']:.0f} ms, p95 {on['web']['p95_ms']:.0f} ms here",
            f"{versus['single_label_p50']:.2f}x the baseline's p50 (target <= {t['label_p50_vs_baseline']}x)",
        ),
        (
            "single upload, baseline (the course's design)",
            f"p50 {base['single']['p50_ms']:.0f} ms, p95 {base['single']['p95_ms']:.0f} ms",
            "baseline",
        ),
        (
            f"{UPLOADERS} uploaders: upload to label",
            f"p50 {here['label']['p50_ms']:.0f} ms here, {base['label']['p50_ms']:.0f} ms baseline",
            f"upload answered: p50 {here['answer']['p50_ms']:.0f} ms here, {base['answer']['p50_ms']:.0f} ms baseline",
        ),
        (f"{UPLOADERS} uploaders: CPU per photo here", _cpu(here["cpu_ms_per_image"]), ""),
        (f"{UPLOADERS} uploaders: CPU per photo, baseline", _cpu(base["cpu_ms_per_image"]), ""),
        (
            f"ceiling: model alone, decoding on all cores ({r['decode']})",
            f"{c['images_per_s']:.1f} img/s (batch {c['batch_size']})",
            f"{c['cpu_ms_per_image']:.1f} ms CPU per image",
        ),
        ("ceiling: model alone, one decoding thread", f"{c1['images_per_s']:.1f} img/s (batch {c1['batch_size']})", ""),
        (
            f"ceiling with a challenger labelling {sh['shadowed_share']:.0%} in the shadow",
            f"{sh['with_challenger_images_per_s']:.1f} img/s, {sh['without_challenger_images_per_s']:.1f} without",
            f"{sh['ratio']:.2f}x (budget: {sh['budget_share']:.0%} of photos, >= {sh['budget_ratio']:.2f}x)",
        ),
    ]
    for label, b in (("queue_dir on", r["burst_queue_dir_on"]), ("queue_dir off", r["burst_queue_dir_off"])):
        rows += [
            (
                f"burst of {b['images']} drops, {label}",
                f"{b['images_per_s']:.1f} img/s",
                f"{b['ratio_to_ceiling']:.2f} of the ceiling, {b['ratio_to_cpu_bound']:.2f} of what its CPU allows "
                f"(target >= {t['burst_vs_cpu_bound']})",
            ),
            (
                f"CPU per photo, {label}",
                _cpu(b["cpu_ms_per_image"]),
                f"model alone {c['cpu_ms_per_image']:.0f} ms; all of it allows {b['cpu_bound_images_per_s']:.1f} img/s "
                f"on these cores; other processes took {b['others_cpu_share']:.0%} of them",
            ),
            (
                f"function's own CPU beyond the model's, {label}",
                f"{b['function_own_cpu_ms']:.1f} ms per photo",
                f"target <= {t['function_own_cpu_ms']:.0f} ms",
            ),
            (
                f"function peak RSS, {label}",
                f"{b['peak_rss_mb']:.0f} MB (anon {b['peak_anon_rss_mb']:.0f} MB)",
                f"target < 1024 MB; {b['libraries_rss_mb']:.0f} MB of it mapped libraries",
            ),
        ]
    rows += [
        ("S3 requests per image (function)", f"{r['burst_queue_dir_on']['s3_requests_per_image']:.1f}", ""),
        ("sync POST /predict", f"p50 {on['sync']['p50_ms']:.0f} ms, p95 {on['sync']['p95_ms']:.0f} ms", ""),
    ]
    for label, lat in (("queue_dir on", on), ("queue_dir off", off)):
        drop = lat["bucket"]
        rows.append(
            (f"bucket drop to record, {label}", f"p50 {drop['p50_ms']:.0f} ms, p95 {drop['p95_ms']:.0f} ms", "")
        )
    rows.append(
        (
            "web upload to label, queue_dir off",
            f"p50 {off['web']['p50_ms']:.0f} ms, p95 {off['web']['p95_ms']:.0f} ms",
            "",
        )
    )
    flood = r["under_flood"]
    rows += [
        (
            f"the same while {flood['flooders']} clients flood the function",
            f"p50 {flood['web']['p50_ms']:.0f} ms, p95 {flood['web']['p95_ms']:.0f} ms",
            f"{flood['refused_per_s']:.0f} refused nudges per second",
        ),
        (
            "its decoded to classified (batcher, forward pass), quiet / flooded",
            f"p50 {off['web_classify']['p50_ms']:.0f} / {flood['web_classify']['p50_ms']:.0f} ms",
            "",
        ),
    ]
    rows += _int8_rows(r)
    width = max(len(row[0]) for row in rows)
    lines = [f"GourmetGram bench, {r['date']}, {r['machine']}, decode={r['decode']}"]
    lines += [f"{a:<{width}}  {b_:<36}  {c_}" for a, b_, c_ in rows]
    return "\n".join(lines)


def _cpu(per_photo: dict[str, float]) -> str:
    return "  ".join(f"{name} {ms:.0f}" for name, ms in per_photo.items()) + " ms"


def _int8_rows(r: dict) -> list[tuple[str, str, str]]:
    alone, answers, versus = r["int8_model_alone"], r["int8_answers"], r["int8_versus_course"]
    i8, course, b = r["uploads_int8"], r["baseline_course"], r["burst_int8"]
    off = r["burst_int8_queue_dir_off"]
    lat = r["latency_int8"]
    t = TARGETS
    return [
        (
            f"model alone, 1 thread, batch {alone['batch']}: int8 vs fp32",
            f"{alone['int8_images_per_s']:.1f} vs {alone['fp32_images_per_s']:.1f} img/s",
            f"{alone['ratio']:.2f}x (target >= {alone['target']}x)",
        ),
        (
            f"int8 vs fp32 on {answers['photos']} fixture photos (q90)",
            f"top-1 changed {answers['int8']['top1']}, largest prob. change {answers['int8']['largest']:.3f}",
            f"re-encoding q80 vs q90: top-1 changed {answers['reencoding']['top1']}, "
            f"largest {answers['reencoding']['largest']:.3f}",
        ),
        (
            f"int8: {UPLOADERS} uploaders, photos stored with tags per second",
            f"{i8['stored_per_s']:.1f} int8, {course['stored_per_s']:.1f} course-as-served",
            f"{versus['stored_per_s']:.2f}x (target >= {t['stored_vs_baseline']}x)",
        ),
        (
            "int8: single upload, page to label",
            f"p50 {lat['web']['p50_ms']:.0f} ms int8, {course['single']['p50_ms']:.0f} ms course-as-served",
            f"{versus['single_label_p50']:.2f}x (target <= {t['label_p50_vs_baseline']}x)",
        ),
        (
            f"int8: burst of {b['images']} drops, queue_dir on",
            f"{b['images_per_s']:.1f} img/s",
            f"{b['ratio_to_cpu_bound']:.2f} of what its CPU allows ({b['cpu_bound_images_per_s']:.1f}; "
            f"target >= {t['burst_vs_cpu_bound']}); other processes took {b['others_cpu_share']:.0%}",
        ),
        ("int8: CPU per photo, burst, queue_dir on", _cpu(b["cpu_ms_per_image"]), ""),
        (
            f"int8: burst of {off['images']} drops, queue_dir off",
            f"{off['images_per_s']:.1f} img/s",
            f"{off['ratio_to_cpu_bound']:.2f} of what its CPU allows ({off['cpu_bound_images_per_s']:.1f}); "
            f"CPU per photo {_cpu(off['cpu_ms_per_image'])}; other processes took {off['others_cpu_share']:.0%}",
        ),
        (f"course-as-served: CPU per photo, {UPLOADERS} uploaders", _cpu(course["cpu_ms_per_image"]), ""),
    ]

"""`gourmetgram bench --transports`: the event transports side by side, in one run, on the real servers.

- Bucket drop to final record, one photo at a time: webhook with `queue_dir` (MinIO's durable queue, re-listed
  every 3 s), webhook without it (at most once), JetStream (`sync_interval: always`), JetStream with NATS's
  default sync (every 2 minutes: what `always` costs).
- A burst of drops on each of the last three (first drop to last record).
- The cluster (`up --cluster`'s topology): the same burst with one function replica, then with two.

Figures are ratios within this run (the machine is small and noisy); no test asserts a time.
"""

from __future__ import annotations

import concurrent.futures
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import click

from gourmetgram import names
from gourmetgram.cores import usable_cores
from gourmetgram.settings import Settings
from gourmetgram.store import Store
from gourmetgram_tools.bench import _machine, sample_images
from gourmetgram_tools.client import drop, wait_outcome
from gourmetgram_tools.cluster import ClusterLayout, ClusterStack
from gourmetgram_tools.local import LocalStack, on_loopback, stack_ports

# Each stack serves two modes, the second after restarting one part: MinIO without its webhook queue, NATS with
# its default sync (the function survives either restart and carries on). name: (transport, burst measured?)
MODES = {
    "webhook_queue_dir": ("webhook", False),
    "webhook": ("webhook", True),
    "jetstream": ("jetstream", True),
    "jetstream_sync_default": ("jetstream", True),
}
TARGET_P50_MS = 250.0


def _percentiles(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {
        "p50_ms": 1000 * statistics.median(ordered),
        "p95_ms": 1000 * ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
    }


def drop_latency(store: Store, events: str, images: list[bytes], count: int) -> dict:
    """One photo at a time on an idle system: from the PUT's start until its final record can be read."""
    samples = []
    for i in range(count):
        started = time.perf_counter()
        dropped = drop(store, "incoming", f"bench-single/{uuid.uuid4().hex}.jpg", images[i % len(images)])
        wait_outcome(store, events, dropped, interval=0.01)
        samples.append(time.perf_counter() - started)
    return _percentiles(samples)


def burst_rate(store: Store, events: str, images: list[bytes], count: int) -> dict:
    """`count` photos dropped at once (8 clients), first drop to last final record."""
    run = uuid.uuid4().hex[:8]
    photos = [(f"bench-{run}/{i:04d}.jpg", images[i % len(images)] + f"#{run}{i}".encode()) for i in range(count)]
    started = time.time()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        dropped = list(pool.map(lambda p: drop(store, "incoming", p[0], p[1]), photos))
    records = [wait_outcome(store, events, d, timeout=600, interval=0.25) for d in dropped]
    finished = max(names.parse_iso(r["timestamps"]["finished"]) for r in records)
    return {
        "images": count,
        "seconds": finished - started,
        "images_per_s": count / (finished - started),
        "done": sum(r["status"] == "done" for r in records),
    }


def _measure(stack: LocalStack, images: list[bytes], singles: int, photos: int, with_burst: bool) -> dict:
    store = Store.connect(stack.settings)
    events = stack.settings.bucket_events
    result = {"latency": drop_latency(store, events, images, singles)}
    if with_burst:
        result["burst"] = burst_rate(store, events, images, photos)
    return result


def _second_mode(stack: LocalStack, mode: str) -> None:
    """Turn the stack of the first mode into the second's: one part restarted with its new configuration."""
    if mode == "webhook":
        stack.stop("minio")
        stack.queue_dir = False
        stack.start_minio()
    else:
        stack.stop("nats")
        stack.nats_sync_interval = "2m"  # NATS's default
        stack.start_nats()
    time.sleep(3)  # the function's and MinIO's clients find the restarted part again


def _function(stack: ClusterStack, name: str, torch_threads: int) -> None:
    """(Re)start replica `name` with its share of the cores."""
    stack.stop(name)
    stack.start_function(
        name=name,
        port=stack.layout.functions[stack.function_names.index(name)],
        extra_env={"TORCH_THREADS": str(torch_threads)},
    )


def run(settings: Settings, photos: int = 200, singles: int = 20, echo=click.echo) -> dict:
    images = sample_images()
    result: dict = {"date": time.strftime("%Y-%m-%d"), "machine": _machine()}
    with tempfile.TemporaryDirectory(prefix="gourmetgram-bench-transports-") as tmp:
        for first, second in (("webhook_queue_dir", "webhook"), ("jetstream", "jetstream_sync_default")):
            transport = MODES[first][0]
            stack = LocalStack(on_loopback(settings.replace(event_transport=transport), free=True), Path(tmp) / first)
            try:
                stack.start()
                for mode in (first, second):
                    if mode == second:
                        _second_mode(stack, mode)
                    burst = MODES[mode][1]
                    echo(
                        f"[{mode}] {singles} single drops" + (f", a burst of {photos}" if burst else "") + "…", err=True
                    )
                    result[mode] = _measure(stack, images, singles, photos, burst)
            finally:
                stack.stop_all()
        # The cluster's burst with one replica (both cores for its model), then two (a core each).
        cores = usable_cores()
        loopback = on_loopback(settings, free=True)
        stack = ClusterStack(loopback, Path(tmp) / "cluster", layout=ClusterLayout.free(2, stack_ports(loopback)))
        try:
            stack.start()
            for replicas in (1, 2):
                echo(f"[cluster, {replicas} replica(s)] {singles} single drops, a burst of {photos}…", err=True)
                if replicas == 1:
                    stack.stop("function-2")
                    _function(stack, "function-1", cores)
                else:
                    for name in stack.function_names:
                        _function(stack, name, max(1, cores // 2))
                result[f"cluster_{replicas}"] = _measure(stack, images, singles, photos, True)
        finally:
            stack.stop_all()
    result["ratios"] = ratios(result)
    return result


def ratios(r: dict) -> dict:
    js, wh = r["jetstream"], r["webhook"]
    return {
        "jetstream_p50_vs_target": js["latency"]["p50_ms"] / TARGET_P50_MS,
        "jetstream_p50_vs_webhook_queue_dir": js["latency"]["p50_ms"] / r["webhook_queue_dir"]["latency"]["p50_ms"],
        "jetstream_burst_vs_webhook": js["burst"]["images_per_s"] / wh["burst"]["images_per_s"],
        "sync_always_burst_vs_default": js["burst"]["images_per_s"]
        / r["jetstream_sync_default"]["burst"]["images_per_s"],
        "sync_always_p50_vs_default": js["latency"]["p50_ms"] / r["jetstream_sync_default"]["latency"]["p50_ms"],
        "cluster_two_vs_one_replica": r["cluster_2"]["burst"]["images_per_s"] / r["cluster_1"]["burst"]["images_per_s"],
    }


def table(r: dict) -> str:
    q = r["ratios"]
    rows = []
    labels = {
        "webhook_queue_dir": "webhook, queue_dir on",
        "webhook": "webhook, queue_dir off",
        "jetstream": "jetstream (sync_interval always)",
        "jetstream_sync_default": "jetstream (sync every 2 min)",
        "cluster_1": "cluster, 1 replica",
        "cluster_2": "cluster, 2 replicas",
    }
    for mode, label in labels.items():
        lat = r[mode]["latency"]
        rows.append((f"bucket drop to record, {label}", f"p50 {lat['p50_ms']:.0f} ms, p95 {lat['p95_ms']:.0f} ms", ""))
    for mode, label in labels.items():
        if "burst" in r[mode]:
            b = r[mode]["burst"]
            rows.append((f"burst of {b['images']} drops, {label}", f"{b['images_per_s']:.1f} img/s", ""))
    rows += [
        ("jetstream drop p50 / target 250 ms", f"{q['jetstream_p50_vs_target']:.2f}", "target <= 1"),
        ("jetstream drop p50 / webhook queue_dir on", f"{q['jetstream_p50_vs_webhook_queue_dir']:.2f}", ""),
        ("jetstream burst / webhook queue_dir off", f"{q['jetstream_burst_vs_webhook']:.2f}", "target >= 0.9"),
        ("sync always / every 2 min: burst", f"{q['sync_always_burst_vs_default']:.2f}", "what fsync costs"),
        ("sync always / every 2 min: drop p50", f"{q['sync_always_p50_vs_default']:.2f}", ""),
        ("cluster burst: 2 replicas / 1", f"{q['cluster_two_vs_one_replica']:.2f}", "two cores: no gain expected"),
    ]
    width = max(len(row[0]) for row in rows)
    lines = [f"GourmetGram bench of the event transports, {r['date']}, {r['machine']}"]
    lines += [f"{a:<{width}}  {b:<28}  {c}" for a, b, c in rows]
    return "\n".join(lines)

"""`gourmetgram reconcile`: one pass over `incoming`, processed in this process with the same claims."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import click

from classifier_fn.inference import model
from classifier_fn.pipeline.queue import LIVE, Item
from classifier_fn.pipeline.reconciler import PassReport
from classifier_fn.running import running
from classifier_fn.runtime import Runtime
from gourmetgram import names
from gourmetgram.settings import Settings
from gourmetgram.store import Store, StoreError


def run(settings: Settings, dry_run: bool = False, echo: Callable[[str], None] = print) -> PassReport:
    store = Store.connect(settings)
    report = PassReport()
    try:
        objects = [
            o for o in store.list_versions(settings.bucket_incoming) if not names.is_folder_marker(o.key, o.size)
        ]
    except StoreError as exc:
        report.errors.append(str(exc))
        echo(f"cannot list {settings.bucket_incoming}: {exc}")
        return report
    report.listed = len(objects)
    if dry_run or not objects:
        echo(f"{len(objects)} object(s) waiting in {settings.bucket_incoming}")
        return report
    loaded = model.load(settings.model_path)
    # This process is the only consumer of its own queue: everything goes in the live queue.
    never = threading.Event()
    with running(settings, store, loaded, reconcile=False) as rt:
        with click.progressbar(length=len(objects), label="processing incoming", show_pos=True) as bar:
            for info in objects:
                item = Item(info.bucket, info.key, info.etag, LIVE, version_id=info.version_id)
                report.count(rt.queue.offer_when_room(item, never))
            done = 0
            while done < len(objects):
                held = rt.queue.depth()["held"]
                bar.update(len(objects) - held - done)
                done = len(objects) - held
                time.sleep(0.2)
    outcomes = _counts(rt)
    echo(
        f"queued {report.queued} of {report.listed} object(s): "
        + ", ".join(f"{n} {status}" for status, n in sorted(outcomes.items()))
    )
    return report


def _counts(rt: Runtime) -> dict[str, int]:
    """Items by final status, from the runtime's own counter."""
    counts: dict[str, int] = {}
    for metric in rt.metrics.items.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total") and sample.value:
                status = sample.labels["status"]
                counts[status] = counts.get(status, 0) + int(sample.value)
    return counts

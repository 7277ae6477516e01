"""One photo, start to end: verify -> claim -> fetch -> preprocess -> infer -> production -> record -> delete.

Every item ends with its own outcome record: `done`, `rejected` (moved to quarantine at once) or
`failed` (transient trouble outlasted the retries; the reconciler tries again after a back-off).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from urllib.parse import quote

from classifier_fn import preprocess
from classifier_fn.claim import Claim, ClaimResult, claim
from classifier_fn.decoding import DecodeBudget
from classifier_fn.errors import Rejected
from classifier_fn.infer import Batcher
from classifier_fn.metrics import Metrics
from classifier_fn.outcome import Outcome, Status, now_iso, parse_iso
from classifier_fn.queue import Item, WorkQueue
from classifier_fn.reconciler import PassReport
from classifier_fn.retry import with_retries
from gourmetgram import names
from gourmetgram.settings import Settings
from gourmetgram.store import Changed, NotFound, ObjectInfo, Store, StoreError, StoreUnavailable

log = logging.getLogger(__name__)

MAX_FAILED_BACKOFF_S = 300.0


class Gone(Exception):
    """The object version we were asked about is no longer in `incoming`."""


@dataclass
class Pipeline:
    """What a worker needs, built once in the app's lifespan."""

    settings: Settings
    store: Store
    queue: WorkQueue
    batcher: Batcher
    model_version: str
    metrics: Metrics
    worker_id: str
    # The reconciler's last pass, for /readyz: what `incoming` held that events had not brought.
    last_reconcile: PassReport | None = None
    # Decoding is CPU and memory: at most one photo per core, and MAX_PIXELS pixels in all at once.
    decode_budget: DecodeBudget | None = None

    def __post_init__(self) -> None:
        if self.decode_budget is None:
            self.decode_budget = DecodeBudget(os.cpu_count() or 1, self.settings.max_pixels)


def run_workers(pipeline: Pipeline, count: int, stop: threading.Event) -> list[threading.Thread]:
    threads = [threading.Thread(target=_loop, args=(pipeline, stop), name=f"worker-{i}", daemon=True)
               for i in range(count)]
    for t in threads:
        t.start()
    return threads


def _loop(pipeline: Pipeline, stop: threading.Event) -> None:
    while not stop.is_set():
        item = pipeline.queue.take(timeout=0.5)
        if item is None:
            continue
        try:
            status = process(pipeline, item)
            pipeline.metrics.items.labels(status=status, lane=item.lane).inc()
        except Exception:  # a bug must not kill the worker; the claim lapses and the item is retried
            log.exception("unexpected error on incoming/%s", item.key)
            pipeline.metrics.items.labels(status="error", lane=item.lane).inc()
        finally:
            pipeline.queue.done(item)


def process(p: Pipeline, item: Item) -> str:
    """Work one item to its end; returns what happened (a Status value, or busy/finished/gone)."""
    s = p.settings
    try:
        info = item.info or with_retries(lambda: p.store.head(item.bucket, item.key), s.transient_retries, "head")
    except NotFound:
        return "gone"  # done by someone else already, or deleted by its owner
    except StoreUnavailable as exc:
        log.warning("incoming/%s left for the reconciler: %s", item.key, exc)
        return Status.FAILED.value
    if item.etag and info.etag != item.etag:
        return "stale"  # replaced by a newer upload, which has its own event
    # An upload's own id is honoured only for the object it was made for; any other object is a new photo.
    upload_id = names.honoured_upload_id(item.key, info.metadata.get("prediction-id"))
    try:
        got = _claim(p, item, info, upload_id)
        if got.result is ClaimResult.FOREIGN and upload_id:
            log.info("incoming/%s carries the id of another photo (%s): it gets an id of its own", item.key, upload_id)
            got = _claim(p, item, info, None)
    except StoreUnavailable as exc:
        log.warning("cannot claim incoming/%s: %s", item.key, exc)
        return Status.FAILED.value
    if got.result is ClaimResult.FOREIGN:  # a drop id is one object version's own: a hash collision
        log.error("incoming/%s: record %s belongs to another object; left for the operator", item.key, got.outcome.id)
        return "foreign"
    if got.result is ClaimResult.BUSY:
        return "busy"
    if got.result is ClaimResult.FINISHED:
        _delete_incoming(p, info)  # a crash between the record and the delete left it behind
        return "finished"
    outcome = got.outcome
    try:
        _classify(p, info, outcome)
    except Rejected as exc:
        _reject(p, info, outcome, exc.reason)
    except (StoreUnavailable, TimeoutError) as exc:
        _fail(p, outcome, f"storage unavailable after {s.transient_retries} tries: {exc}")
    except Gone as exc:
        _fail(p, outcome, str(exc), retry=False)
    except Exception as exc:
        log.exception("classifying incoming/%s failed", item.key)
        _fail(p, outcome, f"internal error: {exc.__class__.__name__}: {exc}")
    return outcome.status.value


def _claim(p: Pipeline, item: Item, info: ObjectInfo, upload_id: str | None) -> Claim:
    s = p.settings
    pid = upload_id or names.drop_id(item.bucket, item.key, info.etag, info.last_modified)
    fresh = Outcome(id=pid, status=Status.PENDING, incoming_key=item.key, incoming_etag=info.etag,
                    incoming_modified=names.timestamp_tag(info.last_modified),
                    source="web" if upload_id and info.metadata.get("source") == "web" else "bucket",
                    size=info.size, worker=p.worker_id,
                    # Only the upload the token was issued for: a copy carrying its metadata is someone else's.
                    feedback_token_sha256=names.token_hash(info.metadata.get(names.FEEDBACK_TOKEN_METADATA))
                    if upload_id else None)
    # eventTime has milliseconds; Last-Modified from HEAD only whole seconds.
    fresh.stamp("uploaded", parse_iso(item.event_time) if item.event_time else info.last_modified.timestamp())
    fresh.stamp("received", time.time() - (time.monotonic() - item.queued_at))
    return with_retries(lambda: claim(p.store, s.bucket_events, fresh, s.claim_ttl_s), s.transient_retries, "claim")


def _classify(p: Pipeline, info: ObjectInfo, outcome: Outcome) -> None:
    s = p.settings
    if info.size > s.max_object_bytes:
        raise Rejected(f"file too large: {info.size:,} bytes, the limit is {s.max_object_bytes:,}")
    try:
        data = with_retries(lambda: p.store.read(info.bucket, info.key, info.etag, s.max_object_bytes),
                            s.transient_retries, "read")
    except NotFound:
        raise Gone("the object was deleted from incoming before it could be classified") from None
    except Changed:
        raise Gone("the object was replaced by a newer upload; that upload is classified on its own") from None
    outcome.stamp("fetched")
    prepared = preprocess.prepare(data, s.max_pixels, p.decode_budget)
    del data
    outcome.stamp("decoded")
    prediction = p.batcher.predict(prepared.tensor)
    outcome.stamp("classified")
    # The extension and Content-Type follow the content: a JPEG named x.png is stored as .jpg.
    key = names.production_key(prediction.index, outcome.id, names.extension(prepared.format))
    tags = names.production_tags(prediction.index, prediction.probability, p.model_version, outcome.source)
    metadata = {"original-key": quote(info.key, safe="/ "), "original-etag": info.etag,
                "prediction-id": outcome.id, "source": outcome.source}
    try:
        with_retries(lambda: p.store.copy(info, s.bucket_production, key, metadata=metadata, tags=tags,
                                          content_type=names.content_type(prepared.format)),
                     s.transient_retries, "copy")
    except (NotFound, Changed):
        raise Gone("the object left incoming while it was being classified") from None
    outcome.stamp("stored")
    outcome.status = Status.DONE
    outcome.predicted_class = names.class_name(prediction.index)
    outcome.class_index = prediction.index
    outcome.confidence = round(prediction.probability, 6)
    outcome.production_key = key
    outcome.model_version = p.model_version
    _finish(p, outcome)
    _delete_incoming(p, info)


def _reject(p: Pipeline, info: ObjectInfo, outcome: Outcome, reason: str) -> None:
    """Move the object to quarantine (reason in its tags), then record why."""
    s = p.settings
    tags = {"reason": names.tag_value(reason), "prediction_id": outcome.id, "timestamp": names.timestamp_tag()}
    metadata = {"original-key": quote(info.key, safe="/ "), "original-etag": info.etag, "prediction-id": outcome.id}
    outcome.status = Status.REJECTED
    outcome.reason = reason
    try:
        with_retries(lambda: p.store.copy(info, s.bucket_quarantine, info.key, metadata=metadata, tags=tags),
                     s.transient_retries, "quarantine")
        _finish(p, outcome)
        _delete_incoming(p, info)
    except (NotFound, Changed):
        _fail(p, outcome, "the object left incoming before it could be quarantined", retry=False)
    except StoreUnavailable as exc:
        _fail(p, outcome, f"could not quarantine ({reason}): storage unavailable: {exc}")
    log.info("rejected incoming/%s: %s", info.key, reason)


def _fail(p: Pipeline, outcome: Outcome, reason: str, retry: bool = True) -> None:
    """Record `failed`; with `retry` the object stays in incoming for the reconciler after a back-off."""
    outcome.status = Status.FAILED
    outcome.reason = reason
    outcome.expires_at = None
    if retry:
        backoff = min(MAX_FAILED_BACKOFF_S, p.settings.reconcile_interval_s * 2 ** max(0, outcome.attempts - 1))
        outcome.retry_after = now_iso(time.time() + backoff)
    log.warning("failed %s (incoming/%s): %s", outcome.id, outcome.incoming_key, reason)
    try:
        _finish(p, outcome)
    except StoreError as exc:  # MinIO is down: the pending claim lapses by itself and the item is retried
        log.warning("could not record failure of %s: %s", outcome.id, exc)


def _finish(p: Pipeline, outcome: Outcome) -> None:
    outcome.stamp("finished")
    if outcome.status is not Status.PENDING:
        outcome.expires_at = None
    uploaded = outcome.timestamps.get("uploaded")
    if uploaded:
        outcome.latency_ms = int((parse_iso(outcome.timestamps["finished"]) - parse_iso(uploaded)) * 1000)
        if outcome.status is Status.DONE:
            p.metrics.latency.observe(outcome.latency_ms / 1000)
    with_retries(lambda: p.store.put_json(p.settings.bucket_events, names.record_key(outcome.id),
                                          outcome.to_json()), p.settings.transient_retries, "record")


def _delete_incoming(p: Pipeline, info: ObjectInfo) -> None:
    try:
        with_retries(lambda: p.store.delete(info.bucket, info.key, etag=info.etag), p.settings.transient_retries,
                     "delete")
    except Changed:
        log.info("incoming/%s was replaced meanwhile; the new version stays", info.key)
    except StoreUnavailable as exc:
        log.warning("incoming/%s stays until the next pass: %s", info.key, exc)

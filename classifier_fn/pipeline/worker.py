"""One photo, start to end: fetch -> claim -> preprocess -> infer -> production -> record -> delete.

Five requests to MinIO: the GET of the photo, conditional on the event's ETag and pinned to its version
(it checks the object as a HEAD would and answers its metadata, type, time and version id), the claim,
the server-side copy of exactly that version, the final record, and the delete of exactly that version,
which spares a newer upload under the same key without a look first.

Every item ends with its own outcome record: `done`, `rejected` (moved to quarantine at once) or
`failed` (transient trouble outlasted the retries; the reconciler tries again after a back-off).
Every write of the record after the claim names the claim's ETag, so a worker whose claim lapsed and
was taken over never overwrites the new owner's record (nor a label added to a done one).
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from urllib.parse import quote, unquote

from classifier_fn.function_error import FunctionError
from classifier_fn.inference import preprocess
from classifier_fn.inference.errors import Rejected
from classifier_fn.pipeline.claim import Claim, ClaimResult, IdFrom, claim
from classifier_fn.pipeline.queue import Item
from classifier_fn.pipeline.verify import Gone
from classifier_fn.runtime import Runtime
from gourmetgram import labels, names, outcome
from gourmetgram.outcome import Outcome, Status, Versioned
from gourmetgram.store import Changed, Fetched, NotFound, ObjectInfo, StoreError, StoreUnavailable

log = logging.getLogger(__name__)

MAX_FAILED_BACKOFF_S = 300.0


class Result(str, enum.Enum):
    """What working one item came to (the final status when it was ours to record)."""

    DONE = "done"
    REJECTED = "rejected"
    FAILED = "failed"
    GONE = "gone"  # no longer in incoming: done by someone else, or deleted by its owner
    STALE = "stale"  # replaced by a newer upload, which has its own event
    BUSY = "busy"  # another worker holds the claim
    FINISHED = "finished"  # already final: only the delete from incoming was left
    OVERTAKEN = "overtaken"  # our claim lapsed and another worker took the photo over; its record stands
    UNAVAILABLE = "unavailable"  # MinIO did not answer and nothing final was recorded: worth trying again soon
    MARKER = "marker"  # a zero-byte "folder/" object: never a photo, left in incoming without a record


class LostClaim(FunctionError):
    """The record is no longer the one our claim wrote: another worker owns the photo now."""


def run_workers(rt: Runtime, count: int, stop: threading.Event) -> list[threading.Thread]:
    threads = [threading.Thread(target=_loop, args=(rt, stop), name=f"worker-{i}", daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    return threads


def _loop(rt: Runtime, stop: threading.Event) -> None:
    while not stop.is_set():
        item = rt.queue.take(timeout=0.5)
        if item is None:
            continue
        result = None
        try:
            result = process(rt, item)
            rt.metrics.items.labels(status=result.value, lane=item.lane).inc()
        except Exception:  # a bug must not kill the worker; the claim lapses and the item is retried
            log.exception("unexpected error on incoming/%s", item.key)
            rt.metrics.items.labels(status="error", lane=item.lane).inc()
        finally:
            rt.queue.done(item, result)


def process(rt: Runtime, item: Item) -> Result:
    """Work one item to its end."""
    try:
        # The photo first, then the claim: the GET is the check that the event's version is still there.
        fetched = rt.retrying.fetch(
            item.bucket, item.key, item.etag or None, item.version_id, rt.settings.max_object_bytes
        )
    except NotFound:
        return Result.GONE
    except Changed:
        return Result.STALE
    except StoreUnavailable as exc:
        log.warning("incoming/%s left for the reconciler: %s", item.key, exc)
        return Result.UNAVAILABLE
    info = fetched.info
    if names.is_folder_marker(info.key, info.size):
        # Screened out before the queue by its event's size or its listing; this is the object's own size.
        return Result.MARKER
    try:
        for pid, id_from in _ids(item, info):
            got = _claim(rt, item, info, pid, id_from)
            if got.result is not ClaimResult.FOREIGN:
                break
            log.info("incoming/%s: id %s is another object version's; trying the next one", item.key, pid)
    except StoreUnavailable as exc:
        log.warning("cannot claim incoming/%s: %s", item.key, exc)
        return Result.UNAVAILABLE
    if got.result is ClaimResult.FOREIGN:  # never from the last id (see _ids); never work on another's record
        log.error("incoming/%s: every id it may have is another version's; left for a later attempt", item.key)
        return Result.UNAVAILABLE
    if got.result is ClaimResult.BUSY:
        return Result.BUSY
    if got.result is ClaimResult.FINISHED:
        _delete_incoming(rt, info)  # a crash between the record and the delete left it behind
        return Result.FINISHED
    try:
        return _work(rt, fetched, got.record)
    except LostClaim as exc:
        log.warning("%s (incoming/%s): %s", got.outcome.id, item.key, exc)
        _repair_label_tags(rt, got.outcome.id)
        return Result.OVERTAKEN


def _work(rt: Runtime, fetched: Fetched, claimed: Versioned) -> Result:
    record, info = claimed.outcome, fetched.info
    recorded = True
    try:
        _classify(rt, fetched, record)
        _finish(rt, record, claimed.etag)
        rt.finishes.settle(Item(info.bucket, info.key, info.etag).identity, Result.DONE)  # the label is final now
        _delete_incoming(rt, info)
    except Rejected as exc:
        recorded = _reject(rt, info, record, claimed.etag, exc.reason)
    except (StoreUnavailable, TimeoutError) as exc:
        recorded = _fail(
            rt, record, claimed.etag, f"storage unavailable after {rt.settings.transient_retries} tries: {exc}"
        )
    except Gone as exc:
        recorded = _fail(rt, record, claimed.etag, str(exc), retry=False)
    except LostClaim:
        raise
    except Exception as exc:
        log.exception("classifying incoming/%s failed", info.key)
        recorded = _fail(rt, record, claimed.etag, f"internal error: {exc.__class__.__name__}: {exc}")
    if not recorded:
        # The record still says pending: nothing final to report (a stream message must come back); the claim
        # lapses and the photo, still in incoming, is taken again.
        return Result.UNAVAILABLE
    return Result(record.status.value)


def _ids(item: Item, info: ObjectInfo) -> list[tuple[str, IdFrom]]:
    """The ids this object version may have, in order: each is tried while the one before it is another
    version's. An upload's own id is honoured only for the object it was made for (any other object
    carrying it is a new photo); then the drop id (docs/contract.md#prediction-ids); then, for a second version of the
    same bytes under the same key in the same second, one derived from its version id too. The claim of
    the last one never answers FOREIGN (a record of another version under it cannot be genuine)."""
    upload_id = names.honoured_upload_id(item.key, info.metadata.get("prediction-id"))
    ids = [(upload_id, IdFrom.UPLOAD)] if upload_id else []
    ids.append((names.drop_id(item.bucket, item.key, info.etag, info.last_modified), IdFrom.OBJECT))
    if info.version_id:
        ids.append(
            (names.drop_id(item.bucket, item.key, info.etag, info.last_modified, info.version_id), IdFrom.VERSION)
        )
    return ids


def _claim(rt: Runtime, item: Item, info: ObjectInfo, pid: str, id_from: IdFrom) -> Claim:
    s = rt.settings
    upload_id = pid if id_from is IdFrom.UPLOAD else None
    fresh = Outcome(
        id=pid,
        status=Status.PENDING,
        incoming_key=item.key,
        incoming_etag=info.etag,
        incoming_modified=names.timestamp_tag(info.last_modified),
        incoming_version=info.version_id,
        source="web" if upload_id and info.metadata.get("source") == "web" else "bucket",
        size=info.size,
        worker=rt.worker_id,
        # Only the upload the token was issued for: a copy carrying its metadata is someone else's.
        feedback_token_sha256=names.token_hash(info.metadata.get(names.FEEDBACK_TOKEN_METADATA)) if upload_id else None,
        original_filename=unquote(info.metadata.get("original-filename", "")) or None if upload_id else None,
    )
    # eventTime has milliseconds; Last-Modified from HEAD only whole seconds.
    fresh.stamp("uploaded", names.parse_iso(item.event_time) if item.event_time else info.last_modified.timestamp())
    fresh.stamp("received", time.time() - (time.monotonic() - item.queued_at))
    return claim(
        rt.retrying,
        s.bucket_events,
        fresh,
        s.claim_ttl_s,
        id_from=id_from,
        proof=lambda record: _work_exists(rt, record, info),
        max_backoff_s=MAX_FAILED_BACKOFF_S,
    )


def _work_exists(rt: Runtime, record: Outcome, info: ObjectInfo) -> bool:
    """Whether the production (or quarantine) copy a final record names is really this object's: a final
    record alone is no proof, since the frontend may write records (for labels)."""
    s = rt.settings
    if record.status is Status.DONE:
        bucket, key = s.bucket_production, record.production_key
    else:  # rejected; records from before quarantine keys moved it under its incoming key
        bucket, key = s.bucket_quarantine, record.quarantine_key or record.incoming_key
    if not key:
        return False
    try:
        copy = rt.retrying.head(bucket, key)
    except NotFound:
        return False
    meta = copy.metadata
    # Two versions of one key with the same bytes in one second share the original key and ETag: the copy must also
    # name this record (copies made before they carried the id are taken on key and ETag alone).
    return (
        meta.get("original-etag") == info.etag
        and unquote(meta.get("original-key", "")) == info.key
        and meta.get("prediction-id", record.id) == record.id
    )


def _repair_label_tags(rt: Runtime, pid: str) -> None:
    """After losing a claim: our late production copy replaced the tags, maybe over labels the new owner's
    record holds. Write them again from the record (the copy is the same photo at the same key)."""
    try:
        current = outcome.read(rt.retrying, rt.settings.bucket_events, pid)
        if current and current.outcome.status is Status.DONE:
            labels.sync_label_tags(rt.retrying, rt.settings, current)
    except StoreError as exc:
        log.warning("could not repair the label tags of %s: %s", pid, exc)


def _classify(rt: Runtime, fetched: Fetched, record: Outcome) -> None:
    """Classify the photo and copy it to production; `record` becomes the done record to write."""
    s, info = rt.settings, fetched.info
    # Taken out of `fetched`, so that the photo's bytes are freed once decoded, not held through the batch.
    data, fetched.data = fetched.data, None
    if data is None:  # larger than the limit: its bytes were never read
        raise Rejected(f"file too large: {info.size:,} bytes, the limit is {s.max_object_bytes:,}")
    record.stamp("fetched")
    prepared = preprocess.prepare(data, s.max_pixels, rt.decode_budget, s.decode)
    del data
    record.stamp("decoded")
    prediction = rt.batcher.predict(prepared.tensor, shadow=True)
    record.stamp("classified")
    # The extension and Content-Type follow the content: a JPEG named x.png is stored as .jpg.
    key = names.production_key(prediction.index, record.id, names.extension(prepared.format))
    # The model that labelled this photo (its batch's), not the one serving now: a swap may have come since.
    tags = names.production_tags(prediction.index, prediction.probability, prediction.model_version, record.source)
    metadata = {
        "original-key": quote(info.key, safe="/ "),
        "original-etag": info.etag,
        "prediction-id": record.id,
        "source": record.source,
    }
    try:
        rt.retrying.copy(
            info,
            s.bucket_production,
            key,
            metadata=metadata,
            tags=tags,
            content_type=names.content_type(prepared.format),
        )
    except (NotFound, Changed):
        raise Gone("the object left incoming while it was being classified") from None
    record.stamp("stored")
    record.status = Status.DONE
    record.predicted_class = names.class_name(prediction.index)
    record.class_index = prediction.index
    record.confidence = round(prediction.probability, 6)
    record.top = [{"class": names.class_name(i), "confidence": round(p, 6)} for i, p in prediction.top] or None
    record.production_key = key
    record.model_version = prediction.model_version
    record.decode = prepared.decode
    # The challenger's answer, for the comparison only: never in the tags nor the production key.
    shadow = prediction.shadow
    record.shadow = (
        {
            "model_version": shadow.model_version,
            "predicted_class": names.class_name(shadow.index),
            "class_index": shadow.index,
            "confidence": round(shadow.probability, 6),
        }
        if shadow
        else None
    )


def _reject(rt: Runtime, info: ObjectInfo, record: Outcome, etag: str, reason: str) -> bool:
    """Move the object to quarantine (reason in its tags), then record why; False if not even a failure could
    be recorded."""
    s = rt.settings
    tags = {"reason": names.tag_value(reason), "prediction_id": record.id, "timestamp": names.timestamp_tag()}
    metadata = {"original-key": quote(info.key, safe="/ "), "original-etag": info.etag, "prediction-id": record.id}
    record.status = Status.REJECTED
    record.reason = reason
    # Under its own id: a second rejected file of the same name must not replace the first one.
    record.quarantine_key = names.quarantine_key(record.id, info.key)
    try:
        rt.retrying.copy(info, s.bucket_quarantine, record.quarantine_key, metadata=metadata, tags=tags)
        _finish(rt, record, etag)
        _delete_incoming(rt, info)
    except (NotFound, Changed):
        return _fail(rt, record, etag, "the object left incoming before it could be quarantined", retry=False)
    except StoreUnavailable as exc:
        return _fail(rt, record, etag, f"could not quarantine ({reason}): storage unavailable: {exc}")
    log.info("rejected incoming/%s: %s", info.key, reason)
    return True


def _fail(rt: Runtime, record: Outcome, etag: str, reason: str, retry: bool = True) -> bool:
    """Record `failed`; with `retry` the object stays in incoming for the reconciler after a back-off. False
    when MinIO took not even that record."""
    record.status = Status.FAILED
    record.reason = reason
    if retry:
        backoff = min(MAX_FAILED_BACKOFF_S, rt.settings.reconcile_interval_s * 2 ** max(0, record.attempts - 1))
        record.retry_after = names.now_iso(time.time() + backoff)
    log.warning("failed %s (incoming/%s): %s", record.id, record.incoming_key, reason)
    try:
        _finish(rt, record, etag)
    except StoreError as exc:  # MinIO is down: the pending claim lapses by itself and the item is retried
        log.warning("could not record failure of %s: %s", record.id, exc)
        return False
    return True


def _finish(rt: Runtime, record: Outcome, etag: str) -> None:
    """Write the record over exactly our claim (If-Match); LostClaim if it is no longer ours."""
    record.stamp("finished")
    record.expires_at = None
    uploaded = record.timestamps.get("uploaded")
    if uploaded:
        record.latency_ms = int((names.parse_iso(record.timestamps["finished"]) - names.parse_iso(uploaded)) * 1000)
        if record.status is Status.DONE:
            rt.metrics.latency.observe(record.latency_ms / 1000)
    try:
        outcome.replace(rt.retrying, rt.settings.bucket_events, record, etag)
    except (Changed, NotFound):
        raise LostClaim("our claim lapsed and the record was rewritten meanwhile: the new owner finishes") from None


def _delete_incoming(rt: Runtime, info: ObjectInfo) -> None:
    """Delete exactly the version worked (by its id: one request); without versioning, only if the key
    still holds that ETag and Last-Modified (a look, then the delete)."""
    try:
        rt.retrying.delete(
            info.bucket, info.key, etag=info.etag, modified=info.last_modified, version_id=info.version_id
        )
        if info.version_id:
            rt.queue.deleted(info.version_id)
    except Changed:
        log.info("incoming/%s was replaced meanwhile; the new version stays", info.key)
    except StoreUnavailable as exc:
        log.warning("incoming/%s stays until the next pass: %s", info.key, exc)

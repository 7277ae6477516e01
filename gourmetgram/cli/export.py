"""`gourmetgram export`: labelled production photos as a Food-11 dataset the training script reads.

`<out>/{training,validation,evaluation}/class_NN/<id><ext>` and `<out>/manifest.csv`, one row per file
with where it came from. The label is the reviewer's (`human_label`), else the uploader's correction
(`corrected_class`), else, only when asked, the model's above a confidence. The split is a hash of the
photo id, so a photo lands in the same split in every export, whatever else is exported. A second run
reads the manifest and copies only what is new; a photo whose label changed moves to its new class.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import click

from gourmetgram import idtime, names
from gourmetgram.outcome import Outcome, Status
from gourmetgram.settings import Settings
from gourmetgram.store import CorruptDocument, NotFound, ObjectInfo, Store

# Food-11's own proportions (9,866 / 3,430 / 3,347 photos), in percent of the hash's 100 buckets.
SPLITS = (("training", 60), ("validation", 20), ("evaluation", 20))
MANIFEST = "manifest.csv"
COLUMNS = ("path", "split", "class_index", "class_name", "label_source", "id", "production_key", "etag", "bytes",
           "human_label", "reviewed_at", "corrected_class", "flagged", "predicted_class", "confidence",
           "model_version", "source", "uploaded_at", "exported_at", "record_etag")


def split_of(pid: str) -> str:
    """The split of a photo: fixed by its id alone (a salted hash, independent of the review sample's)."""
    bucket = int.from_bytes(hashlib.sha256(f"split/{pid}".encode()).digest()[:8], "big") % 100
    for name, share in SPLITS:
        if bucket < share:
            return name
        bucket -= share
    raise AssertionError("the split shares add up to 100")


@dataclass(frozen=True)
class Label:
    class_name: str
    source: str  # "human", "corrected" or "predicted"


def label_of(record: Outcome, min_confidence: float | None) -> Label | None:
    """The label a photo is exported with; the model's only with `min_confidence` (and at least it)."""
    if record.human_label:
        return Label(record.human_label, "human")
    if record.corrected_class:
        return Label(record.corrected_class, "corrected")
    if min_confidence is not None and record.confidence is not None and record.confidence >= min_confidence:
        return Label(record.predicted_class, "predicted")
    return None


@dataclass
class Exported:
    copied: int = 0
    moved: int = 0      # already exported, but its label changed: now under its new class
    kept: int = 0       # already exported as it is
    unlabelled: int = 0
    errors: list[str] = field(default_factory=list)


def read_manifest(out: Path) -> dict[str, dict]:
    try:
        with open(out / MANIFEST, newline="") as f:
            return {row["id"]: row for row in csv.DictReader(f)}
    except FileNotFoundError:
        return {}


def write_manifest(out: Path, rows: dict[str, dict]) -> None:
    """Replace the manifest in one step: an interrupted write leaves the previous one."""
    temporary = out / f".{MANIFEST}.partial"
    with open(temporary, "w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        for row in sorted(rows.values(), key=lambda r: r["path"]):
            writer.writerow(row)
    os.replace(temporary, out / MANIFEST)


def export(store: Store, s: Settings, out: Path, since: float | None = None, min_confidence: float | None = None,
           progress: Callable = click.progressbar, echo: Callable[[str], None] = click.echo) -> Exported:
    out.mkdir(parents=True, exist_ok=True)
    rows = read_manifest(out)
    done = Exported()
    infos = list(idtime.list_records(store, s.bucket_events, since))
    try:
        with progress(infos, label="exporting", show_pos=True, item_show_func=lambda i: None) as bar:
            for info in bar:
                _one(store, s, out, info, rows, min_confidence, done)
    finally:  # what was copied is in the manifest, even after Ctrl-C
        write_manifest(out, rows)
    for error in done.errors:
        echo(error)
    return done


def _one(store: Store, s: Settings, out: Path, info: ObjectInfo, rows: dict[str, dict],
         min_confidence: float | None, done: Exported) -> None:
    pid = info.key.removesuffix(idtime.RECORD_SUFFIX)
    row = rows.get(pid)
    if row and row["record_etag"] == info.etag and (out / row["path"]).is_file():
        done.kept += 1  # the record has not changed since it was exported: not even read
        return
    try:
        doc, etag = store.get_json(s.bucket_events, info.key)
        record = Outcome.from_json(doc)
    except NotFound:
        return
    except (CorruptDocument, TypeError, ValueError, KeyError, AttributeError) as exc:
        done.errors.append(f"skipped {s.bucket_events}/{info.key}: not an outcome record ({exc})")
        return
    label = label_of(record, min_confidence) if record.status is Status.DONE and record.production_key else None
    try:
        index = names.class_index(label.class_name) if label else None
    except ValueError:
        done.errors.append(f"skipped {pid}: its label {label.class_name!r} is not a Food-11 class")
        return
    if label is None:
        done.unlabelled += 1
        return
    path = PurePosixPath(split_of(pid), f"class_{index:02d}", pid + PurePosixPath(record.production_key).suffix)
    new = _row(record, label, index, path, idtime.photo_time(record, info.last_modified.timestamp()), etag)
    if row and (out / row["path"]).is_file():
        if row["path"] != str(path):
            (out / path).parent.mkdir(parents=True, exist_ok=True)
            os.replace(out / row["path"], out / path)
            done.moved += 1
        else:
            done.kept += 1
        rows[pid] = {**new, **{k: row[k] for k in ("etag", "bytes", "exported_at")}}
        return
    try:
        head = store.head(s.bucket_production, record.production_key)
        data = store.read(s.bucket_production, record.production_key, etag=head.etag)
    except NotFound:
        done.errors.append(f"skipped {pid}: {s.bucket_production}/{record.production_key} is gone")
        return
    target = out / path
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.write_bytes(data)
    os.replace(partial, target)
    rows[pid] = {**new, "etag": head.etag, "bytes": len(data), "exported_at": names.timestamp_tag()}
    done.copied += 1


def _row(record: Outcome, label: Label, index: int, path: PurePosixPath, uploaded: float, record_etag: str) -> dict:
    return {
        "path": str(path), "split": path.parts[0], "class_index": index, "class_name": names.CLASSES[index],
        "label_source": label.source, "id": record.id, "production_key": record.production_key,
        "human_label": record.human_label or "", "reviewed_at": record.reviewed_at or "",
        "corrected_class": record.corrected_class or "",
        "flagged": "" if record.flagged is None else str(record.flagged).lower(),
        "predicted_class": record.predicted_class or "",
        "confidence": "" if record.confidence is None else f"{record.confidence:.3f}",
        "model_version": record.model_version or "", "source": record.source,
        "uploaded_at": names.timestamp_tag(datetime.fromtimestamp(uploaded, UTC)), "record_etag": record_etag,
    }


def parse_since(text: str) -> float:
    """`--since`: a UTC date (`2026-11-20`) or an ISO time with a zone."""
    try:
        if len(text) == 10:
            return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()
        return names.parse_iso(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is neither a date (2026-11-20) nor a time with a zone "
                                 "(2026-11-20T08:00:00Z)") from None

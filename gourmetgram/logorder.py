"""The event log's order: where a record stands in it, and which keys a span of time occupies.

A new id (UUIDv7 of an upload, UUIDv8 of a drop) begins with 48 bits of milliseconds, so record keys
`<id>.json` sort by the photo's time, and a span of time is a span of keys that S3 lists from StartAfter.
An older id (uuid4, uuid5) is random: its key says nothing of time, so its record is placed by its own last
write (Last-Modified) instead, wherever its key happens to sort.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from gourmetgram import names
from gourmetgram.store import ObjectInfo

RECORD_SUFFIX = ".json"
# How far apart the clocks that stamp ids (the frontend's, MinIO's) and a reader's may be. A photo is never
# later than its own record: an id whose time is later than its record's write by more than this is not
# believed (its record is placed by that write), so one odd id cannot sit at the top of the log.
CLOCK_SKEW_S = 300.0
# No id of ours carries an earlier time (UUIDv7 dates from 2024): a "time" before it is a random old id.
FIRST_ID_MS = int(datetime(2020, 1, 1, tzinfo=UTC).timestamp() * 1000)
_MAX_MS = (1 << 48) - 1


@dataclass(frozen=True)
class Entry:
    """A record as a listing shows it, with its place in the log."""

    info: ObjectInfo
    time: float  # seconds since the epoch

    @property
    def key(self) -> str:
        return self.info.key

    @property
    def order(self) -> tuple[float, str]:
        """Newest last; records of one moment in key order."""
        return self.time, self.info.key


def is_record_key(key: str) -> bool:
    return key.endswith(RECORD_SUFFIX)


def id_time_ms(key: str) -> int | None:
    """The time (ms) a record key's id carries; None for an old-format id or a key that names no id."""
    pid = key.removesuffix(RECORD_SUFFIX)
    if pid == key or not names.is_prediction_id(pid):
        return None
    value = uuid.UUID(pid)
    return value.int >> 80 if value.version in (7, 8) else None


def place(info: ObjectInfo) -> Entry:
    """The record's place: the time its id carries (the upload, or the dropped object's Last-Modified), so a
    record rewritten later (a correction, a retry) keeps its place; else the record's last write."""
    written = info.last_modified.timestamp()
    ms = id_time_ms(info.key)
    if ms is None or ms / 1000 > written + CLOCK_SKEW_S:
        return Entry(info, written)
    return Entry(info, ms / 1000)


def key_at(seconds: float) -> str:
    """The key prefix of a new id made at that moment: every record key of that millisecond or later sorts
    after it, every earlier one before it."""
    return key_at_ms(int(seconds * 1000))


def key_at_ms(ms: int) -> str:
    digits = f"{min(max(ms, 0), _MAX_MS):012x}"
    return f"{digits[:8]}-{digits[8:]}"


def key_after(seconds: float) -> str:
    """The key prefix just past that moment's millisecond: the exclusive end of a span up to it."""
    return key_at_ms(int(seconds * 1000) + 1)


def after_now(now: float) -> float:
    """The latest moment a believable new id may carry, read at `now`."""
    return now + CLOCK_SKEW_S


def newest_first(entries) -> list[Entry]:
    return sorted(entries, key=lambda e: e.order, reverse=True)


def oldest_first(entries) -> list[Entry]:
    return sorted(entries, key=lambda e: e.order)


def iso(seconds: float) -> str:
    """A place as the log shows it: UTC to the second."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

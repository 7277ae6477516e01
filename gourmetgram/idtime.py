"""Photos by upload time: the time in a prediction id, and outcome records listed by it.

UUIDv7 ids (web uploads) and UUIDv8 ids (dropped objects) begin with the photo's time, 48 bits of
milliseconds, so the record keys `<id>.json` sort by upload time: the records of a time window are one
listing that starts after the window's first key and stops at its end, never a scan of the whole bucket.
Older uuid4/uuid5 ids begin with random bits: a windowed listing skips them (their key says nothing of
their time); a listing without bounds yields them too, timed by their record's `uploaded` stamp.

The key layout itself (the time in a key, the key of a moment) is `logorder`'s, shared with the event log;
this module is the reports' view: whole UTC days, records read with their upload time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from gourmetgram import names
from gourmetgram.eventlog import RecordCache
from gourmetgram.logorder import RECORD_SUFFIX, id_time_ms, is_record_key, key_at
from gourmetgram.outcome import Outcome
from gourmetgram.store import CorruptDocument, NotFound, ObjectInfo, Store

log = logging.getLogger(__name__)


def id_time(pid: str) -> float | None:
    """Seconds since the epoch at which the photo of `pid` was uploaded; None for ids without a time."""
    ms = id_time_ms(pid + RECORD_SUFFIX)
    return None if ms is None else ms / 1000


def day_start(day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


def utc_day(moment: float) -> date:
    return datetime.fromtimestamp(moment, UTC).date()


def last_days(days: int, now: float) -> tuple[float, float]:
    """(since, until) of the last `days` UTC days, today included, up to `now`."""
    return day_start(utc_day(now) - timedelta(days=days - 1)), now


def list_records(
    store: Store, bucket: str, since: float | None = None, until: float | None = None
) -> Iterator[ObjectInfo]:
    """The record objects of photos uploaded in [since, until), in upload order; every record without bounds."""
    if since is None and until is None:
        yield from (o for o in store.list(bucket) if is_record_key(o.key))
        return
    start = key_at(since) if since is not None else ""
    end = key_at(until) if until is not None else None
    for info in store.list(bucket, start_after=start):
        if end is not None and info.key >= end:
            return  # keys sort by time: everything after is later
        moment = id_time(info.key.removesuffix(RECORD_SUFFIX))
        if moment is None or not is_record_key(info.key):
            continue  # an id without a time in a windowed listing, or not a record
        if (since is None or moment >= since) and (until is None or moment < until):
            yield info


@dataclass(frozen=True)
class Photo:
    """A record and the time its photo was uploaded."""

    record: Outcome
    uploaded: float

    @property
    def day(self) -> date:
        return utc_day(self.uploaded)


def read_photos(
    store: Store, bucket: str, since: float | None = None, until: float | None = None, cache: RecordCache | None = None
) -> Iterator[Photo]:
    """The records of `list_records`, read (through `cache`: only records that changed are fetched again).
    A record that vanished or is no outcome is skipped (and logged): one bad record spoils no report."""
    cache = cache or RecordCache()
    for info in list_records(store, bucket, since, until):
        try:
            record = Outcome.from_json(cache.read(store, info))
        except NotFound:
            continue
        except (CorruptDocument, TypeError, ValueError, KeyError, AttributeError) as exc:
            log.warning("skipped %s/%s: not an outcome record (%s)", bucket, info.key, exc)
            continue
        yield Photo(record, photo_time(record, info.last_modified.timestamp()))


def photo_time(record: Outcome, written: float) -> float:
    """When the photo was uploaded: from its id, else its record's `uploaded` stamp, else `written` (the
    record's write, when known)."""
    moment = id_time(record.id)
    if moment is not None:
        return moment
    try:
        return names.parse_iso(record.timestamps["uploaded"])
    except (KeyError, ValueError):
        return written

"""The event log: outcome records in `events/`, newest first by the photo's time, read by spans of time.

A read lists only the keys of the span it needs (new ids sort by time: `gourmetgram.logorder`), widening
the span while it holds fewer records than asked for, plus the few keys outside the range new ids fill
(old-format ids, whose keys are random), which are listed apart and kept for a while. Records already
read are kept by key and ETag, so a refresh costs a short listing and a GET per record that changed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from gourmetgram import logorder as order
from gourmetgram.logorder import Entry, key_after, key_at
from gourmetgram.lru import Lru
from gourmetgram.outcome import Outcome
from gourmetgram.store import CorruptDocument, NotFound, ObjectInfo, Store

log = logging.getLogger(__name__)

COLUMNS = ("time", "source", "incoming_key", "predicted_class", "confidence", "latency_ms", "status", "reason")

FIRST_SPAN_S = 600.0  # the first read of a log looks this far back, then learns how far it needs to
# A span (wider than a second) listing more keys than SPAN_FACTOR times the records still missing (and
# than SPAN_MIN_KEYS) is narrowed from its top.
SPAN_FACTOR = 4
SPAN_MIN_KEYS = 100
FOLLOW_WINDOW_S = 3600.0  # `follow` watches the records of photos this recent for changes
# The keys outside the range new ids fill are listed again at most every OUTSIDE_REFRESH_S, and never more
# than 1/OUTSIDE_DUTY of the time: MinIO reads a bucket's whole directory for every listing, however few
# keys it returns, so a listing saved is worth more than its keys suggest.
OUTSIDE_REFRESH_S = 10.0
OUTSIDE_DUTY = 20


class RecordCache:
    """Records already read, by key and ETag. A page that refreshes every few seconds then costs MinIO
    one listing and a GET per record that changed, not a GET per record shown."""

    def __init__(self, capacity: int = 2000):
        self._docs: Lru[str, tuple[str, dict]] = Lru(capacity)  # the frontend serves many requests at once

    def read(self, store: Store, info: ObjectInfo) -> dict:
        hit = self._docs.get(info.key)
        if hit and hit[0] == info.etag:
            return dict(hit[1])
        doc, etag = store.get_json(info.bucket, info.key)
        if not isinstance(doc, dict):
            raise CorruptDocument(f"{info.bucket}/{info.key} is not a JSON object", etag)
        self._docs.put(info.key, (etag, doc))
        return dict(doc)


@dataclass(frozen=True)
class Outside:
    """The records outside the key range new ids fill, as one listing found them: keys before `dense_from`
    (the first new id, or the listing's moment less the clock skew) and after `dense_to` (the latest time an
    id may carry). Old-format ids, mostly: their random keys land anywhere."""

    dense_from: str
    dense_to: str
    entries: tuple[Entry, ...]  # the newest `keep` of them, or all
    listed_at: float  # the log's clock
    took_s: float

    def still_good(self, now: float) -> bool:
        return 0 <= now - self.listed_at < max(OUTSIDE_REFRESH_S, OUTSIDE_DUTY * self.took_s)


def list_outside(store: Store, bucket: str, now: float, keep: int | None = None) -> Outside:
    """List the keys before the first new id and after the latest time an id may carry (two listings that
    stop where the new ids begin)."""
    started = time.monotonic()
    dense_to = key_after(order.after_now(now))
    # Records written from now on carry ids of about now or later, so they land inside the range; only the
    # drop of an object older than every new id yet could land before it, and waits for the next listing.
    found, dense_from = _before_first_id(store, bucket, key_at(now - order.CLOCK_SKEW_S))
    found += [info for info in store.list(bucket, start_after=dense_to) if order.is_record_key(info.key)]
    entries = order.newest_first(order.place(info) for info in found if not dense_from <= info.key <= dense_to)
    return Outside(
        dense_from, dense_to, tuple(entries if keep is None else entries[:keep]), now, time.monotonic() - started
    )


def _before_first_id(store: Store, bucket: str, until: str) -> tuple[list[ObjectInfo], str]:
    """The records before the first new id (or `until`), and where the new ids begin. A first short page,
    as the first key is usually a new id; full pages after it (each page is a listing for MinIO)."""
    found: list[ObjectInfo] = []
    after, page = "", 20
    while True:
        count = 0
        for info in store.list(bucket, start_after=after, page_size=page):
            ms = order.id_time_ms(info.key)
            if ms is not None and ms >= order.FIRST_ID_MS:
                return found, min(until, order.key_at_ms(ms))
            if info.key >= until:
                return found, until
            if order.is_record_key(info.key):
                found.append(info)
            after, count = info.key, count + 1
            if count == page and page < 1000:
                break
        else:
            return found, until
        page = 1000


class EventLog:
    """Reads the log by time: the newest records, or every record since a moment. Thread-safe; a frontend
    keeps one (with `keep_outside`, the most it is ever asked for) so that what it learns is reused."""

    def __init__(
        self,
        store: Store,
        bucket: str,
        *,
        cache: RecordCache | None = None,
        keep_outside: int | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.store, self.bucket = store, bucket
        self.cache = cache or RecordCache()
        self.clock = clock
        self._keep = keep_outside
        self._outside: Outside | None = None
        self._outside_lock = threading.Lock()
        self._span_per_record: float | None = None  # how far back one record's worth of log reached last time
        self.listed = 0  # keys the last read listed (the bench and the tests look)

    # --- records ----------------------------------------------------------------------------
    def newest(self, limit: int) -> list[dict]:
        """The `limit` newest records, newest first."""
        return self.documents(self.newest_entries(limit))

    def since(self, moment: float) -> list[dict]:
        """Every record placed at `moment` or later, oldest first."""
        return self.documents(self.entries_since(moment))

    def documents(self, entries: Iterable[Entry]) -> list[dict]:
        return [doc for entry in entries if (doc := self.read(entry)) is not None]

    def read(self, entry: Entry) -> dict | None:
        """The record with its place as `time`; None for one that is gone or is no outcome record."""
        try:
            doc = self.cache.read(self.store, entry.info)
        except NotFound:
            return None
        except CorruptDocument as exc:  # one broken record must not break the log for everyone
            log.warning("event log: %s", exc)
            return None
        if not _is_outcome(doc):
            log.warning("event log: %s/%s is not an outcome record", self.bucket, entry.key)
            return None
        doc["time"] = order.iso(entry.time)
        return doc

    # --- entries (what a listing shows) ---------------------------------------------------------
    def newest_entries(self, limit: int) -> list[Entry]:
        """The `limit` newest entries, newest first: listed span by span back from now until the spans
        hold `limit` records (or reach the first new id), so every record left out is older.

        A span is listed only while it holds no more keys than a few times what is still missing; a fuller
        one is halved from its top, and the next spans close in on where it was crowded, so a burst of
        drops costs a few short listings rather than a listing of the burst."""
        if self._keep is not None and limit > self._keep:
            raise ValueError(f"this event log keeps the newest {self._keep} old-format records, not {limit}")
        now = self.clock()
        outside = self._current_outside(now)
        found = {entry.key: entry for entry in outside.entries}
        upper_time = order.after_now(now)
        upper = max(key_after(upper_time), outside.dense_to)
        lower_time = now - self._first_span(limit)
        crowded: float | None = None  # a lower bound known to hold too many keys up to the current span
        listed = 0
        while True:
            lower = max(key_at(lower_time), outside.dense_from)
            width = upper_time - lower_time
            missing = limit - sum(e.time >= upper_time for e in found.values())
            most = max(SPAN_FACTOR * missing, SPAN_MIN_KEYS) if width > 1 else None  # ids share a drop's second
            infos, count = self._list_between(lower, upper, most)
            listed += count
            if infos is None:
                crowded, lower_time = lower_time, upper_time - width / 2
                continue
            found.update((e.key, e) for e in map(order.place, infos))
            reached_first_id = lower == outside.dense_from
            if reached_first_id or sum(e.time >= lower_time for e in found.values()) >= limit:
                break
            upper, upper_time = lower, lower_time
            if crowded is None:
                lower_time = now - 2 * (now - lower_time)
            elif lower_time - crowded > 1:
                lower_time = (crowded + lower_time) / 2
            else:
                lower_time, crowded = crowded, None
        self.listed = listed
        newest = order.newest_first(found.values())[:limit]
        reach = now - (newest[-1].time if len(newest) == limit and not reached_first_id else lower_time)
        self._span_per_record = max(reach, 1.0) / limit
        return newest

    def entries_since(self, moment: float) -> list[Entry]:
        """Every entry placed at `moment` or later, oldest first."""
        if self._keep is not None:
            raise ValueError("an event log that keeps only its newest old-format records cannot read since a time")
        now = self.clock()
        outside = self._current_outside(now)
        found = {entry.key: entry for entry in outside.entries}
        lower = max(key_at(moment), outside.dense_from)
        infos, self.listed = self._list_between(lower, max(key_after(order.after_now(now)), outside.dense_to), None)
        found.update((e.key, e) for e in map(order.place, infos))
        return order.oldest_first(e for e in found.values() if e.time >= moment)

    def _first_span(self, limit: int) -> float:
        known = self._span_per_record
        return FIRST_SPAN_S if known is None else max(1.5 * known * limit, 1.0)

    def _list_between(self, lower: str, upper: str, most: int | None) -> tuple[list[ObjectInfo] | None, int]:
        """Record keys after `lower` and before `upper`, and how many keys that took; None past `most` keys."""
        infos, count = [], 0
        for info in self.store.list(self.bucket, start_after=lower, page_size=1000 if most is None else most + 1):
            if info.key >= upper:
                break
            count += 1
            if most is not None and count > most:
                return None, count
            if order.is_record_key(info.key):
                infos.append(info)
        return infos, count

    def _current_outside(self, now: float) -> Outside:
        with self._outside_lock:  # one listing at a time; the others wait for it rather than repeat it
            if self._outside is None or not self._outside.still_good(now):
                self._outside = list_outside(self.store, self.bucket, now, self._keep)
            return self._outside


def recent(store: Store, bucket: str, limit: int = 50, cache: RecordCache | None = None) -> list[dict]:
    """The `limit` newest outcome records, newest first (a one-off read; keep an EventLog to read again)."""
    return EventLog(store, bucket, cache=cache).newest(limit)


def _is_outcome(doc: object) -> bool:
    try:
        Outcome.from_json(doc)  # type: ignore[arg-type]
    except (TypeError, ValueError, KeyError, AttributeError):
        return False
    return True


def follow(
    store: Store,
    bucket: str,
    interval_s: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    limit: int = 20,
    since: float | None = None,
    window_s: float = FOLLOW_WINDOW_S,
    clock: Callable[[], float] = time.time,
) -> Iterator[dict]:
    """Yield the newest `limit` records (or every one since `since`), oldest first, then every record written
    or rewritten later among the photos of the last `window_s` seconds. Never ends.

    Each look lists that window and reads only the records whose ETag changed."""
    events = EventLog(store, bucket, clock=clock)
    first = events.entries_since(since) if since is not None else list(reversed(events.newest_entries(limit)))
    shown = {entry.key: entry.info.etag for entry in events.entries_since(clock() - window_s)}
    for entry in first:
        shown[entry.key] = entry.info.etag
        if (doc := events.read(entry)) is not None:
            yield doc
    while True:
        sleep(interval_s)
        current = events.entries_since(clock() - window_s)
        for entry in current:
            if shown.get(entry.key) != entry.info.etag and (doc := events.read(entry)) is not None:
                yield doc
        shown = {entry.key: entry.info.etag for entry in current}  # what left the window never comes back


def format_row(doc: dict) -> str:
    confidence = doc.get("confidence")
    return "  ".join(
        [
            doc.get("time", "")[:19],
            f"{doc.get('source', ''):6}",
            f"{doc.get('status', ''):8}",
            f"{doc.get('predicted_class') or '-':16}",
            f"{confidence:.3f}" if isinstance(confidence, (int, float)) else "  -  ",
            f"{doc.get('latency_ms', '-'):>6}ms",
            doc.get("incoming_key", ""),
            doc.get("reason") or "",
        ]
    )

"""An in-memory Store with the real one's methods and semantics (ETags, conditional writes, tags)."""

from __future__ import annotations

import hashlib
import io
import json
import threading
from datetime import UTC, datetime, timedelta

from gourmetgram.store import AlreadyExists, Changed, CorruptDocument, NotFound, ObjectInfo, StoreUnavailable


class _Object:
    def __init__(self, data: bytes, content_type: str, metadata: dict, tags: dict, modified: datetime):
        self.data, self.content_type, self.metadata, self.tags = data, content_type, dict(metadata), dict(tags)
        self.etag = hashlib.md5(data).hexdigest()
        self.modified = modified


class FakeStore:
    def __init__(self, buckets=("incoming", "production", "quarantine", "events")):
        self.buckets: dict[str, dict[str, _Object]] = {b: {} for b in buckets}
        self.down = False          # every call raises StoreUnavailable while True
        self.fail_next: dict[str, int] = {}  # method name -> how many calls fail transiently
        self.calls: list[str] = []
        self.listed = 0            # keys every listing so far went through
        self._lock = threading.Lock()

    # --- helpers for tests -----------------------------------------------------------------
    def age(self, bucket: str, key: str, seconds: float) -> None:
        self.buckets[bucket][key].modified -= timedelta(seconds=seconds)

    def written_at(self, bucket: str, key: str, moment: datetime) -> None:
        """Make the object's Last-Modified `moment` (MinIO sets it; a test may want any)."""
        self.buckets[bucket][key].modified = moment

    def keys(self, bucket: str) -> list[str]:
        return sorted(self.buckets[bucket])

    def _enter(self, name: str) -> None:
        self.calls.append(name)
        if self.down:
            raise StoreUnavailable(f"{name}: MinIO unreachable (fake)")
        if self.fail_next.get(name):
            self.fail_next[name] -= 1
            raise StoreUnavailable(f"{name}: transient failure (fake)")

    def _get(self, bucket: str, key: str) -> _Object:
        try:
            return self.buckets[bucket][key]
        except KeyError:
            raise NotFound(f"object {bucket}/{key} does not exist") from None

    def _info(self, bucket: str, key: str, o: _Object) -> ObjectInfo:
        return ObjectInfo(bucket, key, o.etag, len(o.data), o.modified, dict(o.metadata), o.content_type)

    # --- Store's interface -------------------------------------------------------------------
    def ping(self) -> None:
        self._enter("ping")

    def head(self, bucket: str, key: str) -> ObjectInfo:
        self._enter("head")
        return self._info(bucket, key, self._get(bucket, key))

    def read(self, bucket: str, key: str, etag: str | None = None, limit: int | None = None) -> bytes:
        self._enter("read")
        o = self._get(bucket, key)
        if etag and o.etag != etag:
            raise Changed(f"object {bucket}/{key}: precondition failed")
        return o.data if limit is None else o.data[: limit + 1]

    def get_tags(self, bucket: str, key: str) -> dict[str, str]:
        self._enter("get_tags")
        return dict(self._get(bucket, key).tags)

    def get_json(self, bucket: str, key: str) -> tuple[dict, str]:
        self._enter("get_json")
        o = self._get(bucket, key)
        try:
            return json.loads(o.data), o.etag
        except ValueError:
            raise CorruptDocument(f"{bucket}/{key} is not JSON", o.etag) from None

    def list(self, bucket: str, prefix: str = "", start_after: str = "", page_size: int = 1000):
        self._enter("list")
        with self._lock:
            items = sorted(self.buckets[bucket].items())
        for key, o in items:
            if key.startswith(prefix) and key > start_after:
                self.listed += 1
                # As MinIO's listing: keys, ETags, sizes and times, no metadata and no Content-Type.
                yield ObjectInfo(bucket, key, o.etag, len(o.data), o.modified)

    def put(self, bucket, key, body, *, content_type="application/octet-stream", metadata=None, tags=None) -> str:
        self._enter("put")
        data = body.read() if isinstance(body, io.IOBase) or hasattr(body, "read") else bytes(body)
        o = _Object(data, content_type, metadata or {}, tags or {}, datetime.now(UTC))
        with self._lock:
            self.buckets[bucket][key] = o
        return o.etag

    def copy(self, src: ObjectInfo, bucket: str, key: str, *, metadata: dict, tags: dict,
             content_type: str | None = None) -> None:
        self._enter("copy")
        o = self._get(src.bucket, src.key)
        if o.etag != src.etag:
            raise Changed(f"copying {src.bucket}/{src.key}: precondition failed")
        with self._lock:
            self.buckets[bucket][key] = _Object(o.data, content_type or o.content_type, metadata, tags,
                                                datetime.now(UTC))

    def put_json(self, bucket, key, doc, *, if_absent=False, if_match=None) -> str:
        self._enter("put_json")
        with self._lock:
            existing = self.buckets[bucket].get(key)
            if if_absent and existing is not None:
                raise AlreadyExists(f"record {bucket}/{key}: precondition failed")
            if if_match and existing is None:  # as MinIO: 404, not 412, when there is nothing to match
                raise NotFound(f"record {bucket}/{key} does not exist")
            if if_match and existing.etag != if_match:
                raise Changed(f"record {bucket}/{key}: precondition failed")
            o = _Object(json.dumps(doc, sort_keys=True).encode(), "application/json", {}, {},
                        datetime.now(UTC))
            self.buckets[bucket][key] = o
        return o.etag

    def set_tags(self, bucket: str, key: str, tags: dict[str, str]) -> dict[str, str]:
        self._enter("set_tags")
        o = self._get(bucket, key)
        o.tags.update(tags)
        return dict(o.tags)

    def put_tags(self, bucket: str, key: str, tags: dict[str, str]) -> None:
        self._enter("put_tags")
        self._get(bucket, key).tags = dict(tags)

    def delete(self, bucket: str, key: str, etag: str | None = None, modified=None) -> None:
        self._enter("delete")
        with self._lock:
            o = self.buckets[bucket].get(key)
            if o is None:
                return
            moved = modified is not None and int(o.modified.timestamp()) != int(modified.timestamp())
            if etag is not None and (o.etag != etag or moved):
                raise Changed(f"object {bucket}/{key} changed")
            del self.buckets[bucket][key]

    def count_requests(self, counter) -> None:
        """The fake sends no requests, so there is nothing to count."""

"""An in-memory Store with the real one's methods and semantics (ETags, conditional writes, tags, versions)."""

from __future__ import annotations

import hashlib
import io
import json
import threading
import uuid
from datetime import UTC, datetime, timedelta

from gourmetgram.store import (
    NULL_VERSION,
    AlreadyExists,
    Changed,
    CorruptDocument,
    Fetched,
    NotFound,
    ObjectInfo,
    StoreUnavailable,
)


class _Object:
    def __init__(
        self,
        data: bytes,
        content_type: str,
        metadata: dict,
        tags: dict,
        modified: datetime,
        version_id: str | None = None,
    ):
        self.data, self.content_type, self.metadata, self.tags = data, content_type, dict(metadata), dict(tags)
        self.etag = hashlib.md5(data).hexdigest()
        self.modified = modified
        self.version_id = version_id


class FakeStore:
    """`versioned` buckets keep older versions as MinIO does with versioning on (`configure` turns it on for
    `incoming`): a new upload makes the previous one noncurrent, deleting the latest version brings the
    previous one back, and a delete that would leave a delete marker is refused (the pipeline never makes one)."""

    def __init__(self, buckets=("incoming", "production", "quarantine", "events"), versioned=("incoming",)):
        self.buckets: dict[str, dict[str, _Object]] = {b: {} for b in buckets}  # the latest versions
        self.versioned = frozenset(versioned)
        self.noncurrent: dict[str, dict[str, list[_Object]]] = {b: {} for b in buckets}  # older ones, oldest first
        self.bytes_read = 0  # bytes the fake handed out from GETs of photos (fetch, read)
        self.down = False  # every call raises StoreUnavailable while True
        self.fail_next: dict[str, int] = {}  # method name -> how many calls fail transiently
        self.calls: list[str] = []
        self.listed = 0  # keys every listing so far went through
        self.full: str | None = None  # what storage_full() answers (the real Store learns it from MinIO's writes)
        self._lock = threading.Lock()

    # --- helpers for tests -----------------------------------------------------------------
    def age(self, bucket: str, key: str, seconds: float) -> None:
        self.buckets[bucket][key].modified -= timedelta(seconds=seconds)

    def written_at(self, bucket: str, key: str, moment: datetime) -> None:
        """Make the object's Last-Modified `moment` (MinIO sets it; a test may want any)."""
        self.buckets[bucket][key].modified = moment

    def keys(self, bucket: str) -> list[str]:
        return sorted(self.buckets[bucket])

    def versions(self, bucket: str, key: str) -> list[str]:
        """Every version id the key holds, oldest first (noncurrent ones, then the latest)."""
        latest = self.buckets[bucket].get(key)
        return [o.version_id for o in self.noncurrent[bucket].get(key, []) + ([latest] if latest else [])]

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

    def _version(self, bucket: str, key: str, version_id: str | None) -> _Object:
        if version_id is None:
            return self._get(bucket, key)
        for o in [self.buckets[bucket].get(key), *self.noncurrent[bucket].get(key, [])]:
            if o is not None and (o.version_id or NULL_VERSION) == version_id:
                return o
        raise NotFound(f"version {version_id} of {bucket}/{key} does not exist")

    def _info(self, bucket: str, key: str, o: _Object) -> ObjectInfo:
        return ObjectInfo(bucket, key, o.etag, len(o.data), o.modified, dict(o.metadata), o.content_type, o.version_id)

    def _store(self, bucket: str, key: str, o: _Object) -> None:
        """Make `o` the latest version (under the lock)."""
        if bucket in self.versioned:
            o.version_id = str(uuid.uuid4())
            if key in self.buckets[bucket]:
                self.noncurrent[bucket].setdefault(key, []).append(self.buckets[bucket][key])
        self.buckets[bucket][key] = o

    # --- Store's interface -------------------------------------------------------------------
    def versioning(self, bucket: str) -> str:
        self._enter("versioning")
        return "Enabled" if bucket in self.versioned else "Off"

    def ping(self) -> None:
        self._enter("ping")

    def storage_full(self) -> str | None:
        return self.full

    def head(self, bucket: str, key: str, version_id: str | None = None) -> ObjectInfo:
        self._enter("head")
        return self._info(bucket, key, self._version(bucket, key, version_id))

    def read(self, bucket: str, key: str, etag: str | None = None, limit: int | None = None) -> bytes:
        self._enter("read")
        o = self._get(bucket, key)
        if etag and o.etag != etag:
            raise Changed(f"object {bucket}/{key}: precondition failed")
        data = o.data if limit is None else o.data[: limit + 1]
        self.bytes_read += len(data)
        return data

    def fetch(
        self, bucket: str, key: str, etag: str | None = None, version_id: str | None = None, limit: int | None = None
    ) -> Fetched:
        self._enter("fetch")
        o = self._version(bucket, key, version_id)
        if etag and o.etag != etag:
            raise Changed(f"object {bucket}/{key}: precondition failed")
        data = None if limit is not None and len(o.data) > limit else o.data
        self.bytes_read += len(data or b"")
        return Fetched(self._info(bucket, key, o), data)

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

    def list_versions(self, bucket: str, page_size: int = 1000):
        self._enter("list_versions")
        with self._lock:
            keys = sorted(set(self.buckets[bucket]) | set(self.noncurrent.get(bucket, {})))
            found = [
                (key, o)
                for key in keys
                for o in self.noncurrent.get(bucket, {}).get(key, [])
                + ([self.buckets[bucket][key]] if key in self.buckets[bucket] else [])
            ]
        for key, o in found:
            self.listed += 1
            yield ObjectInfo(bucket, key, o.etag, len(o.data), o.modified, version_id=o.version_id)

    def put(self, bucket, key, body, *, content_type="application/octet-stream", metadata=None, tags=None) -> str:
        self._enter("put")
        data = body.read() if isinstance(body, io.IOBase) or hasattr(body, "read") else bytes(body)
        o = _Object(data, content_type, metadata or {}, tags or {}, datetime.now(UTC))
        with self._lock:
            self._store(bucket, key, o)
        return o.etag

    def create(self, bucket, key, body, *, content_type, metadata) -> str:
        self._enter("create")
        data = body.read() if hasattr(body, "read") else bytes(body)
        with self._lock:
            if key in self.buckets[bucket]:
                raise AlreadyExists(f"writing {bucket}/{key}: precondition failed")
            o = _Object(data, content_type, dict(metadata), {}, datetime.now(UTC))
            self._store(bucket, key, o)
        return o.etag

    def copy(
        self, src: ObjectInfo, bucket: str, key: str, *, metadata: dict, tags: dict, content_type: str | None = None
    ) -> None:
        self._enter("copy")
        o = self._version(src.bucket, src.key, src.version_id)
        if o.etag != src.etag:
            raise Changed(f"copying {src.bucket}/{src.key}: precondition failed")
        with self._lock:
            self._store(bucket, key, _Object(o.data, content_type or o.content_type, metadata, tags, datetime.now(UTC)))

    def put_json(self, bucket, key, doc, *, if_absent=False, if_match=None, tags=None, metadata=None) -> str:
        self._enter("put_json")
        with self._lock:
            existing = self.buckets[bucket].get(key)
            if if_absent and existing is not None:
                raise AlreadyExists(f"record {bucket}/{key}: precondition failed")
            if if_match and existing is None:  # as MinIO: 404, not 412, when there is nothing to match
                raise NotFound(f"record {bucket}/{key} does not exist")
            if if_match and existing.etag != if_match:
                raise Changed(f"record {bucket}/{key}: precondition failed")
            o = _Object(
                json.dumps(doc, sort_keys=True).encode(),
                "application/json",
                metadata or {},
                tags or {},
                datetime.now(UTC),
            )
            self._store(bucket, key, o)
        return o.etag

    def set_tags(self, bucket: str, key: str, tags: dict[str, str]) -> dict[str, str]:
        self._enter("set_tags")
        o = self._get(bucket, key)
        o.tags.update(tags)
        return dict(o.tags)

    def put_tags(self, bucket: str, key: str, tags: dict[str, str]) -> None:
        self._enter("put_tags")
        self._get(bucket, key).tags = dict(tags)

    def delete(
        self, bucket: str, key: str, etag: str | None = None, modified=None, version_id: str | None = None
    ) -> None:
        self._enter("delete")
        with self._lock:
            o = self.buckets[bucket].get(key)
            if version_id is None:
                if o is None:
                    return
                moved = modified is not None and int(o.modified.timestamp()) != int(modified.timestamp())
                if etag is not None and (o.etag != etag or moved):
                    raise Changed(f"object {bucket}/{key} changed")
                if bucket in self.versioned and etag is None:
                    raise AssertionError(f"a delete of {bucket}/{key} naming no version would leave a delete marker")
                version_id = o.version_id or NULL_VERSION
            older = self.noncurrent[bucket].get(key, [])
            if o is not None and (o.version_id or NULL_VERSION) == version_id:
                del self.buckets[bucket][key]
                if older:  # the previous version is the latest again, as in MinIO
                    self.buckets[bucket][key] = older.pop()
            else:
                older[:] = [v for v in older if (v.version_id or NULL_VERSION) != version_id]
            if not older:
                self.noncurrent[bucket].pop(key, None)

    def count_requests(self, counter) -> None:
        """The fake sends no requests, so there is nothing to count."""

    def counted_apart(self, counter) -> FakeStore:
        """The same fake (it sends no requests to count)."""
        return self

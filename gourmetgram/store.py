"""S3 in the pipeline's terms: `Store` sends every S3 request of the product (bar `minio_config`'s
configuration and admin calls) and translates client errors into ours; the MinIO client is built here."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import IO, TypeVar
from urllib.parse import quote, urlsplit

import urllib3
from minio import Minio
from minio.commonconfig import CopySource, Tags
from minio.error import InvalidResponseError, MinioException, S3Error, ServerError
from minio.helpers import MIN_PART_SIZE
from minio.notificationconfig import NotificationConfig

from gourmetgram import names
from gourmetgram.base_error import GourmetGramError
from gourmetgram.settings import SharedSettings

log = logging.getLogger(__name__)
T = TypeVar("T")


class StoreError(GourmetGramError):
    """Base of the store's errors."""


class NotFound(StoreError):
    """The object (or bucket) does not exist."""


class AlreadyExists(StoreError):
    """A write that must not overwrite found the object already there."""


class Changed(StoreError):
    """The object is not the version (ETag) the caller expected."""


class StoreUnavailable(StoreError):
    """MinIO is unreachable, slow or overloaded: worth retrying later."""


class StorageFull(StoreUnavailable):
    """MinIO refuses writes: its drives reached their minimum free space (XMinioStorageFull, HTTP 507).
    Transient like the rest (it passes once space is freed), and the reason the function is not ready."""


class CorruptDocument(StoreError):
    """A JSON document that is not what it should be; `etag` names the version, so it can be replaced."""

    def __init__(self, message: str, etag: str):
        super().__init__(message)
        self.etag = etag


@dataclass(frozen=True)
class ObjectInfo:
    bucket: str
    key: str
    etag: str
    size: int
    last_modified: datetime
    metadata: dict[str, str] = field(default_factory=dict)
    content_type: str = ""
    # The version MinIO answered (buckets with versioning; None otherwise, and for objects from before it).
    version_id: str | None = None


@dataclass
class Fetched:
    """An object version as one GET answered it: what HEAD would say, and its bytes (None when it is larger
    than the limit asked for: then its body was never read). Not frozen: a consumer may take the bytes out,
    so that they are freed as soon as it is done with them."""

    info: ObjectInfo
    data: bytes | None


@dataclass(frozen=True)
class QueueRule:
    """One queue (notification target) rule of a bucket's subscription."""

    arn: str
    events: tuple[str, ...]
    config_id: str | None
    prefix: str | None
    suffix: str | None


_NOT_FOUND = {"NoSuchKey", "NoSuchBucket", "NoSuchObject", "NotFound", "ResourceNotFound"}
_PRECONDITION = {"PreconditionFailed"}
_TRANSIENT = {
    "SlowDown",
    "ServiceUnavailable",
    "InternalError",
    "RequestTimeout",
    "XMinioServerNotInitialized",
    "XMinioReadQuorum",
    "XMinioWriteQuorum",
}
_STORAGE_FULL = "XMinioStorageFull"
# The requests that add bytes to MinIO: the ones a full storage refuses, and whose success says it has room.
_WRITES = frozenset({"PutObject", "CopyObject"})
_USER_META = "x-amz-meta-"
NULL_VERSION = "null"  # S3's name for an object stored while versioning was off (or in an unversioned bucket)


def _strip(etag: str) -> str:
    return etag.strip('"')


def _translate(exc: Exception, what: str, precondition: type[StoreError] = Changed) -> StoreError:
    if isinstance(exc, S3Error):
        code, status = exc.code or "", exc.response.status
        if code in _NOT_FOUND or status == 404:
            return NotFound(f"{what} does not exist")
        if code in _PRECONDITION or status == 412:
            return precondition(f"{what}: precondition failed ({code or status})")
        if code == _STORAGE_FULL:
            return StorageFull(f"{what}: MinIO answered {code} (its drives are full)")
        if code in _TRANSIENT or status >= 500:
            return StoreUnavailable(f"{what}: MinIO answered {code or status}")
        return StoreError(f"{what}: {code} {exc.message}")
    if isinstance(exc, ServerError):
        return StoreUnavailable(f"{what}: MinIO answered HTTP {exc.status_code}")
    # A page that is not S3's XML comes from a proxy in front of MinIO (nginx's 502 or 504 while a node is down):
    # as transient as MinIO's own 503. The SDK keeps its status private. A 501 or 505 would not pass on retry.
    if isinstance(exc, InvalidResponseError) and getattr(exc, "_code", 0) in (502, 503, 504):
        return StoreUnavailable(f"{what}: the front of MinIO answered HTTP {exc._code}")  # noqa: SLF001
    if isinstance(exc, (urllib3.exceptions.HTTPError, OSError)):
        return StoreUnavailable(f"{what}: MinIO unreachable ({exc.__class__.__name__}: {exc})")
    return StoreError(f"{what}: {exc.__class__.__name__}: {exc}")


# What the store catches from the SDK: its own errors, and urllib3's and the socket's for a dead server.
_CLIENT_ERRORS = (MinioException, urllib3.exceptions.HTTPError, OSError)


def minio_client(
    settings: SharedSettings, user: str | None = None, password: str | None = None, timeout_s: float = 10.0
) -> Minio:
    """The one way the product builds a MinIO client: bounded timeouts (the SDK's default is 300 s with five
    retries), the settings' credentials or `user`/`password`, and a fixed region so that the SDK never asks
    for a bucket's location first (a right, s3:GetBucketLocation, that no component needs)."""
    url = urlsplit(settings.minio_url)
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=min(timeout_s, 3.0), read=timeout_s),
        maxsize=64,
        # One quick retry of a refused connection or a 5xx; longer trouble is the caller's (gourmetgram.retry).
        retries=urllib3.Retry(
            total=1,
            backoff_factor=0.1,
            status_forcelist=(500, 502, 503, 504),
            allowed_methods=None,
            raise_on_status=False,
        ),
    )
    return Minio(
        url.netloc,
        access_key=user or settings.minio_user,
        secret_key=password or settings.minio_password,
        secure=url.scheme == "https",
        region="us-east-1",
        http_client=http,
    )


class Store:
    """S3 operations on MinIO in the pipeline's vocabulary. Thread-safe; build one per process.

    Each call is one request (a delete that must spare a newer version is two when its version id is not
    known) and fails fast; the workers wrap the store in `gourmetgram.retry.RetryingStore`. Built on the minio
    SDK rather than boto3: per request it costs the caller a third to a half of boto3's CPU (measured here:
    0.7 vs 1.8 ms for a HEAD).
    """

    def __init__(self, client: Minio):
        self._client = client
        self._counter: Callable[[str], None] = lambda operation: None
        # MinIO says its storage is full only in answer to a write: the last such answer (its time and message),
        # until a write succeeds again. Read by the function's /readyz.
        self._full: tuple[str, str] | None = None

    def count_requests(self, counter: Callable[[str], None]) -> None:
        """Call `counter(operation)` for every S3 request this store sends (S3 operation names)."""
        self._counter = counter

    def counted_apart(self, counter: Callable[[str], None]) -> Store:
        """Another Store on this one's client (the same identity and connections) whose requests go to `counter`
        instead: the function's model follower reads the registry without adding to the photos' request count."""
        other = Store(self._client)
        other.count_requests(counter)
        return other

    @classmethod
    def connect(cls, settings: SharedSettings, timeout_s: float = 10.0) -> Store:
        return cls(minio_client(settings, timeout_s=timeout_s))

    def _call(self, operation: str, what: str, call: Callable[[], T], precondition: type[StoreError] = Changed) -> T:
        """Send one request: counted, and its client errors translated into ours."""
        self._counter(operation)
        try:
            result = call()
        except _CLIENT_ERRORS as exc:
            error = _translate(exc, what, precondition)
            if isinstance(error, StorageFull):
                self._full = (names.now_iso(), str(error))
            raise error from exc
        if operation in _WRITES:
            self._full = None
        return result

    def storage_full(self) -> str | None:
        """Why MinIO refuses writes, while the last write it answered was refused for a full storage (None once
        a write succeeds again, and before any write: MinIO tells it in no answer to a read)."""
        full = self._full
        return f"MinIO's storage is full since {full[0]}: {full[1]}" if full else None

    # --- reads -------------------------------------------------------------------------------
    def ping(self) -> None:
        """One cheap request: MinIO answers, and accepts our credentials."""
        self._call("ListBuckets", "MinIO", self._client.list_buckets)

    def head(self, bucket: str, key: str, version_id: str | None = None) -> ObjectInfo:
        """The object (its latest version, or `version_id`) without its bytes."""
        o = self._call(
            "HeadObject", f"object {bucket}/{key}", lambda: self._client.stat_object(bucket, key, version_id=version_id)
        )
        return ObjectInfo(
            bucket,
            key,
            _strip(o.etag or ""),
            o.size or 0,
            o.last_modified,
            _user_metadata(o.metadata),
            o.content_type or "",
            o.version_id or None,
        )

    def fetch(
        self, bucket: str, key: str, etag: str | None = None, version_id: str | None = None, limit: int | None = None
    ) -> Fetched:
        """One GET of the latest version (or `version_id`), only if it is version `etag` (If-Match: Changed
        otherwise): its bytes and everything a HEAD says, so no HEAD is needed before or after. An object
        larger than `limit` is not read (`data` is None)."""
        headers = {"If-Match": f'"{etag}"'} if etag else None
        response = self._call(
            "GetObject",
            f"object {bucket}/{key}",
            lambda: self._client.get_object(bucket, key, request_headers=headers, version_id=version_id),
        )
        h = response.headers
        try:
            size = int(h.get("content-length", ""))
        except ValueError:
            size = None  # never from MinIO; then the body is read up to the limit to find out
        if limit is not None and size is not None and size > limit:
            response.close()  # the body stays unread: this connection cannot be reused
            response.release_conn()
            data = None
        else:
            data = _drain(response, f"{bucket}/{key}", limit)
            if limit is not None and len(data) > limit:
                data = None
        info = ObjectInfo(
            bucket,
            key,
            _strip(h.get("etag", "")),
            size if size is not None else len(data or b""),
            parsedate_to_datetime(h["last-modified"]),
            _user_metadata(h),
            h.get("content-type", ""),
            h.get("x-amz-version-id") or None,
        )
        return Fetched(info, data)

    def read(self, bucket: str, key: str, etag: str | None = None, limit: int | None = None) -> bytes:
        """The object's bytes; Changed if it is not version `etag`. With `limit`, at most `limit` + 1 bytes
        are read, so that the caller can tell an object over the limit without reading it whole."""
        headers = {"If-Match": f'"{etag}"'} if etag else None
        response = self._call(
            "GetObject", f"object {bucket}/{key}", lambda: self._client.get_object(bucket, key, request_headers=headers)
        )
        return _drain(response, f"{bucket}/{key}", limit)

    def get_tags(self, bucket: str, key: str) -> dict[str, str]:
        tags = self._call(
            "GetObjectTagging", f"tags of {bucket}/{key}", lambda: self._client.get_object_tags(bucket, key)
        )
        return dict(tags or {})

    def get_json(self, bucket: str, key: str) -> tuple[dict, str]:
        """The JSON document and its ETag."""
        response = self._call("GetObject", f"record {bucket}/{key}", lambda: self._client.get_object(bucket, key))
        etag = _strip(response.headers.get("etag", ""))
        data = _drain(response, f"{bucket}/{key}")
        try:
            return json.loads(data), etag
        except (ValueError, RecursionError):
            raise CorruptDocument(f"{bucket}/{key} is not JSON", etag) from None

    def list(self, bucket: str, prefix: str = "", start_after: str = "", page_size: int = 1000) -> Iterator[ObjectInfo]:
        """Every object under `prefix` after `start_after`, in key order, page by page (never all in memory;
        a caller that stops early may ask for smaller pages). A listing knows keys, ETags, sizes and times:
        no metadata, no Content-Type."""
        self._counter("ListObjectsV2")
        try:
            # list_objects always asks for pages of 1000; its own page loop, with the page size given.
            for o in self._client._list_objects(  # noqa: SLF001
                bucket,
                delimiter=None,
                prefix=prefix or None,
                start_after=start_after or None,
                encoding_type="url",
                max_keys=min(max(page_size, 1), 1000),
            ):
                yield ObjectInfo(bucket, o.object_name, _strip(o.etag or ""), o.size or 0, o.last_modified)
        except _CLIENT_ERRORS as exc:
            raise _translate(exc, f"listing {bucket}/{prefix}") from exc

    def list_versions(self, bucket: str, page_size: int = 1000) -> Iterator[ObjectInfo]:
        """Every object version the bucket holds, noncurrent ones too (delete markers left out), in key order:
        in a versioned `incoming` each one is a photo that reached it and is not worked yet (the worker deletes
        exactly the version it worked), whether a newer upload or a plain delete hid it since."""
        self._counter("ListObjectVersions")
        try:
            for o in self._client._list_objects(  # noqa: SLF001
                bucket, delimiter=None, encoding_type="url", include_version=True, max_keys=min(max(page_size, 1), 1000)
            ):
                if o.is_delete_marker:
                    continue
                version = None if o.version_id in (None, NULL_VERSION) else o.version_id
                yield ObjectInfo(
                    bucket, o.object_name, _strip(o.etag or ""), o.size or 0, o.last_modified, version_id=version
                )
        except _CLIENT_ERRORS as exc:
            raise _translate(exc, f"listing the versions of {bucket}") from exc

    def subscriptions(self, bucket: str) -> tuple[QueueRule, ...]:
        """The queue rules of the bucket's notification configuration (none for a missing bucket)."""
        try:
            config = self._call(
                "GetBucketNotification",
                f"subscriptions of {bucket}",
                lambda: self._client.get_bucket_notification(bucket),
            )
        except NotFound:
            return ()
        return queue_rules(config)

    def versioning(self, bucket: str) -> str:
        """The bucket's versioning: "Enabled", "Suspended" or "Off"."""
        return self._call(
            "GetBucketVersioning", f"versioning of {bucket}", lambda: self._client.get_bucket_versioning(bucket)
        ).status_string

    # --- writes ------------------------------------------------------------------------------
    def put(
        self,
        bucket: str,
        key: str,
        body: bytes | IO[bytes],
        *,
        content_type: str = "application/octet-stream",
        metadata: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> str:
        """Write an object with its metadata and tags in one request, so it never exists without them."""
        stream = io.BytesIO(body) if isinstance(body, bytes) else body
        length = stream_length(stream)
        # One part as large as the object: a single PUT, as the web page's uploads always were.
        r = self._call(
            "PutObject",
            f"writing {bucket}/{key}",
            lambda: self._client.put_object(
                bucket,
                key,
                stream,
                length,
                content_type=content_type,
                metadata=metadata or None,
                tags=_tags(tags) if tags else None,
                part_size=max(MIN_PART_SIZE, length),
            ),
        )
        return _strip(r.etag or "")

    def create(
        self, bucket: str, key: str, body: bytes | IO[bytes], *, content_type: str, metadata: dict[str, str]
    ) -> str:
        """Write an object only if the key holds none (If-None-Match: *; AlreadyExists otherwise), in one PUT:
        a PUT sent twice (a retry after a lost answer) stores one version, not two."""
        data = body if isinstance(body, bytes) else body.read()
        headers = {
            "Content-Type": content_type,
            **{f"{_USER_META}{k}": v for k, v in metadata.items()},
            "If-None-Match": "*",
        }
        # put_object would send If-None-Match as user metadata; the SDK's own PutObject call sends it as given.
        r = self._call(
            "PutObject",
            f"writing {bucket}/{key}",
            lambda: self._client._put_object(bucket, key, data, headers),  # noqa: SLF001
            AlreadyExists,
        )
        return _strip(r.etag or "")

    def copy(
        self,
        src: ObjectInfo,
        bucket: str,
        key: str,
        *,
        metadata: dict[str, str],
        tags: dict[str, str],
        content_type: str | None = None,
    ) -> None:
        """Server-side copy of exactly version `src.etag` (of `src.version_id` when known, even if a newer
        upload replaced it since), with new metadata and tags in the same request (and a new Content-Type
        if given)."""
        headers = {
            **CopySource(src.bucket, src.key, version_id=src.version_id, match_etag=src.etag).gen_copy_headers(),
            "x-amz-metadata-directive": "REPLACE",
            "x-amz-tagging-directive": "REPLACE",
            "x-amz-tagging": _tagging(tags),
            "Content-Type": content_type or src.content_type or "application/octet-stream",
            **{f"{_USER_META}{k}": v for k, v in metadata.items()},
        }
        # The SDK's copy_object first HEADs the source to pick copy or compose: one request more per photo
        # for nothing (ours are far below 5 GiB), so the CopyObject request is sent as is.
        self._call(
            "CopyObject",
            f"copying {src.bucket}/{src.key} to {bucket}/{key}",
            lambda: self._client._execute("PUT", bucket, key, headers=headers),
        )  # noqa: SLF001

    def put_json(
        self,
        bucket: str,
        key: str,
        doc: dict,
        *,
        if_absent: bool = False,
        if_match: str | None = None,
        tags: dict[str, str] | None = None,
        metadata: dict[str, str] | None = None,
    ) -> str:
        """Write a JSON document, with its whole tag set and user metadata in the same request (a rewrite
        without them leaves none); `if_absent` (AlreadyExists) or `if_match` (Changed; NotFound when the key
        is gone, as MinIO answers 404) make it a conditional write."""
        headers = {"Content-Type": "application/json", **{f"{_USER_META}{k}": v for k, v in (metadata or {}).items()}}
        if tags:
            headers["x-amz-tagging"] = _tagging(tags)
        if if_absent:
            headers["If-None-Match"] = "*"
        elif if_match:
            headers["If-Match"] = f'"{if_match}"'
        body = json.dumps(doc, sort_keys=True, indent=1).encode()
        # put_object would send If-None-Match/If-Match as user metadata; the SDK's own PutObject call sends
        # headers as given.
        r = self._call(
            "PutObject",
            f"record {bucket}/{key}",
            lambda: self._client._put_object(bucket, key, body, headers),  # noqa: SLF001
            AlreadyExists if if_absent else Changed,
        )
        return _strip(r.etag or "")

    def set_tags(self, bucket: str, key: str, tags: dict[str, str]) -> dict[str, str]:
        """Merge `tags` into the object's tag set; returns the new set."""
        merged = {**self.get_tags(bucket, key), **tags}
        self.put_tags(bucket, key, merged)
        return merged

    def put_tags(self, bucket: str, key: str, tags: dict[str, str]) -> None:
        """Replace the object's whole tag set (keys missing from `tags` are removed)."""
        self._call(
            "PutObjectTagging",
            f"tagging {bucket}/{key}",
            lambda: self._client.set_object_tags(bucket, key, _tags(tags)),
        )

    def delete(
        self,
        bucket: str,
        key: str,
        etag: str | None = None,
        modified: datetime | None = None,
        version_id: str | None = None,
    ) -> None:
        """Delete one object version, sparing a newer upload under the same key, and leaving no delete marker.

        With `version_id` (the version a GET answered): that version, and only it, in one request. With
        `etag` (and `modified`, its Last-Modified) alone: only if the latest version is still that one, even of
        the same bytes (same ETag) uploaded a second or more later; MinIO ignores If-Match on DeleteObject
        (checked on the pinned release), so it is looked at first, and the version found is the one deleted.
        With neither: whatever the key holds (in a versioned bucket that leaves a delete marker: tests only).
        """
        if version_id is None and etag is not None:
            try:
                current = self.head(bucket, key)
            except NotFound:
                return
            if current.etag != etag or (modified is not None and _second(current.last_modified) != _second(modified)):
                raise Changed(
                    f"object {bucket}/{key} changed (now {current.etag} of {current.last_modified}, "
                    f"expected {etag} of {modified})"
                )
            # No version id: an unversioned bucket, or an object from before versioning ("null" means it then).
            version_id = current.version_id or NULL_VERSION
        self._call(
            "DeleteObject",
            f"deleting {bucket}/{key}",
            lambda: self._client.remove_object(bucket, key, version_id=version_id),
        )


def _second(moment: datetime) -> int:
    return int(moment.timestamp())  # HEAD reports whole seconds, a listing milliseconds


def _user_metadata(headers) -> dict[str, str]:
    """`x-amz-meta-*` headers as metadata names (lower case, without the prefix)."""
    return {k.lower()[len(_USER_META) :]: v for k, v in (headers or {}).items() if k.lower().startswith(_USER_META)}


def queue_rules(config: NotificationConfig) -> tuple[QueueRule, ...]:
    return tuple(
        QueueRule(
            q.queue or "",
            tuple(q.events),
            q.config_id,
            q.prefix_filter_rule.value if q.prefix_filter_rule else None,
            q.suffix_filter_rule.value if q.suffix_filter_rule else None,
        )
        for q in config.queue_config_list
    )


def stream_length(stream: IO[bytes]) -> int:
    """Bytes from the stream's position to its end (the position is kept)."""
    position = stream.tell()
    end = stream.seek(0, io.SEEK_END)
    stream.seek(position)
    return end - position


def _drain(response, what: str, limit: int | None = None) -> bytes:
    """Read a GET's body (at most limit + 1 bytes) and give its connection back when it is clean."""
    try:
        data = response.read(limit + 1 if limit is not None else None)
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        response.close()
        raise StoreUnavailable(f"reading {what}: {exc}") from exc
    if limit is not None and len(data) > limit:
        response.close()  # the rest is unread: this connection cannot be reused
    response.release_conn()
    return data


def _tags(tags: dict[str, str]) -> Tags:
    t = Tags.new_object_tags()
    t.update(tags)
    return t


def _tagging(tags: dict[str, str]) -> str:
    # The x-amz-tagging header is URL-query encoded; '/' in "Noodles/Pasta" must be escaped too.
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in tags.items())

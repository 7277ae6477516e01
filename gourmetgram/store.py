"""The one owner of S3: `Store` speaks the pipeline's terms and translates client errors into ours."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any
from urllib.parse import quote

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from gourmetgram.settings import Settings

log = logging.getLogger(__name__)


class StoreError(Exception):
    """Base of the store's errors."""


class NotFound(StoreError):
    """The object (or bucket) does not exist."""


class AlreadyExists(StoreError):
    """A write that must not overwrite found the object already there."""


class Changed(StoreError):
    """The object is not the version (ETag) the caller expected."""


class StoreUnavailable(StoreError):
    """MinIO is unreachable, slow or overloaded: worth retrying later."""


@dataclass(frozen=True)
class ObjectInfo:
    bucket: str
    key: str
    etag: str
    size: int
    last_modified: datetime
    metadata: dict[str, str] = field(default_factory=dict)
    content_type: str = ""


_NOT_FOUND = {"NoSuchKey", "NoSuchBucket", "404", "NotFound", "NoSuchTagSet"}
_PRECONDITION = {"PreconditionFailed", "412"}
_TRANSIENT = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "XMinioServerNotInitialized",
              "XMinioStorageFull", "503", "500", "XMinioReadQuorum", "XMinioWriteQuorum"}


def _strip(etag: str) -> str:
    return etag.strip('"')


def _translate(exc: Exception, what: str, precondition: type[StoreError] = Changed) -> StoreError:
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        if code in _NOT_FOUND or status == "404":
            return NotFound(f"{what} does not exist")
        if code in _PRECONDITION or status == "412":
            return precondition(f"{what}: precondition failed ({code})")
        if code in _TRANSIENT or status.startswith("5"):
            return StoreUnavailable(f"{what}: MinIO answered {code or status}")
        return StoreError(f"{what}: {code} {exc}")
    if isinstance(exc, (BotoConnectionError, HTTPClientError, OSError)):
        return StoreUnavailable(f"{what}: MinIO unreachable ({exc.__class__.__name__}: {exc})")
    return StoreError(f"{what}: {exc.__class__.__name__}: {exc}")


class Store:
    """S3 operations on MinIO in the pipeline's vocabulary. Thread-safe; build one per process."""

    def __init__(self, client: Any):
        self._client = client

    def count_requests(self, counter: Callable[[str], None]) -> None:
        """Call `counter(operation)` for every S3 request this store sends (retries included)."""
        self._client.meta.events.register("before-send.s3.*", lambda request, event_name, **_: counter(
            event_name.rsplit(".", 1)[-1]))

    @classmethod
    def connect(cls, settings: Settings, timeout_s: float = 10.0) -> Store:
        config = Config(
            region_name="us-east-1",
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            connect_timeout=min(timeout_s, 3.0),
            read_timeout=timeout_s,
            retries={"max_attempts": 2, "mode": "standard"},
            max_pool_connections=64,
            # MinIO needs no trailing checksums; skipping them keeps PUTs simple and streamable.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        client = boto3.session.Session().client(
            "s3", endpoint_url=settings.minio_url, aws_access_key_id=settings.minio_user,
            aws_secret_access_key=settings.minio_password, config=config,
        )
        return cls(client)

    # --- reads -------------------------------------------------------------------------------
    def ping(self) -> None:
        try:
            self._client.list_buckets()
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, "MinIO") from exc

    def head(self, bucket: str, key: str) -> ObjectInfo:
        try:
            r = self._client.head_object(Bucket=bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, f"object {bucket}/{key}") from exc
        return ObjectInfo(bucket, key, _strip(r["ETag"]), r["ContentLength"], r["LastModified"],
                          dict(r.get("Metadata", {})), r.get("ContentType", ""))

    def read(self, bucket: str, key: str, etag: str | None = None, limit: int | None = None) -> bytes:
        """The object's bytes, refusing another version than `etag` and more than `limit` bytes."""
        kwargs = {"IfMatch": f'"{etag}"'} if etag else {}
        try:
            r = self._client.get_object(Bucket=bucket, Key=key, **kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, f"object {bucket}/{key}") from exc
        body = r["Body"]
        try:
            data = body.read(limit + 1 if limit is not None else None)
        except (BotoCoreError, OSError) as exc:
            raise StoreUnavailable(f"reading {bucket}/{key}: {exc}") from exc
        finally:
            body.close()
        return data

    def get_tags(self, bucket: str, key: str) -> dict[str, str]:
        try:
            r = self._client.get_object_tagging(Bucket=bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, f"tags of {bucket}/{key}") from exc
        return {t["Key"]: t["Value"] for t in r.get("TagSet", [])}

    def get_json(self, bucket: str, key: str) -> tuple[dict, str]:
        """The JSON document and its ETag."""
        try:
            r = self._client.get_object(Bucket=bucket, Key=key)
            try:
                raw = r["Body"].read()
            finally:
                r["Body"].close()
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, f"record {bucket}/{key}") from exc
        return json.loads(raw), _strip(r["ETag"])

    def list(self, bucket: str, prefix: str = "", start_after: str = "") -> Iterator[ObjectInfo]:
        """Every object under `prefix`, in key order, page by page (never all in memory)."""
        paginator = self._client.get_paginator("list_objects_v2")
        kwargs = {"Bucket": bucket, "Prefix": prefix}
        if start_after:
            kwargs["StartAfter"] = start_after
        try:
            for page in paginator.paginate(**kwargs):
                for o in page.get("Contents", []):
                    yield ObjectInfo(bucket, o["Key"], _strip(o["ETag"]), o["Size"], o["LastModified"])
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, f"listing {bucket}/{prefix}") from exc

    # --- writes ------------------------------------------------------------------------------
    def put(self, bucket: str, key: str, body: bytes | IO[bytes], *, content_type: str = "application/octet-stream",
            metadata: dict[str, str] | None = None, tags: dict[str, str] | None = None) -> str:
        """Write an object with its metadata and tags in one request, so it never exists without them."""
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key, "Body": body, "ContentType": content_type,
                                  "Metadata": metadata or {}}
        if tags:
            kwargs["Tagging"] = _tagging(tags)
        try:
            r = self._client.put_object(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, f"writing {bucket}/{key}") from exc
        return _strip(r["ETag"])

    def copy(self, src: ObjectInfo, bucket: str, key: str, *, metadata: dict[str, str],
             tags: dict[str, str]) -> None:
        """Server-side copy of exactly version `src.etag`, with new metadata and tags in the same request."""
        try:
            self._client.copy_object(
                Bucket=bucket, Key=key, CopySource={"Bucket": src.bucket, "Key": src.key},
                CopySourceIfMatch=f'"{src.etag}"', MetadataDirective="REPLACE", Metadata=metadata,
                ContentType=src.content_type or "application/octet-stream",
                TaggingDirective="REPLACE", Tagging=_tagging(tags),
            )
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, f"copying {src.bucket}/{src.key} to {bucket}/{key}") from exc

    def put_json(self, bucket: str, key: str, doc: dict, *, if_absent: bool = False,
                 if_match: str | None = None) -> str:
        """Write a JSON document; `if_absent`/`if_match` make it a conditional write (the claim)."""
        kwargs: dict[str, Any] = {}
        if if_absent:
            kwargs["IfNoneMatch"] = "*"
        elif if_match:
            kwargs["IfMatch"] = f'"{if_match}"'
        body = json.dumps(doc, sort_keys=True, indent=1).encode()
        try:
            r = self._client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json",
                                        **kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, f"record {bucket}/{key}",
                             AlreadyExists if if_absent else Changed) from exc
        return _strip(r["ETag"])

    def set_tags(self, bucket: str, key: str, tags: dict[str, str]) -> dict[str, str]:
        """Merge `tags` into the object's tag set; returns the new set."""
        merged = {**self.get_tags(bucket, key), **tags}
        try:
            self._client.put_object_tagging(Bucket=bucket, Key=key, Tagging=_tagging_set(merged))
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, f"tagging {bucket}/{key}") from exc
        return merged

    def delete(self, bucket: str, key: str, etag: str | None = None) -> None:
        """Delete the object; with `etag`, only if it is still that version (a newer upload survives)."""
        if etag is not None:
            try:
                current = self.head(bucket, key)
            except NotFound:
                return
            if current.etag != etag:
                raise Changed(f"object {bucket}/{key} changed (ETag {current.etag}, expected {etag})")
        try:
            self._client.delete_object(Bucket=bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, f"deleting {bucket}/{key}") from exc


def _tagging_set(tags: dict[str, str]) -> dict:
    return {"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]}


def _tagging(tags: dict[str, str]) -> str:
    # The x-amz-tagging header is URL-query encoded; '/' in "Noodles/Pasta" must be escaped too.
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in tags.items())


"""How the store names what the SDK raises: a caller retries only what is transient."""

from __future__ import annotations

import pytest
import urllib3
from minio import Minio
from minio.error import InvalidResponseError, ServerError

from gourmetgram.store import StorageFull, Store, StoreError, StoreUnavailable

NGINX_504 = "<html><head><title>504 Gateway Time-out</title></head></html>"


class Raising:
    """An SDK client whose every PUT raises `exc`."""

    def __init__(self, exc: Exception):
        self.exc = exc

    def put_object(self, *args, **kwargs):
        raise self.exc


@pytest.mark.parametrize(
    "exc",
    [
        InvalidResponseError(504, "text/html", NGINX_504),
        InvalidResponseError(502, "text/html", "<html>502 Bad Gateway</html>"),
        ServerError("server failed", 503),
        ConnectionResetError("reset by peer"),
    ],
)
def test_a_proxys_5xx_page_is_as_transient_as_minios_own(exc):
    with pytest.raises(StoreUnavailable, match="incoming/a.jpg"):
        Store(Raising(exc)).put("incoming", "a.jpg", b"x")


@pytest.mark.parametrize("status", [400, 501, 505])
def test_a_non_xml_answer_no_retry_mends_stays_a_plain_error(status):
    with pytest.raises(StoreError) as caught:
        Store(Raising(InvalidResponseError(status, "text/html", f"<html>{status}</html>"))).put(
            "incoming", "a.jpg", b"x"
        )
    assert not isinstance(caught.value, StoreUnavailable)


# What MinIO answers a write when its drives are past their free-space threshold (cmd/api-errors.go, ErrStorageFull).
STORAGE_FULL_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>XMinioStorageFull</Code><Message>Storage backend has '
    "reached its minimum free drive threshold. Please delete a few objects to proceed.</Message>"
    "<Key>a.json</Key><BucketName>events</BucketName><Resource>/events/a.json</Resource>"
    "<RequestId>18EBA46ED123C5E6</RequestId><HostId>dd9025bab4ad464b049177c95eb6ebf3</HostId></Error>"
)
NO_BUCKETS_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<ListAllMyBucketsResult '
    'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>x</ID></Owner><Buckets></Buckets>'
    "</ListAllMyBucketsResult>"
)


class FullMinio(urllib3.PoolManager):
    """The HTTP side of MinIO with full drives, under the real SDK: reads answered, writes refused with 507 and
    XMinioStorageFull while `full` (and taken once it is not). Nothing leaves the process."""

    def __init__(self):
        super().__init__()
        self.full = True

    def urlopen(self, method, url, body=None, headers=None, preload_content=True, **kwargs):
        if method == "PUT" and self.full:
            status, text, extra = 507, STORAGE_FULL_XML, {}
        elif method == "PUT":
            status, text, extra = 200, "", {"ETag": '"0123456789abcdef0123456789abcdef"'}
        else:
            status, text, extra = 200, NO_BUCKETS_XML, {}
        return urllib3.HTTPResponse(
            body=text.encode(),
            status=status,
            preload_content=True,
            headers={"Content-Type": "application/xml", "x-amz-request-id": "r", **extra},
        )


def full_store(http: FullMinio) -> Store:
    return Store(
        Minio("127.0.0.1:9", access_key="k", secret_key="s", secure=False, region="us-east-1", http_client=http)
    )


def test_minios_storage_full_answer_is_transient_and_named_until_a_write_succeeds():
    http = FullMinio()
    store = full_store(http)
    store.ping()
    assert store.storage_full() is None  # MinIO tells it only in answer to a write
    # WHEN a write meets full drives THEN it is StorageFull (a StoreUnavailable: retried, photos wait in incoming)
    with pytest.raises(StorageFull, match="events/a.json: MinIO answered XMinioStorageFull") as caught:
        store.put_json("events", "a.json", {"id": "a"})
    assert isinstance(caught.value, StoreUnavailable)
    # AND the store says so, until a write succeeds: a read proves nothing about room
    assert "MinIO's storage is full since" in store.storage_full() and "XMinioStorageFull" in store.storage_full()
    store.ping()
    assert store.storage_full() is not None
    http.full = False
    store.put_json("events", "a.json", {"id": "a"})
    assert store.storage_full() is None

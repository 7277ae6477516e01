"""How the store names what the SDK raises: a caller retries only what is transient."""

from __future__ import annotations

import pytest
from minio.error import InvalidResponseError, ServerError

from gourmetgram.store import Store, StoreError, StoreUnavailable

NGINX_504 = "<html><head><title>504 Gateway Time-out</title></head></html>"


class Raising:
    """An SDK client whose every PUT raises `exc`."""

    def __init__(self, exc: Exception):
        self.exc = exc

    def put_object(self, *args, **kwargs):
        raise self.exc


@pytest.mark.parametrize("exc", [InvalidResponseError(504, "text/html", NGINX_504),
                                 InvalidResponseError(502, "text/html", "<html>502 Bad Gateway</html>"),
                                 ServerError("server failed", 503), ConnectionResetError("reset by peer")])
def test_a_proxys_5xx_page_is_as_transient_as_minios_own(exc):
    with pytest.raises(StoreUnavailable, match="incoming/a.jpg"):
        Store(Raising(exc)).put("incoming", "a.jpg", b"x")


@pytest.mark.parametrize("status", [400, 501, 505])
def test_a_non_xml_answer_no_retry_mends_stays_a_plain_error(status):
    with pytest.raises(StoreError) as caught:
        Store(Raising(InvalidResponseError(status, "text/html", f"<html>{status}</html>"))).put(
            "incoming", "a.jpg", b"x")
    assert not isinstance(caught.value, StoreUnavailable)

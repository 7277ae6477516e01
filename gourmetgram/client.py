"""Client-side helpers for the bench and the tests: upload through the frontend, wait for an outcome."""

from __future__ import annotations

import json
import urllib.request
import uuid

from gourmetgram.store import Store
from gourmetgram.waiter import FINAL, OutcomeWaiter


def post_photo(web_url: str, data: bytes, filename: str = "photo.jpg", timeout: float = 30) -> dict:
    """`POST /predict` as a browser form does; returns the 202 body (id, status, poll)."""
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(f"{web_url}/predict", data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (our own frontend)
        return json.load(response)


def wait_outcome(store: Store, bucket: str, pid: str, timeout: float = 120.0, interval: float = 0.05) -> dict:
    """The outcome record of `pid` once it is final (polled every `interval`); TimeoutError otherwise."""
    doc = OutcomeWaiter(store, bucket, first_interval_s=interval, max_interval_s=interval).wait(pid, timeout)
    if doc is None or doc.get("status") not in FINAL:
        raise TimeoutError(f"prediction {pid} not final after {timeout} s (last record: {doc})")
    return doc

"""Client-side helpers for the bench and the tests: drop or upload a photo, wait for its outcome."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from dataclasses import dataclass

from gourmetgram import names
from gourmetgram.store import Store, StoreUnavailable
from gourmetgram.waiter import OutcomeWaiter


@dataclass(frozen=True)
class Dropped:
    """An object PUT into `incoming` by this client, and when: its id depends on its Last-Modified, which
    the PUT does not return (and the object may be gone before a HEAD could ask)."""

    bucket: str
    key: str
    etag: str
    started: float
    ended: float

    @property
    def candidate_ids(self) -> list[str]:
        return names.drop_id_candidates(self.bucket, self.key, self.etag, self.started, self.ended)


def drop(store: Store, bucket: str, key: str, data: bytes) -> Dropped:
    started = time.time()
    etag = store.put(bucket, key, data)
    return Dropped(bucket, key, etag, started, time.time())


def post_photo(web_url: str, data: bytes, filename: str = "photo.jpg", timeout: float = 30) -> dict:
    """`POST /predict` as a browser form does; returns the answer's body (the frontend's 202: id, status,
    poll; the course's design, `gourmetgram_tools.baseline`: prediction, probability)."""
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        f"{web_url}/predict",
        data=body,
        method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (our own frontend)
        return json.load(response)


def wait_outcome(
    store: Store, bucket: str, photo: str | Dropped, timeout: float = 120.0, interval: float = 0.05
) -> dict:
    """The final outcome record of a prediction id or of a dropped object (polled every `interval`, through
    MinIO's transient errors); TimeoutError otherwise."""
    ids = photo.candidate_ids if isinstance(photo, Dropped) else [photo]
    waiter = OutcomeWaiter(store, bucket)
    deadline = time.monotonic() + timeout
    last = None
    while True:
        for pid in ids:
            try:
                record = waiter.read(pid)
            except StoreUnavailable:  # a node lost, a brownout: keep waiting, as a client would
                continue
            if record is not None:
                last = record
                if record.final:
                    return record.to_json()
        if time.monotonic() >= deadline:
            raise TimeoutError(f"prediction of {photo} not final after {timeout} s (last record: {last})")
        time.sleep(interval)

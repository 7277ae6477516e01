"""Tells the function about a web upload at once, beside MinIO's own event.

MinIO's webhook with `queue_dir` is durable but re-lists its queue every 3 s, which a person waiting
for a label feels. The frontend already knows the key and ETag, so it posts the same event shape to
the function right away, in the background. MinIO's event still arrives and is the durable path;
the function sees the second one as a duplicate (in flight, or done and gone).
"""

from __future__ import annotations

import json
import logging
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from urllib.parse import quote_plus

from gourmetgram.settings import Settings

log = logging.getLogger(__name__)


def event_body(bucket: str, key: str, etag: str, size: int) -> bytes:
    record = {
        "eventVersion": "2.0", "eventSource": "gourmetgram:web", "eventName": "s3:ObjectCreated:Put",
        "eventTime": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "s3": {"bucket": {"name": bucket}, "object": {"key": quote_plus(key), "eTag": etag, "size": size}},
    }
    return json.dumps({"EventName": record["eventName"], "Key": f"{bucket}/{key}", "Records": [record]}).encode()


class Nudger:
    def __init__(self, settings: Settings):
        self._url = settings.webhook_endpoint
        self._token = settings.webhook_token
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="nudge")

    def nudge(self, bucket: str, key: str, etag: str, size: int) -> None:
        self._pool.submit(self._send, event_body(bucket, key, etag, size))

    def _send(self, body: bytes) -> None:
        request = urllib.request.Request(self._url, data=body, method="POST", headers={
            "Authorization": f"Bearer {self._token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (our function)
                response.read()
        except OSError as exc:  # the function is down: MinIO's event or the reconciler will do
            log.info("could not nudge the function (%s); MinIO's event will do", exc)

"""Tells the function about a web upload at once, beside MinIO's own event.

MinIO's webhook with `queue_dir` is durable but re-lists its queue every 3 s, which a person waiting
for a label feels. The frontend already knows the key and ETag, so it posts them to the function's
`POST /nudge` right away, in the background, with NUDGE_TOKEN: a credential that can only point the
function at a web upload in `incoming` (never WEBHOOK_TOKEN, which could forge any MinIO event).
MinIO's event still arrives and is the durable path; the function sees it as a duplicate.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from gourmetgram.settings import Settings

log = logging.getLogger(__name__)


def nudge_url(settings: Settings) -> str:
    return settings.function_url.rstrip("/") + "/nudge"


class Nudger:
    def __init__(self, settings: Settings):
        self._url = nudge_url(settings)
        self._token = settings.effective_nudge_token
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="nudge")

    def nudge(self, bucket: str, key: str, etag: str, size: int) -> None:
        """Ask the function to take the upload now. Only the key and ETag travel: the function takes
        uploads from its own `incoming` bucket and reads the rest from the object itself."""
        self._pool.submit(self._send, json.dumps({"key": key, "etag": etag}).encode())

    def _send(self, body: bytes) -> None:
        request = urllib.request.Request(self._url, data=body, method="POST", headers={
            "Authorization": f"Bearer {self._token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (our function)
                response.read()
        except urllib.error.HTTPError as exc:  # refused: a wrong NUDGE_TOKEN shows here, not as slow labels
            log.warning("the function refused the nudge (%s %s); MinIO's event will do", exc.code,
                        exc.read(200).decode(errors="replace"))
        except OSError as exc:  # the function is down: MinIO's event or the reconciler will do
            log.info("could not nudge the function (%s); MinIO's event will do", exc)

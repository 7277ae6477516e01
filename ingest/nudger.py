"""Tells the function about a web upload at once, beside MinIO's own event.

MinIO's webhook with `queue_dir` is durable but re-lists its queue every 3 s, which a person waiting
for a label feels. The frontend already knows the key and ETag, so it posts them to the function's
`POST /nudge` right away, in the background, with NUDGE_TOKEN: a credential that can only point the
function at a web upload in `incoming` (never WEBHOOK_TOKEN, which could forge any MinIO event).
MinIO's event still arrives and is the durable path; the function sees it as a duplicate.

The nudge waits (`?wait=HOLD_S`) until the function is done with the photo; its answer wakes this process's
long-poll on that photo (ingest.arrivals), which then reads the record at once.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from gourmetgram.held_nudge import HELD, HOLD_S, WAKING
from gourmetgram.settings import FrontendSettings
from ingest.arrivals import Arrivals

log = logging.getLogger(__name__)


# Past HELD waiting nudges, nudges go out without waiting, as they always did: a burst of uploads never waits
# for a waiting nudge to end before it is nudged.
UNHELD_SENDERS = 4
# Nudges waiting for a sender beyond the senders themselves. Past them a nudge is dropped (MinIO's event still
# brings the photo): a function that takes connections and never answers would otherwise grow the queue with
# every upload, and each nudge sent seconds late would bring a late upload time.
WAITING = 64


def nudge_url(settings: FrontendSettings, hold_s: float) -> str:
    return settings.function_url.rstrip("/") + f"/nudge?wait={hold_s:g}"


class Nudger:
    def __init__(self, settings: FrontendSettings, arrivals: Arrivals | None = None):
        self._held_url, self._unheld_url = nudge_url(settings, HOLD_S), nudge_url(settings, 0)
        self._token = settings.effective_nudge_token
        if settings.nudge_token is None:
            # The frontend never holds WEBHOOK_TOKEN, so it cannot derive the function's nudge token from it.
            log.warning(
                "NUDGE_TOKEN is unset: nudges carry the public default token, which the function takes only while "
                "its WEBHOOK_TOKEN is the public default too; set NUDGE_TOKEN for both (up and compose do)"
            )
        self._arrivals = arrivals or Arrivals()
        self._holds = threading.BoundedSemaphore(HELD)
        self._pool = ThreadPoolExecutor(max_workers=HELD + UNHELD_SENDERS, thread_name_prefix="nudge")
        self._pending = threading.BoundedSemaphore(HELD + UNHELD_SENDERS + WAITING)  # sending or waiting to
        self.dropped = 0
        self._dropped_lock = threading.Lock()  # nudges come from many request threads at once

    def nudge(self, pid: str, key: str, etag: str) -> None:
        """Ask the function to take the upload `pid` now, and say when it is done. Only the key and ETag travel:
        the function takes uploads from its own `incoming` bucket and reads the rest from the object itself."""
        if not self._pending.acquire(blocking=False):
            with self._dropped_lock:
                self.dropped += 1
            log.warning(
                "the function is not answering nudges (%d waiting); incoming/%s is left to MinIO's event",
                HELD + UNHELD_SENDERS + WAITING,
                key,
            )
            return
        self._pool.submit(self._send, pid, json.dumps({"key": key, "etag": etag}).encode())

    def _send(self, pid: str, body: bytes) -> None:
        held = self._holds.acquire(blocking=False)
        try:
            self._post(pid, body, self._held_url if held else self._unheld_url)
        except Exception:  # anything else must show: the executor would drop it without a word
            log.exception("nudging the function failed; MinIO's event will do")
        finally:
            if held:
                self._holds.release()
            self._pending.release()

    def _post(self, pid: str, body: bytes, url: str) -> None:
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=HOLD_S + 5) as response:  # noqa: S310 (our function)
                answer = json.loads(response.read(4096) or b"{}")
            if isinstance(answer, dict) and (answer.get("finished") in WAKING or answer.get("result") in WAKING):
                self._arrivals.announce(pid)
        except ValueError as exc:  # not JSON: only the early wake-up is lost
            log.warning("the function's answer to a nudge is not JSON (%s)", exc)
        except urllib.error.HTTPError as exc:  # refused: a wrong NUDGE_TOKEN shows here, not as slow labels
            log.warning(
                "the function refused the nudge (%s %s); MinIO's event will do",
                exc.code,
                exc.read(200).decode(errors="replace"),
            )
        except (OSError, http.client.HTTPException) as exc:  # down, or not the function: MinIO's event will do
            log.info("could not nudge the function (%s); MinIO's event will do", exc)

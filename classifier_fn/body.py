"""Request bodies for every endpoint: read with a cap while they stream in (and, where an endpoint asks, within
a deadline and a budget of bytes shared by every reader), and JSON that must be an object; for the
token-guarded endpoints (webhook, nudge), the token first."""

from __future__ import annotations

import contextlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse

from classifier_fn.function_error import FunctionError


class Refusal(FunctionError):
    """A request an endpoint turns away before any work: its answer, and the result its metric counts."""

    def __init__(self, status: int, error: str, result: str):
        super().__init__(error)
        self.status, self.error, self.result = status, error, result

    def response(self) -> JSONResponse:
        return JSONResponse({"error": self.error}, status_code=self.status)


def authorized(request: Request, token: str) -> bool:
    """The request carries exactly `Bearer <token>` (compared in constant time)."""
    given = request.headers.get("authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


async def guarded_body(request: Request, token: str, limit: int) -> bytearray:
    """The body of a request that carries `token`, read with the cap `limit`; Refusal otherwise."""
    if not authorized(request, token):
        raise Refusal(401, "missing or wrong bearer token", "unauthorized")
    try:
        return await read_capped(request, limit)
    except BodyTooLarge as exc:
        raise Refusal(413, str(exc), "too_large") from None


class BodyTooLarge(FunctionError):
    """The body is (or says it is) longer than the endpoint accepts; it was not read whole."""

    def __init__(self, limit: int):
        super().__init__(f"the body is over the limit of {limit:,} bytes")
        self.limit = limit


class BodyTimeout(FunctionError):
    """The body did not arrive within its deadline; what had come of it was dropped."""

    def __init__(self, received: int, allowed_s: float):
        super().__init__(f"the body did not arrive within {allowed_s:.1f} s ({received:,} bytes came)")
        self.received, self.allowed_s = received, allowed_s


class OverBudget(FunctionError):
    """Taking this chunk would pass the budget of bytes held by every reader together."""

    def __init__(self, budget: int):
        super().__init__(f"request bodies being held already fill the budget of {budget:,} bytes")
        self.budget = budget


@dataclass(frozen=True)
class BodyPace:
    """How long a body may take to arrive: `grace_s`, plus its length at `min_bytes_per_s`."""

    grace_s: float
    min_bytes_per_s: int

    def allowed_s(self, request: Request, limit: int) -> float:
        """The deadline of this request's body: by its Content-Length, or by `limit` when it declares none."""
        declared = request.headers.get("content-length", "")
        size = min(int(declared), limit) if declared.isdigit() else limit
        return self.grace_s + size / self.min_bytes_per_s


class ByteBudget:
    """Bytes of request bodies held at once by every reader together, counted as they arrive (never as they
    are declared): a slow sender holds what it has sent, not what it promises. Past the budget a reader is
    refused at once, never queued; a body larger than the whole budget may still arrive while it is the only
    one held. Used on the event loop alone, so it needs no lock."""

    def __init__(self, total: int):
        self.total = total
        self._held = 0

    @contextlib.contextmanager
    def holding(self) -> Iterator[Holding]:
        """One reader's share, given back whole when the block ends."""
        share = Holding(self)
        try:
            yield share
        finally:
            share.give_back()

    def held(self) -> int:
        return self._held


class Holding:
    """The bytes one reader holds of a ByteBudget."""

    def __init__(self, budget: ByteBudget):
        self._budget, self.bytes = budget, 0

    def add(self, size: int) -> None:
        """Count `size` more bytes, or OverBudget (and nothing counted) when they do not fit."""
        b = self._budget
        if b._held + size > b.total and b._held > self.bytes:
            raise OverBudget(b.total)
        b._held += size
        self.bytes += size

    def give_back(self) -> None:
        self._budget._held -= self.bytes
        self.bytes = 0


class NotAnObject(FunctionError, ValueError):
    """The body is not one JSON object; the message says what it is instead."""


def refuse_declared(request: Request, limit: int) -> None:
    """Refuse a body by its Content-Length alone, before a byte of it is read."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)


async def read_capped(
    request: Request, limit: int, within_s: float | None = None, holding: Holding | None = None
) -> bytearray:
    """The whole body, or BodyTooLarge as soon as it passes `limit` bytes (chunked bodies declare nothing).
    With `within_s`: BodyTimeout if it has not all come by then. With `holding`: each chunk is counted
    against that budget as it arrives; one that does not fit gives back what was held, the rest of the
    body is read and dropped (within the same cap and deadline), then OverBudget."""
    refuse_declared(request, limit)
    body = bytearray()  # grown in place: no list of chunks and no joined copy beside it
    received = 0
    refused: OverBudget | None = None
    try:
        with anyio.fail_after(within_s):
            async for chunk in request.stream():
                received += len(chunk)
                if received > limit:
                    raise refused or BodyTooLarge(limit)
                if refused is None and holding is not None:
                    try:
                        holding.add(len(chunk))
                    except OverBudget as exc:
                        # Refused now, nothing kept. Reading on lets the client, which reads no answer before
                        # it has sent its body, see the refusal rather than a reset connection.
                        refused, body = exc, bytearray()
                        holding.give_back()
                if refused is None:
                    body += chunk
    except TimeoutError:
        raise refused or BodyTimeout(received, within_s or 0.0) from None
    if refused is not None:
        raise refused
    return body


def json_object(body: bytes | bytearray) -> dict[str, Any]:
    """The body as a JSON object, or NotAnObject naming what is wrong: never a RecursionError or a list."""
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NotAnObject(f"the body is not JSON: {exc}") from None
    except RecursionError:  # json recurses once per level: [[[[...]]]] 100,000 deep exhausts the stack
        raise NotAnObject("the body is JSON nested too deeply") from None
    if not isinstance(doc, dict):
        raise NotAnObject(f"the body must be a JSON object, not {_kind(doc)}")
    return doc


def _kind(value: Any) -> str:
    kinds = {list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)

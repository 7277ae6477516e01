"""Request bodies for every endpoint: read with a cap while they stream in, and JSON that must be an object;
for the token-guarded doors (webhook, nudge), the token first."""

from __future__ import annotations

import hmac
import json
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse


class Refusal(Exception):
    """A request a door turns away before any work: its answer, and the result its metric counts."""

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


class BodyTooLarge(Exception):
    """The body is (or says it is) longer than the endpoint accepts; it was not read whole."""

    def __init__(self, limit: int):
        super().__init__(f"the body is over the limit of {limit:,} bytes")
        self.limit = limit


class NotAnObject(ValueError):
    """The body is not one JSON object; the message says what it is instead."""


def refuse_declared(request: Request, limit: int) -> None:
    """Refuse a body by its Content-Length alone, before a byte of it is read."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)


async def read_capped(request: Request, limit: int) -> bytearray:
    """The whole body, or BodyTooLarge as soon as it passes `limit` bytes (chunked bodies declare nothing)."""
    refuse_declared(request, limit)
    body = bytearray()  # grown in place: no list of chunks and no joined copy beside it
    async for chunk in request.stream():
        if len(body) + len(chunk) > limit:
            raise BodyTooLarge(limit)
        body += chunk
    return body


async def discard(request: Request, limit: int) -> None:
    """Read and drop up to `limit` bytes of the body before refusing it: a server that closes with the
    client's bytes unread resets the connection, and the client never sees its answer (e.g. a 503)."""
    seen = 0
    try:
        async for chunk in request.stream():
            seen += len(chunk)
            if seen > limit:
                return
    except ClientDisconnect:
        return


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

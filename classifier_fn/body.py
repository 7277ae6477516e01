"""Request bodies for every endpoint: read with a cap while they stream in, and JSON that must be an object."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import ClientDisconnect, Request


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

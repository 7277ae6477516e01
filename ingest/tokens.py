"""The feedback token: a secret for the uploader alone. We keep only its SHA-256, and never show even that."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from gourmetgram import names


def issue() -> tuple[str, str]:
    """A new token (for the uploader) and its hash (for the record)."""
    token = secrets.token_urlsafe(32)
    return token, digest(token)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def matches(token: str, stored: str | None) -> bool:
    """Whether `token` is the one whose hash `stored` is, compared in constant time."""
    if not stored:
        return False  # a record without a hash (a dropped photo, an upload from before tokens) takes no token
    return hmac.compare_digest(digest(token).encode(), str(stored).encode())


def bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    scheme, _, value = (header or "").strip().partition(" ")
    return (value.strip() or None) if scheme.lower() == "bearer" else None


def public(doc: dict) -> dict:
    """An outcome record as the frontend may show it: without the token's hash."""
    return {k: v for k, v in doc.items() if k != names.FEEDBACK_TOKEN_FIELD}

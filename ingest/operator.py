"""Who may open the operator pages (/review, /quality): whoever presents REVIEW_TOKEN.

Browsers send it as the password of HTTP basic auth (user `operator`, review_user): they ask once and then send it
with every request of the page, its photos and its fetches. Scripts and Prometheus send it as
`Authorization: Bearer <token>`. Both are compared in constant time. Unset, the pages are off (503).
Wrong credentials are limited per client address (`ingest.login_limit`): past a few, 429 with Retry-After.
A request without credentials (a browser's first, before it asks) is not a wrong one.
Cross-site writes are refused for every page (`ingest.security`), which matters here: a browser also
sends basic-auth credentials with another site's form.
"""

from __future__ import annotations

import base64
import hmac

from flask import Blueprint, Response, jsonify, request

from gourmetgram.settings import FrontendSettings
from ingest import context

REALM = "GourmetGram operator"


def authorized(settings: FrontendSettings, header: str | None) -> bool:
    """Whether an Authorization header carries the review token (bearer, or basic with review_user)."""
    token = settings.review_token
    scheme, _, value = (header or "").strip().partition(" ")
    if not token or not value:
        return False
    if scheme.lower() == "bearer":
        return _same(value.strip(), token)
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except ValueError:  # not base64 (binascii.Error), not ASCII (a header of bytes >= 0x80), not UTF-8
            return False
        return _same(user, settings.review_user) & _same(password, token)
    return False


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _refuse() -> Response | None:
    s = context.settings()
    if not s.review_token:
        response = jsonify(
            {
                "error": "the operator pages are off: set REVIEW_TOKEN (16 characters or more) for "
                "the frontend; `gourmetgram up` prints the one it uses"
            }
        )
        response.status_code = 503
        return response
    header = request.headers.get("Authorization")
    logins = context.failed_logins()
    if header is not None:
        wait_s = logins.retry_after(request.remote_addr)
        if wait_s is not None:
            response = jsonify({"error": f"too many wrong logins from this address: try again in {wait_s} s"})
            response.status_code = 429
            response.headers["Retry-After"] = str(wait_s)
            return response
    if authorized(s, header):
        logins.succeeded(request.remote_addr)
        return None
    if header is not None:
        logins.failed(request.remote_addr)
    response = jsonify(
        {
            "error": f"the operator pages need REVIEW_TOKEN: as the password of user "
            f"{s.review_user!r} (HTTP basic auth) or as 'Authorization: Bearer <token>'"
        }
    )
    response.status_code = 401
    response.headers["WWW-Authenticate"] = f'Basic realm="{REALM}", charset="UTF-8"'
    return response


def _private(response: Response) -> Response:
    # What an operator page shows (photos, labels) is nobody else's: never kept by a shared cache. A route
    # may allow the operator's own browser to keep it (`private`): a thumbnail does.
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def protect(bp: Blueprint) -> Blueprint:
    """Guard every route of `bp` with the review token."""
    bp.before_request(_refuse)
    bp.after_request(_private)
    return bp

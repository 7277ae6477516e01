"""Browser-facing protections: security headers on every response, and no writes from other sites.

A page on another site can make a visitor's browser POST a form to us (an upload, a relabel). Browsers
say where a request comes from: `Sec-Fetch-Site` (every current browser) and `Origin` (on every POST).
A request that carries neither is not from a browser page (curl, scripts, the tests) and has no visitor
to abuse, so it passes. Behind a reverse proxy, the proxy must pass the `Host` header through unchanged.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response, jsonify, request

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' blob: data:",  # the page previews the chosen photo through an object URL
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
OWN_SITE = frozenset({"same-origin", "none"})  # "none": typed in the address bar, a bookmark


def cross_origin_refusal(method: str, sec_fetch_site: str | None, origin: str | None, host: str) -> str | None:
    """Why a request that changes something must be refused as sent by another site's page, or None."""
    if method in SAFE_METHODS:
        return None
    if sec_fetch_site is not None and sec_fetch_site.lower() not in OWN_SITE:
        return f"refused: the request comes from another site's page (Sec-Fetch-Site: {sec_fetch_site})"
    if origin is not None and urlsplit(origin).netloc.lower() != host.lower():
        return f"refused: the request comes from another site's page (Origin: {origin}, this site: {host})"
    return None


def _refuse_cross_origin():
    reason = cross_origin_refusal(request.method, request.headers.get("Sec-Fetch-Site"),
                                  request.headers.get("Origin"), request.host)
    if reason:
        return jsonify({"error": reason}), 403
    return None


def _add_headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def init_app(app: Flask) -> None:
    app.before_request(_refuse_cross_origin)
    app.after_request(_add_headers)

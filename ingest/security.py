"""Browser-facing protections: security headers on every response, only our own host names, and no writes
from other sites.

A page on another site can make a visitor's browser POST a form to us (an upload, a relabel). Browsers
say where a request comes from: `Sec-Fetch-Site` (every current browser) and `Origin` (on every POST).
A request that carries neither is not from a browser page (curl, scripts, the tests) and has no visitor
to abuse, so it passes. Behind a reverse proxy, the proxy must pass the `Host` header through unchanged.

That check trusts the Host header, and so would a DNS-rebinding page: served from its own name, which it
then points at this server's address, it is same-origin with us in the browser's eyes (Origin and Host
both name it), so it could upload and read the event log. The browser always sends the name in the
address bar as Host, so the frontend answers only to its own names (WEB_ALLOWED_HOSTS, the loopback ones
always) and refuses every other Host with 400, on every request.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import Flask, Response, jsonify, request

from gourmetgram.settings import ANY_HOST

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' blob: data:",  # the page previews the chosen photo through an object URL
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# A Host header: a name or IPv4 address (a trailing dot is the same name), or [IPv6]; then maybe :port.
_HOST = re.compile(r"(?P<name>\[[0-9a-f:.]+\]|[a-z0-9_.-]+?)\.?(?::(?P<port>[0-9]{1,5}))?")
OWN_SITE = frozenset({"same-origin", "none"})  # "none": typed in the address bar, a bookmark


def host_refusal(host: str | None, allowed: frozenset[str]) -> str | None:
    """Why a request whose Host header is `host` must be refused, or None. `allowed` holds names (any
    port), `name:port` and `*`; a request without Host (HTTP/1.0) is no browser's, and passes."""
    if host is None or ANY_HOST in allowed:
        return None
    m = _HOST.fullmatch(host.strip().lower())
    if m and (m["name"] in allowed or f"{m['name']}:{m['port']}" in allowed):
        return None
    return (
        f"refused: this site does not answer to the host name {host!r} (a page of another site can point "
        "its own name at this server: DNS rebinding). If that is how you reach it, add it to "
        "WEB_ALLOWED_HOSTS"
    )


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
    reason = cross_origin_refusal(
        request.method, request.headers.get("Sec-Fetch-Site"), request.headers.get("Origin"), request.host
    )
    if reason:
        return jsonify({"error": reason}), 403
    return None


def _add_headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def init_app(app: Flask, allowed_hosts: frozenset[str]) -> None:
    def refuse_other_hosts():
        reason = host_refusal(request.headers.get("Host"), allowed_hosts)
        if reason:
            return jsonify({"error": reason}), 400
        return None

    app.before_request(refuse_other_hosts)  # first: a rebinding page's Origin matches its Host
    app.before_request(_refuse_cross_origin)
    app.after_request(_add_headers)

import io

import pytest

from gourmetgram import names
from gourmetgram.outcome import Outcome, Status
from ingest import create_app
from ingest.security import cross_origin_refusal
from tests.conftest import photo

PID = "6f1c1f5e-2a55-4c4c-9b44-3c5d2f0a9e01"


@pytest.fixture
def client(settings, fake_store):
    return create_app(settings.replace(function_url="http://127.0.0.1:9"), store=fake_store).test_client()


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/events",
        "/static/app.js",
        "/static/events.js",
        "/healthz",
        "/api/events",
        f"/predictions/{PID}",
        "/no-such-page",
    ],
)
def test_every_response_carries_the_security_headers(client, path):
    with client.get(path) as response:  # static files are streamed: close what was opened
        headers = response.headers
    csp = {d.split()[0]: d.split()[1:] for d in headers["Content-Security-Policy"].split("; ")}
    assert csp["script-src"] == ["'self'"] and csp["default-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"] and csp["base-uri"] == ["'none'"]
    assert csp["object-src"] == ["'none'"] and csp["form-action"] == ["'self'"]
    assert csp["img-src"] == ["'self'", "blob:", "data:"]  # the page previews the chosen photo
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["X-Frame-Options"] == "DENY"


def upload(client, **headers):
    return client.post("/predict", data={"file": (io.BytesIO(photo()), "soup.jpg")}, headers=headers)


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Sec-Fetch-Site": "cross-site"}, id="cross-site"),
        pytest.param({"Sec-Fetch-Site": "same-site"}, id="same-site"),
        pytest.param({"Sec-Fetch-Site": "cross-site", "Origin": "http://localhost"}, id="cross-site-own-origin"),
        pytest.param({"Origin": "https://evil.example"}, id="foreign-origin"),
        pytest.param({"Origin": "http://localhost.evil.example"}, id="lookalike-origin"),
        pytest.param({"Origin": "null"}, id="opaque-origin"),
        pytest.param({"Sec-Fetch-Site": "same-origin", "Origin": "https://evil.example"}, id="origin-disagrees"),
    ],
)
def test_a_cross_origin_upload_is_refused_and_stores_nothing(client, fake_store, headers):
    r = upload(client, **headers)
    assert r.status_code == 403
    assert r.get_json()["error"].startswith("refused: the request comes from another site's page")
    assert fake_store.keys("incoming") == []


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-browser-headers"),
        pytest.param({"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"}, id="own-page"),
        pytest.param({"Sec-Fetch-Site": "none"}, id="user-initiated"),
        pytest.param({"Origin": "http://LOCALHOST"}, id="origin-without-fetch-metadata"),
    ],
)
def test_uploads_from_the_own_page_and_from_tools_are_accepted(client, fake_store, headers):
    r = upload(client, **headers)
    assert r.status_code == 202 and len(fake_store.keys("incoming")) == 1


def test_a_cross_origin_relabel_is_refused(client, fake_store):
    fake_store.put("production", f"class_09/{PID}.jpg", photo(), tags={"predicted_class": "Soup"})
    fake_store.put_json(
        "events",
        names.record_key(PID),
        Outcome(
            id=PID,
            status=Status.DONE,
            incoming_key=f"{PID}.jpg",
            incoming_etag="e",
            predicted_class="Soup",
            class_index=9,
            confidence=0.9,
            production_key=f"class_09/{PID}.jpg",
        ).to_json(),
    )
    r = client.post(
        f"/predictions/{PID}/feedback",
        json={"corrected_class": "Egg"},
        headers={"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
    )
    assert r.status_code == 403 and "another site" in r.get_json()["error"]
    assert fake_store.get_tags("production", f"class_09/{PID}.jpg") == {"predicted_class": "Soup"}


def test_reading_is_allowed_from_anywhere(client):
    # links from other sites to the page must keep working; only changes are refused
    r = client.get("/", headers={"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"})
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("method", "site", "origin", "host", "refused"),
    [
        ("POST", None, None, "gg.example", False),
        ("POST", "same-origin", "https://gg.example", "gg.example", False),
        ("POST", "same-origin", "http://gg.example:5000", "gg.example:5000", False),
        ("POST", "same-origin", "http://gg.example:5001", "gg.example:5000", True),
        ("PUT", "cross-site", None, "gg.example", True),
        ("DELETE", None, "https://evil.example", "gg.example", True),
        ("POST", "unheard-of", None, "gg.example", True),
        ("GET", "cross-site", "https://evil.example", "gg.example", False),
        ("HEAD", "cross-site", None, "gg.example", False),
    ],
)
def test_cross_origin_refusal(method, site, origin, host, refused):
    assert (cross_origin_refusal(method, site, origin, host) is not None) is refused


@pytest.mark.parametrize(
    "host",
    [
        pytest.param("rebind.evil.example", id="rebinding-name"),
        pytest.param("rebind.evil.example:5000", id="rebinding-name-and-port"),
        pytest.param("localhost.evil.example", id="lookalike"),
        pytest.param("127.0.0.1.nip.io:5000", id="wildcard-dns-to-loopback"),
        pytest.param("192.168.1.20:5000", id="another-address"),
    ],
)
def test_a_page_reaching_us_under_another_name_is_refused_on_every_request(client, fake_store, host):
    # GIVEN a page of another site whose name now resolves to us (DNS rebinding): for the browser it is
    # same-origin, so Origin and Host both name it and the cross-site check alone would let it through
    upload_r = upload(client, Host=host, Origin=f"http://{host}", **{"Sec-Fetch-Site": "same-origin"})
    events_r = client.get("/api/events", headers={"Host": host})
    page_r = client.get("/", headers={"Host": host})
    # THEN it can neither upload nor read the event log, nor load the page
    for r in (upload_r, events_r, page_r):
        assert r.status_code == 400
        assert f"host name {host!r}" in r.get_json()["error"] and "WEB_ALLOWED_HOSTS" in r.get_json()["error"]
        assert r.headers["X-Frame-Options"] == "DENY"  # still with the security headers
    assert fake_store.keys("incoming") == [] and fake_store.calls == []


@pytest.mark.parametrize("host", ["localhost", "localhost:5000", "127.0.0.1:5000", "[::1]:5000", "LOCALHOST."])
def test_the_loopback_names_are_accepted_by_default(client, fake_store, host):
    # `gourmetgram up` prints http://127.0.0.1:<port>; people type localhost too
    r = upload(client, Host=host, Origin=f"http://{host}", **{"Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 202 and len(fake_store.keys("incoming")) == 1


def test_a_request_without_host_is_no_browsers_and_passes(client):
    # HTTP/1.0: no Host header, so no page of any site can be behind it (Werkzeug then uses the server name)
    assert client.get("/healthz", environ_overrides={"HTTP_HOST": None}).status_code == 200


@pytest.mark.parametrize(
    ("allowed", "host", "accepted"),
    [
        pytest.param(None, "gg.example:5000", False, id="default-loopback-only"),
        pytest.param("gg.example", "gg.example:5000", True, id="name-any-port"),
        pytest.param("gg.example", "GG.example", True, id="case-insensitive"),
        pytest.param("gg.example:8443", "gg.example:8443", True, id="name-and-port"),
        pytest.param("gg.example:8443", "gg.example:5000", False, id="other-port"),
        pytest.param("gg.example, 203.0.113.7", "203.0.113.7:5000", True, id="list"),
        pytest.param("gg.example", "localhost:5000", True, id="loopback-always"),
        pytest.param("*", "anything.example", True, id="any"),
    ],
)
def test_web_allowed_hosts(settings, fake_store, allowed, host, accepted):
    app = create_app(settings.replace(function_url="http://127.0.0.1:9", web_allowed_hosts=allowed), store=fake_store)
    r = app.test_client().get("/healthz", headers={"Host": host})
    assert (r.status_code == 200) is accepted, r.get_json()


def test_the_bind_address_is_accepted_by_default(settings, fake_store):
    app = create_app(settings.replace(function_url="http://127.0.0.1:9", host="192.168.1.20"), store=fake_store)
    assert app.test_client().get("/healthz", headers={"Host": "192.168.1.20:5000"}).status_code == 200

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


@pytest.mark.parametrize("path", ["/", "/events", "/static/app.js", "/static/events.js", "/healthz",
                                  "/api/events", f"/predictions/{PID}", "/no-such-page"])
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


@pytest.mark.parametrize("headers", [
    pytest.param({"Sec-Fetch-Site": "cross-site"}, id="cross-site"),
    pytest.param({"Sec-Fetch-Site": "same-site"}, id="same-site"),
    pytest.param({"Sec-Fetch-Site": "cross-site", "Origin": "http://localhost"}, id="cross-site-own-origin"),
    pytest.param({"Origin": "https://evil.example"}, id="foreign-origin"),
    pytest.param({"Origin": "http://localhost.evil.example"}, id="lookalike-origin"),
    pytest.param({"Origin": "null"}, id="opaque-origin"),
    pytest.param({"Sec-Fetch-Site": "same-origin", "Origin": "https://evil.example"}, id="origin-disagrees"),
])
def test_a_cross_origin_upload_is_refused_and_stores_nothing(client, fake_store, headers):
    r = upload(client, **headers)
    assert r.status_code == 403
    assert r.get_json()["error"].startswith("refused: the request comes from another site's page")
    assert fake_store.keys("incoming") == []


@pytest.mark.parametrize("headers", [
    pytest.param({}, id="no-browser-headers"),
    pytest.param({"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"}, id="own-page"),
    pytest.param({"Sec-Fetch-Site": "none"}, id="user-initiated"),
    pytest.param({"Origin": "http://LOCALHOST"}, id="origin-without-fetch-metadata"),
])
def test_uploads_from_the_own_page_and_from_tools_are_accepted(client, fake_store, headers):
    r = upload(client, **headers)
    assert r.status_code == 202 and len(fake_store.keys("incoming")) == 1


def test_a_cross_origin_relabel_is_refused(client, fake_store):
    fake_store.put("production", f"class_09/{PID}.jpg", photo(), tags={"predicted_class": "Soup"})
    fake_store.put_json("events", names.record_key(PID), Outcome(
        id=PID, status=Status.DONE, incoming_key=f"{PID}.jpg", incoming_etag="e", predicted_class="Soup",
        class_index=9, confidence=0.9, production_key=f"class_09/{PID}.jpg").to_json())
    r = client.post(f"/predictions/{PID}/feedback", json={"corrected_class": "Egg"},
                    headers={"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"})
    assert r.status_code == 403 and "another site" in r.get_json()["error"]
    assert fake_store.get_tags("production", f"class_09/{PID}.jpg") == {"predicted_class": "Soup"}


def test_reading_is_allowed_from_anywhere(client):
    # links from other sites to the page must keep working; only changes are refused
    r = client.get("/", headers={"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"})
    assert r.status_code == 200


@pytest.mark.parametrize(("method", "site", "origin", "host", "refused"), [
    ("POST", None, None, "gg.example", False),
    ("POST", "same-origin", "https://gg.example", "gg.example", False),
    ("POST", "same-origin", "http://gg.example:5000", "gg.example:5000", False),
    ("POST", "same-origin", "http://gg.example:5001", "gg.example:5000", True),
    ("PUT", "cross-site", None, "gg.example", True),
    ("DELETE", None, "https://evil.example", "gg.example", True),
    ("POST", "unheard-of", None, "gg.example", True),
    ("GET", "cross-site", "https://evil.example", "gg.example", False),
    ("HEAD", "cross-site", None, "gg.example", False),
])
def test_cross_origin_refusal(method, site, origin, host, refused):
    assert (cross_origin_refusal(method, site, origin, host) is not None) is refused

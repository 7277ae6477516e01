"""Wrong operator logins are limited per client address (429 with Retry-After); a malformed header is a 401."""

import base64

import pytest

from ingest import create_app
from ingest.login_limit import FailedLogins

TOKEN = "review-token-0123456789"
WRONG = {"Authorization": "Bearer wrong-token-0123456789"}
RIGHT = {"Authorization": f"Bearer {TOKEN}"}


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_address_gets_its_burst_then_waits_for_the_refill():
    clock = Clock()
    logins = FailedLogins(burst=3, refill_s=10, clock=clock)
    for _ in range(3):
        assert logins.retry_after("10.0.0.1") is None
        logins.failed("10.0.0.1")
    assert logins.retry_after("10.0.0.1") == 10
    clock.now += 4
    assert logins.retry_after("10.0.0.1") == 6  # whole seconds, rounded up
    assert logins.retry_after("10.0.0.2") is None  # another address has its own allowance
    clock.now += 6
    assert logins.retry_after("10.0.0.1") is None
    logins.failed("10.0.0.1")
    assert logins.retry_after("10.0.0.1") == 10  # one try came back, not the burst


def test_the_allowance_refills_up_to_the_burst_only():
    clock = Clock()
    logins = FailedLogins(burst=2, refill_s=1, clock=clock)
    logins.failed("a")
    clock.now += 3600
    logins.failed("a")
    logins.failed("a")
    assert logins.retry_after("a") == 1


def test_a_right_login_clears_the_count():
    logins = FailedLogins(burst=2, refill_s=60, clock=Clock())
    logins.failed("a")
    logins.succeeded("a")
    logins.failed("a")
    assert logins.retry_after("a") is None
    logins.failed("a")
    assert logins.retry_after("a") == 60


def test_ipv6_clients_are_counted_by_their_64_block():
    logins = FailedLogins(burst=1, refill_s=60, clock=Clock())
    logins.failed("2001:db8:1:2::1")
    assert logins.retry_after("2001:db8:1:2:ffff::9") == 60
    assert logins.retry_after("2001:db8:1:3::1") is None
    logins.failed("::ffff:10.1.2.3")  # an IPv4 client on a dual-stack socket is that IPv4 address
    assert logins.retry_after("10.1.2.3") == 60


def test_the_map_is_bounded_and_forgets_the_least_lately_seen():
    logins = FailedLogins(burst=1, refill_s=60, capacity=2, clock=Clock())
    for address in ("a", "b", "c"):
        logins.failed(address)
    assert logins.retry_after("a") is None  # forgotten
    assert logins.retry_after("b") == 60 and logins.retry_after("c") == 60


@pytest.fixture
def client(settings, fake_store):
    return create_app(settings.replace(review_token=TOKEN), store=fake_store).test_client()


def test_wrong_logins_get_429_with_retry_after_and_then_even_the_right_one_waits(client):
    for _ in range(10):
        assert client.get("/review/api/queue", headers=WRONG).status_code == 401
    limited = client.get("/review/api/queue", headers=WRONG)
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1 and "too many wrong logins" in limited.get_json()["error"]
    assert client.get("/review/api/queue", headers=RIGHT).status_code == 429  # the token is not even checked
    other = {"REMOTE_ADDR": "127.0.0.2"}
    assert client.get("/review/api/queue", headers=RIGHT, environ_base=other).status_code == 200


def test_requests_without_credentials_are_not_wrong_logins(client):
    for _ in range(20):  # a browser's first request to every page, before it asks for the password
        assert client.get("/review/api/queue").status_code == 401
    assert client.get("/review/api/queue", headers=RIGHT).status_code == 200


def test_the_limit_is_the_apps_own(settings, fake_store):
    first = create_app(settings.replace(review_token=TOKEN), store=fake_store).test_client()
    for _ in range(11):
        first.get("/review/api/queue", headers=WRONG)
    assert first.get("/review/api/queue", headers=WRONG).status_code == 429
    second = create_app(settings.replace(review_token=TOKEN), store=fake_store).test_client()
    assert second.get("/review/api/queue", headers=WRONG).status_code == 401


@pytest.mark.parametrize(
    "value",
    [b"Basic \xff\xff", b"Basic \xc3\xa9t\xc3\xa9", b"Bearer \xff", b"Basic " + base64.b64encode(b"operator:\xff\xfe")],
)
def test_a_malformed_authorization_header_is_a_401(client, value):
    # Werkzeug hands header bytes over as latin-1 text: base64 of non-ASCII text raised ValueError (a 500).
    r = client.get("/review/api/queue", headers={"Authorization": value.decode("latin-1")})
    assert r.status_code == 401 and "REVIEW_TOKEN" in r.get_json()["error"]

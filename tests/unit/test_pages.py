import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from gourmetgram import eventlog, names
from gourmetgram.outcome import Outcome, Status
from ingest import create_app
from tests.unit.test_review_page import BEARER, TOKEN


@pytest.fixture
def client(settings, fake_store):
    return create_app(
        settings.replace(function_url="http://127.0.0.1:9", review_token=TOKEN), store=fake_store
    ).test_client()


def test_the_page_offers_upload_feedback_and_every_class(client):
    html = client.get("/").get_data(as_text=True)
    assert 'type="file"' in html and 'id="corrected"' in html and "demo-banner" in html
    assert all(f">{c}<" in html for c in ("Bread", "Noodles/Pasta", "Vegetable/Fruit"))
    assert 'name="viewport"' in html


def test_the_page_has_a_focusable_photo_control_and_a_named_progress_bar(client):
    html = client.get("/").get_data(as_text=True)
    # A real button opens the file dialog (the file input itself is hidden, as it cannot be styled)
    assert re.search(r'<button id="choose" type="button"[^>]*>Choose a photo</button>', html)
    assert re.search(r'<div[^>]*role="progressbar"[^>]*aria-label="Upload progress"', html)
    assert 'data-max-bytes="10000000"' in html
    assert "JPEG, PNG, GIF, WebP, BMP, TIFF, HEIC/HEIF or AVIF, up to 10 MB" in html
    assert re.search(r'<input id="file"[^>]*accept="image/\*,\.heic,\.heif,\.avif"', html)  # a phone offers its HEICs
    assert 'data-sure-from="0.7"' in html  # review_confidence: below it the page shows a guess as a guess
    # No class is preselected as a correction: saving the prediction itself must be a choice
    assert '<option value="">Choose a class…</option>' in html


def test_the_demo_notice_speaks_to_visitors_inside_the_header(client):
    html = client.get("/").get_data(as_text=True)
    header = html[html.index("<header>") : html.index("</header>")]
    notice = header[header.index('id="demo-banner"') :]
    assert "Demo mode" in notice and "practice model" in notice
    assert "MODEL_PATH" not in html and "food11.pth" not in html  # operator instructions: README and logs


def test_the_event_log_has_outcome_time_file_correction_and_flag_columns(client):
    html = client.get("/review/events", headers=BEARER).get_data(as_text=True)
    keys = re.findall(r'<th scope="col" data-key="(\w+)">', html)
    assert keys[:4] == ["photo", "finished", "status", "file"]
    assert {"corrected_class", "flagged", "reason", "confidence"} <= set(keys)
    # The table scrolls sideways on a phone: its region must be reachable from the keyboard
    assert re.search(r'<div class="table-wrap" role="region" aria-labelledby="events-caption" tabindex="0">', html)


def test_events_view_lists_newest_first(client, fake_store):
    for i, status in enumerate([Status.DONE, Status.REJECTED]):
        fake_store.put_json(
            "events",
            f"id{i}.json",
            Outcome(id=f"id{i}", status=status, incoming_key=f"k{i}", incoming_etag="e", reason="why").to_json(),
        )
        fake_store.age("events", f"id{i}.json", 100 - i * 50)
    rows = client.get("/review/api/events", headers=BEARER).get_json()
    assert [r["id"] for r in rows] == ["id1", "id0"] and all("time" in r for r in rows)
    assert "<table" in client.get("/review/events", headers=BEARER).get_data(as_text=True)
    line = eventlog.format_row(rows[0])
    assert "rejected" in line and "k1" in line and "why" in line


@pytest.mark.parametrize("path", ["/events", "/api/events", "/review/events", "/review/api/events"])
def test_the_event_log_and_its_records_are_for_operators_only(client, fake_store, path):
    # The log's file names carry uploaders' names, places and dates: nobody without the review token reads them
    put_record(fake_store, names.upload_id())
    fake_store.put_json(
        "events",
        "secret.json",
        Outcome(
            id="secret", status=Status.DONE, incoming_key="Anna at Lake Bled 2026-08-01.jpg", incoming_etag="e"
        ).to_json(),
    )
    r = client.get(path, follow_redirects=True)
    assert r.status_code == 401 and "Lake Bled" not in r.get_data(as_text=True)
    assert r.headers["WWW-Authenticate"].startswith("Basic ")  # a browser asks the operator for the token


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("/events", "/review/events"),
        ("/events?status=rejected&class=Egg", "/review/events?status=rejected&class=Egg"),
        ("/api/events?limit=100", "/review/api/events?limit=100"),
    ],
)
def test_the_old_public_addresses_lead_to_the_operators_log(client, old, new):
    r = client.get(old)
    assert r.status_code == 301 and r.headers["Location"] == new
    assert client.get(old, headers=BEARER, follow_redirects=True).status_code == 200


def test_the_upload_page_links_to_the_operators_log(client):
    html = client.get("/").get_data(as_text=True)
    assert '<a href="/review/events">Event log (operators)</a>' in html and 'href="/events"' not in html


def test_status_says_when_the_function_is_unreachable(client):
    assert client.get("/api/status").get_json()["function"] == "unreachable"
    assert client.get("/healthz").get_json() == {"status": "ok"}


@pytest.mark.parametrize("limit", ["abc", "0", "-1", "501", "1e3", "2.5", "99999999999999999999", ""])
def test_a_bad_event_limit_is_a_400_naming_the_range(client, limit):
    r = client.get(f"/review/api/events?limit={limit}", headers=BEARER)
    assert r.status_code == 400
    assert r.get_json()["error"] == f"limit must be a whole number from 1 to 500, not {limit!r}"


def test_event_limits_within_the_range_are_served(client, fake_store):
    for i in range(3):
        fake_store.put_json(
            "events",
            f"id{i}.json",
            Outcome(id=f"id{i}", status=Status.DONE, incoming_key=f"k{i}", incoming_etag="e").to_json(),
        )
    assert len(client.get("/review/api/events?limit=2", headers=BEARER).get_json()) == 2
    assert len(client.get("/review/api/events?limit=500", headers=BEARER).get_json()) == 3


def test_the_page_polls_within_the_long_poll_limit(settings, fake_store):
    html = create_app(settings, store=fake_store).test_client().get("/").get_data(as_text=True)
    assert 'data-poll-wait="20"' in html
    short = create_app(settings.replace(long_poll_max_s=5.0), store=fake_store).test_client()
    assert 'data-poll-wait="5"' in short.get("/").get_data(as_text=True)


@pytest.mark.parametrize("path", ["/", "/review/events"])
def test_pages_have_no_inline_script_or_style(client, path):
    html = client.get(path, headers=BEARER).get_data(as_text=True)
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts and all("src=" in tag for tag in scripts)  # the CSP allows scripts from files only
    assert "<style" not in html and not re.search(r"\s(style|on\w+)=", html)


def put_record(store, pid: str, status: Status = Status.DONE) -> None:
    store.put_json(
        "events",
        names.record_key(pid),
        Outcome(id=pid, status=status, incoming_key=f"{pid}.jpg", incoming_etag="e").to_json(),
    )


def test_the_api_answers_with_what_was_written_before_the_request_even_a_moment_before(client, fake_store):
    pid = names.upload_id()
    put_record(fake_store, pid, Status.PENDING)
    assert client.get("/review/api/events", headers=BEARER).get_json()[0]["status"] == "pending"
    put_record(fake_store, pid, Status.DONE)
    # not the read of a moment ago
    assert client.get("/review/api/events", headers=BEARER).get_json()[0]["status"] == "done"


def test_sixty_clients_at_once_cost_one_read_and_the_excess_get_a_503_at_once(client, fake_store):
    for i in range(5):
        put_record(fake_store, names.upload_id(time.time() - i))
    gate = threading.Event()
    listing = fake_store.list

    def slow_list(*args, **kwargs):
        assert gate.wait(10)
        return listing(*args, **kwargs)

    fake_store.list = slow_list
    with ThreadPoolExecutor(60) as pool:
        answers = [pool.submit(client.get, "/review/api/events?limit=50", headers=BEARER) for _ in range(60)]
        time.sleep(0.5)
        refused = [a.result() for a in answers if a.done()]
        gate.set()
        served = [a.result(10) for a in answers]
    assert len(refused) >= 60 - 1 - 8  # one reads, eight may wait
    assert all(r.status_code == 503 and r.headers["Retry-After"] == "1" for r in refused)
    assert "ask again in a second" in refused[0].get_json()["error"]
    ok = [r for r in served if r.status_code == 200]
    assert len(ok) >= 1 and all(len(r.get_json()) == 5 for r in ok)
    assert fake_store.calls.count("list") <= 2 * 3  # one or two reads (each: two outside listings and a span)
    for r in served:
        r.close()


def test_the_api_orders_by_the_photos_time_and_a_late_correction_keeps_its_place(client, fake_store):
    now = time.time()
    pids = [names.upload_id(now - 60 * i) for i in range(4)]
    for pid in reversed(pids):
        put_record(fake_store, pid, Status.PENDING)
    put_record(fake_store, pids[-1], Status.DONE)  # the oldest photo's record, rewritten last
    rows = client.get("/review/api/events", headers=BEARER).get_json()
    assert [r["id"] for r in rows] == pids and rows[-1]["status"] == "done"
    assert rows[-1]["time"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(now - 180)))

import base64
import re
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ingest import create_app
from tests.seeding import seed_photo

TOKEN = "review-token-0123456789"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def client(settings, fake_store):
    return create_app(settings.replace(review_token=TOKEN), store=fake_store).test_client()


def test_the_page_shows_each_model_with_its_figures_and_charts(client, fake_store):
    now = time.time()
    for i, (predicted, human) in enumerate([("Soup", "Soup"), ("Soup", "Soup"), ("Rice", "Egg"), ("Egg", None)]):
        seed_photo(fake_store, now - 3600 - i, predicted, 0.9, human_label=human, model_version="food11-a")
    seed_photo(fake_store, now - 86400 * 30, "Soup", 0.9, human_label="Egg", model_version="too-old")
    html = client.get("/quality", headers=BEARER).get_data(as_text=True)
    assert 'data-model="food11-a"' in html and "too-old" not in html
    assert re.search(r'class="photos">4<', html) and re.search(r'class="reviewed">3<', html)
    assert "66.7 % (20.8 to 93.9 %, 2 of 3)" in html
    images = re.findall(r'<img src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == 4 and all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert "<script" not in html and "<style" not in html and not re.search(r"\s(style|on\w+)=", html)
    older = client.get("/quality?days=31", headers=BEARER).get_data(as_text=True)
    assert 'data-model="too-old"' in older


def test_the_gauges_for_prometheus(client, fake_store):
    seed_photo(fake_store, time.time() - 60, "Soup", 0.9, human_label="Soup", model_version="food11-a")
    r = client.get("/quality/metrics", headers=BEARER)
    assert r.content_type.startswith("text/plain")
    values = {
        s.name: s.value
        for f in text_string_to_metric_families(r.get_data(as_text=True))
        for s in f.samples
        if s.labels.get("model_version") == "food11-a"
    }
    assert values["gourmetgram_quality_photos"] == 1 and values["gourmetgram_quality_accuracy"] == 1.0


@pytest.mark.parametrize("days", ["0", "367", "x", "-1", "2.5"])
def test_a_bad_window_is_a_400(client, days):
    for path in ("/quality", "/quality/metrics"):
        r = client.get(f"{path}?days={days}", headers=BEARER)
        assert r.status_code == 400 and "from 1 to 366" in r.get_json()["error"]


def test_the_page_shows_champion_and_challenger_side_by_side_on_the_same_reviewed_photos(client, fake_store):
    from gourmetgram import outcome

    now = time.time()
    # (production's class, the shadow's class, the reviewer's): the challenger gets two the champion missed
    answers = [("Soup", "Soup", "Soup")] * 3 + [("Rice", "Egg", "Egg")] * 2 + [("Egg", "Rice", "Egg")]
    for i, (production, shadow, human) in enumerate([*answers, ("Soup", "Rice", None)]):
        record = seed_photo(fake_store, now - 600 - i, production, 0.9, human_label=human, model_version="food11-a")
        shadow_answer = {"model_version": "food11-b", "predicted_class": shadow, "class_index": 0, "confidence": 0.5}
        outcome.update(fake_store, "events", record.id, lambda r, s=shadow_answer: setattr(r, "shadow", s) or r)
    html = client.get("/quality", headers=BEARER).get_data(as_text=True)
    [section] = re.findall(
        r'<section class="card comparison" data-models="food11-a food11-b">(.*?)</section>', html, re.S
    )
    assert "On the 6 reviewed photo(s) both labelled" in section
    assert "66.7 % (30.0 to 90.3 %, 4 of 6)" in section and "83.3 % (43.6 to 97.0 %, 5 of 6)" in section
    assert re.findall(r'class="only">(\d+)<', section) == ["1", "2"]
    assert "p = 1" in section and "the same answer on 50.0 % of them" in section

"""The second half of the loop on the real MinIO and frontend: who is queued for review (once), the quality
figures of a seeded set with a known answer, and the dataset export (layout, split, manifest, increments).

Seeded photos are written as the function writes them, at chosen upload times: the queue and the export
use days long past, where no other test's photo is; quality uses a model version of its own."""

from __future__ import annotations

import csv
import hashlib
import json
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gourmetgram import idtime, names, review_queue
from gourmetgram.review_queue import Reason
from gourmetgram_tools.client import post_photo
from gourmetgram_tools.export import split_of
from tests.conftest import photo
from tests.seeding import seed_photo
from tests.stack import run_cli, wait_final

pytestmark = pytest.mark.integration
HOUR = 3600.0


def operator_get(stack, path: str) -> tuple[int, bytes]:
    request = urllib.request.Request(
        f"{stack.web_url}{path}", headers={"Authorization": f"Bearer {stack.settings.local_review_token}"}
    )
    with urllib.request.urlopen(request, timeout=60) as r:  # noqa: S310 (our own frontend)
        return r.status, r.read()


def review(stack, pid: str, label: str, replace: bool = False) -> dict:
    body = {"human_label": label, **({"replace": True} if replace else {})}
    request = urllib.request.Request(
        f"{stack.web_url}/review/api/{pid}",
        method="POST",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {stack.settings.local_review_token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as r:  # noqa: S310
        return json.load(r)


def test_who_is_queued_and_only_once(stack, store):
    s = stack.settings.replace(review_confidence=0.7, review_sample_per_day=2, review_window_days=3)
    day1 = datetime(2021, 3, 1, tzinfo=UTC).timestamp()
    now = day1 + 2 * 86400 + 12 * HOUR  # 2021-03-03 12:00: the 1st and 2nd are over, the 3rd runs
    # GIVEN each kind of photo on three days, and a day before the window
    before = seed_photo(store, day1 - HOUR, "Soup", 0.1)
    low = seed_photo(store, day1 + 1 * HOUR, "Soup", 0.69)
    flagged = seed_photo(store, day1 + 2 * HOUR, "Rice", 0.95, flagged=True)
    corrected_and_low = seed_photo(store, day1 + 3 * HOUR, "Egg", 0.2, corrected_class="Bread")
    unflagged = seed_photo(store, day1 + 4 * HOUR, "Rice", 0.95, flagged=False)
    reviewed = seed_photo(store, day1 + 5 * HOUR, "Soup", 0.3, human_label="Soup")
    confident = {
        day: [seed_photo(store, day1 + day * 86400 + 6 * HOUR + i, "Meat", 0.9) for i in range(6)] for day in range(3)
    }
    rejected = seed_photo(store, day1 + 7 * HOUR, "Soup", 0.1, status=review_queue.Status.REJECTED)
    # WHEN the queue is derived from the records in MinIO
    queue = review_queue.load(store, s, now)
    got = {q.id: q.reasons for q in queue}
    # THEN: every flagged, corrected and low-confidence photo; two sampled per finished day; nobody else
    confident_of_day = {0: [*confident[0], flagged, unflagged], 1: confident[1]}  # at or above 0.7
    sample = {
        day: set(sorted((r.id for r in photos), key=review_queue.sample_rank)[:2])
        for day, photos in confident_of_day.items()
    }
    expected = {flagged.id, corrected_and_low.id, low.id} | sample[0] | sample[1]
    assert set(got) == expected
    assert len(queue) == len(got)  # once each, whatever the number of reasons
    assert got[corrected_and_low.id] == (Reason.CORRECTED, Reason.LOW_CONFIDENCE)
    assert got[low.id] == (Reason.LOW_CONFIDENCE,)
    assert not {r.id for r in confident[2]} & set(got)  # the running day is sampled once it is over
    assert not {before.id, reviewed.id, rejected.id, unflagged.id} & (set(got) - sample[0])
    print(
        f"\nqueued {len(queue)} of {3 + 1 + 18 + 4} seeded photos: "
        + ", ".join(f"{q.id[:13]} {'+'.join(r.value for r in q.reasons)}" for q in queue)
    )
    # WHEN a reviewer answers one on the page THEN it leaves the queue, and nothing else changes
    review(stack, low.id, "Rice")
    after = review_queue.load(store, s, now)
    assert [q.id for q in after] == [q.id for q in queue if q.id != low.id]


def test_the_frontends_queue_lists_a_photo_once_until_it_is_reviewed(stack, store):
    record = seed_photo(store, time.time() - 60, "Soup", 0.05, flagged=True, corrected_class="Egg", data=photo())
    status, body = operator_get(stack, "/review/api/queue?limit=500")
    items = [i for i in json.loads(body)["items"] if i["id"] == record.id]
    assert status == 200 and len(items) == 1
    assert items[0]["reasons"] == ["flagged", "corrected", "low confidence"]
    assert operator_get(stack, items[0]["photo"])[1] == photo()  # served by the frontend from production
    review(stack, record.id, "Egg")
    ids = {i["id"] for i in json.loads(operator_get(stack, "/review/api/queue?limit=500")[1])["items"]}
    assert record.id not in ids
    shown = store.get_tags("events", names.record_key(record.id))  # what the MinIO console shows of the record
    assert (shown["human_label"], shown["corrected_class"], shown["flagged"]) == ("Egg", "Egg", "true")


def feedback(stack, pid: str, token: str, body: dict) -> dict:
    request = urllib.request.Request(
        f"{stack.web_url}/predictions/{pid}/feedback",
        method="POST",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as r:  # noqa: S310
        return json.load(r)


def queued(stack, pid: str) -> list[dict]:
    return [i for i in json.loads(operator_get(stack, "/review/api/queue?limit=500")[1])["items"] if i["id"] == pid]


def test_an_uploaders_disagreement_after_the_review_reaches_the_review_again(stack, store):
    # GIVEN a photo uploaded through the page and labelled by the function, which a reviewer then reviewed
    upload = post_photo(stack.web_url, photo("7_226.jpg"), "disputed dinner.jpg")
    record = wait_final(store, upload["id"])
    pid, predicted = upload["id"], record["predicted_class"]
    review(stack, pid, predicted)  # the reviewer agrees with the model
    assert queued(stack, pid) == []
    # WHEN the uploader corrects it afterwards (they disagree with the model and so with the reviewer)
    other = "Egg" if predicted != "Egg" else "Rice"
    assert feedback(stack, pid, upload["feedback_token"], {"corrected_class": other})["saved"] == {
        "corrected_class": other
    }
    # THEN the review queue has it again, disputed, showing the earlier review
    [item] = queued(stack, pid)
    assert item["reasons"][0] == "disputed" and "corrected" in item["reasons"]
    assert item["human_label"] == predicted and item["corrected_class"] == other
    # AND the reviewer's new answer (replacing the first, as the page sends it) takes it out again
    assert review(stack, pid, other, replace=True)["human_label"] == other
    assert queued(stack, pid) == []
    # AND a flag after that second review brings it back once more
    feedback(stack, pid, upload["feedback_token"], {"flagged": True})
    assert [i["reasons"][:2] for i in queued(stack, pid)] == [["disputed", "flagged"]]


@pytest.fixture(scope="module")
def quality_set(stack, store) -> str:
    """A model version of its own over the last three days: 10 reviewed photos of which 8 are right, and
    2 unreviewed under the threshold. Known answer: accuracy 0.8 (Wilson 95 %: 0.4902 to 0.9433)."""
    version = f"seeded-quality-{time.time_ns()}"
    # The window counts UTC days: seeded just before midnight and read just after, two days' photos would fall
    # out of it. Seed in the new day instead (CI may run at any hour).
    left = idtime.day_start(idtime.utc_day(time.time())) + 86400 - time.time()
    if left < 120:
        time.sleep(left + 1)
    today = idtime.day_start(idtime.utc_day(time.time()))
    rows = [(0, "Soup", 0.95, "Soup")] * 4 + [
        (0, "Rice", 0.85, "Rice"),
        (0, "Rice", 0.85, "Egg"),
        (1, "Bread", 0.65, "Bread"),
        (1, "Bread", 0.65, "Bread"),
        (1, "Meat", 0.35, "Bread"),
        (1, "Egg", 0.99, "Egg"),
        (2, "Soup", 0.5, None),
        (2, "Soup", 0.6, None),
    ]
    for i, (days_ago, predicted, confidence, human) in enumerate(rows):
        moment = min(today - days_ago * 86400 + HOUR + i, time.time() - 1)
        seed_photo(store, moment, predicted, confidence, human_label=human, model_version=version)
    return version


def test_quality_figures_of_a_seeded_set(stack, quality_set):
    # The page's gauges
    status, text = operator_get(stack, "/quality/metrics?days=3")
    gauges = {
        (s.name, tuple(sorted((k, v) for k, v in s.labels.items() if k != "model_version"))): s.value
        for f in text_string_to_metric_families(text.decode())
        for s in f.samples
        if s.labels.get("model_version") == quality_set
    }
    assert gauges[("gourmetgram_quality_photos", ())] == 12
    assert gauges[("gourmetgram_quality_reviewed_photos", ())] == 10
    assert gauges[("gourmetgram_quality_accuracy", ())] == 0.8
    assert round(gauges[("gourmetgram_quality_accuracy_lower", ())], 4) == 0.4902
    assert round(gauges[("gourmetgram_quality_accuracy_upper", ())], 4) == 0.9433
    assert (
        gauges[("gourmetgram_quality_confusion_photos", (("human_class", "Bread"), ("predicted_class", "Meat")))] == 1
    )
    assert gauges[("gourmetgram_quality_reliability_accuracy", (("bin", "0.8-0.9"),))] == 0.5
    low_shares = sorted(v for (name, _), v in gauges.items() if name == "gourmetgram_quality_day_low_confidence_share")
    assert low_shares == [0.0, 0.75, 1.0]  # 0 of 6, 3 of 4, 2 of 2
    # The page
    html = operator_get(stack, "/quality?days=3")[1].decode()
    section = html[html.index(f'data-model="{quality_set}"') :]
    assert "80.0 % (49.0 to 94.3 %, 8 of 10)" in section[:4000]
    # The command, as an operator runs it
    done = run_cli(stack.settings, "quality", "--days", "3", "--format", "json")
    assert done.returncode == 0, done.stderr
    [report] = [r for r in json.loads(done.stdout) if r["model_version"] == quality_set]
    assert (report["photos"], report["reviewed"], report["correct"], report["accuracy"]) == (12, 10, 8, 0.8)
    text_report = run_cli(stack.settings, "quality", "--days", "3")
    assert f"model {quality_set}" in text_report.stdout and "80.0 %" in text_report.stdout
    print("\n" + text_report.stdout[text_report.stdout.index(f"model {quality_set}") :][:2500])


def read_manifest(out: Path) -> dict[str, dict]:
    with open(out / "manifest.csv", newline="") as f:
        return {row["id"]: row for row in csv.DictReader(f)}


def test_export_layout_split_stability_and_manifest(stack, store, tmp_path):
    day = datetime(2021, 6, 1, tzinfo=UTC).timestamp()
    photos = sorted(p.read_bytes() for p in (Path(__file__).parents[2] / "gourmetgram_tools/sample_photos").iterdir())
    # Bytes of their own (identical photos are exported once, under one of their ids)
    human = [
        seed_photo(
            store,
            day + i,
            "Soup",
            0.5,
            human_label=["Egg", "Rice", "Soup"][i % 3],
            data=photos[i % len(photos)] + b"#human %d" % i,
        )
        for i in range(12)
    ]
    corrected = [
        seed_photo(
            store,
            day + 100 + i,
            "Rice",
            0.9,
            corrected_class="Seafood",
            flagged=True,
            data=photos[i % len(photos)] + b"#corrected %d" % i,
        )
        for i in range(4)
    ]
    unlabelled = seed_photo(store, day + 200, "Meat", 0.99, data=photos[0])
    first_out, second_out = tmp_path / "one", tmp_path / "two"
    # WHEN the operator exports since that day, into two folders
    first = run_cli(stack.settings, "export", "--out", str(first_out), "--since", "2021-06-01")
    assert first.returncode == 0, first.stdout + first.stderr
    rows = read_manifest(first_out)
    # THEN the Food-11 layout, each photo under its label's class in the split of its bytes
    for record in human + corrected:
        row = rows[record.id]
        label = record.human_label or record.corrected_class
        data = store.read("production", record.production_key)
        assert (
            row["path"]
            == f"{split_of(hashlib.sha256(data).hexdigest())}/class_{names.class_index(label):02d}/{record.id}.jpg"
        )
        assert (first_out / row["path"]).read_bytes() == data
        assert row["etag"] == store.head("production", record.production_key).etag
        assert row["label_source"] == ("human" if record.human_label else "corrected")
        assert (row["production_key"], row["model_version"], row["predicted_class"]) == (
            record.production_key,
            "seeded-v1",
            record.predicted_class,
        )
    assert unlabelled.id not in rows
    assert {p.name for p in first_out.iterdir()} >= {"training", "manifest.csv"}
    # AND a second export elsewhere puts every photo in the same split; a second run here copies nothing
    assert run_cli(stack.settings, "export", "--out", str(second_out), "--since", "2021-06-01").returncode == 0
    again = read_manifest(second_out)
    assert {pid: r["split"] for pid, r in again.items() if pid in rows} == {pid: r["split"] for pid, r in rows.items()}
    repeat = run_cli(stack.settings, "export", "--out", str(first_out), "--since", "2021-06-01")
    assert "copied 0," in repeat.stdout, repeat.stdout
    # AND a reviewer's answer moves a corrected photo to the reviewer's class on the next run
    review(stack, corrected[0].id, "Bread")
    moved = run_cli(stack.settings, "export", "--out", str(first_out), "--since", "2021-06-01")
    assert "copied 0, moved 1" in moved.stdout, moved.stdout
    row = read_manifest(first_out)[corrected[0].id]
    assert row["path"].split("/")[1] == "class_00" and row["label_source"] == "human"
    assert row["corrected_class"] == "Seafood" and row["human_label"] == "Bread" and row["flagged"] == "true"
    assert (first_out / row["path"]).is_file() and not (first_out / rows[corrected[0].id]["path"]).exists()
    print(
        f"\nexport: {first.stdout.strip()}\nsecond run: {repeat.stdout.strip()}\nafter a review: {moved.stdout.strip()}"
    )

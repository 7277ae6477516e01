import csv
from collections import Counter
from datetime import UTC, datetime

import click
import pytest

from gourmetgram import labels, names
from gourmetgram.cli import export
from gourmetgram.outcome import Outcome, Status
from tests.seeding import seed_photo

T0 = datetime(2026, 3, 1, tzinfo=UTC).timestamp()


class Silent:
    """click.progressbar's interface, without a terminal."""

    def __init__(self, items, **kwargs):
        self.items = items

    def __enter__(self):
        return iter(self.items)

    def __exit__(self, *exc):
        return False


def run(store, settings, out, **kwargs) -> export.Exported:
    return export.export(store, settings, out, progress=Silent, echo=lambda line: None, **kwargs)


def manifest(out) -> dict[str, dict]:
    with open(out / "manifest.csv", newline="") as f:
        return {row["id"]: row for row in csv.DictReader(f)}


def test_the_split_is_fixed_by_the_id_and_near_food11s_shares():
    ids = [names.upload_id(T0 + i) for i in range(3000)]
    counts = Counter(export.split_of(pid) for pid in ids)
    assert [export.split_of(pid) for pid in ids] == [export.split_of(pid) for pid in ids]
    assert abs(counts["training"] / 3000 - 0.6) < 0.04 and abs(counts["evaluation"] / 3000 - 0.2) < 0.04


@pytest.mark.parametrize(("fields", "min_confidence", "expected"), [
    pytest.param({"human_label": "Egg", "corrected_class": "Rice"}, None, ("Egg", "human"), id="human-first"),
    pytest.param({"corrected_class": "Rice"}, 0.5, ("Rice", "corrected"), id="then-corrected"),
    pytest.param({}, None, None, id="model-only-when-asked"),
    pytest.param({}, 0.8, ("Soup", "predicted"), id="model-above"),
    pytest.param({}, 0.95, None, id="model-below"),
])
def test_which_label_a_photo_is_exported_with(fields, min_confidence, expected):
    record = Outcome(id="x", status=Status.DONE, incoming_key="k", incoming_etag="e", predicted_class="Soup",
                     confidence=0.9, **fields)
    label = export.label_of(record, min_confidence)
    assert (label and (label.class_name, label.source)) == expected


def test_an_export_writes_the_food11_layout_and_a_manifest(fake_store, settings, tmp_path):
    human = seed_photo(fake_store, T0 + 1, "Soup", 0.4, human_label="Seafood", data=b"human bytes")
    corrected = seed_photo(fake_store, T0 + 2, "Rice", 0.9, corrected_class="Noodles/Pasta", flagged=True)
    unlabelled = seed_photo(fake_store, T0 + 3, "Egg", 0.99)
    seed_photo(fake_store, T0 + 4, "Egg", 0.99, status=Status.REJECTED)
    done = run(fake_store, settings, tmp_path)
    assert (done.copied, done.kept, done.unlabelled) == (2, 0, 2)
    rows = manifest(tmp_path)
    assert set(rows) == {human.id, corrected.id}
    h = rows[human.id]
    assert h["path"] == f"{export.split_of(human.id)}/class_08/{human.id}.jpg"
    assert (tmp_path / h["path"]).read_bytes() == b"human bytes"
    assert (h["label_source"], h["class_name"], h["predicted_class"], h["confidence"]) == \
        ("human", "Seafood", "Soup", "0.400")
    assert h["production_key"] == human.production_key and h["etag"] == fake_store.head(
        "production", human.production_key).etag and h["model_version"] == "seeded-v1"
    assert h["uploaded_at"] == "2026-03-01T00:00:01Z" and h["source"] == "web" and h["exported_at"]
    c = rows[corrected.id]
    assert (c["class_index"], c["label_source"], c["flagged"]) == ("6", "corrected", "true")
    assert unlabelled.id not in rows
    # every file is in one of Food-11's three split folders, under its class
    assert all(r["path"].split("/")[:2] == [r["split"], f"class_{int(r['class_index']):02d}"] for r in rows.values())
    assert {r["split"] for r in rows.values()} <= {"training", "validation", "evaluation"}


def test_a_second_run_copies_only_what_is_new_and_moves_what_was_relabelled(fake_store, settings, tmp_path):
    first = seed_photo(fake_store, T0 + 1, "Soup", 0.4, corrected_class="Egg")
    same = seed_photo(fake_store, T0 + 2, "Soup", 0.4, human_label="Soup")
    run(fake_store, settings, tmp_path)
    before = manifest(tmp_path)
    # GIVEN a new labelled photo and a reviewer who disagrees with the uploader's correction
    new = seed_photo(fake_store, T0 + 3, "Rice", 0.9, human_label="Rice")
    labels.change_labels(fake_store, settings, first.id, lambda r: _review(r, "Bread"))
    fake_store.calls.clear()
    done = run(fake_store, settings, tmp_path)
    # THEN only the new photo is read from production; the relabelled one moves; the rest is not even read
    assert (done.copied, done.moved, done.kept) == (1, 1, 1)
    assert fake_store.calls.count("read") == 1 and fake_store.calls.count("get_json") == 2
    rows = manifest(tmp_path)
    assert rows[first.id]["path"] == f"{export.split_of(first.id)}/class_00/{first.id}.jpg"
    assert (tmp_path / rows[first.id]["path"]).is_file() and not (tmp_path / before[first.id]["path"]).exists()
    assert rows[first.id]["label_source"] == "human" and rows[first.id]["split"] == before[first.id]["split"]
    assert rows[same.id] == before[same.id] and new.id in rows


def _review(record: Outcome, label: str) -> Outcome:
    record.human_label, record.reviewed_at = label, "2026-03-02T00:00:00Z"
    return record


def test_since_and_the_models_labels(fake_store, settings, tmp_path):
    seed_photo(fake_store, T0 - 86400, "Soup", 0.99)
    recent = seed_photo(fake_store, T0 + 10, "Soup", 0.99)
    unsure = seed_photo(fake_store, T0 + 20, "Rice", 0.5)
    done = run(fake_store, settings, tmp_path, since=T0, min_confidence=0.9)
    rows = manifest(tmp_path)
    assert set(rows) == {recent.id} and rows[recent.id]["label_source"] == "predicted"
    assert done.unlabelled == 1 and unsure.id not in rows


def test_a_photo_gone_from_production_is_named_and_the_rest_exported(fake_store, settings, tmp_path):
    gone = seed_photo(fake_store, T0 + 1, "Soup", 0.4, human_label="Soup")
    kept = seed_photo(fake_store, T0 + 2, "Soup", 0.4, human_label="Soup")
    fake_store.delete("production", gone.production_key)
    done = run(fake_store, settings, tmp_path)
    assert done.copied == 1 and set(manifest(tmp_path)) == {kept.id}
    assert done.errors == [f"skipped {gone.id}: production/{gone.production_key} is gone"]


@pytest.mark.parametrize(("text", "expected"), [("2026-03-01", T0), ("2026-03-01T02:00:00Z", T0 + 7200)])
def test_since_takes_a_date_or_a_time(text, expected):
    assert export.parse_since(text) == expected


def test_since_refuses_a_time_without_a_zone():
    with pytest.raises(click.BadParameter, match="time with a zone"):
        export.parse_since("2026-03-01T02:00:00")

import csv
import hashlib
import os
import signal
from collections import Counter
from datetime import UTC, datetime

import click
import pytest

from gourmetgram import labels, names
from gourmetgram.outcome import Outcome, Status
from gourmetgram_tools import export
from gourmetgram_tools.folder_lock import Locked, NotALockFile, holding
from gourmetgram_tools.termination import Terminated
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


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files(out) -> set[str]:
    """The dataset's files, as the manifest's paths: what a loader walking the split folders finds."""
    return {p.relative_to(out).as_posix() for p in out.glob("*/class_*/*") if p.is_file()}


def test_the_split_is_fixed_by_the_content_and_near_food11s_shares():
    hashes = [sha(f"photo {i}".encode()) for i in range(3000)]
    counts = Counter(export.split_of(h) for h in hashes)
    assert [export.split_of(h) for h in hashes] == [export.split_of(h) for h in hashes]
    assert abs(counts["training"] / 3000 - 0.6) < 0.04 and abs(counts["evaluation"] / 3000 - 0.2) < 0.04


@pytest.mark.parametrize(
    ("fields", "min_confidence", "expected"),
    [
        pytest.param({"human_label": "Egg", "corrected_class": "Rice"}, None, ("Egg", "human"), id="human-first"),
        pytest.param({"corrected_class": "Rice"}, 0.5, ("Rice", "corrected"), id="then-corrected"),
        pytest.param({}, None, None, id="model-only-when-asked"),
        pytest.param({}, 0.8, ("Soup", "predicted"), id="model-above"),
        pytest.param({}, 0.95, None, id="model-below"),
    ],
)
def test_which_label_a_photo_is_exported_with(fields, min_confidence, expected):
    record = Outcome(
        id="x",
        status=Status.DONE,
        incoming_key="k",
        incoming_etag="e",
        predicted_class="Soup",
        confidence=0.9,
        **fields,
    )
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
    assert h["path"] == f"{export.split_of(sha(b'human bytes'))}/class_08/{human.id}.jpg"
    assert (tmp_path / h["path"]).read_bytes() == b"human bytes"
    assert (h["label_source"], h["class_name"], h["predicted_class"], h["confidence"]) == (
        "human",
        "Seafood",
        "Soup",
        "0.400",
    )
    assert (
        h["production_key"] == human.production_key
        and h["etag"] == fake_store.head("production", human.production_key).etag
        and h["model_version"] == "seeded-v1"
    )
    assert h["uploaded_at"] == "2026-03-01T00:00:01Z" and h["source"] == "web" and h["exported_at"]
    c = rows[corrected.id]
    assert (c["class_index"], c["label_source"], c["flagged"]) == ("6", "corrected", "true")
    assert unlabelled.id not in rows
    # every file is in one of Food-11's three split folders, under its class
    assert all(r["path"].split("/")[:2] == [r["split"], f"class_{int(r['class_index']):02d}"] for r in rows.values())
    assert {r["split"] for r in rows.values()} <= {"training", "validation", "evaluation"}


def test_a_second_run_copies_only_what_is_new_and_moves_what_was_relabelled(fake_store, settings, tmp_path):
    first = seed_photo(fake_store, T0 + 1, "Soup", 0.4, corrected_class="Egg", data=b"first")
    same = seed_photo(fake_store, T0 + 2, "Soup", 0.4, human_label="Soup", data=b"same")
    run(fake_store, settings, tmp_path)
    before = manifest(tmp_path)
    # GIVEN a new labelled photo and a reviewer who disagrees with the uploader's correction
    new = seed_photo(fake_store, T0 + 3, "Rice", 0.9, human_label="Rice", data=b"new")
    labels.change_labels(fake_store, settings, first.id, lambda r: _review(r, "Bread"))
    fake_store.calls.clear()
    done = run(fake_store, settings, tmp_path)
    # THEN only the new photo is read from production; the relabelled one moves; the rest is not even read
    assert (done.copied, done.moved, done.kept) == (1, 1, 1)
    assert fake_store.calls.count("read") == 1 and fake_store.calls.count("get_json") == 2
    rows = manifest(tmp_path)
    assert rows[first.id]["path"] == f"{export.split_of(sha(b'first'))}/class_00/{first.id}.jpg"
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
    gone = seed_photo(fake_store, T0 + 1, "Soup", 0.4, human_label="Soup", data=b"gone")
    kept = seed_photo(fake_store, T0 + 2, "Soup", 0.4, human_label="Soup", data=b"kept")
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


# --- one run per folder, its own partial names, a manifest that always names the files ---------------------


def test_a_second_export_into_a_held_folder_stops_at_once_naming_the_first(fake_store, settings, tmp_path):
    seed_photo(fake_store, T0 + 1, "Soup", 0.4, human_label="Soup")
    with holding(tmp_path / export.LOCK):  # another run (a lock is per open file: the same process conflicts)
        with pytest.raises(Locked) as refused:
            run(fake_store, settings, tmp_path)
    assert f"pid {os.getpid()}, started 20" in refused.value.holder
    assert "read" not in fake_store.calls and files(tmp_path) == set()
    # the lock ends with its holder: the next run goes ahead
    assert run(fake_store, settings, tmp_path).copied == 1


def test_each_run_names_its_partial_files_its_own_and_clears_a_dead_runs(fake_store, settings, tmp_path):
    assert export.run_token() != export.run_token() and export.run_token().startswith(f"{os.getpid()}-")
    photo = seed_photo(fake_store, T0 + 1, "Soup", 0.4, human_label="Soup", data=b"soup")
    folder = tmp_path / export.split_of(sha(b"soup")) / "class_09"
    folder.mkdir(parents=True)
    dead = [folder / f".{photo.id}.jpg.4242-deadbeef.partial", tmp_path / ".manifest.csv.4242-deadbeef.partial"]
    for path in dead:
        path.write_bytes(b"half")
    written = []
    real_replace = os.replace

    def replace(src, dst):
        written.append(os.path.basename(src))
        real_replace(src, dst)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(export.os, "replace", replace)
        run(fake_store, settings, tmp_path)
    assert not any(path.exists() for path in dead)
    assert len({name.split(".")[-2] for name in written}) == 1 and "deadbeef" not in written[0]
    assert (folder / f"{photo.id}.jpg").read_bytes() == b"soup"


class Terminating(Silent):
    """A progress bar during which SIGTERM arrives after the first photo."""

    def __enter__(self):
        for i, item in enumerate(self.items):
            if i == 1:
                os.kill(os.getpid(), signal.SIGTERM)
            yield item


def test_sigterm_stops_the_run_with_a_manifest_of_the_files_written(fake_store, settings, tmp_path):
    photos = [seed_photo(fake_store, T0 + i, "Soup", 0.4, human_label="Soup", data=b"%d" % i) for i in range(4)]

    def outside(signum, frame):  # the handler around the export (pytest's would be to die)
        raise LookupError("SIGTERM was not the export's")

    before = signal.signal(signal.SIGTERM, outside)
    try:
        with pytest.raises(Terminated):
            export.export(fake_store, settings, tmp_path, progress=Terminating, echo=lambda line: None)
        assert signal.getsignal(signal.SIGTERM) is outside
    finally:
        signal.signal(signal.SIGTERM, before)
    rows = manifest(tmp_path)
    assert set(rows) == {photos[0].id} and files(tmp_path) == {r["path"] for r in rows.values()}
    # the next run goes on from there
    assert run(fake_store, settings, tmp_path).copied == 3 and set(manifest(tmp_path)) == {p.id for p in photos}


def test_after_sigkill_the_next_run_removes_what_the_dead_run_left_and_converges(fake_store, settings, tmp_path):
    soup = seed_photo(fake_store, T0 + 1, "Soup", 0.4, human_label="Soup", data=b"soup")
    egg = seed_photo(fake_store, T0 + 2, "Egg", 0.4, human_label="Egg", data=b"egg")
    run(fake_store, settings, tmp_path)
    rows = manifest(tmp_path)
    # GIVEN what a run killed before its manifest leaves: a photo it copied, a file it moved, a partial file
    stray = tmp_path / "validation" / "class_03" / "0190-copied-by-the-dead-run.jpg"
    stray.write_bytes(b"copied")
    moved_to = tmp_path / "training" / "class_00" / f"{egg.id}.jpg"
    os.replace(tmp_path / rows[egg.id]["path"], moved_to)
    (tmp_path / "training" / "class_00" / f".{soup.id}.jpg.1-dead.partial").write_bytes(b"half")
    # WHEN the next run ends
    done = run(fake_store, settings, tmp_path)
    # THEN the manifest names exactly the files in the folder, and both photos are where their labels put them
    after = manifest(tmp_path)
    assert files(tmp_path) == {r["path"] for r in after.values()}
    assert {pid: r["path"] for pid, r in after.items()} == {pid: r["path"] for pid, r in rows.items()}
    assert (done.leftovers, done.copied, done.kept) == (2, 1, 1)
    assert not any(p.name.endswith(".partial") for p in tmp_path.rglob(".*"))


# --- labels followed both ways ------------------------------------------------------------------------------


def _withdraw(record: Outcome) -> Outcome:
    record.corrected_class = None
    return record


def test_a_withdrawn_correction_takes_the_photo_out_of_the_export(fake_store, settings, tmp_path):
    # GIVEN an uploader's correction from Egg to Soup, exported in class_09
    photo = seed_photo(fake_store, T0 + 1, "Egg", 0.9, corrected_class="Soup", data=b"egg or soup")
    other = seed_photo(fake_store, T0 + 2, "Rice", 0.9, human_label="Rice", data=b"rice")
    run(fake_store, settings, tmp_path)
    exported = manifest(tmp_path)[photo.id]
    assert exported["class_name"] == "Soup" and (tmp_path / exported["path"]).is_file()
    # WHEN the uploader takes the correction back
    labels.change_labels(fake_store, settings, photo.id, _withdraw)
    done = run(fake_store, settings, tmp_path)
    # THEN the photo leaves: no file, no row; the rest stays
    rows = manifest(tmp_path)
    assert photo.id not in rows and not (tmp_path / exported["path"]).exists()
    assert (done.removed, done.kept, done.unlabelled) == (1, 1, 1) and set(rows) == {other.id}
    assert files(tmp_path) == {r["path"] for r in rows.values()}


def test_a_photo_whose_record_is_gone_leaves_the_export(fake_store, settings, tmp_path):
    photo = seed_photo(fake_store, T0 + 1, "Egg", 0.9, human_label="Egg", data=b"egg")
    run(fake_store, settings, tmp_path)
    fake_store.delete("events", names.record_key(photo.id))
    assert run(fake_store, settings, tmp_path).removed == 1 and manifest(tmp_path) == {} and files(tmp_path) == set()


def test_rows_outside_since_are_kept_without_reading_their_records(fake_store, settings, tmp_path):
    old = seed_photo(fake_store, T0 - 86400, "Egg", 0.9, human_label="Egg", data=b"old")
    run(fake_store, settings, tmp_path)
    before = manifest(tmp_path)
    recent = seed_photo(fake_store, T0 + 1, "Soup", 0.9, human_label="Soup", data=b"recent")
    fake_store.calls.clear()
    done = run(fake_store, settings, tmp_path, since=T0)
    rows = manifest(tmp_path)
    assert rows[old.id] == before[old.id] and recent.id in rows and (done.kept, done.copied) == (1, 1)
    assert fake_store.calls.count("get_json") == 1


# --- the layout a folder-based loader numbers right -------------------------------------------------------------


def test_every_split_has_all_eleven_class_folders_even_empty(fake_store, settings, tmp_path):
    run(fake_store, settings, tmp_path)
    for split in ("training", "validation", "evaluation"):
        assert sorted(p.name for p in (tmp_path / split).iterdir()) == [f"class_{i:02d}" for i in range(11)]


def test_imagefolder_reads_the_class_of_every_file_as_the_manifest_says(fake_store, settings, tmp_path):
    from torchvision import datasets  # a test dependency: the course's training reads Food-11 with ImageFolder

    # GIVEN reviewed photos in only two classes (Dairy product, 1, and Soup, 9)
    for i in range(8):
        seed_photo(
            fake_store, T0 + i, "Egg", 0.5, human_label=["Dairy product", "Soup"][i % 2], data=b"\xff\xd8 photo %d" % i
        )
    run(fake_store, settings, tmp_path)
    rows = {r["path"]: r for r in manifest(tmp_path).values()}
    seen = 0
    for split in ("training", "validation", "evaluation"):
        loaded = datasets.ImageFolder(str(tmp_path / split), allow_empty=True)
        # THEN class_NN is class NN, whatever classes have photos
        assert loaded.class_to_idx == {f"class_{i:02d}": i for i in range(11)}
        for path, target in loaded.samples:
            row = rows[os.path.relpath(path, tmp_path)]
            assert target == int(row["class_index"]) and row["split"] == split
            seen += 1
    assert seen == len(rows) == 8


def test_phone_photos_and_gifs_are_exported_as_pngs_that_imagefolder_reads(fake_store, settings, tmp_path):
    import io

    from PIL import Image
    from torchvision import datasets

    from tests import phone_photos

    # GIVEN reviewed photos as phones and GIF makers send them, and one whose bytes are no image at all
    gif = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(gif, "GIF")
    sent = {".heic": phone_photos.heic(), ".avif": phone_photos.avif(), ".gif": gif.getvalue()}
    photos = {
        ext: seed_photo(fake_store, T0 + i, "Egg", 0.5, human_label="Soup", data=data, ext=ext)
        for i, (ext, data) in enumerate(sent.items())
    }
    broken = seed_photo(fake_store, T0 + 9, "Egg", 0.5, human_label="Soup", data=b"not a photo", ext=".heif")
    done = run(fake_store, settings, tmp_path)
    rows = manifest(tmp_path)
    # THEN each is a PNG of its pixels (ImageFolder would skip .heic, .avif and .gif without a word), split by
    # the photo's own bytes, and the file that cannot be decoded is named and left out
    assert set(rows) == {p.id for p in photos.values()} and done.copied == 3
    assert any(broken.id in e for e in done.errors)
    for ext, record in photos.items():
        row = rows[record.id]
        assert row["path"].endswith(".png") and row["sha256"] == sha(sent[ext])
        assert row["split"] == export.split_of(sha(sent[ext]))
        assert row["file_sha256"] == sha((tmp_path / row["path"]).read_bytes())
        with Image.open(tmp_path / row["path"]) as image:
            assert image.format == "PNG" and image.mode == "RGB"
    loaded = [
        s
        for split in ("training", "validation", "evaluation")
        for s in datasets.ImageFolder(str(tmp_path / split), allow_empty=True).samples
    ]
    assert sorted(os.path.relpath(p, tmp_path) for p, _ in loaded) == sorted(r["path"] for r in rows.values())
    assert {target for _, target in loaded} == {names.class_index("Soup")}
    # a second run keeps the PNGs without reading them again (only the undecodable photo is tried, and named, again)
    fake_store.calls.clear()
    again = run(fake_store, settings, tmp_path)
    assert fake_store.calls.count("read") == 1 and any(broken.id in e for e in again.errors)
    assert again.kept == 3 and manifest(tmp_path) == rows


def test_a_phone_photo_held_in_a_format_folder_loaders_skip_is_turned_upright_into_a_png(
    fake_store, settings, tmp_path
):
    import io

    from PIL import Image

    from tests import phone_photos
    from tests.conftest import photo

    # GIVEN a HEIC whose EXIF says "turned 90 degrees" and whose container does not turn it (heif-enc's)
    width, height = Image.open(io.BytesIO(photo())).size
    sent = phone_photos.heic(phone_photos.turned(photo(), 6))
    record = seed_photo(fake_store, T0, "Egg", 0.5, human_label="Soup", data=sent, ext=".heic")
    run(fake_store, settings, tmp_path)
    row = manifest(tmp_path)[record.id]
    # THEN the PNG is the photo as it is seen: upright, its sides swapped
    with Image.open(tmp_path / row["path"]) as image:
        assert image.size == (height, width)
    # WHEN an earlier export had kept it as .heic (its row without file_sha256)
    old = row["path"].removesuffix(".png") + ".heic"
    (tmp_path / row["path"]).rename(tmp_path / old)
    (tmp_path / old).write_bytes(sent)
    with open(tmp_path / export.MANIFEST, newline="") as f:
        lines = list(csv.DictReader(f))
    lines[0].update(path=old, file_sha256="", bytes=str(len(sent)))
    with open(tmp_path / export.MANIFEST, "w", newline="") as f:
        writer = csv.DictWriter(f, export.COLUMNS)
        writer.writeheader()
        writer.writerows(lines)
    again = run(fake_store, settings, tmp_path)
    # THEN the next run replaces it by a PNG (never renames HEIC bytes to .png)
    assert (again.leftovers, again.copied) == (1, 1) and files(tmp_path) == {row["path"]}
    assert (tmp_path / row["path"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_converted_files_row_claiming_a_hash_of_another_split_is_not_followed(fake_store, settings, tmp_path):
    import io

    from PIL import Image

    gif = io.BytesIO()
    Image.new("RGB", (8, 8), (0, 90, 0)).save(gif, "GIF")
    record = seed_photo(fake_store, T0, "Egg", 0.5, human_label="Soup", data=gif.getvalue(), ext=".gif")
    run(fake_store, settings, tmp_path)
    row = manifest(tmp_path)[record.id]
    # GIVEN a hand edit that gives the PNG the hash of other bytes, which belong in another split
    forged = next(h for h in (sha(b"%d" % i) for i in range(100)) if export.split_of(h) != row["split"])
    with open(tmp_path / export.MANIFEST, newline="") as f:
        lines = list(csv.DictReader(f))
    lines[0]["sha256"] = forged
    with open(tmp_path / export.MANIFEST, "w", newline="") as f:
        writer = csv.DictWriter(f, export.COLUMNS)
        writer.writeheader()
        writer.writerows(lines)
    # THEN the row is not followed: its file is removed as a leftover and the photo exported again from its record
    again = run(fake_store, settings, tmp_path)
    assert (again.leftovers, again.copied) == (1, 1) and manifest(tmp_path)[record.id]["sha256"] == row["sha256"]


# --- identical photos: one split, one file -------------------------------------------------------------------


def test_identical_photos_are_exported_once_in_the_split_of_their_bytes(fake_store, settings, tmp_path):
    twice = [
        seed_photo(fake_store, T0 + i, "Egg", 0.5, corrected_class="Egg", data=b"the same bytes") for i in range(3)
    ]
    other = seed_photo(fake_store, T0 + 9, "Egg", 0.5, corrected_class="Egg", data=b"other bytes")
    done = run(fake_store, settings, tmp_path)
    rows = manifest(tmp_path)
    assert set(rows) == {twice[0].id, other.id} and (done.copied, done.duplicates) == (2, 2)
    row = rows[twice[0].id]
    assert row["duplicate_ids"].split() == sorted(p.id for p in twice[1:])
    assert row["split"] == export.split_of(sha(b"the same bytes")) and row["sha256"] == sha(b"the same bytes")
    assert files(tmp_path) == {r["path"] for r in rows.values()}
    # a second run reads nothing from production, and the duplicates stay listed
    fake_store.calls.clear()
    again = run(fake_store, settings, tmp_path)
    assert "read" not in fake_store.calls and manifest(tmp_path) == rows and again.kept == 2


def test_a_reviewed_duplicate_gives_its_label_and_a_disagreement_leaves_the_photo_out(fake_store, settings, tmp_path):
    corrected = seed_photo(fake_store, T0 + 1, "Egg", 0.5, corrected_class="Egg", data=b"same")
    reviewed = seed_photo(fake_store, T0 + 2, "Egg", 0.5, data=b"same")
    run(fake_store, settings, tmp_path)
    labels.change_labels(fake_store, settings, reviewed.id, lambda r: _review(r, "Bread"))
    done = run(fake_store, settings, tmp_path)
    rows = manifest(tmp_path)
    assert set(rows) == {reviewed.id} and rows[reviewed.id]["duplicate_ids"] == corrected.id
    assert (rows[reviewed.id]["class_name"], rows[reviewed.id]["label_source"], done.moved) == ("Bread", "human", 1)
    # WHEN a second reviewer labels the other copy differently
    labels.change_labels(fake_store, settings, corrected.id, lambda r: _review(r, "Rice"))
    done = run(fake_store, settings, tmp_path)
    assert manifest(tmp_path) == {} and files(tmp_path) == set() and done.removed == 1
    assert len(done.conflicts) == 1 and corrected.id in done.conflicts[0] and reviewed.id in done.conflicts[0]


@pytest.mark.parametrize(
    ("labels_given", "expected"),
    [
        pytest.param([("b", "Egg", "corrected"), ("a", "Rice", "predicted")], ("b", "Egg"), id="better-source"),
        pytest.param([("b", "Egg", "human"), ("a", "Egg", "human")], ("a", "Egg"), id="earliest-id"),
        pytest.param([("a", "egg", "human"), ("b", "Egg", "human")], ("a", "egg"), id="same-class-any-case"),
        pytest.param([], None, id="none"),
    ],
)
def test_which_photo_a_file_of_identical_photos_is_labelled_by(labels_given, expected):
    members = [export.Member(pid, export.Label(name, source), {}) for pid, name, source in labels_given]
    chosen = export.choose(members)
    assert (chosen and (chosen.pid, chosen.label.class_name)) == expected


def test_identical_photos_labelled_differently_are_a_conflict():
    members = [
        export.Member("a", export.Label("Egg", "human"), {}),
        export.Member("b", export.Label("Rice", "human"), {}),
    ]
    with pytest.raises(export.Conflict, match="a Egg, b Rice"):
        export.choose(members)


def test_a_manifest_from_before_content_hashes_is_moved_to_the_content_split(fake_store, settings, tmp_path):
    photo = seed_photo(fake_store, T0 + 1, "Egg", 0.5, human_label="Egg", data=b"legacy")
    run(fake_store, settings, tmp_path)
    row = manifest(tmp_path)[photo.id]
    # GIVEN the folder as an export by id left it: another split, a manifest without the content columns
    split = next(name for name, _ in export.SPLITS if name != row["split"])
    old_path = f"{split}/class_03/{photo.id}.jpg"
    os.replace(tmp_path / row["path"], tmp_path / old_path)
    with open(tmp_path / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(
            f, [c for c in export.COLUMNS if c not in ("sha256", "duplicate_ids")], extrasaction="ignore"
        )
        writer.writeheader()
        writer.writerow({**row, "path": old_path, "split": split})
    fake_store.calls.clear()
    done = run(fake_store, settings, tmp_path)
    # THEN the file moves to its content's split, hashed from the local copy (nothing read from production)
    assert manifest(tmp_path) == {photo.id: row} and files(tmp_path) == {row["path"]}
    assert "read" not in fake_store.calls and (done.moved, done.copied) == (1, 0)


def test_a_copy_cut_short_by_a_signal_leaves_no_partial_file(fake_store, settings, tmp_path, monkeypatch):
    seed_photo(fake_store, T0 + 1, "Soup", 0.4, human_label="Soup", data=b"soup")
    real_write = export.write_new

    def interrupted(path, data):  # Ctrl-C (or SIGTERM) while the photo's bytes are being written
        real_write(path, data[:2])
        raise KeyboardInterrupt

    monkeypatch.setattr(export, "write_new", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(fake_store, settings, tmp_path)
    assert not list(tmp_path.rglob("*.partial")) and manifest(tmp_path) == {} and files(tmp_path) == set()


def test_a_run_stopped_while_reading_the_folder_leaves_the_manifest_as_it_was(
    fake_store, settings, tmp_path, monkeypatch
):
    for i in range(3):
        seed_photo(fake_store, T0 + i, "Soup", 0.4, human_label="Soup", data=b"%d" % i)
    run(fake_store, settings, tmp_path)
    before = manifest(tmp_path)
    real_sha256, calls = export.file_sha256, []

    def stopped(path):  # Ctrl-C (or SIGTERM) while the folder is being compared with the manifest
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_sha256(path)

    monkeypatch.setattr(export, "file_sha256", stopped)
    with pytest.raises(KeyboardInterrupt):
        run(fake_store, settings, tmp_path)
    monkeypatch.undo()
    assert manifest(tmp_path) == before and files(tmp_path) == {r["path"] for r in before.values()}


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param({"path": "../outside.jpg"}, id="path-outside"),
        pytest.param({"id": "../../outside"}, id="id-not-a-photo-id"),
        pytest.param({"duplicate_ids": "x/y"}, id="duplicate-not-a-photo-id"),
        pytest.param({"label_source": "guess"}, id="unknown-source"),
        pytest.param({"class_name": "Pizza"}, id="unknown-class"),
        pytest.param({"class_name": "Dessert"}, id="class-name-not-its-folders"),
        pytest.param({"class_index": "2"}, id="class-index-not-its-folders"),
        pytest.param({"human_label": "Dessert"}, id="label-not-its-sources"),
        pytest.param({"split": "elsewhere"}, id="split-not-its-folder"),
        pytest.param({"sha256": "0" * 64}, id="sha256-not-its-files"),
        pytest.param(None, id="short-line"),
    ],
)
def test_a_manifest_row_edited_out_of_shape_is_not_followed(fake_store, settings, tmp_path, edit):
    out = tmp_path / "dataset"
    photo = seed_photo(fake_store, T0 + 1, "Soup", 0.4, human_label="Soup", data=b"soup")
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(b"not the export's")
    run(fake_store, settings, out)
    row = manifest(out)[photo.id]
    with open(out / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, export.COLUMNS)
        writer.writeheader()
        if edit is None:  # a line cut after its fifth column
            f.write(",".join(row[c] for c in export.COLUMNS[:5]) + "\n")
        else:
            writer.writerow({**row, **edit})
    done = run(fake_store, settings, out)
    # THEN the row is ignored: its file is a leftover, copied again from production; nothing outside is touched
    assert outside.read_bytes() == b"not the export's" and (done.leftovers, done.copied) == (1, 1)
    assert manifest(out) == {photo.id: {**row, "exported_at": manifest(out)[photo.id]["exported_at"]}}


def test_a_record_whose_key_is_not_a_photo_id_is_named_and_not_exported(fake_store, settings, tmp_path):
    photo = seed_photo(fake_store, T0 + 1, "Soup", 0.4, human_label="Soup", data=b"soup")
    doc, _ = fake_store.get_json("events", names.record_key(photo.id))
    fake_store.put_json("events", "nested/../odd.json", doc)
    done = run(fake_store, settings, tmp_path)
    assert set(manifest(tmp_path)) == {photo.id} and done.errors == [
        "skipped events/nested/../odd.json: not a photo's record"
    ]


def test_a_long_run_writes_its_manifest_as_it_copies(fake_store, settings, tmp_path):
    """What SIGKILL (which no `finally` sees) can cost is bounded: the manifest is checkpointed while copying."""
    for i in range(3):
        seed_photo(fake_store, T0 + i, "Soup", 0.4, human_label="Soup", data=b"%d" % i)
    seen = []

    class Watching(Silent):
        def __enter__(self):
            for item in self.items:
                yield item
                seen.append(
                    (len(manifest(tmp_path)), files(tmp_path) == {r["path"] for r in manifest(tmp_path).values()})
                )

    export.export(fake_store, settings, tmp_path, progress=Watching, echo=lambda line: None, checkpoint_s=0)
    assert seen == [(1, True), (2, True), (3, True)]


def test_the_models_labels_leave_when_a_run_no_longer_asks_for_them(fake_store, settings, tmp_path):
    sure = seed_photo(fake_store, T0 + 1, "Soup", 0.95, data=b"sure")
    reviewed = seed_photo(fake_store, T0 + 2, "Soup", 0.95, human_label="Rice", data=b"reviewed")
    assert run(fake_store, settings, tmp_path, min_confidence=0.9).copied == 2
    # a stricter run, then one without the model's labels
    assert run(fake_store, settings, tmp_path, min_confidence=0.99).removed == 1
    assert set(manifest(tmp_path)) == {reviewed.id}
    run(fake_store, settings, tmp_path, min_confidence=0.9)
    assert manifest(tmp_path)[sure.id]["label_source"] == "predicted"
    done = run(fake_store, settings, tmp_path)
    assert set(manifest(tmp_path)) == {reviewed.id} and (done.removed, done.kept) == (1, 1)


# --- the folder is the export's alone, and nothing in it is trusted ---------------------------------------------


def _tree(root) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    "planted",
    [
        pytest.param({"training/class_03/0_1.jpg": b"a Food-11 photo"}, id="another-dataset"),
        pytest.param({"mine/class_01/keep.jpg": b"mine"}, id="a-folder-of-ones-own"),
        pytest.param({"notes.txt": b"notes"}, id="a-file"),
        pytest.param(
            {"manifest.csv": b"name,label\nx.jpg,Soup\n", "training/class_03/x.jpg": b"x"},
            id="a-manifest-not-an-exports",
        ),
    ],
)
def test_a_folder_holding_files_but_no_manifest_of_an_export_is_refused_untouched(
    fake_store, settings, tmp_path, planted
):
    """Its files would be taken for what a dead run left: `--out ~/Food-11` must not delete Food-11."""
    out = tmp_path / "Food-11"
    for name, data in planted.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(data)
    seed_photo(fake_store, T0 + 1, "Soup", 0.4, human_label="Seafood")
    with pytest.raises(export.ExportRefused, match="Food-11"):
        run(fake_store, settings, out)
    assert _tree(out) == planted and not (out / export.LOCK).exists() and "read" not in fake_store.calls


def test_only_the_splits_class_folders_are_swept(fake_store, settings, tmp_path):
    photo = seed_photo(fake_store, T0 + 1, "Soup", 0.4, human_label="Soup", data=b"soup")
    run(fake_store, settings, tmp_path)
    # GIVEN files an operator put next to the dataset once it is one, and one a dead run left in a class folder
    kept = {
        "mine/class_01/keep.jpg": b"mine",
        "training/README.txt": b"notes",
        "training/class_11/x.jpg": b"x",
        "training/class_03/subfolder/x.jpg": b"y",
    }
    for name, data in kept.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    (tmp_path / "validation" / "class_03" / f"{names.upload_id(T0 + 2)}.jpg").write_bytes(b"left by a dead run")
    done = run(fake_store, settings, tmp_path)
    assert done.leftovers == 1 and {**kept, manifest(tmp_path)[photo.id]["path"]: b"soup"} == {
        k: v for k, v in _tree(tmp_path).items() if k not in (export.MANIFEST, export.LOCK)
    }


@pytest.mark.parametrize("link", ["training", "training/class_04"])
def test_a_symlinked_split_or_class_folder_is_refused_by_name_and_not_followed(fake_store, settings, tmp_path, link):
    outside = tmp_path / "photos"
    (outside / "class_04").mkdir(parents=True)
    (outside / "holiday.jpg").write_bytes(b"not the export's")
    (outside / "class_04" / "holiday.jpg").write_bytes(b"not the export's")
    out = tmp_path / "out"
    photo = seed_photo(fake_store, T0 + 1, "Soup", 0.4, human_label="Soup", data=b"soup")
    run(fake_store, settings, out)  # a dataset already: the manifest does not make its links trusted
    os.replace(out / link, tmp_path / "moved-aside")
    (out / link).symlink_to(outside)
    seed_photo(fake_store, T0 + 2, "Egg", 0.4, human_label="Fried food", data=b"new")
    with pytest.raises(export.ExportRefused, match=f"out/{link} is not a folder"):
        run(fake_store, settings, out)
    assert _tree(outside) == {"holiday.jpg": b"not the export's", "class_04/holiday.jpg": b"not the export's"}
    assert set(manifest(out)) == {photo.id}


def test_a_symlink_in_a_class_folder_is_removed_itself_never_what_it_points_to(fake_store, settings, tmp_path):
    photo = seed_photo(fake_store, T0 + 1, "Soup", 0.4, human_label="Soup", data=b"soup")
    run(fake_store, settings, tmp_path)
    path = tmp_path / manifest(tmp_path)[photo.id]["path"]
    victim = tmp_path.parent / f"{tmp_path.name}-victim.jpg"
    victim.write_bytes(b"soup")  # even the same bytes: a link is not the export's file
    path.unlink()
    path.symlink_to(victim)
    stray = path.with_name(f"{names.upload_id(T0 + 2)}.jpg")
    stray.symlink_to(victim)
    done = run(fake_store, settings, tmp_path)
    assert victim.read_bytes() == b"soup" and not stray.is_symlink() and not path.is_symlink()
    assert path.read_bytes() == b"soup" and (done.leftovers, done.copied) == (2, 1)


def test_the_lock_never_follows_a_symlink_nor_writes_a_file_that_is_not_one(fake_store, settings, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (tmp_path / "link.lock").symlink_to(victim)
    (tmp_path / "folder.lock").mkdir()
    os.mkfifo(tmp_path / "fifo.lock")
    for name in ("link.lock", "folder.lock", "fifo.lock"):
        with pytest.raises(NotALockFile, match=name):
            with holding(tmp_path / name):
                pass
    out = tmp_path / "out"
    out.mkdir()
    (out / export.LOCK).symlink_to(victim)
    with pytest.raises(export.ExportRefused, match=r"\.export\.lock is not a regular file"):
        run(fake_store, settings, out)
    assert victim.read_text() == "precious\n"


def test_a_manifest_sha256_is_checked_against_its_file_before_two_photos_are_taken_for_one(
    fake_store, settings, tmp_path
):
    """Two rows given one hash: the second photo is not deleted as the first's duplicate."""
    a = seed_photo(fake_store, T0 + 1, "Soup", 0.4, human_label="Seafood", data=b"photo a")
    b = seed_photo(fake_store, T0 + 2, "Soup", 0.4, human_label="Seafood", data=b"photo b")
    run(fake_store, settings, tmp_path)
    rows = manifest(tmp_path)
    with open(tmp_path / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, export.COLUMNS)
        writer.writeheader()
        writer.writerows([rows[a.id], {**rows[b.id], "sha256": rows[a.id]["sha256"]}])
    done = run(fake_store, settings, tmp_path)
    after = manifest(tmp_path)
    assert {pid: (r["path"], r["sha256"], r["duplicate_ids"]) for pid, r in after.items()} == {
        pid: (r["path"], r["sha256"], r["duplicate_ids"]) for pid, r in rows.items()
    }
    assert files(tmp_path) == {r["path"] for r in rows.values()} and (done.leftovers, done.copied) == (1, 1)


def _retyped(store, at: float, **fields) -> Outcome:
    record = seed_photo(store, at, "Soup", 0.4, human_label="Seafood", data=b"%f" % at)
    doc, _ = store.get_json("events", names.record_key(record.id))
    store.put_json("events", names.record_key(record.id), {**doc, **fields})
    return record


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        pytest.param({"confidence": "0.9"}, "confidence is not a number", id="confidence-a-string"),
        pytest.param({"confidence": True}, "confidence is not a number", id="confidence-a-boolean"),
        pytest.param({"human_label": 5}, "human_label is not text", id="label-a-number"),
        pytest.param({"human_label": ["Soup"]}, "human_label is not text", id="label-a-list"),
        pytest.param({"production_key": {"k": 1}}, "production_key is not text", id="key-a-dict"),
        pytest.param({"flagged": "yes"}, "flagged is not true or false", id="flagged-a-string"),
        pytest.param({"source": None}, "source is not text", id="source-null"),
        pytest.param({"timestamps": {"uploaded": 5}}, "timestamps.uploaded is not text", id="uploaded-a-number"),
    ],
)
def test_a_record_with_a_field_of_the_wrong_type_is_named_and_the_rest_exported(
    fake_store, settings, tmp_path, fields, why
):
    good = seed_photo(fake_store, T0 + 9, "Soup", 0.4, human_label="Seafood", data=b"good")
    odd = _retyped(fake_store, T0 + 5, **fields)
    done = run(fake_store, settings, tmp_path)
    assert set(manifest(tmp_path)) == {good.id}
    assert done.errors == [f"skipped events/{odd.id}.json: not an outcome record ({why})"]


def test_a_record_whose_id_is_not_its_keys_is_skipped_as_malformed(fake_store, settings, tmp_path):
    """Its file would be named by its key and its row by its id: re-copied every run, its rows doubled."""
    other = names.upload_id(T0 + 100)
    odd = _retyped(fake_store, T0 + 5, id=other)
    done = run(fake_store, settings, tmp_path)
    assert manifest(tmp_path) == {} and done.errors == [
        f"skipped events/{odd.id}.json: not an outcome record (its id '{other}' is not its key's)"
    ]


def test_keys_and_paths_from_storage_are_printed_escaped(fake_store, settings, tmp_path):
    fake_store.put_json("events", "\x1b]0;owned\x07.json", {"status": "done"})
    record = seed_photo(fake_store, T0 + 1, "Soup", 0.4, human_label="Seafood")
    doc, _ = fake_store.get_json("events", names.record_key(record.id))
    fake_store.put_json("events", names.record_key(record.id), {**doc, "production_key": "class_09/\x1b[2Jx.jpg"})
    lines = []
    export.export(fake_store, settings, tmp_path, progress=Silent, echo=lines.append)
    assert lines == [
        "skipped events/\\x1b]0;owned\\x07.json: not a photo's record",
        f"skipped {record.id}: production/class_09/\\x1b[2Jx.jpg is gone",
    ]

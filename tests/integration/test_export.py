"""`gourmetgram export` as an operator runs it, against the real MinIO: one run per folder (a second,
concurrent process is refused), SIGTERM and SIGKILL mid-run (the manifest then names exactly the files, and
the next run converges), a withdrawn correction, and the dataset read back with torchvision's ImageFolder.

Each test seeds photos on a day long past of its own, and exports `--since` that day."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gourmetgram import labels
from gourmetgram_tools import export
from tests.conftest import PHOTOS, ROOT
from tests.seeding import seed_photo
from tests.stack import run_cli, wait_until

pytestmark = pytest.mark.integration


def start_export(stack, out: Path, since: str) -> subprocess.Popen:
    env = {**os.environ, **stack.settings.to_env()}
    return subprocess.Popen(
        [sys.executable, "-m", "gourmetgram", "export", "--out", str(out), "--since", since],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def manifest(out: Path) -> dict[str, dict]:
    with open(out / "manifest.csv", newline="") as f:
        return {row["id"]: row for row in csv.DictReader(f)}


def files(out: Path) -> set[str]:
    return {p.relative_to(out).as_posix() for p in out.glob("*/class_*/*") if p.is_file()}


def seed_day(store, day: datetime, count: int, label: str = "Soup") -> list:
    start = day.timestamp()
    return [
        seed_photo(
            store,
            start + i,
            "Egg",
            0.5,
            human_label=label,
            data=b"\xff\xd8\xff\xe0 %s %d" % (day.date().isoformat().encode(), i),
        )
        for i in range(count)
    ]


def stopped_mid_run(process: subprocess.Popen, out: Path, total: int) -> int:
    """Freeze the export once it has copied a photo and before it has copied all (SIGSTOP): how many files."""
    wait_until(lambda: files(out) or process.poll() is not None, 120, "the export's first file", interval=0.005)
    process.send_signal(signal.SIGSTOP)
    copied = len(files(out))
    assert process.poll() is None and 0 < copied < total, f"not mid-run: {copied} of {total} files"
    return copied


def test_a_second_export_into_the_same_folder_is_refused_naming_the_first(stack, store, tmp_path):
    photos = seed_day(store, datetime(2021, 8, 1, tzinfo=UTC), 150)
    out = tmp_path / "dataset"
    first = start_export(stack, out, "2021-08-01")
    try:
        # GIVEN a first export copying into the folder (frozen there, so that it cannot end first)
        stopped_mid_run(first, out, len(photos))
        # WHEN a second export is started into the same folder
        second = run_cli(stack.settings, "export", "--out", str(out), "--since", "2021-08-01", timeout=60)
    finally:
        first.send_signal(signal.SIGCONT)
    # THEN it stops at once, non-zero, naming the first; the first ends as if alone
    assert second.returncode == 1, second.stdout + second.stderr
    assert f"pid {first.pid}, started 20" in second.stderr and "another export is writing" in second.stderr
    stdout, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stdout + stderr
    rows = manifest(out)
    assert {p.id for p in photos} <= set(rows) and files(out) == {r["path"] for r in rows.values()}
    print(f"\nrefused: {second.stderr.strip()}")


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_an_export_stopped_mid_run_leaves_a_manifest_that_names_its_files(stack, store, tmp_path, stop):
    day = datetime(2021, 9, 1 if stop == signal.SIGTERM else 2, tzinfo=UTC)
    photos = seed_day(store, day, 150)
    out = tmp_path / "dataset"
    process = start_export(stack, out, day.date().isoformat())
    stopped_mid_run(process, out, len(photos))
    process.send_signal(stop)
    process.send_signal(signal.SIGCONT)
    stdout, stderr = process.communicate(timeout=120)
    if stop == signal.SIGTERM:
        # THEN SIGTERM ends it like Ctrl-C: its manifest names exactly the files it wrote
        assert process.returncode == 128 + signal.SIGTERM, stdout + stderr
        assert "stopped by SIGTERM" in stderr and "Traceback" not in stderr
        rows = manifest(out)
        assert 0 < len(rows) < len(photos) and files(out) == {r["path"] for r in rows.values()}
    else:  # no manifest, or a checkpoint's: what it names is there (the files copied since are not in it)
        assert process.returncode == -signal.SIGKILL
        assert not (out / "manifest.csv").exists() or {r["path"] for r in manifest(out).values()} <= files(out)
    # AND the next run converges: every photo once, the manifest matching the files, nothing partial
    again = run_cli(stack.settings, "export", "--out", str(out), "--since", day.date().isoformat())
    assert again.returncode == 0, again.stdout + again.stderr
    rows = manifest(out)
    assert {p.id for p in photos} <= set(rows) and files(out) == {r["path"] for r in rows.values()}
    assert not list(out.rglob("*.partial"))
    print(f"\n{signal.Signals(stop).name}: {stderr.strip()[-200:]}\nnext run: {again.stdout.strip()}")


def _withdraw(record):
    record.corrected_class = None
    return record


def test_a_withdrawn_correction_leaves_and_imagefolder_reads_the_manifests_labels(stack, store, tmp_path):
    from torchvision import datasets  # a test dependency: the course's training reads Food-11 with ImageFolder

    day = datetime(2021, 10, 1, tzinfo=UTC)
    jpegs = sorted(p.read_bytes() for p in PHOTOS.glob("*.jpg"))
    assert len(jpegs) >= 2
    # GIVEN photos in two classes only, one of them an uploader's correction from Egg to Soup
    reviewed = [
        seed_photo(
            store,
            day.timestamp() + i,
            "Egg",
            0.5,
            human_label=["Bread", "Soup"][i % 2],
            data=jpegs[i % len(jpegs)] + b"#%d" % i,
        )
        for i in range(8)
    ]
    corrected = seed_photo(
        store, day.timestamp() + 100, "Egg", 0.9, corrected_class="Soup", data=jpegs[0] + b"#corrected"
    )
    out = tmp_path / "dataset"
    first = run_cli(stack.settings, "export", "--out", str(out), "--since", "2021-10-01")
    assert first.returncode == 0, first.stdout + first.stderr
    assert manifest(out)[corrected.id]["path"].split("/")[1] == "class_09"
    # WHEN the uploader withdraws the correction, and the operator exports again
    labels.change_labels(store, stack.settings, corrected.id, _withdraw)
    second = run_cli(stack.settings, "export", "--out", str(out), "--since", "2021-10-01")
    assert second.returncode == 0 and "removed 1" in second.stdout, second.stdout + second.stderr
    rows = manifest(out)
    assert corrected.id not in rows and {p.id for p in reviewed} <= set(rows)
    # THEN a folder-based loader numbers class_NN as NN in every split, and reads each file's manifest class
    by_path = {r["path"]: r for r in rows.values()}
    loaded_paths = set()
    for split, _ in export.SPLITS:
        loaded = datasets.ImageFolder(str(out / split), allow_empty=True)
        assert loaded.class_to_idx == {f"class_{i:02d}": i for i in range(11)}
        for path, target in loaded.samples:
            relative = Path(path).relative_to(out).as_posix()
            assert target == int(by_path[relative]["class_index"])
            loaded_paths.add(relative)
    assert loaded_paths == set(by_path) == files(out)
    print(f"\nafter the withdrawal: {second.stdout.strip()}")


def test_an_export_into_a_dataset_it_did_not_write_is_refused_and_touches_nothing(stack, store, tmp_path):
    """`--out ~/Food-11`: Food-11's photos are not what a dead run left; the operator is told, exit 1."""
    seed_day(store, datetime(2021, 11, 1, tzinfo=UTC), 2)
    out = tmp_path / "Food-11"
    photo = out / "training" / "class_03" / "0_1.jpg"
    photo.parent.mkdir(parents=True)
    photo.write_bytes(b"a Food-11 photo")
    result = run_cli(stack.settings, "export", "--out", str(out), "--since", "2021-11-01")
    assert result.returncode == 1 and "export refused" in result.stderr and str(photo) in result.stderr, (
        result.stdout + result.stderr
    )
    assert [p for p in out.rglob("*") if p.is_file()] == [photo] and photo.read_bytes() == b"a Food-11 photo"

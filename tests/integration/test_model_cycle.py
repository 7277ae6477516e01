"""Issue 28's whole cycle on the real MinIO, with the function running, through the `gourmetgram` commands as an
operator types them: a champion labels photos, people review them, a second model is added and set as
challenger, it labels new photos in the shadow, `model replay` scores it on the old ones, `quality` compares
the two on the same reviewed photos, promotion is refused while the challenger is worse and accepted once it is
better, and the swap it causes loses no photo of a burst of bucket drops and web uploads, nor labels one twice.

The challenger is the fixture model with its head moved one class on: where the champion (the fixture model)
names class c, it names c + 1. Reviewers' labels are then chosen per photo as c (only the champion is right),
c + 1 (only the challenger is right) or c + 2 (both wrong), so every count of the comparison is known."""

from __future__ import annotations

import collections
import concurrent.futures
import threading
import time

import pytest

from classifier_fn.inference import model
from gourmetgram import labels, model_comparison, model_registry, names, outcome
from gourmetgram.store import Store
from gourmetgram_tools.models import CHALLENGER_ARGUMENT
from ingest import review
from tests.model_photos import (
    BY_EVENT_S,
    FIXTURE_MODEL,
    drop_photos,
    head_shifted_by_one,
    labelled,
    readyz,
    send_steadily,
)
from tests.stack import run_cli, stack_settings, start_stack, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OLD = 30  # photos the champion labels before any challenger, all reviewed (model_comparison.MIN_PAIRED)
NEW = 8  # photos labelled with the challenger in the shadow: a quarter of them (SHADOW_SHARE) get its answer
# The first review of the OLD photos: how many reviewers say the champion's class, the challenger's, or a third.
CHAMPION_RIGHT, CHALLENGER_RIGHT, BOTH_WRONG = 14, 10, 6
SHADOWED = 2  # NEW photos with the challenger's answer, both reviewed as the challenger's class
REVISED = 4  # BOTH_WRONG photos a second reviewer changes to the challenger's class


@pytest.fixture(scope="module")
def cycle_stack(tmp_path_factory):
    stack = start_stack(tmp_path_factory.mktemp("cycle"), stack_settings())
    yield stack
    stack.stop_all(kill=True)


def cli(stack, *args: str):
    started = time.monotonic()
    done = run_cli(stack.settings, *args)
    print(f"$ gourmetgram {' '.join(args)}  ({time.monotonic() - started:.1f} s)\n{done.stdout}{done.stderr}")
    return done


def review_as(store: Store, stack, record: dict, shift: int, replace: bool = False) -> None:
    """A reviewer's label, saved as the review page saves it: the fixture model's class moved `shift` on."""
    fixture_class = record["class_index"]  # these photos were labelled by the champion, the fixture model
    label = names.CLASSES[(fixture_class + shift) % len(names.CLASSES)]
    labels.change_labels(store, stack.settings, record["id"], lambda r: review.reviewed(r, label, replace=replace))


def test_a_challenger_shadows_is_replayed_compared_refused_then_promoted_without_losing_a_photo(cycle_stack, tmp_path):
    s = cycle_stack
    root = Store.connect(s.settings)
    champion = model.load(FIXTURE_MODEL).version

    # GIVEN the fixture model registered and promoted as the first champion, by the operator's commands
    assert cli(s, "model", "add", str(FIXTURE_MODEL), "--note", "the course model").returncode == 0
    first = cli(s, "model", "promote", champion)
    assert first.returncode == 0 and "the first champion" in first.stdout
    wait_until(lambda: readyz(s)["models"]["champion"] == champion, BY_EVENT_S, "the function to see the champion")
    assert readyz(s)["model_version"] == champion

    # AND photos it labelled, reviewed: CHAMPION_RIGHT as its class, CHALLENGER_RIGHT as the class after it (what
    # the challenger will say), BOTH_WRONG as the class after that (what neither says)
    old = labelled(root, drop_photos(root, "old", OLD), {champion: 0})
    assert all("shadow" not in r for r in old)
    shifts = [0] * CHAMPION_RIGHT + [1] * CHALLENGER_RIGHT + [2] * BOTH_WRONG
    for record, shift in zip(old, shifts, strict=True):
        review_as(root, s, record, shift)

    # WHEN a second model is added and set as the challenger
    shifted_path = tmp_path / "food11_head_plus_one.pth"
    shifted_path.write_bytes(head_shifted_by_one())
    added = cli(s, "model", "add", str(shifted_path), "--note", "head moved one class on")
    assert added.returncode == 0, added.stderr
    challenger = added.stdout.split()[1]
    assert challenger.startswith("food11-") and challenger != champion
    assert cli(s, "model", "challenge", challenger).returncode == 0
    wait_until(lambda: readyz(s)["models"]["shadow"] == challenger, BY_EVENT_S, "the challenger in the shadow")

    # THEN new photos carry its answer in `shadow`, and production (class, tags) stays the champion's
    new = labelled(root, drop_photos(root, "new", NEW), {champion: 0})
    shadowed = [r for r in new if r.get("shadow")]
    assert len(shadowed) == SHADOWED, [r.get("shadow") for r in new]
    for r in shadowed:
        assert r["shadow"]["model_version"] == challenger
        assert r["shadow"]["class_index"] == (r["class_index"] + 1) % 11
        assert challenger not in root.get_tags("production", r["production_key"]).values()
        review_as(root, s, r, 1)  # the reviewer agrees with the challenger

    # AND promotion is refused before the replay: only the SHADOWED photos are paired
    too_soon = cli(s, "model", "promote", CHALLENGER_ARGUMENT)
    assert too_soon.returncode == 1
    assert f"too few paired photos: {SHADOWED} reviewed photos were labelled by both" in too_soon.stderr

    # WHEN the challenger is replayed on the reviewed photos
    replayed = cli(s, "model", "replay", "--since", "1d", "--rate", "50")
    assert replayed.returncode == 0, replayed.stderr
    assert f"{challenger}: {OLD} reviewed photo(s) without its answer; wrote {OLD}" in replayed.stdout
    # THEN each old record has its answer (the champion's class + 1), and its class and tags are the champion's
    for r in old:
        after = outcome.read(root, "events", r["id"]).outcome
        assert after.shadow["model_version"] == challenger
        assert after.shadow["class_index"] == (r["class_index"] + 1) % 11
        assert after.model_version == champion and after.class_index == r["class_index"]
        tags = root.get_tags("production", r["production_key"])
        assert tags["model_version"] == champion and tags["predicted_class"] == r["predicted_class"]
        assert after.human_label  # the replay kept the review

    # AND the comparison counts each paired photo once: the champion right on CHAMPION_RIGHT of them, the
    # challenger on CHALLENGER_RIGHT + SHADOWED, never the same answer (the heads differ by one class everywhere)
    paired = OLD + SHADOWED
    champion_right, challenger_right = CHAMPION_RIGHT, CHALLENGER_RIGHT + SHADOWED
    quality = cli(s, "quality", "--days", "1")
    assert quality.returncode == 0, quality.stderr
    p = model_comparison.mcnemar_exact(champion_right, challenger_right)
    assert (
        f"{champion} (champion) against {challenger} (challenger), on the {paired} reviewed photo(s) both labelled"
        in quality.stdout
    )
    assert f"{champion_right} of {paired}" in quality.stdout and f"{challenger_right} of {paired}" in quality.stdout
    assert (
        f"only {champion} right: {champion_right}; only {challenger} right: {challenger_right} "
        f"(McNemar exact, two-sided: p = {p:.3g})" in quality.stdout
    )
    assert "same answer: 0" in quality.stdout

    # WHEN the operator promotes the challenger THEN it is refused: it is right on fewer photos (12 < 14)
    worse = cli(s, "model", "promote", CHALLENGER_ARGUMENT)
    assert worse.returncode == 1
    assert f"the challenger is worse: {challenger} got {challenger_right} of {paired}" in worse.stderr
    assert model_registry.read_alias(root, model_registry.CHAMPION).version == champion

    # WHEN a second reviewer changes REVISED of the both-wrong photos to the challenger's class (16 > 14)
    both_wrong = [r for r, shift in zip(old, shifts, strict=True) if shift == 2]
    for r in both_wrong[:REVISED]:
        review_as(root, s, r, 1, replace=True)
    challenger_right += REVISED

    # AND promotes it again while photos keep coming, dropped in the bucket and uploaded on the page
    stop = threading.Event()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        stream = pool.submit(send_steadily, root, s.web_url, "swap", stop)
        time.sleep(1)
        better = cli(s, "model", "promote", CHALLENGER_ARGUMENT)
        wait_until(lambda: readyz(s)["model_version"] == challenger, BY_EVENT_S, "the new champion to serve")
        time.sleep(1.5)
        stop.set()
        burst = stream.result()
    # THEN it is promoted, with the counts that allowed it, and stops being the challenger
    assert better.returncode == 0, better.stderr
    assert f"champion: {champion} -> {challenger}: {challenger} got {challenger_right} of {paired}" in better.stdout
    assert model_registry.read_alias(root, model_registry.CHALLENGER).version is None
    wait_until(lambda: readyz(s)["models"]["shadow"] is None, BY_EVENT_S, "the shadow to stop")
    # AND every photo of the burst was labelled exactly once, its record and tags naming the model that labelled
    # it (its class is that model's), by both models across the swap, from both doors
    during = labelled(root, burst, {champion: 0, challenger: 1})
    by_model = collections.Counter(r["model_version"] for r in during)
    print(f"\n{len(burst)} photos across the swap: {dict(by_model)}")
    assert set(by_model) == {champion, challenger}
    assert {r["source"] for r in during} == {"web", "bucket"}
    for r in during:  # a shadow answer only ever from the other model, and only on the old champion's photos
        if r.get("shadow"):
            assert (r["model_version"], r["shadow"]["model_version"]) == (champion, challenger), r
    after = labelled(root, drop_photos(root, "after", 4), {challenger: 1})
    assert all("shadow" not in r for r in after)

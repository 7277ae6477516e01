"""The model follower and the check a model passes before it serves (the registry in the FakeStore)."""

from __future__ import annotations

import io
import math

import pytest
import torch

from classifier_fn.inference import model, model_check
from classifier_fn.inference.follower import Follower, initial
from classifier_fn.inference.infer import CHALLENGER, CHAMPION, Batcher, ServedModel
from classifier_fn.inference.model_check import ModelRefused, checked
from gourmetgram import memory, model_registry
from tests.conftest import FIXTURES
from tests.fakes import FakeStore
from tests.unit.test_infer import Counting, image

FIXTURE_MODEL = FIXTURES / "food11_full.pth"
PLENTY = lambda: (10**12, "test: plenty")  # noqa: E731


def state_bytes(change=None) -> bytes:
    """The fixture model as a state dict, its head changed by `change(state)` (a second model, or a broken one)."""
    state = {k: v.clone() for k, v in model.load(FIXTURE_MODEL).module.state_dict().items()}
    if change:
        change(state)
    out = io.BytesIO()
    torch.save(state, out)
    return out.getvalue()


def other_head(state):
    # Another head: the same backbone, its classes' weights in another order (a different, working model).
    state["classifier.1.weight"] = state["classifier.1.weight"].roll(1, dims=0)
    state["classifier.1.bias"] = state["classifier.1.bias"].roll(1, dims=0)


def ten_classes(state):
    state["classifier.1.weight"] = state["classifier.1.weight"][:10]
    state["classifier.1.bias"] = state["classifier.1.bias"][:10]


def nan_weights(state):
    state["classifier.1.weight"][0, 0] = math.nan


@pytest.fixture
def fake_store() -> FakeStore:
    return FakeStore(buckets=("incoming", "production", "quarantine", "events", model_registry.BUCKET))


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    return {
        "good": FIXTURE_MODEL.read_bytes(),
        "other": state_bytes(other_head),
        "ten": state_bytes(ten_classes),
        "nan": state_bytes(nan_weights),
    }


def test_a_working_model_passes_and_is_built_for_serving(files):
    loaded, served = checked(files["other"], "other", batch_size=2, room=PLENTY)
    assert served.version == loaded.version == model.model_version(files["other"], False)
    with torch.inference_mode():
        assert served.module(image(0)[None].contiguous(memory_format=torch.channels_last)).shape == (1, 11)


@pytest.mark.parametrize(
    ("name", "why"),
    [("ten", "Linear\\(1280, 11\\) head"), ("nan", "not finite")],
    ids=["a file of the wrong head", "NaN weights"],
)
def test_a_model_that_fails_its_check_is_refused_with_why(files, name, why):
    with pytest.raises(ModelRefused, match=why):
        checked(files[name], name, batch_size=2, room=PLENTY)


def test_a_model_too_large_for_the_memory_left_is_refused_before_it_loads(files, monkeypatch):
    size = len(files["good"])
    monkeypatch.setattr(model_check, "load_bytes", lambda *a: pytest.fail("loaded although it cannot fit"))
    room = lambda: (size * model_check.MEMORY_FACTOR - 1, "test limit")  # noqa: E731
    with pytest.raises(ModelRefused, match="too large for the memory left.*test limit"):
        checked(files["good"], "good", batch_size=2, room=room)
    model_check.fits(size, lambda: (size * model_check.MEMORY_FACTOR, "just enough"))  # no exception


def test_the_memory_left_is_the_smallest_cgroup_limit_minus_what_the_process_uses(tmp_path, monkeypatch):
    root, membership = tmp_path / "cg", tmp_path / "cgroup"
    membership.write_text("0::/outer/inner\n")
    (root / "outer" / "inner").mkdir(parents=True)
    (root / "outer" / "memory.max").write_text("1000000\n")
    (root / "outer" / "inner" / "memory.max").write_text("max\n")
    assert memory.cgroup_memory_limit(root, membership) == 1_000_000
    monkeypatch.setattr(memory, "resident_bytes", lambda: 400_000)
    free, how = memory.headroom(root, membership)
    assert free == 600_000 and "1,000,000" in how
    (root / "outer" / "memory.max").write_text("max\n")
    assert memory.cgroup_memory_limit(root, membership) is None


@pytest.fixture
def registry(fake_store, files):
    """The registry with the three models added; returns set(alias, version)."""
    versions = {}
    for name in ("good", "other", "nan"):
        info, _ = model_registry.add(fake_store, files[name], format="state_dict", by="test")
        versions[name] = info.version

    def point(alias: str, name: str | None) -> str | None:
        read = model_registry.read_alias(fake_store, alias)
        model_registry.set_alias(fake_store, read, versions[name] if name else None, by="test")
        return versions[name] if name else None

    point.versions = versions  # type: ignore[attr-defined]
    return point


@pytest.fixture
def quick_build(monkeypatch):
    # Building for serving (folding, tracing) is tested above: here the checked module serves as it is.
    monkeypatch.setattr(model_check, "for_inference", lambda module: module)


@pytest.fixture
def following(fake_store, quick_build):
    batcher = Batcher(Counting(), batch_size=2, wait_ms=1, version="food11-startup").start()
    told: list[str] = []
    counts = {"swap": [], "refused": []}
    follower = Follower(
        fake_store,
        batcher,
        batch_size=2,
        serving=lambda served: told.append(served.version),
        on_swap=counts["swap"].append,
        on_refused=counts["refused"].append,
        room=PLENTY,
    )
    yield follower, batcher, told, counts
    batcher.stop()


def test_the_follower_serves_the_champion_and_keeps_it_when_a_new_one_fails_its_check(registry, following):
    follower, batcher, told, counts = following
    follower.check()  # no champion yet: the model it started with stays
    assert batcher.serving(CHAMPION).version == "food11-startup" and told == []
    good = registry(CHAMPION, "good")
    follower.check()
    assert batcher.serving(CHAMPION).version == good and told == [good]
    assert batcher.predict(image(0), timeout=10).model_version == good
    # WHEN the champion alias moves to a model with NaN weights
    nan = registry(CHAMPION, "nan")
    follower.check()
    # THEN it is refused: the good one still serves, and readiness says which and why
    assert batcher.serving(CHAMPION).version == good and told == [good]
    assert counts == {"swap": [CHAMPION], "refused": [CHAMPION]}
    refused = follower.describe()["refused"]
    assert [(r["alias"], r["version"]) for r in refused] == [(CHAMPION, nan)] and "not finite" in refused[0]["why"]
    assert any(nan in line and "the model serving stays" in line for line in follower.problems())
    follower.check()  # the same version is not tried again
    assert counts["refused"] == [CHAMPION]
    # and once the alias names a good model again, the refusal is gone from readiness
    registry(CHAMPION, "good")
    follower.check()
    assert follower.problems() == [] and batcher.serving(CHAMPION).version == good


def test_the_challenger_is_followed_checked_and_cleared(registry, following, fake_store):
    follower, batcher, told, counts = following
    good = registry(CHAMPION, "good")
    other = registry(CHALLENGER, "other")
    follower.check()
    assert batcher.serving(CHALLENGER).version == other and follower.describe()["shadow"] == other
    # promoted: the challenger's built model is reused, no second read of its file
    registry(CHAMPION, "other")
    reads = len(fake_store.calls)
    follower.check()
    assert batcher.serving(CHAMPION).version == other and told == [good, other]
    assert "read" not in fake_store.calls[reads:]
    assert batcher.serving(CHALLENGER) is None  # the champion in its own shadow compares nothing
    # a challenger that fails its check labels nothing
    registry(CHALLENGER, "nan")
    follower.check()
    assert batcher.serving(CHALLENGER) is None and follower.describe()["refused"][0]["alias"] == CHALLENGER
    registry(CHALLENGER, "good")
    follower.check()
    assert batcher.serving(CHALLENGER).version == good and follower.problems() == []
    registry(CHALLENGER, None)
    follower.check()
    assert batcher.serving(CHALLENGER) is None and follower.describe()["shadow"] is None


def test_an_unreadable_registry_leaves_the_model_serving_and_says_so(following, fake_store):
    follower, batcher, _, _ = following
    fake_store.down = True
    follower.check()
    assert batcher.serving(CHAMPION).version == "food11-startup"
    assert "cannot read the model registry" in follower.describe()["problem"] and follower.problems() == []


def test_at_start_up_the_champion_serves_else_the_model_path(registry, fake_store, quick_build):
    assert initial(fake_store, 2, room=PLENTY) == (None, "the registry has no champion")
    good = registry(CHAMPION, "good")
    served, why = initial(fake_store, 2, room=PLENTY)
    assert isinstance(served, ServedModel) and served.version == good and good in why
    registry(CHAMPION, "nan")
    served, why = initial(fake_store, 2, room=PLENTY)
    assert served is None and "refused" in why


def test_the_thread_checks_at_once_when_woken(registry, following):
    follower, batcher, _, _ = following
    follower._interval_s = 3600.0
    follower.start()
    try:
        assert follower.wait_checks(1, 30)  # the first check at start
        good = registry(CHAMPION, "good")
        follower.wake()
        assert follower.wait_checks(2, 30)
        assert batcher.serving(CHAMPION).version == good
    finally:
        follower.stop()


def test_a_champion_too_large_for_the_memory_left_is_refused_before_its_file_is_read(registry, fake_store):
    batcher = Batcher(Counting(), batch_size=2, wait_ms=1, version="food11-startup").start()
    small = lambda: (1_000_000, "a 1 MB test limit")  # noqa: E731
    follower = Follower(fake_store, batcher, batch_size=2, room=small)
    try:
        good = registry(CHAMPION, "good")
        fake_store.calls.clear()
        follower.check()
        assert batcher.serving(CHAMPION).version == "food11-startup"
        assert "read" not in fake_store.calls  # the registry's info said its size: the file was never fetched
        refused = follower.describe()["refused"]
        assert refused[0]["version"] == good and "too large for the memory left" in refused[0]["why"]
        assert "a 1 MB test limit" in refused[0]["why"]
    finally:
        batcher.stop()


def test_a_promoted_challenger_never_labels_a_batch_in_its_own_shadow(registry, following, monkeypatch):
    follower, batcher, _, _ = following
    registry(CHAMPION, "good")
    other = registry(CHALLENGER, "other")
    follower.check()
    # The models each batch would run with: recorded every time the batcher applies swaps between two batches.
    seen: list[tuple[str, str | None]] = []
    apply = batcher._apply_swaps

    def recorded() -> None:
        apply()
        challenger = batcher.serving(CHALLENGER)
        seen.append((batcher.serving(CHAMPION).version, challenger.version if challenger else None))

    monkeypatch.setattr(batcher, "_apply_swaps", recorded)
    # WHEN the challenger is promoted (its alias not cleared yet: `model promote` clears it in a second write)
    registry(CHAMPION, "other")
    follower.check()
    # THEN no batch ever had it as both champion and challenger
    assert (other, other) not in seen, seen
    assert batcher.serving(CHAMPION).version == other and batcher.serving(CHALLENGER) is None
    assert follower.describe()["shadow"] is None


def test_an_alias_edited_by_hand_into_garbage_leaves_the_model_serving_and_says_why(registry, following, fake_store):
    follower, batcher, _, _ = following
    good = registry(CHAMPION, "good")
    follower.check()
    # WHEN someone with root's keys writes the champion alias as a JSON list
    fake_store.put_json(model_registry.BUCKET, "aliases/champion.json", [good])
    follower.check()  # THEN the check ends (it does not raise into the thread's log alone)
    # AND the model serving stays, and readiness says which document is wrong
    assert batcher.serving(CHAMPION).version == good
    assert "aliases/champion.json" in follower.describe()["problem"]
    # AND a function starting now starts on MODEL_PATH, saying why (it does not fail to start)
    served, why = initial(fake_store, 2, room=PLENTY)
    assert served is None and "aliases/champion.json" in why


@pytest.mark.parametrize("edit", [{"size": "9000000"}, {"size": None}, {"version": "food11-another"}], ids=str)
def test_an_info_document_edited_by_hand_leaves_the_model_serving_and_says_why(registry, following, fake_store, edit):
    follower, batcher, _, _ = following
    good = registry(CHAMPION, "good")
    follower.check()
    other = registry(CHAMPION, "other")
    # WHEN someone with root's keys edits the new champion's info document out of shape
    doc, _ = fake_store.get_json(model_registry.BUCKET, model_registry.info_key(other))
    fake_store.put_json(model_registry.BUCKET, model_registry.info_key(other), {**doc, **edit})
    follower.check()  # THEN the check ends, the model serving stays, and readiness names the document
    assert batcher.serving(CHAMPION).version == good
    assert any("info.json" in r["why"] for r in follower.describe()["refused"]) or "info.json" in str(
        follower.describe()["problem"]
    )
    # AND a function starting now starts on MODEL_PATH, saying why (it does not fail to start)
    served, why = initial(fake_store, 2, room=PLENTY)
    assert served is None and "info.json" in why


def test_an_alias_naming_a_model_whose_file_is_missing_is_shown_and_tried_again(registry, following, fake_store):
    follower, batcher, _, counts = following
    good = registry(CHAMPION, "good")
    other = registry(CHAMPION, "other")
    data = fake_store.read(model_registry.BUCKET, model_registry.model_key(other))
    fake_store.delete(model_registry.BUCKET, model_registry.model_key(other))
    # WHEN the champion alias names a version whose file is gone (deleted by hand, or not yet replicated)
    follower.check()
    # THEN the model serving stays, and readiness says which version and why
    assert batcher.serving(CHAMPION).version == "food11-startup" and good
    refused = follower.describe()["refused"]
    assert [(r["alias"], r["version"]) for r in refused] == [(CHAMPION, other)] and "missing" in refused[0]["why"]
    follower.check()
    assert counts["refused"] == [CHAMPION]  # told once, not at every check
    # AND once the file is back, the next check serves it (a missing file says nothing about the model)
    model_registry.add(fake_store, data, format="state_dict", by="test")
    follower.check()
    assert batcher.serving(CHAMPION).version == other and follower.problems() == []


def test_a_champion_refused_for_the_memory_left_is_tried_again_when_there_is_room(registry, fake_store, quick_build):
    batcher = Batcher(Counting(), batch_size=2, wait_ms=1, version="food11-startup").start()
    room = {"free": 1_000_000}
    follower = Follower(fake_store, batcher, batch_size=2, room=lambda: (room["free"], "a test limit"))
    try:
        good = registry(CHAMPION, "good")
        follower.check()
        assert batcher.serving(CHAMPION).version == "food11-startup" and follower.problems()
        # WHEN memory is freed (another process ended; the memory left says nothing of the model's file)
        room["free"] = 10**12
        follower.check()
        # THEN the next check serves it, without a restart
        assert batcher.serving(CHAMPION).version == good and follower.problems() == []
    finally:
        batcher.stop()


def test_a_model_refused_as_challenger_then_promoted_is_refused_as_champion_too_saying_why(registry, following):
    follower, batcher, _, _ = following
    good = registry(CHAMPION, "good")
    nan = registry(CHALLENGER, "nan")
    follower.check()
    # WHEN the refused challenger is promoted anyway (`model promote --force`, which clears the challenger)
    registry(CHAMPION, "nan")
    registry(CHALLENGER, None)
    follower.check()
    # THEN the champion serving stays, and readiness says the champion alias names a refused model, and why
    assert batcher.serving(CHAMPION).version == good
    refused = {r["alias"]: r for r in follower.describe()["refused"]}
    assert refused[CHAMPION]["version"] == nan and "not finite" in refused[CHAMPION]["why"]
    assert any(line.startswith(f"champion {nan} refused") for line in follower.problems())
    assert CHALLENGER not in refused  # the challenger alias names nothing now: its old refusal is not shown


def test_a_model_file_larger_than_registered_is_read_no_further_than_its_registered_size(registry, fake_store):
    # The memory check judged the registered size: a file replaced by a larger one (by hand, with root's keys) is
    # read no further than that size plus one byte, and refused, never read whole.
    other = registry.versions["other"]  # type: ignore[attr-defined]
    size = model_registry.get(fake_store, other).size
    fake_store.put(model_registry.BUCKET, model_registry.model_key(other), b"\0" * (size * 3))
    fake_store.bytes_read = 0
    with pytest.raises(model_registry.RegistryError, match="not the one registered"):
        model_registry.read_model(fake_store, other)
    assert fake_store.bytes_read <= size + 1

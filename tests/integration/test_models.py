"""The model registry on the real MinIO, through the `gourmetgram model` command as an operator runs it: add,
list, challenge, replay, promote (refused, then accepted), rollback and the log; two changes of one alias at
once (one wins); and the rights `configure` gives (the function reads models, nobody else but root writes).

A MinIO of this module's own with no function: the alias changes here must not make a shared stack's function
follow another model. The second model is the fixture model with its head's rows rolled by one, so it names
class (i + 1) mod 11 wherever the fixture model names class i: every expected answer is known exactly."""

from __future__ import annotations

import functools
import hashlib
import io
import json
import threading
import time

import pytest
import torch

from classifier_fn.inference import model
from gourmetgram import model_registry, names, outcome
from gourmetgram.model_registry import CHALLENGER, CHAMPION, AliasMoved
from gourmetgram.settings import Settings
from gourmetgram.store import NotFound, Store, StoreError
from gourmetgram_tools.local import LocalStack
from tests.conftest import FIXTURES, fixture_file
from tests.seeding import seed_photo
from tests.stack import run_cli, stack_settings

pytestmark = pytest.mark.integration

FULL = FIXTURES / "food11_full.pth"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())["images"]  # photo -> the fixture model's class
PHOTOS = 32  # reviewed photos seeded: more than model_comparison.MIN_PAIRED


@pytest.fixture(scope="module")
def bare(tmp_path_factory):
    stack = LocalStack(stack_settings(), tmp_path_factory.mktemp("models"), queue_dir=False)
    try:
        stack.start_minio()
        stack.configure()
        yield stack
    finally:
        stack.stop_all()


@pytest.fixture(scope="module")
def store(bare) -> Store:
    return Store.connect(bare.settings)


def as_component(settings: Settings, component: str) -> Settings:
    user, password = settings.component_credentials(component)
    return settings.replace(minio_user=user, minio_password=password)


def rolled_head(tmp_path) -> tuple[bytes, str]:
    """The fixture model (as a state dict) with its head's rows rolled by one: a second, different model."""
    state = torch.load(model.DEMO_MODEL, map_location="cpu", weights_only=True)
    for name in ("classifier.1.weight", "classifier.1.bias"):
        state[name] = torch.roll(state[name], 1, dims=0)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    path = tmp_path / "food11_rolled.pth"
    path.write_bytes(buffer.getvalue())
    return buffer.getvalue(), str(path)


@functools.cache
def fixture_confidence(name: str) -> float:
    """The fixture model's probability for its class on photo `name`, decoded as `gourmetgram` decodes by default
    (the stack's function is told to decode exactly on its command line; an operator's command is not)."""
    from classifier_fn.inference import preprocess

    tensor = preprocess.prepare(fixture_file(name).read_bytes(), decode=Settings().decode).tensor
    with torch.inference_mode():
        return float(torch.softmax(model.load(FULL).module(tensor[None]), dim=1).max())


def cli(bare, *args: str):
    started = time.monotonic()
    done = run_cli(bare.settings, "model", *args)
    print(f"$ gourmetgram model {' '.join(args)}  ({time.monotonic() - started:.1f} s)\n{done.stdout}{done.stderr}")
    return done


def test_the_function_reads_models_and_only_root_writes_them(bare, store):
    info, _ = model_registry.add(store, b"rights test bytes", format="state_dict", by="test")
    as_fn = Store.connect(as_component(bare.settings, "function"))
    as_web = Store.connect(as_component(bare.settings, "web"))
    # The function: reads an alias, the list and a model file; writes nothing
    assert model_registry.read_model(as_fn, info.version) == b"rights test bytes"
    assert info.version in [m.version for m in model_registry.listing(as_fn)]
    assert model_registry.read_alias(as_fn, CHALLENGER).name == CHALLENGER
    for write in (
        lambda s: s.put_json("models", "aliases/champion.json", {"version": info.version}),
        lambda s: s.put("models", model_registry.model_key("food11-forged000000"), b"x"),
        lambda s: s.delete("models", model_registry.model_key(info.version)),
    ):
        for component in (as_fn, as_web):
            with pytest.raises(StoreError, match="AccessDenied") as caught:
                write(component)
            assert not isinstance(caught.value, NotFound)
    # The frontend: not even a read
    with pytest.raises(StoreError, match="AccessDenied"):
        as_web.read("models", model_registry.model_key(info.version))
    with pytest.raises(StoreError, match="AccessDenied"):
        list(as_web.list("models", "versions/"))
    assert store.read("models", model_registry.model_key(info.version)) == b"rights test bytes"


def test_configure_subscribed_the_aliases_and_keeps_versions(bare, store):
    rules = [r for r in store.subscriptions("models") if r.arn == bare.settings.transport_arn]
    assert [(r.events, r.prefix) for r in rules] == [(("s3:ObjectCreated:*",), "aliases/")]
    assert store.versioning("models") == "Enabled"


def test_two_changes_of_one_alias_at_once_one_wins(store):
    a, _ = model_registry.add(store, b"concurrent a", format="state_dict", by="test")
    b, _ = model_registry.add(store, b"concurrent b", format="state_dict", by="test")
    for _ in range(10):
        read = model_registry.read_alias(store, CHALLENGER)
        results: dict[str, object] = {}
        start = threading.Barrier(2)

        def change(version: str, read=read, results=results, start=start) -> None:
            start.wait()
            try:
                results[version] = model_registry.set_alias(store, read, version, by=f"operator-{version}")
            except AliasMoved as exc:
                results[version] = exc

        threads = [threading.Thread(target=change, args=(v,)) for v in (a.version, b.version)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        won = [v for v, r in results.items() if isinstance(r, model_registry.Alias)]
        lost = [r for r in results.values() if isinstance(r, AliasMoved)]
        assert len(won) == 1 and len(lost) == 1, results
        after = model_registry.read_alias(store, CHALLENGER)
        assert after.version == won[0] and after.history[-1].by == f"operator-{won[0]}"
        assert len(after.history) == len(read.history) + 1  # the loser's change is nowhere
    model_registry.set_alias(store, model_registry.read_alias(store, CHALLENGER), None, by="test")


def test_the_whole_operator_cycle(bare, store, tmp_path):
    rolled_bytes, rolled_path = rolled_head(tmp_path)
    champion = model.load(FULL).version
    challenger = model_registry.version_of(hashlib.sha256(rolled_bytes).hexdigest())
    # add: a file that is no model is refused with the reason; both real ones are stored with their format
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"PK\x03\x04 not a model")
    refused = cli(bare, "add", str(junk))
    assert refused.returncode == 1 and "not a loadable food11.pth" in refused.stderr
    assert cli(bare, "add", str(FULL), "--note", "the course model").returncode == 0
    added = cli(bare, "add", rolled_path, "--note", "head rolled by one")
    assert added.returncode == 0 and f"added {challenger} (state_dict" in added.stdout
    assert cli(bare, "promote", champion).returncode == 0  # the first champion: nothing to compare with
    assert cli(bare, "challenge", challenger).returncode == 0
    listed = {line.split()[0]: line.split()[1] for line in cli(bare, "list").stdout.splitlines()[1:]}
    assert listed[champion] == "champion" and listed[challenger] == "challenger"

    # GIVEN reviewed photos the champion labelled (right on all of them), older than this test's other records
    start = time.time() - 2 * 86400
    photos = sorted(EXPECTED)
    seeded = []
    for i in range(PHOTOS):
        name = photos[i % len(photos)]
        right = names.CLASSES[EXPECTED[name]["predicted_index"]]
        seeded.append(
            seed_photo(
                store,
                start + i,
                right,
                EXPECTED[name]["probability"],
                model_version=champion,
                human_label=right,
                data=fixture_file(name).read_bytes(),
            )
        )
    unreviewed = seed_photo(
        store, start + PHOTOS, "Soup", 0.5, model_version=champion, data=fixture_file(photos[0]).read_bytes()
    )
    # WHEN promotion is asked before any shadow answer THEN it is refused: no paired photo
    too_soon = cli(bare, "promote", "challenger")
    assert too_soon.returncode == 1 and "too few paired photos: 0 reviewed photos" in too_soon.stderr

    # WHEN replay runs THEN every reviewed photo gets the challenger's answer: the champion's class + 1
    replayed = cli(bare, "replay", "--since", "3d", "--rate", "50")
    assert replayed.returncode == 0, replayed.stderr
    assert f"{challenger}: {PHOTOS} reviewed photo(s) without its answer; wrote {PHOTOS}" in replayed.stdout
    assert f"replayed {PHOTOS} of {PHOTOS}" in replayed.stdout  # no terminal: a line, not a bar
    for record, i in zip(seeded, range(PHOTOS), strict=True):
        expected = EXPECTED[photos[i % len(photos)]]
        shadow = outcome.read(store, "events", record.id).outcome.shadow
        index = (expected["predicted_index"] + 1) % len(names.CLASSES)
        assert shadow["model_version"] == challenger and shadow["class_index"] == index
        assert shadow["predicted_class"] == names.CLASSES[index]
        # the same logits, rolled: the fixture model's own probability, under the decode the command uses
        confidence = fixture_confidence(photos[i % len(photos)])
        assert shadow["confidence"] == pytest.approx(confidence, abs=1e-3)
        assert store.get_tags("production", record.production_key)["predicted_class"] == record.predicted_class
    assert outcome.read(store, "events", unreviewed.id).outcome.shadow is None
    # AND a second run does nothing
    again = cli(bare, "replay", "--since", "3d", "--rate", "50")
    assert "0 reviewed photo(s) without its answer; wrote 0" in again.stdout

    # THEN the comparison shows the counts, and the worse challenger is refused with them
    quality = run_cli(bare.settings, "quality", "--days", "3")
    assert f"{champion} (champion) against {challenger} (challenger), on the {PHOTOS} reviewed" in quality.stdout
    assert f"only {champion} right: {PHOTOS}; only {challenger} right: 0" in quality.stdout
    worse = cli(bare, "promote", "challenger")
    assert worse.returncode == 1
    assert f"the challenger is worse: {challenger} got 0 of {PHOTOS}" in worse.stderr
    assert model_registry.read_alias(store, CHAMPION).version == champion

    # WHEN reviewers had said what the challenger says (it is right, the champion wrong) THEN it is promoted
    for record in seeded:
        outcome.update(
            store, "events", record.id, lambda r: setattr(r, "human_label", r.shadow["predicted_class"]) or r
        )
    better = cli(bare, "promote", "challenger")
    assert better.returncode == 0, better.stderr
    assert f"champion: {champion} -> {challenger}: {challenger} got {PHOTOS} of {PHOTOS}" in better.stdout
    assert model_registry.read_alias(store, CHAMPION).version == challenger
    assert model_registry.read_alias(store, CHALLENGER).version is None

    # rollback, then a forced promotion; the log shows each change with who, from, to, forced
    rolled_back = cli(bare, "rollback")
    assert rolled_back.returncode == 0 and f"champion: {challenger} -> {champion} (rolled back)" in rolled_back.stdout
    assert cli(bare, "challenge", champion).returncode == 1  # the champion cannot be its own challenger
    forced = cli(bare, "promote", challenger, "--force", "--days", "1")  # the paired photos are 2 days old
    assert forced.returncode == 0 and "(forced)" in forced.stdout
    log = cli(bare, "log").stdout.splitlines()
    rows = [" ".join(line.split()) for line in log[1:]]  # when, alias, from, ->, to, by, why
    champion_rows = [r.split(" ", 6)[1:] for r in rows if r.split()[1] == "champion"]
    assert [(r[1], r[3]) for r in champion_rows] == [
        ("-", champion),
        (champion, challenger),
        (challenger, champion),
        (champion, challenger),
    ]
    assert champion_rows[-1][5].startswith("FORCED: too few paired photos: 0")
    assert champion_rows[2][5] == f"rollback from {challenger}" and "FORCED" not in champion_rows[1][5]
    assert all(r[4] == champion_rows[0][4] for r in champion_rows)  # who: this login on this machine

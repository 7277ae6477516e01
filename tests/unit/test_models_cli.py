"""`gourmetgram model ...` on the in-memory store: what each command refuses and why, what it records, and the
argument handling of the CLI."""

from __future__ import annotations

import time

import pytest
from click.testing import CliRunner

from classifier_fn.inference import model
from gourmetgram import model_comparison, model_registry, names
from gourmetgram.model_registry import CHALLENGER, CHAMPION, AliasMoved, RegistryError, UnknownVersion
from gourmetgram.outcome import Outcome, Status
from gourmetgram.store import Store
from gourmetgram_tools import commands as cli
from gourmetgram_tools import models, replay
from tests.conftest import FIXTURES
from tests.fakes import FakeStore

FULL = FIXTURES / "food11_full.pth"
BY = "tester@here"


@pytest.fixture
def store() -> FakeStore:
    return FakeStore(buckets=("incoming", "production", "quarantine", "events", "models"), versioned=())


def register(store, name: str) -> str:
    """A registered model file (bytes are never loaded here: only `models.add` checks that a file loads)."""
    info, _ = model_registry.add(store, f"model {name}".encode(), format="state_dict", by=BY)
    return info.version


def reviewed(i: int, champion: str, challenger: str, champion_right: bool, challenger_right: bool) -> Outcome:
    """A reviewed photo (truth Soup) both models labelled, each right or wrong (then Rice)."""
    return Outcome(
        id=f"p{i}",
        status=Status.DONE,
        incoming_key=f"p{i}.jpg",
        incoming_etag="e",
        predicted_class="Soup" if champion_right else "Rice",
        confidence=0.9,
        model_version=champion,
        human_label="Soup",
        shadow={"model_version": challenger, "predicted_class": "Soup" if challenger_right else "Rice"},
    )


def paired(champion: str, challenger: str, *, champion_only: int, challenger_only: int, both: int) -> list[Outcome]:
    records = [reviewed(i, champion, challenger, True, False) for i in range(champion_only)]
    records += [reviewed(100 + i, champion, challenger, False, True) for i in range(challenger_only)]
    records += [reviewed(200 + i, champion, challenger, True, True) for i in range(both)]
    return records


@pytest.fixture
def two(store) -> tuple[str, str]:
    """A champion and a challenger set."""
    old, new = register(store, "old"), register(store, "new")
    models.promote(store, old, lambda: [], by=BY)
    models.challenge(store, new, by=BY)
    return old, new


# --- add ----------------------------------------------------------------------------------------------------


def test_add_refuses_a_file_that_does_not_load_saying_why(store, tmp_path):
    bad = tmp_path / "notes.pth"
    bad.write_bytes(b"not a model at all")
    with pytest.raises(models.Refused, match=r"not added: .*notes.pth is not a loadable food11.pth"):
        models.add(store, bad)
    assert model_registry.listing(store) == []


def test_add_stores_a_model_with_its_format_and_version_once(store):
    info, new = models.add(store, FULL, note="course model", by=BY)
    assert new and info.format == model.FULL_MODEL and info.note == "course model" and info.added_by == BY
    assert info.version == model.load(FULL).version  # the name records and tags give it
    again, new = models.add(store, FULL, note="another note")
    assert not new and again == info
    [line] = models.listing_lines(store)[1:]
    assert info.version in line and "full_model" in line and "course model" in line


# --- promote ------------------------------------------------------------------------------------------------


def test_the_first_champion_needs_no_comparison(store):
    version = register(store, "first")
    done = models.promote(store, version, lambda: pytest.fail("no records are read"), by=BY)
    assert done.changed and not done.forced and done.previous is None
    assert model_registry.read_alias(store, CHAMPION).version == version


def test_promote_challenger_refuses_too_few_paired_photos(store, two):
    old, new = two
    few = paired(old, new, champion_only=0, challenger_only=5, both=model_comparison.MIN_PAIRED - 6)
    with pytest.raises(models.Refused, match=f"too few paired photos: {model_comparison.MIN_PAIRED - 1} reviewed"):
        models.promote(store, "challenger", lambda: few, by=BY)
    assert model_registry.read_alias(store, CHAMPION).version == old  # nothing written
    assert model_registry.read_alias(store, CHALLENGER).version == new


def test_promote_challenger_refuses_a_worse_challenger_with_the_counts(store, two):
    old, new = two
    worse = paired(old, new, champion_only=6, challenger_only=5, both=30)
    with pytest.raises(models.Refused) as refused:
        models.promote(store, "challenger", lambda: worse, by=BY)
    assert "the challenger is worse" in str(refused.value) and f"{new} got 35 of 41" in str(refused.value)
    assert refused.value.comparison.paired == 41
    assert model_registry.read_alias(store, CHAMPION).version == old


def test_promote_challenger_accepts_a_better_one_and_clears_the_challenger(store, two):
    old, new = two
    better = paired(old, new, champion_only=1, challenger_only=9, both=25)
    done = models.promote(store, "challenger", lambda: better, by=BY)
    assert done.changed and not done.forced and done.challenger_cleared and done.previous == old
    champion = model_registry.read_alias(store, CHAMPION)
    assert champion.version == new and champion.history[-1].why.startswith(f"{new} got 34 of 35")
    assert model_registry.read_alias(store, CHALLENGER).version is None


def test_force_overrides_a_refusal_and_is_recorded_with_why(store, two):
    old, new = two
    worse = paired(old, new, champion_only=3, challenger_only=0, both=0)
    done = models.promote(store, "challenger", lambda: worse, force=True, by=BY)
    assert done.forced and done.changed
    last = model_registry.read_alias(store, CHAMPION).history[-1]
    assert (last.to, last.previous, last.forced, last.by) == (new, old, True, BY)
    assert last.why.startswith("too few paired photos: 3")


def test_force_on_an_allowed_promotion_is_not_recorded_as_forced(store, two):
    old, new = two
    better = paired(old, new, champion_only=0, challenger_only=2, both=30)
    assert not models.promote(store, "challenger", lambda: better, force=True, by=BY).forced


def test_promote_by_version_compares_too_and_refuses_an_unknown_one(store, two):
    old, new = two
    with pytest.raises(models.Refused, match="too few"):
        models.promote(store, new, lambda: [], by=BY)
    with pytest.raises(UnknownVersion):
        models.promote(store, "food11-000000000000", lambda: [], by=BY)
    assert not models.promote(store, old, lambda: [], by=BY).changed  # the champion already


def test_promote_challenger_without_one_says_so(store):
    models.promote(store, register(store, "a"), lambda: [], by=BY)
    with pytest.raises(RegistryError, match="no challenger is set"):
        models.promote(store, "challenger", lambda: [], by=BY)


def test_a_champion_changed_during_the_comparison_wins_and_the_promotion_writes_nothing(store, two):
    old, new = two
    third = register(store, "third")

    def records_while_another_operator_promotes():
        models.promote(store, third, lambda: [], force=True, by="someone@else")
        return paired(old, new, champion_only=0, challenger_only=5, both=30)

    with pytest.raises(AliasMoved):
        models.promote(store, "challenger", records_while_another_operator_promotes, by=BY)
    assert model_registry.read_alias(store, CHAMPION).version == third


# --- challenge, rollback, log ---------------------------------------------------------------------------------


def test_challenge_sets_refuses_the_champion_and_clears(store, two):
    old, new = two
    assert models.challenge(store, new, by=BY) == (new, False)  # already: nothing written
    with pytest.raises(RegistryError, match="is the champion"):
        models.challenge(store, old, by=BY)
    assert models.challenge(store, None, by=BY) == (new, True)
    assert model_registry.read_alias(store, CHALLENGER).version is None
    assert models.challenge(store, None, by=BY) == (None, False)


def test_rollback_goes_back_to_the_champion_before_the_last_change(store, two):
    old, new = two
    with pytest.raises(RegistryError, match="first champion"):
        models.rollback(store, by=BY)
    models.promote(store, new, lambda: [], force=True, by=BY)
    assert models.rollback(store, by=BY) == (new, old)
    champion = model_registry.read_alias(store, CHAMPION)
    assert champion.version == old and champion.history[-1].why == f"rollback from {new}"


def test_rollback_without_a_champion_says_so(store):
    with pytest.raises(RegistryError, match="no champion is set"):
        models.rollback(store, by=BY)


def test_the_log_lists_both_aliases_changes_oldest_first(store, two):
    old, new = two
    time.sleep(0.002)  # times are to the millisecond
    models.promote(store, "challenger", lambda: [], force=True, by=BY)
    changes = models.history(store)
    assert [(c.alias, c.previous, c.to, c.forced) for c in changes] == [
        (CHAMPION, None, old, False),
        (CHALLENGER, None, new, False),
        (CHAMPION, old, new, True),
        (CHALLENGER, new, None, False),
    ]
    lines = models.history_lines(changes)
    assert "FORCED: too few paired photos" in lines[3] and "(cleared)" in lines[4]


def test_the_log_shows_control_characters_escaped():
    change = model_registry.Change(CHAMPION, "v2", "v1", "2026-12-07T04:00:00Z", "eve\x1b[2J@host")
    assert "\\x1b[2J" in models.history_lines([change])[1]


# --- the CLI's argument handling --------------------------------------------------------------------------------


@pytest.fixture
def runner(store, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GOURMETGRAM_DATA", raising=False)
    monkeypatch.setattr(Store, "connect", classmethod(lambda cls, settings, timeout_s=10.0: store))
    return CliRunner()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["challenge"], "give a VERSION"),
        (["challenge", "food11-aaaaaaaaaaaa", "--clear"], "give a VERSION"),
        (["replay", "--since", "7x"], "not an age"),
        (["replay", "--rate", "0"], "--rate"),
        (["replay", "--rate", "1000"], "--rate"),
        (["promote", "--days", "0"], "--days"),
    ],
)
def test_bad_arguments_are_usage_errors(runner, args, message):
    result = runner.invoke(cli.main, ["model", *args])
    assert result.exit_code == 2 and message in result.output


def test_the_replay_rate_default_is_the_modules():
    [rate] = [p for p in cli.model_replay.params if p.name == "rate"]
    assert rate.default == replay.DEFAULT_RATE


def test_promote_defaults_to_the_challenger_and_a_refusal_exits_1_with_the_comparison(runner, store, two):
    old, new = two
    result = runner.invoke(cli.main, ["model", "promote"])
    assert result.exit_code == 1
    assert f"{old} (champion) against {new}, on the 0 reviewed photo(s) both labelled" in result.output
    assert "error: not promoted: too few paired photos" in result.output
    forced = runner.invoke(cli.main, ["model", "promote", "--force"])
    assert forced.exit_code == 0 and f"champion: {old} -> {new} (forced)" in forced.output
    assert "the challenger alias is cleared" in forced.output


def test_a_registry_error_exits_1_saying_why(runner, store):
    result = runner.invoke(cli.main, ["model", "challenge", "food11-000000000000"])
    assert result.exit_code == 1 and "error: no model 'food11-000000000000' in the registry" in result.output
    assert runner.invoke(cli.main, ["model", "rollback"]).exit_code == 1


def test_add_list_challenge_and_log_through_the_cli(runner, store, tmp_path):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"\x00" * 10)
    refused = runner.invoke(cli.main, ["model", "add", str(bad)])
    assert refused.exit_code == 1 and "not a loadable food11.pth" in refused.output
    added = runner.invoke(cli.main, ["model", "add", str(FULL), "--note", "course"])
    version = model.load(FULL).version
    assert added.exit_code == 0 and f"added {version} (full_model" in added.output
    assert runner.invoke(cli.main, ["model", "promote", version]).exit_code == 0
    listed = runner.invoke(cli.main, ["model", "list"]).output.splitlines()
    assert listed[0].split()[:4] == ["version", "aliases", "format", "size"]
    assert listed[1].split()[:3] == [version, "champion", "full_model"]
    logged = runner.invoke(cli.main, ["model", "log"]).output.splitlines()
    assert len(logged) == 2 and f"- -> {version}" in " ".join(logged[1].split())


def test_a_class_name_of_every_index_is_a_shadow_answer():
    assert replay.shadow_answer("v", 6, 0.5) == {
        "model_version": "v",
        "predicted_class": names.CLASSES[6],
        "class_index": 6,
        "confidence": 0.5,
    }

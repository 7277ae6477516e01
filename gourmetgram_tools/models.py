"""`gourmetgram model ...`: the operator's side of the model registry (gourmetgram/model_registry.py).

Add a model file (only one that loads as the function would load it), list the models with the aliases that
name them, set or clear the challenger, promote a model to champion (after the comparison on human labels says
it is at least as good, or with --force, recorded), roll the champion back, and show every alias change.

Each alias change is a conditional write over the alias as read here: when another operator changed it
meanwhile, nothing is written and AliasMoved says so (the command exits 1).
"""

from __future__ import annotations

import getpass
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from gourmetgram import model_comparison, model_registry
from gourmetgram.model_comparison import Comparison, Verdict
from gourmetgram.model_registry import CHALLENGER, CHAMPION, Change, ModelInfo, RegistryError
from gourmetgram.outcome import Outcome
from gourmetgram.store import Store
from gourmetgram.terminal import printable
from gourmetgram_tools.tool_error import ToolError

CHALLENGER_ARGUMENT = "challenger"  # `model promote challenger`: whatever the challenger alias names


class Refused(ToolError, RegistryError):
    """The change was not made: the comparison says no (the message has the counts), or the file is no model."""

    def __init__(self, message: str, comparison: Comparison | None = None):
        super().__init__(message)
        self.comparison = comparison


def operator() -> str:
    """Who is making a change, as the alias history records it: the login and the machine."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container's)
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def add(store: Store, path: Path, note: str = "", by: str | None = None) -> tuple[ModelInfo, bool]:
    """Register the model file at `path`, once it loads as the function loads a model and passes the check the
    function makes before it serves one (11 finite probabilities for its photos); Refused if it does not."""
    from classifier_fn.inference import model, model_check  # torch: only for the commands that load a model

    limit = model_registry.MAX_MODEL_BYTES
    with path.open("rb") as file:  # at most one byte over the limit: a pipe or a device has no size to stat
        data = file.read(limit + 1)
    if len(data) > limit:
        raise Refused(f"{path} is over {limit:,} bytes, the limit")
    try:
        loaded = model.load_bytes(data, str(path))
        model_check.answers_photos(loaded.module, str(path))
    except (model.ModelLoadError, model_check.ModelRefused) as exc:
        raise Refused(f"not added: {exc}") from None
    return model_registry.add(store, data, format=loaded.format, by=by or operator(), note=note)


def aliases_of(store: Store) -> dict[str, list[str]]:
    """version -> the aliases naming it now."""
    named: dict[str, list[str]] = {}
    for alias in model_registry.ALIASES:
        version = model_registry.read_alias(store, alias).version
        if version:
            named.setdefault(version, []).append(alias)
    return named


def listing_lines(store: Store) -> list[str]:
    models = model_registry.listing(store)
    if not models:
        return ["no model in the registry: `gourmetgram model add FILE` adds one"]
    named = aliases_of(store)
    lines = [f"{'version':20} {'aliases':21} {'format':10} {'size':>9}  {'added (UTC)':20} {'by':24} note"]
    for m in models:
        lines.append(
            f"{m.version:20} {','.join(named.get(m.version, [])) or '-':21} {m.format:10} "
            f"{m.size / 1e6:>7.1f}MB  {m.added_at[:19]:20} {m.added_by:24} {m.note}"
        )
    return [printable(line) for line in lines]


@dataclass(frozen=True)
class Promotion:
    version: str
    previous: str | None
    changed: bool  # False: it was the champion already
    forced: bool
    why: str
    comparison: Comparison | None
    challenger_cleared: bool = False
    note: str = ""  # something the operator should know beyond the promotion itself


def promote(
    store: Store,
    target: str,
    records: Callable[[], Iterable[Outcome]],
    *,
    force: bool = False,
    by: str | None = None,
    minimum: int = model_comparison.MIN_PAIRED,
) -> Promotion:
    """Make `target` (a version, or "challenger") the champion, if the comparison with the champion on the
    reviewed photos both labelled allows it (`records` gives the outcome records to compare on); with `force`,
    whatever it says, recorded as forced with the reason it was refused. A promoted challenger stops being the
    challenger (it labels production now; shadowing it would compare it with itself)."""
    by = by or operator()
    champion = model_registry.read_alias(store, CHAMPION)
    challenger = model_registry.read_alias(store, CHALLENGER)
    if target == CHALLENGER_ARGUMENT:
        if challenger.version is None:
            raise RegistryError("no challenger is set: `gourmetgram model challenge VERSION` sets one")
        version = challenger.version
    else:
        version = model_registry.get(store, target).version  # UnknownVersion before any comparison
    if champion.version == version:
        return Promotion(version, version, False, False, f"{version} is the champion already", None)
    comparison = None
    if champion.version is None:
        verdict = Verdict(True, "the first champion: there is nothing to compare it with")
    else:
        comparison = model_comparison.compare(records(), champion.version, version)
        verdict = model_comparison.promotion(comparison, minimum)
    if not verdict.allowed and not force:
        raise Refused(f"not promoted: {verdict.why}. --force promotes it anyway (and is recorded)", comparison)
    forced = not verdict.allowed
    model_registry.set_alias(store, champion, version, by=by, forced=forced, why=verdict.why)
    cleared, note = False, ""
    if challenger.version == version:
        try:
            model_registry.set_alias(store, challenger, None, by=by, why=f"{version} was promoted to champion")
            cleared = True
        except model_registry.AliasMoved:
            note = "the challenger alias changed meanwhile and was left as it is now"
    return Promotion(version, champion.version, True, forced, verdict.why, comparison, cleared, note)


def challenge(store: Store, version: str | None, by: str | None = None) -> tuple[str | None, bool]:
    """Set the challenger to `version` (None clears it); (the version it named before, whether it changed)."""
    current = model_registry.read_alias(store, CHALLENGER)
    if version is not None:
        version = model_registry.get(store, version).version
        if model_registry.read_alias(store, CHAMPION).version == version:
            raise RegistryError(f"{version} is the champion: a challenger must be another model")
    if current.version == version:
        return current.version, False
    why = "challenger set" if version else "challenger cleared"
    model_registry.set_alias(store, current, version, by=by or operator(), why=why)
    return current.version, True


ROLLBACK_WHY = "rollback from "  # how a rollback's change begins its why (followed by the version it left)


def rollback(store: Store, by: str | None = None) -> tuple[str, str]:
    """The champion back to the one before it, as an undo would: a second rollback goes further back, never to
    the model the first one left (pressing it twice must not serve the model taken off); (from, to)."""
    champion = model_registry.read_alias(store, CHAMPION)
    if champion.version is None:
        raise RegistryError("no champion is set: there is nothing to roll back")
    earlier: list[str | None] = []  # the champions before the current one, newest last, rollbacks undone
    for change in champion.history:
        if change.why.startswith(ROLLBACK_WHY):
            if earlier:
                earlier.pop()
        else:
            earlier.append(change.previous)
    previous = earlier[-1] if earlier else None
    if previous is None:
        raise RegistryError(f"{champion.version} is the first champion: there is no earlier one to go back to")
    why = f"{ROLLBACK_WHY}{champion.version}"
    model_registry.set_alias(store, champion, previous, by=by or operator(), why=why)
    return champion.version, previous


def history(store: Store) -> list[Change]:
    """Every change of both aliases, oldest first. Within one millisecond the champion's change goes first: the
    order in which `promote` makes its two changes."""
    changes = [c for alias in model_registry.ALIASES for c in model_registry.read_alias(store, alias).history]
    return sorted(changes, key=lambda c: (c.at, c.alias != CHAMPION))


def history_lines(changes: list[Change]) -> list[str]:
    if not changes:
        return ["no alias was ever set"]
    lines = [f"{'when (UTC)':20} {'alias':10} {'from':20}    {'to':20} {'by':24} why"]
    for c in changes:
        forced = "FORCED: " if c.forced else ""
        lines.append(
            f"{c.at[:19]:20} {c.alias:10} {c.previous or '-':20} -> {c.to or '(cleared)':20} {c.by:24} {forced}{c.why}"
        )
    return [printable(line) for line in lines]

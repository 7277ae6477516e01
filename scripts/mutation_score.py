"""The mutation score of each core module, from the results `mutmut run` left in `mutants/`.

A mutant is caught when a test failed on it (killed) or hung on it until mutmut stopped it (timeout);
every other verdict (survived, no test calls it, suspicious, killed by a signal) counts against the
score and is listed with its change. A mutant that no test can catch because it changes nothing anyone
can observe is listed under [tool.gourmetgram.mutation] in pyproject.toml, with the changed line and
the reason: it is left out of its module's score and printed, never dropped in silence. An entry whose
mutant no longer exists, no longer makes that change, or is now killed fails the run, so the list cannot
go stale. Exit 1 when a module scores under `min_score` or an entry is stale.

Run from the project root after `mutmut run` (scripts/mutation.sh does both).
"""

from __future__ import annotations

import json
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from mutmut.configuration import config
from mutmut.mutation.diff_apply import get_diff_for_mutant
from mutmut.stats import status_by_exit_code

CAUGHT = {"killed", "timeout"}


@dataclass
class Module:
    path: str
    caught: int = 0
    equivalent: list[str] = field(default_factory=list)
    missed: list[tuple[str, str]] = field(default_factory=list)  # (mutant, status)

    @property
    def scored(self) -> int:
        return self.caught + len(self.missed)

    @property
    def score(self) -> float:
        return 100.0 * self.caught / self.scored if self.scored else 100.0


def changed_lines(mutant: str, path: str) -> list[str]:
    """The mutant's lines as they differ from the code (the `+` side of its diff)."""
    diff = get_diff_for_mutant(mutant, path=path).splitlines()
    return [line[1:].strip() for line in diff if line.startswith("+") and not line.startswith("+++")]


def main() -> int:
    settings = tomllib.loads(Path("pyproject.toml").read_text())["tool"]["gourmetgram"]["mutation"]
    equivalents = {entry["mutant"]: entry for entry in settings.get("equivalent", [])}
    modules: dict[str, Module] = {}
    found: set[str] = set()
    problems: list[str] = []
    for path in config().only_mutate:
        meta = Path("mutants") / f"{path}.meta"
        if not meta.exists():
            problems.append(f"{path}: no results in {meta} (run `mutmut run` first)")
            continue
        module = modules[path] = Module(path)
        for mutant, exit_code in json.loads(meta.read_text())["exit_code_by_key"].items():
            status = status_by_exit_code[exit_code]
            entry = equivalents.get(mutant)
            if entry is None:
                if status in CAUGHT:
                    module.caught += 1
                else:
                    module.missed.append((mutant, status))
                continue
            found.add(mutant)
            change = changed_lines(mutant, path)
            if change != [entry["change"]]:
                problems.append(
                    f"{mutant} is listed as equivalent for the change {entry['change']!r} but now "
                    f"makes {change!r}: the code changed; check the mutant and update the entry"
                )
            elif status in CAUGHT:
                problems.append(f"{mutant} is listed as equivalent but a test {status} it: remove the entry")
            else:
                module.equivalent.append(mutant)
    problems += [
        f"{m} is listed as equivalent but no such mutant exists: remove the entry"
        for m in sorted(set(equivalents) - found)
    ]

    minimum = float(settings["min_score"])
    width = max(len(p) for p in modules) if modules else 10
    print(f"\n{'module':<{width}}  caught / mutants  score  (equivalent, left out)")
    for module in modules.values():
        flag = "" if module.score >= minimum else f"   < {minimum:.0f} %"
        print(
            f"{module.path:<{width}}  {module.caught:>6} / {module.scored:<7}  {module.score:5.1f} %  "
            f"({len(module.equivalent)}){flag}"
        )
    caught = sum(m.caught for m in modules.values())
    scored = sum(m.scored for m in modules.values())
    print(
        f"{'all':<{width}}  {caught:>6} / {scored:<7}  {100.0 * caught / max(scored, 1):5.1f} %  "
        f"({sum(len(m.equivalent) for m in modules.values())})"
    )

    for module in modules.values():
        for mutant, status in module.missed:
            print(f"\n{status}: {mutant}\n    " + "\n    ".join(changed_lines(mutant, module.path)))
    for module in modules.values():
        for mutant in module.equivalent:
            entry = equivalents[mutant]
            print(f"\nequivalent: {mutant}\n    {entry['change']}\n    why: {entry['reason']}")
    for problem in problems:
        print(f"\nERROR: {problem}")
    below = [m.path for m in modules.values() if m.score < minimum]
    if below:
        print(f"\nFAILED: under {minimum:.0f} %: {', '.join(below)}")
    return 1 if below or problems else 0


if __name__ == "__main__":
    sys.exit(main())

"""Two models compared on the same photos a person reviewed: the champion's answer (the record's class) and the
challenger's (the record's `shadow`), against the reviewer's label. Pure.

Only photos both models labelled count, so each model is judged on exactly the same photos; a photo counts
whichever of the two labelled production then (after a promotion, the old champion may be the challenger).
The paired test is McNemar's, exact: of the photos only one of the two got right, how likely a split at least
this uneven would be if both models were equally good (each such photo a fair coin).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from gourmetgram import names
from gourmetgram.outcome import Outcome, Status
from gourmetgram.quality import wilson_interval

# Fewer paired photos than this and `promote challenger` refuses: with 30, a model right on 5 more of them than
# the other is about the least difference an exact McNemar test can tell from chance (p < 0.05 needs 6 of 6).
MIN_PAIRED = 30


@dataclass(frozen=True)
class Answer:
    """What one model said about one photo."""

    model_version: str
    class_index: int


@dataclass(frozen=True)
class Paired:
    """A reviewed photo both models labelled: what each said and what the reviewer said."""

    id: str
    human: int
    a: int
    b: int


@dataclass
class Comparison:
    a: str  # model version, usually the champion
    b: str  # usually the challenger
    pairs: list[Paired] = field(default_factory=list)

    @property
    def paired(self) -> int:
        return len(self.pairs)

    @property
    def a_correct(self) -> int:
        return sum(p.a == p.human for p in self.pairs)

    @property
    def b_correct(self) -> int:
        return sum(p.b == p.human for p in self.pairs)

    @property
    def a_interval(self) -> tuple[float, float] | None:
        return wilson_interval(self.a_correct, self.paired)

    @property
    def b_interval(self) -> tuple[float, float] | None:
        return wilson_interval(self.b_correct, self.paired)

    @property
    def only_a(self) -> list[str]:
        """The photos only A got right."""
        return [p.id for p in self.pairs if p.a == p.human != p.b]

    @property
    def only_b(self) -> list[str]:
        return [p.id for p in self.pairs if p.b == p.human != p.a]

    @property
    def p_value(self) -> float:
        return mcnemar_exact(len(self.only_a), len(self.only_b))

    @property
    def agreement(self) -> float | None:
        """The share of paired photos both models gave the same class (right or wrong)."""
        return sum(p.a == p.b for p in self.pairs) / self.paired if self.pairs else None

    @property
    def confusion(self) -> list[list[int]]:
        """confusion[a's class][b's class] over the paired photos."""
        table = [[0] * len(names.CLASSES) for _ in names.CLASSES]
        for p in self.pairs:
            table[p.a][p.b] += 1
        return table


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """McNemar's exact two-sided p-value: twice the binomial(n, 1/2) tail at the smaller count, at most 1."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(only_a, only_b) + 1)) / 2**n
    return min(1.0, 2 * tail)


def answers(record: Outcome) -> tuple[Answer, Answer] | None:
    """The production model's and the shadow model's answers on a done record, or None for a record without
    both (or with values no version of ours writes)."""
    shadow = record.shadow
    if record.status is not Status.DONE or not isinstance(shadow, dict) or not record.model_version:
        return None
    try:
        first = Answer(record.model_version, names.class_index(record.predicted_class or ""))
        second = Answer(str(shadow["model_version"]), names.class_index(str(shadow["predicted_class"])))
    except (KeyError, ValueError):
        return None
    return first, second


def human_label(record: Outcome) -> int | None:
    """The class a person gave in review (what quality counts as the truth), or None."""
    try:
        return names.class_index(record.human_label) if record.human_label else None
    except ValueError:
        return None


def compare(records: Iterable[Outcome], a: str, b: str) -> Comparison:
    """A against B on every reviewed photo whose record holds the answers of both, in either role."""
    result = Comparison(a, b)
    for record in records:
        both, human = answers(record), human_label(record)
        if both is None or human is None:
            continue
        by_version = {answer.model_version: answer.class_index for answer in both}
        if a in by_version and b in by_version and a != b:
            result.pairs.append(Paired(record.id, human, by_version[a], by_version[b]))
    return result


def pairs_found(records: Iterable[Outcome]) -> list[tuple[str, str]]:
    """Every (production model, shadow model) pair with a reviewed photo, most paired photos first; a pair seen
    in both roles is named once, in the role it held most."""
    counts: dict[tuple[str, str], int] = {}
    for record in records:
        both = answers(record)
        if both is not None and human_label(record) is not None and both[0].model_version != both[1].model_version:
            key = (both[0].model_version, both[1].model_version)
            counts[key] = counts.get(key, 0) + 1
    totals: dict[frozenset[str], int] = {}
    role: dict[frozenset[str], tuple[str, str]] = {}
    for key in sorted(counts, key=lambda k: (-counts[k], k)):  # the role held most is seen first
        totals[frozenset(key)] = totals.get(frozenset(key), 0) + counts[key]
        role.setdefault(frozenset(key), key)
    return sorted(role.values(), key=lambda key: (-totals[frozenset(key)], key))


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    why: str  # in the operator's words, with the counts


def promotion(c: Comparison, minimum: int = MIN_PAIRED) -> Verdict:
    """Whether B (the challenger) may replace A (the champion): enough paired photos, and B right on at least
    as many of them as A."""
    counts = (
        f"{c.b} got {c.b_correct} of {c.paired} paired reviewed photos right, {c.a} {c.a_correct} "
        f"(only {c.b}: {len(c.only_b)}, only {c.a}: {len(c.only_a)}, McNemar p = {c.p_value:.3g})"
    )
    if c.paired < minimum:
        return Verdict(
            False,
            f"too few paired photos: {c.paired} reviewed photos were labelled by both {c.a} and {c.b}, "
            f"at least {minimum} are needed (review more, or run `gourmetgram model replay`)",
        )
    if c.b_correct < c.a_correct:
        return Verdict(False, f"the challenger is worse: {counts}")
    return Verdict(True, counts)


def to_json(c: Comparison) -> dict:
    return {
        "a": c.a,
        "b": c.b,
        "paired": c.paired,
        "a_correct": c.a_correct,
        "b_correct": c.b_correct,
        "a_accuracy_95": list(c.a_interval) if c.a_interval else None,
        "b_accuracy_95": list(c.b_interval) if c.b_interval else None,
        "only_a": c.only_a,
        "only_b": c.only_b,
        "mcnemar_p": c.p_value,
        "agreement": c.agreement,
        "classes": list(names.CLASSES),
        "confusion": c.confusion,
    }

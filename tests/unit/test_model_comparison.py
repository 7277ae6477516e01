import pytest

from gourmetgram import model_comparison as mc
from gourmetgram import names
from gourmetgram.outcome import Outcome, Status

A, B = "food11-aaaaaaaaaaaa", "food11-bbbbbbbbbbbb"


def record(pid, production, shadow, human, *, model=A, shadow_model=B, status=Status.DONE) -> Outcome:
    return Outcome(
        id=pid,
        status=status,
        incoming_key=f"{pid}.jpg",
        incoming_etag="e" * 32,
        predicted_class=production,
        class_index=names.class_index(production),
        confidence=0.9,
        model_version=model,
        human_label=human,
        shadow=None
        if shadow is None
        else {
            "model_version": shadow_model,
            "predicted_class": shadow,
            "class_index": names.class_index(shadow),
            "confidence": 0.8,
        },
    )


@pytest.mark.parametrize(
    ("only_a", "only_b", "p"),
    [
        (0, 0, 1.0),
        (0, 6, 0.03125),  # 2 / 2**6
        (6, 0, 0.03125),
        (1, 9, 0.021484375),  # 2 * (1 + 10) / 1024, as scipy.stats.binomtest(1, 10).pvalue
        (3, 12, 0.03515625),  # 2 * (1 + 15 + 105 + 455) / 32768
        (5, 5, 1.0),  # the doubled tail passes 1: capped
        (0, 5, 0.0625),
    ],
)
def test_mcnemar_exact_against_known_values(only_a, only_b, p):
    assert mc.mcnemar_exact(only_a, only_b) == pytest.approx(p, abs=1e-12)


def test_counts_intervals_agreement_and_confusion():
    records = [
        *[record(f"both{i}", "Soup", "Soup", "Soup") for i in range(6)],  # both right
        record("onlya", "Rice", "Egg", "Rice"),
        record("onlyb1", "Egg", "Bread", "Bread"),
        record("onlyb2", "Egg", "Bread", "Bread"),
        record("neither", "Meat", "Noodles/Pasta", "Dessert"),
        record("unreviewed", "Soup", "Rice", None),  # no human label: not paired
        record("noshadow", "Soup", None, "Soup"),  # only the champion labelled it
        record("other", "Soup", "Soup", "Soup", shadow_model="food11-cccccccccccc"),  # another pair of models
        record("failed", "Soup", "Soup", "Soup", status=Status.FAILED),
    ]
    c = mc.compare(records, A, B)
    assert c.paired == 10
    assert (c.a_correct, c.b_correct) == (7, 8)
    assert c.only_a == ["onlya"] and c.only_b == ["onlyb1", "onlyb2"]
    assert c.p_value == pytest.approx(1.0)  # 1 against 2: 2 * (1 + 3) / 8 capped
    assert c.agreement == pytest.approx(6 / 10)
    low, high = c.a_interval
    assert (round(low * 100, 1), round(high * 100, 1)) == (39.7, 89.2)  # Wilson 7 of 10
    low, high = c.b_interval
    assert (round(low * 100, 1), round(high * 100, 1)) == (49.0, 94.3)  # Wilson 8 of 10
    soup, egg, bread = (names.class_index(n) for n in ("Soup", "Egg", "Bread"))
    assert c.confusion[soup][soup] == 6 and c.confusion[egg][bread] == 2
    assert sum(map(sum, c.confusion)) == 10


def test_a_pair_counts_in_either_role():
    # After a promotion the old champion labels in the shadow: the same two models, roles swapped.
    records = [
        record("before", "Soup", "Rice", "Rice"),
        record("after", "Rice", "Soup", "Rice", model=B, shadow_model=A),
    ]
    c = mc.compare(records, A, B)
    assert c.paired == 2 and (c.a_correct, c.b_correct) == (0, 2) and c.only_b == ["before", "after"]
    assert mc.compare(records, B, A).only_a == ["before", "after"]


def test_bad_values_are_not_counted():
    odd = record("odd", "Soup", "Soup", "Soup")
    odd.shadow = {"model_version": B, "predicted_class": "Pizza"}
    not_a_dict = record("nodict", "Soup", "Soup", "Soup")
    not_a_dict.shadow = "Soup"  # type: ignore[assignment]
    bad_label = record("badlabel", "Soup", "Soup", "Caviar")
    assert mc.compare([odd, not_a_dict, bad_label], A, B).paired == 0


def test_pairs_found_names_each_pair_once_in_the_role_it_held_most():
    records = [
        *[record(f"x{i}", "Soup", "Soup", "Soup") for i in range(3)],
        record("y", "Soup", "Soup", "Soup", model=B, shadow_model=A),
        record("z", "Soup", "Soup", "Soup", shadow_model="food11-cccccccccccc"),
        record("unreviewed", "Soup", "Soup", None, shadow_model="food11-dddddddddddd"),
    ]
    assert mc.pairs_found(records) == [(A, B), (A, "food11-cccccccccccc")]


def comparison(a_right: int, b_right: int, both_wrong: int = 0) -> mc.Comparison:
    """`a_right` photos only A got right, `b_right` only B, `both_wrong` neither."""
    pairs = [mc.Paired(f"a{i}", 0, 0, 1) for i in range(a_right)]
    pairs += [mc.Paired(f"b{i}", 0, 1, 0) for i in range(b_right)]
    pairs += [mc.Paired(f"n{i}", 0, 1, 1) for i in range(both_wrong)]
    return mc.Comparison(A, B, pairs)


def test_promotion_refuses_too_few_paired_photos_saying_how_many():
    verdict = mc.promotion(comparison(0, mc.MIN_PAIRED - 1))
    assert not verdict.allowed
    assert f"{mc.MIN_PAIRED - 1} reviewed photos" in verdict.why and f"at least {mc.MIN_PAIRED}" in verdict.why


def test_promotion_refuses_a_worse_challenger_with_the_counts():
    verdict = mc.promotion(comparison(16, 15))
    assert not verdict.allowed and verdict.why.startswith("the challenger is worse")
    assert f"{B} got 15 of 31" in verdict.why and f"{A} 16" in verdict.why


@pytest.mark.parametrize(("a_right", "b_right"), [(15, 15), (10, 20)])
def test_promotion_allows_an_equal_or_better_challenger_on_enough_photos(a_right, b_right):
    verdict = mc.promotion(comparison(a_right, b_right))
    assert verdict.allowed and f"got {b_right} of {a_right + b_right}" in verdict.why


def test_exactly_the_minimum_is_enough():
    assert mc.promotion(comparison(0, 0, both_wrong=mc.MIN_PAIRED)).allowed
    assert not mc.promotion(comparison(0, 0, both_wrong=mc.MIN_PAIRED - 1)).allowed


def test_to_json_holds_the_figures():
    doc = mc.to_json(comparison(1, 9))
    assert doc["paired"] == 10 and doc["mcnemar_p"] == pytest.approx(0.021484375)
    assert (doc["a_correct"], doc["b_correct"], len(doc["only_b"])) == (1, 9, 9)
    assert doc["agreement"] == 0.0

"""The batcher's model swap (between batches only) and the challenger's shadow pass within its budget."""

from __future__ import annotations

import math
import threading

import pytest
import torch

from classifier_fn.inference import infer
from classifier_fn.inference.infer import CHALLENGER, CHAMPION, Batcher, ServedModel
from tests.unit.test_infer import Counting, image


class Shifted(Counting):
    """Favours (first pixel + shift) % 11: two models that label the same photo differently."""

    def __init__(self, shift: int):
        super().__init__()
        self.shift = shift
        self.seen: list[torch.Tensor] = []

    def forward(self, x):
        self.seen.append(x.clone())
        return super().forward((x + self.shift) % 11)


class Held(Shifted):
    """Holds its first forward pass until released: a batch in flight."""

    def __init__(self, shift: int):
        super().__init__(shift)
        self.entered, self.release = threading.Event(), threading.Event()

    def forward(self, x):
        if not self.entered.is_set():
            self.entered.set()
            assert self.release.wait(30), "the test never released the batch"
        return super().forward(x)


def test_a_batch_in_flight_keeps_its_model_and_the_next_batch_has_the_new_one():
    old, new = Held(0), Shifted(1)
    batcher = Batcher(old, batch_size=4, wait_ms=1, others_coming=lambda: 0, version="food11-old").start()
    try:
        first = batcher.submit(image(3))
        assert old.entered.wait(10)
        # WHEN a swap comes while the batch is in the forward pass
        swapped = batcher.swap(CHAMPION, ServedModel(new, "food11-new"))
        assert not swapped.done()  # not applied in the middle of the batch
        second = batcher.submit(image(3))
        old.release.set()
        # THEN the photo in flight finished on the old model, the one after on the new
        a, b = first.result(10), second.result(10)
        assert (a.index, a.model_version) == (3, "food11-old")
        assert (b.index, b.model_version) == (4, "food11-new")
        assert swapped.result(10) is True and batcher.serving(CHAMPION).version == "food11-new"
    finally:
        old.release.set()
        batcher.stop()


def test_an_idle_batcher_applies_a_swap_at_once():
    batcher = Batcher(Shifted(0), batch_size=4, wait_ms=1, version="a").start()
    try:
        assert batcher.swap(CHAMPION, ServedModel(Shifted(2), "b")).result(5) is True
        assert batcher.serving(CHAMPION).version == "b"
    finally:
        batcher.stop()


def test_swaps_during_a_stream_of_photos_lose_none_and_label_none_twice():
    models = {f"v{i}": Shifted(i) for i in range(4)}
    batcher = Batcher(models["v0"], batch_size=4, wait_ms=2, others_coming=lambda: 4, version="v0").start()
    futures = []
    try:
        for i in range(200):
            futures.append(batcher.submit(image(i % 11)))
            if i % 25 == 0:
                version = f"v{(i // 25) % 4}"
                batcher.swap(CHAMPION, ServedModel(models[version], version))
        results = [f.result(30) for f in futures]
    finally:
        batcher.stop()
    # every photo answered once, by the model its answer names (the label is that model's)
    assert len(results) == 200
    for i, r in enumerate(results):
        assert r.index == (i % 11 + int(r.model_version[1:])) % 11
    assert sum(sum(m.sizes) for m in models.values()) == 200


def test_the_champion_cannot_be_removed():
    batcher = Batcher(Shifted(0), batch_size=1, wait_ms=1)
    with pytest.raises(ValueError):
        batcher.swap(CHAMPION, None)


def shadowed_batcher(monkeypatch, share: float, waiting: int = 0, **kwargs):
    monkeypatch.setattr(infer, "SHADOW_SHARE", share)
    counted: dict[str, int] = {}

    def on_shadow(result, count):
        counted[result] = counted.get(result, 0) + count

    champion, challenger = Shifted(0), Shifted(5)
    batcher = Batcher(
        champion,
        batch_size=8,
        wait_ms=200,
        others_coming=lambda: 8,
        version="champ",
        waiting=lambda: waiting,
        on_shadow=on_shadow,
        **kwargs,
    ).start()
    batcher.swap(CHALLENGER, ServedModel(challenger, "chall")).result(5)
    return batcher, champion, challenger, counted


def test_the_challenger_labels_its_share_of_photos_on_the_same_tensor(monkeypatch):
    batcher, champion, challenger, counted = shadowed_batcher(monkeypatch, share=0.25)
    try:
        results = [f.result(10) for f in [batcher.submit(image(i), shadow=True) for i in range(8)]]
    finally:
        batcher.stop()
    shadowed = [r for r in results if r.shadow]
    # a quarter of the photos, evenly spread (every fourth)
    assert [results.index(r) for r in shadowed] == [3, 7]
    for i, r in enumerate(results):
        assert (r.index, r.model_version) == (i, "champ")  # the champion's answer is untouched
    for r in shadowed:
        assert r.shadow.model_version == "chall" and r.shadow.index == (r.index + 5) % 11
        assert r.shadow.shadow is None
    # the challenger saw exactly those rows of the champion's stacked batch (no second decode)
    stacked = torch.cat(champion.seen)
    assert torch.equal(torch.cat(challenger.seen), stacked[[3, 7]])
    assert counted == {"labelled": 2, "outside_share": 6}


def test_no_shadow_for_synchronous_predictions_nor_while_the_queue_is_over_its_bound(monkeypatch):
    batcher, _, challenger, counted = shadowed_batcher(monkeypatch, share=1.0)
    try:
        assert batcher.predict(image(1), timeout=10).shadow is None  # POST /predict: no record keeps it
    finally:
        batcher.stop()
    batcher, _, challenger, counted = shadowed_batcher(monkeypatch, share=1.0, waiting=infer.SHADOW_MAX_WAITING + 1)
    try:
        assert batcher.predict(image(1), timeout=10, shadow=True).shadow is None
    finally:
        batcher.stop()
    assert challenger.seen == [] and counted == {"over_backlog": 1}


def test_at_the_bound_the_shadow_still_runs_and_a_cleared_challenger_stops_it(monkeypatch):
    batcher, _, challenger, _ = shadowed_batcher(monkeypatch, share=1.0, waiting=infer.SHADOW_MAX_WAITING)
    try:
        assert batcher.predict(image(1), timeout=10, shadow=True).shadow.model_version == "chall"
        batcher.swap(CHALLENGER, None).result(5)
        assert batcher.predict(image(1), timeout=10, shadow=True).shadow is None
    finally:
        batcher.stop()
    assert len(challenger.seen) == 1


def test_a_failing_challenger_never_touches_the_champions_answers(monkeypatch):
    class Broken(torch.nn.Module):
        def forward(self, x):
            raise RuntimeError("challenger broke")

    batcher, _, _, counted = shadowed_batcher(monkeypatch, share=1.0)
    batcher.swap(CHALLENGER, ServedModel(Broken(), "broken")).result(5)
    try:
        r = batcher.predict(image(6), timeout=10, shadow=True)
    finally:
        batcher.stop()
    assert (r.index, r.model_version, r.shadow) == (6, "champ", None)
    assert counted["failed"] == 1


def test_a_challenger_answering_nan_on_some_photos_writes_no_answer_for_them(monkeypatch):
    # A challenger passes its check on the bundled photos, yet answers NaN on others (a record's shadow of NaN
    # would be written as JSON's forbidden NaN, which a browser reading the record cannot parse).
    class NanOnSeven(torch.nn.Module):
        def forward(self, x):
            logits = Counting()(x)
            logits[x[:, 0, 0, 0] == 7] = math.nan
            return logits

    batcher, _, _, counted = shadowed_batcher(monkeypatch, share=1.0)
    batcher.swap(CHALLENGER, ServedModel(NanOnSeven(), "nan-on-7")).result(5)
    try:
        futures = [batcher.submit(image(i), shadow=True) for i in (6, 7)]
        six, seven = (f.result(10) for f in futures)
    finally:
        batcher.stop()
    assert six.shadow is not None and six.shadow.index == 6
    assert (seven.index, seven.model_version, seven.shadow) == (7, "champ", None)
    assert counted["failed"] == 1 and counted["labelled"] == 1

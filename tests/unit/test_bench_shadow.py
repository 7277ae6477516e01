"""`gourmetgram bench`'s measure of the challenger's cost: its figures and their structure (no time asserted)."""

import pytest

from classifier_fn.inference import infer
from gourmetgram_tools.bench import sample_images, shadow_cost
from tests.conftest import FIXTURES


def test_the_shadow_cost_gives_both_rates_their_ratio_and_the_share_labelled(settings):
    s = settings.replace(model_path=FIXTURES / "food11_full.pth", batch_size=4, decode="fast")
    result = shadow_cost(s, sample_images()[:4], rounds=1)
    assert result["images"] == 4
    assert result["without_challenger_images_per_s"] > 0 and result["with_challenger_images_per_s"] > 0
    assert result["ratio"] == pytest.approx(
        result["with_challenger_images_per_s"] / result["without_challenger_images_per_s"]
    )
    assert result["shadowed_share"] == infer.SHADOW_SHARE == result["budget_share"]  # every 4th photo of 4
    assert result["budget_ratio"] == pytest.approx(1 / (1 + infer.SHADOW_SHARE))

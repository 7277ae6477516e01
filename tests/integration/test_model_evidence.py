"""Both forms of the course's model give the reference logits for every photo of ../shared/fixtures (beside
the clone in CI): the full proof over a corpus, which runs with the whole suite (tests/unit/test_model.py checks
the bundled photos)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from classifier_fn.inference import model
from tests.conftest import ROOT, in_ci
from tests.unit.test_model import logits


def _shared_fixtures() -> Path:
    return Path(os.environ.get("GOURMETGRAM_SHARED", ROOT.parent / "shared")) / "fixtures"


def test_every_shared_photo_with_both_forms():
    """The full proof over ../shared/fixtures (present beside the clone in CI)."""
    shared = _shared_fixtures()
    if not (shared / "model" / "expected.json").exists():
        if in_ci():
            pytest.fail(f"shared fixtures not found at {shared}")
        pytest.skip(f"shared fixtures not found at {shared}")
    expected = json.loads((shared / "model" / "expected.json").read_text())["images"]
    models = [model.load(shared / "model" / "food11_full.pth"), model.load(shared / "model" / "food11_state.pth")]
    assert len(expected) >= 27
    for name, want in expected.items():
        data = (shared / "food" / name).read_bytes()
        for m in models:
            got = logits(m, data)
            assert torch.allclose(got, torch.tensor(want["logits"]), atol=1e-3), name
            assert got.argmax().item() == want["predicted_index"], name

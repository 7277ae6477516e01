"""What the unit tests share."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
import torch

import classifier_fn.running
from classifier_fn.inference import model


@pytest.fixture(autouse=True, scope="session")
def _each_model_traced_once() -> Iterator[None]:
    """The function's app traces its model into a graph at every start (classifier_fn.running): about a second
    each, and the unit tests start some 95 apps with the same two or three models. Here each model (by its
    weights) is traced once and its graph shared. The tracing itself is tested in test_model.py, which calls
    model.for_inference directly; the integration tests start the function as it is."""
    graphs: dict[str, torch.nn.Module] = {}

    def traced_once(module: torch.nn.Module) -> torch.nn.Module:
        digest = hashlib.sha256(type(module).__qualname__.encode())
        for name, tensor in module.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        key = digest.hexdigest()
        if key not in graphs:
            graphs[key] = model.for_inference(module)
        return graphs[key]

    patch = pytest.MonkeyPatch()
    patch.setattr(classifier_fn.running, "for_inference", traced_once)
    yield
    patch.undo()

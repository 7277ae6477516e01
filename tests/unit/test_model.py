import io
import json
import os
import pickle
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import pytest
import torch

from classifier_fn.inference import mobilenet, model, preprocess
from tests.conftest import FIXTURES, PHOTOS, ROOT, fixture_file

FULL = FIXTURES / "food11_full.pth"  # the course's torch.save(model), pickled torchvision classes
STATE = model.DEMO_MODEL  # the same model as a state dict (the course's Flask app form)
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())["images"]


@pytest.fixture(scope="module")
def full_and_served() -> tuple[model.LoadedModel, torch.nn.Module]:
    """The full pickle as loaded, and as the function serves it (BatchNorm folded, channels-last, traced into a
    graph): tracing takes seconds, so the tests share one."""
    plain = model.load(FULL)
    return plain, model.for_inference(plain.module)


@pytest.fixture(scope="module", params=[FULL, STATE, "served"], ids=["full-pickle", "state-dict", "served"])
def loaded(request):
    if request.param == "served":  # what the function runs
        plain, served = request.getfixturevalue("full_and_served")
        return model.LoadedModel(served, plain.version, False)
    return model.load(request.param)


def logits(m: model.LoadedModel, data: bytes) -> torch.Tensor:
    with torch.inference_mode():
        batch = preprocess.prepare(data).tensor[None].contiguous(memory_format=torch.channels_last)
        return m.module(batch)[0]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_reproduces_the_reference_logits(loaded, name):
    expected = EXPECTED[name]
    data = fixture_file(name).read_bytes()
    tensor = preprocess.prepare(data).tensor
    assert tensor.sum().item() == pytest.approx(expected["input_sum"], abs=0.5)
    got = logits(loaded, data)
    assert torch.allclose(got, torch.tensor(expected["logits"]), atol=1e-3)
    assert got.argmax().item() == expected["predicted_index"]
    assert torch.softmax(got, 0).max().item() == pytest.approx(expected["probability"], abs=1e-4)


def test_version_comes_from_content_and_demo_is_marked():
    demo = model.load(None)
    assert demo.is_demo and demo.version.startswith("demo-")
    real = model.load(STATE)
    assert not real.is_demo and real.version.startswith("food11-")
    assert real.version.split("-")[1] == demo.version.split("-")[1]  # same bytes, same hash
    assert model.load(FULL).version != real.version


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/gourmetgram-pwned",))


def test_refuses_to_unpickle_arbitrary_code(tmp_path):
    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(model.ModelLoadError, match="not a loadable food11.pth"):
        model.load(path)
    assert not Path("/tmp/gourmetgram-pwned").exists()


def test_refuses_a_model_with_another_head(tmp_path):
    state = mobilenet.MobileNetV2(num_classes=5).state_dict()
    path = tmp_path / "five.pth"
    torch.save(state, path)
    with pytest.raises(model.ModelLoadError, match="Linear\\(1280, 11\\)"):
        model.load(path)


def test_refuses_a_file_whose_entries_are_compressed(tmp_path):
    # torch.load unpacks a deflated entry to the size it declares: a file of a few MB could ask for gigabytes
    # before any check sees the model (the memory check judges the file's size). torch.save never compresses.
    state = model.load(FIXTURES / "food11_full.pth").module.state_dict()
    state["padding"] = torch.zeros(4_000_000)  # 16 MB of zeros, deflated to a few KB
    saved = io.BytesIO()
    torch.save(state, saved)
    packed = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(saved.getvalue())) as plain, zipfile.ZipFile(packed, "w") as out:
        for entry in plain.infolist():
            out.writestr(entry.filename, plain.read(entry.filename), compress_type=zipfile.ZIP_DEFLATED)
    assert len(packed.getvalue()) < len(saved.getvalue()) - 14_000_000
    with pytest.raises(model.ModelLoadError, match="compressed"):
        model.load_bytes(packed.getvalue(), "packed.pth")
    model.load_bytes((FIXTURES / "food11_full.pth").read_bytes(), "the course's file")  # stored entries: loads


def test_accepts_data_parallel_prefix(tmp_path):
    state = {f"module.{k}": v for k, v in torch.load(STATE, weights_only=True).items()}
    path = tmp_path / "dp.pth"
    torch.save(state, path)
    data = (PHOTOS / "9_452.jpg").read_bytes()
    assert torch.allclose(logits(model.load(path), data), logits(model.load(STATE), data))


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(model.ModelLoadError, match="cannot be read"):
        model.load(tmp_path / "nope.pth")


def test_the_full_pickle_loads_without_torchvision():
    # The fixture really pickles torchvision's classes, and the product maps them to its own: loaded in a
    # process where importing torchvision fails (it is a test dependency, so the venv may have it).
    assert b"torchvision.models.mobilenetv2" in FULL.read_bytes()
    code = (
        "import sys; sys.modules['torchvision'] = None\n"
        "from classifier_fn.inference import model\n"
        f"loaded = model.load({str(FULL)!r})\n"
        "assert not any(name.startswith('torchvision') and sys.modules[name] is not None for name in sys.modules)\n"
        "print(type(loaded.module).__module__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith("classifier_fn")


def _python_calls_in_forward(module: torch.nn.Module) -> int:
    """How many Python functions one forward pass calls: each return to Python between layers re-takes the GIL."""
    calls = 0

    def count(frame, event, arg):
        nonlocal calls
        calls += event == "call"

    batch = torch.zeros(2, 3, preprocess.SIZE, preprocess.SIZE).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        sys.setprofile(count)
        try:
            module(batch)
        finally:
            sys.setprofile(None)
    return calls


def test_the_served_model_runs_its_layers_without_returning_to_python(full_and_served):
    plain, served = full_and_served
    assert _python_calls_in_forward(plain.module) > 100  # eager: the count sees every layer's call
    assert _python_calls_in_forward(served) < 50  # torch's call wrappers, then C++ alone


def test_a_model_that_cannot_be_traced_is_served_eagerly(monkeypatch, caplog):
    def refuse(*args, **kwargs):
        raise RuntimeError("tracing is gone")

    plain = model.load(STATE).module
    data = fixture_file(sorted(EXPECTED)[0]).read_bytes()
    expected = logits(model.LoadedModel(plain, "v", False), data)
    monkeypatch.setattr(torch.jit, "trace", refuse)
    served = model.for_inference(plain)
    assert not isinstance(served, torch.jit.ScriptModule)
    assert "could not be traced (RuntimeError: tracing is gone)" in caplog.text
    assert torch.allclose(logits(model.LoadedModel(served, "v", False), data), expected, atol=1e-4)


def test_the_served_graph_gives_the_module_s_logits_for_a_batch_of_different_photos(monkeypatch, full_and_served):
    loaded_plain, served = full_and_served
    plain = loaded_plain.module
    monkeypatch.setattr(model, "as_graph", lambda module: module)
    eager = model.for_inference(plain)  # the same folding, not traced
    assert isinstance(served, torch.jit.ScriptModule) and not isinstance(eager, torch.jit.ScriptModule)
    names = sorted(EXPECTED)[:3]
    batch = torch.stack([preprocess.prepare(fixture_file(n).read_bytes()).tensor for n in names])
    with torch.inference_mode():
        got, want = (
            served(batch.contiguous(memory_format=torch.channels_last)),
            eager(batch.contiguous(memory_format=torch.channels_last)),
        )
    assert got.shape == (3, mobilenet.NUM_CLASSES) and torch.allclose(got, want, rtol=0, atol=1e-5)
    assert [row.argmax().item() for row in got] == [EXPECTED[n]["predicted_index"] for n in names]


class _BranchOnData(torch.nn.Module):
    def forward(self, x):  # a trace records one side of this branch only: the photos' side, yet wrong for others
        return x * 2 if x.min() >= 0 else -x


@pytest.mark.parametrize(
    ("module", "why"),
    [
        (_BranchOnData(), "could not be traced"),
        (torch.nn.Sequential(torch.nn.Dropout(0.5)).train(), "its graph's logits at batch 3 are not the module's"),
    ],
    ids=["trace-may-not-generalise", "graph-differs"],
)
def test_a_module_whose_graph_could_be_wrong_is_served_as_it_is(module, why, caplog):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # as outside pytest: a warning is no error there
        assert model.as_graph(module) is module
    assert "serving the model eagerly" in caplog.text and why in caplog.text

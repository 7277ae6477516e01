"""The int8 model: its file loads weights only into a rebuilt structure with the same logits, the function's check
and serving build take it, and `gourmetgram model quantize` chooses, refuses, checks and registers (in-memory store,
the fixture model, the sample photos)."""

from __future__ import annotations

import io
import time
import warnings

import pytest
import torch

from classifier_fn.inference import model, model_check, preprocess, quantized
from gourmetgram import model_registry, names
from gourmetgram.model_registry import CHAMPION
from gourmetgram.outcome import Outcome, Status
from gourmetgram.settings import Settings
from gourmetgram_tools import quantize
from gourmetgram_tools.models import Refused
from tests.conftest import FIXTURES, PHOTOS
from tests.fakes import FakeStore
from tests.seeding import photo_variants, seed_photo

FIXTURE_MODEL = FIXTURES / "food11_full.pth"
SAMPLES = sorted(PHOTOS.glob("*.jpg"))


@pytest.fixture(scope="module")
def source() -> model.LoadedModel:
    return model.load(FIXTURE_MODEL)


@pytest.fixture(scope="module")
def sample_batch() -> torch.Tensor:
    return torch.stack([preprocess.prepare(p.read_bytes()).tensor for p in SAMPLES])


@pytest.fixture(scope="module")
def int8_file(source, sample_batch) -> tuple[torch.nn.Module, bytes]:
    made = quantized.quantize(source.module, [sample_batch])
    return made, quantized.to_bytes(made, source=source.version)


def weights_only(data: bytes) -> dict:
    """The file as torch's weights-only loader reads it, with no class allowed: nothing but tensors and values."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "TypedStorage is deprecated", UserWarning)  # torch's quantized tensors
        return torch.load(io.BytesIO(data), weights_only=True)


def test_the_int8_file_loads_weights_only_into_a_rebuilt_structure_with_the_same_logits(int8_file, sample_batch):
    made, data = int8_file
    doc = weights_only(data)
    assert doc["format"] == quantized.FILE_FORMAT and doc["engine"] == "x86"
    assert any(t.is_quantized for t in doc["state_dict"].values() if isinstance(t, torch.Tensor))
    loaded = model.load_bytes(data, "int8 file")
    assert loaded.format == model.INT8 and quantized.is_quantized(loaded.module)
    assert loaded.version == model_registry.version_of(__import__("hashlib").sha256(data).hexdigest())
    with torch.inference_mode():
        assert torch.equal(loaded.module(sample_batch), made(sample_batch))


def test_an_int8_file_of_another_layout_is_refused_with_why(int8_file):
    doc = weights_only(int8_file[1])
    doc["file_version"] = 99
    buf = io.BytesIO()
    torch.save(doc, buf)
    with pytest.raises(model.ModelLoadError, match="file version 99"):
        model.load_bytes(buf.getvalue(), "future.pth")
    doc["file_version"] = quantized.FILE_VERSION
    del doc["state_dict"]["classifier.1.scale"]
    buf = io.BytesIO()
    torch.save(doc, buf)
    with pytest.raises(model.ModelLoadError, match="do not fit"):
        model.load_bytes(buf.getvalue(), "cut.pth")


def test_the_function_checks_and_serves_an_int8_model_as_one_graph(int8_file, sample_batch):
    made, data = int8_file
    loaded, served = model_check.checked(data, "int8", batch_size=4, room=lambda: (None, "unlimited"))
    assert loaded.format == model.INT8
    assert isinstance(served.module, torch.jit.ScriptModule)  # traced: not served eagerly
    with torch.inference_mode():
        inputs = sample_batch.contiguous(memory_format=torch.channels_last)
        assert torch.equal(served.module(inputs), made(sample_batch))


def test_an_int8_model_needs_the_room_of_the_float_model_it_is_rebuilt_through(int8_file):
    size = len(int8_file[1])
    assert size < model_check.SMALLEST_COUNTED / 3  # a quarter of the float model's file, about
    just_enough = model_check.SMALLEST_COUNTED * model_check.MEMORY_FACTOR
    with pytest.raises(model_check.ModelRefused, match="too large"):
        model_check.fits(size, lambda: (just_enough - 1, "a small container"))
    model_check.fits(size, lambda: (just_enough, "just enough"))


# -- the command's choices, checks and refusals


def record(pid: str, index: int) -> Outcome:
    return Outcome(
        id=pid,
        status=Status.DONE,
        incoming_key=f"{pid}.jpg",
        incoming_etag="e",
        source="web",
        class_index=index,
        production_key=f"class_{index:02d}/{pid}.jpg",
    )


def test_choose_takes_the_classes_in_turn_up_to_the_maximum():
    records = [record(f"a{i}", 0) for i in range(10)] + [record(f"b{i}", 3) for i in range(2)]
    records.append(Outcome(id="failed", status=Status.FAILED, incoming_key="x.jpg", incoming_etag="e", source="web"))
    chosen = quantize.choose(records, 6)
    assert [r.id for r in chosen] == ["a0", "b0", "a1", "b1", "a2", "a3"]


def test_a_quarter_is_held_out_spread_over_the_order():
    photos = [quantize.CalibrationPhoto(str(i), None) for i in range(10)]
    calibrate, held = quantize.split(photos)
    assert [p.id for p in held] == ["3", "7"] and len(calibrate) == 8


@pytest.fixture
def store() -> FakeStore:
    return FakeStore(buckets=("incoming", "production", "quarantine", "events", "models"), versioned=())


def seed(store, count: int) -> list[str]:
    now = time.time() - 600
    ids = []
    for i, data in enumerate(photo_variants(count)):
        r = seed_photo(store, now + i, names.CLASSES[i % 5], 0.8, data=data)
        ids.append(r.id)
    return ids


def test_too_few_calibration_photos_are_refused_and_nothing_is_added(store):
    seed(store, quantize.MIN_PHOTOS - 1)
    with pytest.raises(Refused, match=f"{quantize.MIN_PHOTOS - 1} production photo.*at least {quantize.MIN_PHOTOS}"):
        quantize.quantize(store, Settings(), str(FIXTURE_MODEL), time.time() - 86400, by="test")
    assert model_registry.listing(store) == []


def test_photos_that_cannot_be_decoded_do_not_count(store):
    seed(store, quantize.MIN_PHOTOS - 2)
    for i in range(3):
        seed_photo(store, time.time() - 500 + i, "Soup", 0.8, data=b"not a photo at all")
    with pytest.raises(Refused, match="could be read and decoded"):
        quantize.quantize(store, Settings(), str(FIXTURE_MODEL), time.time() - 86400, by="test", rate=1000)


def test_a_source_that_does_not_load_is_refused_before_any_photo_is_read(store, tmp_path):
    seed(store, quantize.MIN_PHOTOS)
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a model")
    reads = []
    store.read = lambda *a, **k: reads.append(a)  # type: ignore[method-assign]
    with pytest.raises(Refused, match="the source does not load"):
        quantize.quantize(store, Settings(), str(broken), time.time() - 86400, by="test")
    assert reads == [] and model_registry.listing(store) == []


def test_an_int8_source_is_refused(store, tmp_path, int8_file):
    path = tmp_path / "int8.pth"
    path.write_bytes(int8_file[1])
    with pytest.raises(Refused, match="int8 model already"):
        quantize.quantize(store, Settings(), str(path), time.time() - 86400, by="test")


def test_no_champion_to_quantize_is_refused(store):
    with pytest.raises(Refused, match="no champion"):
        quantize.quantize(store, Settings(), CHAMPION, time.time() - 86400, by="test")


def test_a_source_that_is_neither_a_file_nor_a_version_is_refused(store, tmp_path):
    with pytest.raises(Refused, match="neither a file nor a registered version"):
        quantize.quantize(store, Settings(), str(tmp_path / "missing.pth"), time.time() - 86400, by="test")
    with pytest.raises(model_registry.UnknownVersion):
        quantize.quantize(store, Settings(), "food11-000000000000", time.time() - 86400, by="test")


def test_the_check_refuses_a_file_that_does_not_give_the_models_logits(int8_file, sample_batch):
    photos = [quantize.CalibrationPhoto(str(i), t) for i, t in enumerate(sample_batch)]
    with pytest.raises(Refused, match="does not give the logits"):
        quantize.check(int8_file[1], lambda batch: torch.zeros(len(batch), 11), photos, "int8")


def test_the_champion_is_quantized_from_production_photos_and_registered_with_its_provenance(store):
    ids = seed(store, 20)
    source = model_registry.add(store, FIXTURE_MODEL.read_bytes(), format="full_model", by="test")[0]
    model_registry.set_alias(store, model_registry.read_alias(store, CHAMPION), source.version, by="test")
    done = quantize.quantize(store, Settings(), CHAMPION, time.time() - 86400, by="test", rate=1000)
    info = model_registry.get(store, done.info.version)
    assert info.format == "int8" and info.source == source.version and done.new
    assert (done.calibrated, done.held_out) == (15, 5)
    assert len(info.calibration) == 15 and set(info.calibration) <= set(ids)
    held = info.agreement["held_out"]
    assert len(held) == 5 and not set(held) & set(info.calibration)
    assert info.agreement["photos"] == 5 and 0 <= info.agreement["same_top1"] <= 5
    assert 0 <= info.agreement["max_probability_change"] <= 1
    loaded = model.load_bytes(model_registry.read_model(store, info.version), "registered")
    assert loaded.format == model.INT8
    assert "int8 of " + source.version in quantize.summary(done)

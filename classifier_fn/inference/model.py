"""MobileNetV2 for Food-11 in torch alone, loading the course's food11.pth in both of its forms."""

from __future__ import annotations

import copy
import hashlib
import io
import logging
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from classifier_fn.function_error import FunctionError
from classifier_fn.inference import quantized
from classifier_fn.inference.mobilenet import Conv2dNormActivation, InvertedResidual, MobileNetV2
from classifier_fn.inference.preprocess import SIZE
from gourmetgram import model_registry

log = logging.getLogger(__name__)

DEMO_MODEL = Path(__file__).parent / "demo_model" / "food11_demo.pth"


class ModelLoadError(FunctionError):
    """The model file is missing, unreadable, or not a Food-11 MobileNetV2."""


# The pickled full model names torchvision's classes; map exactly these to ours so that loading
# needs neither torchvision nor the unsafe unpickler (any other global is refused by torch).
_PICKLED_CLASSES = [
    (MobileNetV2, "torchvision.models.mobilenetv2.MobileNetV2"),
    (InvertedResidual, "torchvision.models.mobilenetv2.InvertedResidual"),
    (Conv2dNormActivation, "torchvision.ops.misc.Conv2dNormActivation"),
]
_TORCH_CLASSES = [nn.Sequential, nn.Conv2d, nn.BatchNorm2d, nn.ReLU6, nn.Dropout, nn.Linear]


STATE_DICT, FULL_MODEL = "state_dict", "full_model"  # the course's two forms of food11.pth
INT8 = quantized.INT8  # ours: the int8 form `gourmetgram model quantize` makes (classifier_fn/inference/quantized.py)


@dataclass(frozen=True)
class LoadedModel:
    module: nn.Module  # our MobileNetV2, or its int8 form (a torch.fx GraphModule)
    version: str
    is_demo: bool
    format: str = STATE_DICT


def model_version(data: bytes, demo: bool) -> str:
    sha = hashlib.sha256(data).hexdigest()
    return "demo-" + sha[:12] if demo else model_registry.version_of(sha)


def load(path: Path | None) -> LoadedModel:
    """Load `path` (state dict or pickled full model), or the bundled demo model when `path` is None."""
    demo = path is None
    path = DEMO_MODEL if demo else Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"MODEL_PATH {str(path)!r} cannot be read: {exc.strerror}") from exc
    loaded = load_bytes(data, str(path), demo)
    if demo:
        log.warning(
            "=" * 72 + "\nNO MODEL_PATH GIVEN: serving the bundled DEMO model %s.\nIts labels are "
            "not trustworthy. Mount a real food11.pth and set MODEL_PATH.\n" + "=" * 72,
            loaded.version,
        )
    else:
        log.info("model %s loaded from %s", loaded.version, path)
    return loaded


def load_bytes(data: bytes, name: str, demo: bool = False) -> LoadedModel:
    """Load a model file's bytes (either course form, or our int8 form); `name` says where they came from, in
    errors."""
    obj = _weights_only(data, name)
    if quantized.is_quantized_file(obj):
        try:
            return LoadedModel(quantized.from_file(obj, name), model_version(data, demo), demo, INT8)
        except quantized.QuantizedFileError as exc:
            raise ModelLoadError(str(exc)) from exc
    state, form = _state_dict(obj, name)
    module = MobileNetV2()
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelLoadError(f"{name} is not a Food-11 MobileNetV2 (Linear(1280, 11) head): {exc}") from exc
    module.eval()
    return LoadedModel(module, model_version(data, demo), demo, form)


def _stored_only(data: bytes, path: str) -> None:
    """ModelLoadError for a zip file with a compressed entry. torch.load unpacks an entry to the size the file
    declares for it, so a file of a few MB could take gigabytes before any check sees the model (whose memory
    check judges the file's size); torch.save stores entries as they are, so a model never has one."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        return  # torch's older format, or no model: torch.load decides
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            packed = [e.filename for e in archive.infolist() if e.compress_type != zipfile.ZIP_STORED]
    except (zipfile.BadZipFile, ValueError, NotImplementedError) as exc:
        raise ModelLoadError(f"{path} is a broken zip file: {exc}") from exc
    if packed:
        raise ModelLoadError(
            f"{path} has compressed entries ({packed[0]!r}...), which torch.save never writes; re-save it with "
            f"torch.save"
        )


def _weights_only(data: bytes, path: str) -> object:
    _stored_only(data, path)
    try:
        with torch.serialization.safe_globals(_PICKLED_CLASSES + _TORCH_CLASSES), warnings.catch_warnings():
            # torch's own loader of quantized tensors (an int8 file) still goes through its deprecated TypedStorage.
            warnings.filterwarnings("ignore", "TypedStorage is deprecated", UserWarning)
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError or others for foreign files
        raise ModelLoadError(
            f"{path} is not a loadable food11.pth (state dict or the course's full model): {str(exc).splitlines()[0]}"
        ) from exc


def _state_dict(obj: object, path: str) -> tuple[dict[str, torch.Tensor], str]:
    form = FULL_MODEL if isinstance(obj, nn.Module) else STATE_DICT
    if isinstance(obj, nn.Module):
        obj = obj.state_dict()
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise ModelLoadError(f"{path} holds a {type(obj).__name__}, not a model or a state dict")
    # A model trained under DataParallel saves its keys with a "module." prefix.
    return {k.removeprefix("module."): v for k, v in obj.items()}, form


def for_inference(module: nn.Module) -> nn.Module:
    """A faster copy for serving: BatchNorm folded into the convolutions, channels-last memory, run as one graph.

    Same function up to float rounding (logits within 1e-4 of the plain model on the fixtures), about
    2x faster on CPU. Inputs must then be channels-last too (`infer.Batcher` does that). An int8 model has its
    BatchNorm folded already (by its quantization): it is only traced, and takes the same channels-last inputs.
    """
    if quantized.is_quantized(module):
        return as_graph(module, constant_scales=True)
    fused = copy.deepcopy(module).eval()
    for parent in fused.modules():
        if isinstance(parent, nn.Sequential):
            children = list(parent.named_children())
            for (name, child), (next_name, following) in zip(children, children[1:], strict=False):
                if isinstance(child, nn.Conv2d) and isinstance(following, nn.BatchNorm2d):
                    setattr(parent, name, fuse_conv_bn_eval(child, following))
                    setattr(parent, next_name, nn.Identity())
    return as_graph(fused.to(memory_format=torch.channels_last))


def as_graph(module: nn.Module, constant_scales: bool = False) -> nn.Module:
    """`module` traced into a TorchScript graph, whose forward pass runs every layer in C++ without Python's GIL.

    Eager, each of the forward pass's ~900 Python calls between layers must take the GIL back, and any other
    thread of the function running Python meanwhile (the event loop answering requests, a worker's S3 client)
    delays every layer: beside one thread running pure Python, a single image's forward pass took 667 ms eager
    and 18 ms traced (docs/benchmarks.md, "model as one graph"). `torch.jit.trace` is deprecated for torch.compile and
    torch.export, which need a C compiler at start-up or run the graph from Python. A module that cannot be
    traced, whose trace warns that it may not generalise, or whose graph does not give the module's own logits
    at another batch size than the example's, is served eagerly (slower under load, the same labels).

    `constant_scales`: an int8 model reads each activation's scale and zero point into Python numbers as it
    quantizes, which the trace warns about; they are fixed once the model is converted, so the graph holding them
    as constants is right (and the check at batch 3 still compares it with the module).
    """
    example = torch.zeros(1, 3, SIZE, SIZE).contiguous(memory_format=torch.channels_last)
    check = torch.rand(3, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    check = check.contiguous(memory_format=torch.channels_last)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit's deprecation, weighed above
            warnings.simplefilter("error", torch.jit.TracerWarning)  # e.g. a branch on the data: a wrong graph
            if constant_scales:
                warnings.filterwarnings(
                    "ignore", "Converting a tensor to a Python (float|integer)", torch.jit.TracerWarning
                )
            graph = torch.jit.trace(module, example, check_trace=False)
            if not torch.allclose(graph(check), module(check), rtol=0, atol=1e-5):
                raise ValueError("its graph's logits at batch 3 are not the module's")
    except Exception as exc:  # whatever went wrong, the module itself still serves
        log.warning("serving the model eagerly: it could not be traced (%s: %s)", exc.__class__.__name__, exc)
        return module
    return graph

"""The int8 form of our MobileNetV2: post-training static quantization with FX for the x86 engine, and its file.

Quantized, the model runs its convolutions on 8-bit integers: about a quarter of the CPU per image of the float
model on this machine (docs/benchmarks.md), with answers a little different (a model made this way is a challenger
first, compared on the same photos before it labels anything: docs/review-loop.md).

`torch.ao.quantization` (prepare_fx, convert_fx) is deprecated upstream in favour of torchao's pt2e flow, which
needs torch.export and torchao (not installed here); it is present and works in the pinned torch 2.14.1, and
needs no compiler at run time.

The file holds weights only, like the course's two forms: a dict of tensors (the quantized weights with their
scales and zero points, the activations' scales and zero points) and a few strings and numbers saying how it was
made. Loading it never unpickles code: the quantized structure is rebuilt from our MobileNetV2 with the same
qconfig (prepare_fx then convert_fx on a fresh model: the structure does not depend on calibration, only the
numbers do) and the file's tensors are loaded into it.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterable

import torch
from torch import nn

from classifier_fn.function_error import FunctionError
from classifier_fn.inference.mobilenet import MobileNetV2
from classifier_fn.inference.preprocess import SIZE

INT8 = "int8"  # the registry's `format` of such a file
ENGINE = "x86"  # the quantized kernels' backend (fbgemm and oneDNN; the default qconfig mapping of that name)
FILE_FORMAT = "gourmetgram-int8-fx"  # the marker of the file's dict: what tells this form from a state dict
FILE_VERSION = 1


class QuantizedFileError(FunctionError):
    """The file says it is an int8 model but cannot be rebuilt from what it holds."""


def _use_engine() -> None:
    # Process-wide, read when a quantized module runs: the kernels the scales were chosen for.
    if torch.backends.quantized.engine != ENGINE:
        torch.backends.quantized.engine = ENGINE


def _prepared(module: nn.Module) -> torch.fx.GraphModule:
    """`module` (eval mode) with observers inserted (FX; BatchNorm folded into the convolutions on the way)."""
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import prepare_fx

    _use_engine()
    example = (torch.zeros(1, 3, SIZE, SIZE),)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the deprecation in favour of torchao, weighed in this module's docstring
        return prepare_fx(module.eval(), get_default_qconfig_mapping(ENGINE), example)


def _converted(prepared: torch.fx.GraphModule) -> nn.Module:
    from torch.ao.quantization.quantize_fx import convert_fx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the same deprecation; and observers that saw nothing, for a structure
        return convert_fx(prepared).eval()


def quantize(module: nn.Module, calibration: Iterable[torch.Tensor]) -> nn.Module:
    """An int8 copy of the float `module`, its activations' ranges observed on the `calibration` batches."""
    import copy

    prepared = _prepared(copy.deepcopy(module))
    with torch.inference_mode():
        for batch in calibration:
            prepared(batch)
    return _converted(prepared)


def structure() -> nn.Module:
    """An int8 MobileNetV2 with the right layers and no meaningful numbers: what a file's tensors load into."""

    return _converted(_prepared(MobileNetV2()))


def to_bytes(quantized: nn.Module, source: str = "") -> bytes:
    """The file of an int8 model made by `quantize`: its tensors and how it was made (`source`: its float model)."""
    # As state_dict() gives it: an OrderedDict whose `_metadata` holds each layer's layout version, which the
    # quantized Linear needs to read its packed weights back (a plain dict copy loses it).
    state = quantized.state_dict()
    doc = {
        "format": FILE_FORMAT,
        "file_version": FILE_VERSION,
        "engine": ENGINE,
        "qconfig": f"torch.ao default qconfig mapping {ENGINE!r}",
        "torch": str(torch.__version__),
        "source": source,
        "state_dict": state,
    }
    out = io.BytesIO()
    torch.save(doc, out)
    return out.getvalue()


def is_quantized_file(obj: object) -> bool:
    """Whether a weights-only loaded file is this form (a dict carrying our marker)."""
    return isinstance(obj, dict) and obj.get("format") == FILE_FORMAT


def from_file(obj: dict, name: str) -> nn.Module:
    """The int8 model of a file loaded with torch's weights-only loader (`is_quantized_file(obj)`)."""
    if obj.get("file_version") != FILE_VERSION or obj.get("engine") != ENGINE:
        raise QuantizedFileError(
            f"{name} is an int8 model of file version {obj.get('file_version')!r} for engine {obj.get('engine')!r}; "
            f"this function reads version {FILE_VERSION} for {ENGINE!r}"
        )
    if ENGINE not in torch.backends.quantized.supported_engines:
        raise QuantizedFileError(f"{name} needs torch's {ENGINE!r} quantized engine, which this CPU build lacks")
    state = obj.get("state_dict")
    if not isinstance(state, dict):
        raise QuantizedFileError(f"{name} is an int8 model without its tensors")
    module = structure()
    try:
        module.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError, KeyError, ValueError) as exc:  # quantized layers raise each
        raise QuantizedFileError(f"{name}'s tensors do not fit an int8 Food-11 MobileNetV2: {exc}") from exc
    return module.eval()


def is_quantized(module: nn.Module) -> bool:
    """Whether `module` is an int8 model (made by `quantize` or rebuilt by `from_file`)."""
    return any(type(m).__module__.startswith("torch.ao.nn.quantized") for m in module.modules())

"""What the tests of a running function following the model registry share: the fixture model with another
head (so that a label tells which model gave it), photos sent to the running stack, and the check that each
one was labelled once, by the model its record names."""

from __future__ import annotations

import concurrent.futures
import io
import json
import math
import threading
import urllib.request

import torch

from classifier_fn.inference import model
from gourmetgram import model_registry
from gourmetgram.store import Store
from gourmetgram_tools.client import Dropped, drop, post_photo
from tests.conftest import FIXTURES, photo
from tests.stack import production_objects, wait_final

FIXTURE_MODEL = FIXTURES / "food11_full.pth"
EXPECTED = {  # what the fixture model answers for the sample photos (tests/fixtures/expected.json)
    name.removeprefix("photos/"): doc["predicted_index"]
    for name, doc in json.loads((FIXTURES / "expected.json").read_text())["images"].items()
}
# Well under the follower's MODEL_CHECK_INTERVAL_S (30 s): a swap seen within this came by the alias event.
BY_EVENT_S = 20


def head_shifted_by_one() -> bytes:
    """The fixture model with another head: its class weights moved one class on, so that it names class i+1 for
    every photo the fixture model names class i (a second model whose labels tell which model gave them)."""
    state = {k: v.clone() for k, v in model.load(FIXTURE_MODEL).module.state_dict().items()}
    state["classifier.1.weight"] = state["classifier.1.weight"].roll(1, dims=0)
    state["classifier.1.bias"] = state["classifier.1.bias"].roll(1, dims=0)
    out = io.BytesIO()
    torch.save(state, out)
    return out.getvalue()


def nan_model() -> bytes:
    state = {k: v.clone() for k, v in model.load(FIXTURE_MODEL).module.state_dict().items()}
    state["classifier.1.weight"][0, 0] = math.nan
    out = io.BytesIO()
    torch.save(state, out)
    return out.getvalue()


def readyz(stack) -> dict:
    with urllib.request.urlopen(f"{stack.function_base}/readyz", timeout=10) as r:
        return json.load(r)


def point(store: Store, alias: str, version: str | None) -> None:
    model_registry.set_alias(store, model_registry.read_alias(store, alias), version, by="test", why="issue 28")


def drop_photos(store: Store, prefix: str, count: int) -> dict[str, tuple[Dropped, int]]:
    """`count` distinct sample photos dropped at once: key -> (what was dropped, the fixture model's class)."""
    names = sorted(EXPECTED)

    def one(i: int):
        name = names[i % len(names)]
        data = photo(name) + f"#{prefix}{i}".encode()  # distinct bytes, the same pixels
        key = f"{prefix}/{i:03d}.jpg"
        return key, (drop(store, "incoming", key, data), EXPECTED[name])

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        return dict(pool.map(one, range(count)))


def send_steadily(store: Store, web_url: str, prefix: str, stop: threading.Event, every_s: float = 0.2) -> dict:
    """Photos sent one after another until `stop`, by turns dropped into the bucket and uploaded on the web page:
    key or upload id -> (the drop or the upload's id, the fixture model's class)."""
    names = sorted(EXPECTED)
    sent: dict = {}
    i = 0
    while not stop.is_set():
        name = names[i % len(names)]
        data = photo(name) + f"#{prefix}{i}".encode()
        if i % 2:
            pid = post_photo(web_url, data, f"{prefix}-{i}.jpg")["id"]
            sent[pid] = (pid, EXPECTED[name])
        else:
            key = f"{prefix}/{i:03d}.jpg"
            sent[key] = (drop(store, "incoming", key, data), EXPECTED[name])
        i += 1
        stop.wait(every_s)
    return sent


def labelled(store: Store, drops: dict[str, tuple[Dropped | str, int]], models: dict[str, int]) -> list[dict]:
    """Every photo done exactly once, by a model of `models` (version -> how far it shifts the fixture's class),
    whose label is that model's: the record names the model that really labelled the photo, and the tag too."""
    records = []
    for dropped, fixture_class in drops.values():
        record = wait_final(store, dropped, 90)
        assert record["status"] == "done", record
        assert production_objects(store, record["id"]) == [record["production_key"]]
        assert record["model_version"] in models, record
        assert record["class_index"] == (fixture_class + models[record["model_version"]]) % 11, record
        tags = store.get_tags("production", record["production_key"])
        assert tags["model_version"] == record["model_version"]
        records.append(record)
    return records


class _Runs:
    """Unpickled, it would call os.system: what a model file from a stranger may hold."""

    def __reduce__(self):
        import os

        return (os.system, ("echo this model ran a command",))


def foreign_global() -> bytes:
    """A model file whose pickle names a global that is no part of a model (os.system)."""
    state = {k: v.clone() for k, v in model.load(FIXTURE_MODEL).module.state_dict().items()}
    state["extra"] = _Runs()
    out = io.BytesIO()
    torch.save(state, out)
    return out.getvalue()

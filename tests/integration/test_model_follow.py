"""The running function follows the registry on the real MinIO: a champion alias change is served without a
restart (each photo's record and tags name the model that labelled it), a challenger labels in the shadow, and
a model that fails its check is refused while the one serving stays."""

from __future__ import annotations

import collections
import concurrent.futures
import io
import json
import math
import re
import threading
import time
import urllib.request

import pytest
import torch

from classifier_fn.inference import model
from gourmetgram import model_registry
from gourmetgram.store import Store
from gourmetgram_tools.client import Dropped, drop, post_photo
from tests.conftest import FIXTURES, photo
from tests.stack import production_objects, stack_settings, start_stack, wait_final, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXPECTED = {  # what the fixture model answers for the sample photos (tests/fixtures/expected.json)
    name.removeprefix("photos/"): doc["predicted_index"]
    for name, doc in json.loads((FIXTURES / "expected.json").read_text())["images"].items()
}
# Well under the follower's MODEL_CHECK_INTERVAL_S (30 s): a swap seen within this came by the alias event.
BY_EVENT_S = 20


def head_shifted_by_one() -> bytes:
    """The fixture model with another head: its class weights moved one class on, so that it names class i+1 for
    every photo the fixture model names class i (a second model whose labels tell which model gave them)."""
    state = {k: v.clone() for k, v in model.load(FIXTURES / "food11_full.pth").module.state_dict().items()}
    state["classifier.1.weight"] = state["classifier.1.weight"].roll(1, dims=0)
    state["classifier.1.bias"] = state["classifier.1.bias"].roll(1, dims=0)
    out = io.BytesIO()
    torch.save(state, out)
    return out.getvalue()


def nan_model() -> bytes:
    state = {k: v.clone() for k, v in model.load(FIXTURES / "food11_full.pth").module.state_dict().items()}
    state["classifier.1.weight"][0, 0] = math.nan
    out = io.BytesIO()
    torch.save(state, out)
    return out.getvalue()


@pytest.fixture(scope="module")
def follow_stack(tmp_path_factory):
    # `configure` (run by the stack) made the `models` bucket, the function's read rights on it and its alias events.
    stack = start_stack(tmp_path_factory.mktemp("follow"), stack_settings())
    yield stack
    stack.stop_all(kill=True)


@pytest.fixture(scope="module")
def root(follow_stack) -> Store:
    return Store.connect(follow_stack.settings)


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


def test_the_function_follows_the_champion_shadows_the_challenger_and_refuses_a_bad_model(follow_stack, root):
    s = follow_stack
    fixture = model.load(FIXTURES / "food11_full.pth").version  # what MODEL_PATH serves at start
    assert readyz(s)["model_version"] == fixture
    before = labelled(root, drop_photos(root, "before", 4), {fixture: 0})
    assert all("shadow" not in r for r in before)

    # WHEN a second model is added and made champion while a burst of photos is being labelled
    shifted, _ = model_registry.add(root, head_shifted_by_one(), format="state_dict", by="test", note="head +1")
    stop = threading.Event()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        stream = pool.submit(send_steadily, root, s.web_url, "burst", stop)
        time.sleep(1)
        started = time.monotonic()
        point(root, model_registry.CHAMPION, shifted.version)
        # THEN the function serves it within seconds (the alias event, not the 30 s check), without a restart
        wait_until(lambda: readyz(s)["model_version"] == shifted.version, BY_EVENT_S, "the new champion to serve")
        took = time.monotonic() - started
        time.sleep(1.5)
        stop.set()
        burst = stream.result()
    # and every photo dropped meanwhile was labelled once, by the model its record names: both models labelled
    during = labelled(root, burst, {fixture: 0, shifted.version: 1})
    by_model = collections.Counter(r["model_version"] for r in during)
    print(f"\nswap seen by /readyz {took:.1f} s after the alias change; {len(burst)} photos across it: {by_model}")
    assert set(by_model) == {fixture, shifted.version}
    assert {r["source"] for r in during} == {"web", "bucket"}
    after = labelled(root, drop_photos(root, "after", 4), {shifted.version: 1})
    assert all("shadow" not in r for r in after)

    # WHEN the fixture model is set as challenger
    original, _ = model_registry.add(root, (FIXTURES / "food11_full.pth").read_bytes(), format="full_model", by="test")
    assert original.version == fixture
    point(root, model_registry.CHALLENGER, original.version)
    wait_until(lambda: readyz(s)["models"]["shadow"] == original.version, BY_EVENT_S, "the challenger in the shadow")
    # THEN a share of the new photos carries its answer in `shadow`, the champion's answer and tags unchanged
    shadowed = labelled(root, drop_photos(root, "shadow", 8), {shifted.version: 1})
    with_shadow = [r for r in shadowed if r.get("shadow")]
    assert len(with_shadow) == 2, [r.get("shadow") for r in shadowed]  # SHADOW_SHARE: a quarter of 8
    for r in with_shadow:
        assert r["shadow"]["model_version"] == original.version
        assert r["shadow"]["class_index"] == (r["class_index"] - 1) % 11  # the fixture model's own class
        tags = root.get_tags("production", r["production_key"])
        assert original.version not in tags.values()

    # WHEN the challenger is cleared, no more shadow
    point(root, model_registry.CHALLENGER, None)
    wait_until(lambda: readyz(s)["models"]["shadow"] is None, BY_EVENT_S, "the shadow to stop")
    assert all("shadow" not in r for r in labelled(root, drop_photos(root, "cleared", 4), {shifted.version: 1}))

    # WHEN the champion alias names a model whose weights are NaN
    broken, _ = model_registry.add(root, nan_model(), format="state_dict", by="test")
    point(root, model_registry.CHAMPION, broken.version)
    # THEN it is refused: the function stays ready, says which and why, and the model before it labels on
    ready = wait_until(lambda: (r := readyz(s))["models"]["refused"] and r, BY_EVENT_S, "the refusal")
    assert ready["ready"] and ready["model_version"] == shifted.version
    assert [(x["alias"], x["version"]) for x in ready["models"]["refused"]] == [("champion", broken.version)]
    assert any(broken.version in p and "not finite" in p for p in ready["problems"])
    labelled(root, drop_photos(root, "refused", 3), {shifted.version: 1})
    metrics = urllib.request.urlopen(f"{s.function_base}/metrics", timeout=10).read().decode()
    assert 'gourmetgram_models_refused_total{alias="champion"} 1.0' in metrics
    assert 'gourmetgram_model_swaps_total{alias="champion"} 1.0' in metrics
    assert 'gourmetgram_shadow_predictions_total{result="labelled"} 2.0' in metrics
    # the follower's reads are counted apart from the photos' requests (five per photo)
    assert re.search(r'^gourmetgram_model_registry_requests_total\{operation="GetObject"\} [1-9]', metrics, re.M)


def test_a_restarted_function_starts_on_the_registrys_champion(follow_stack, root):
    # GIVEN a good champion in the registry (the test above may have left a refused one)
    shifted, _ = model_registry.add(root, head_shifted_by_one(), format="state_dict", by="test")
    point(root, model_registry.CHAMPION, shifted.version)
    # WHEN the function restarts with MODEL_PATH still naming the fixture model
    follow_stack.stop("function")
    follow_stack.start_function()
    # THEN it serves the champion from its first photo
    assert readyz(follow_stack)["model_version"] == shifted.version
    labelled(root, drop_photos(root, "restart", 3), {shifted.version: 1})

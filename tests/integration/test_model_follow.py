"""The running function follows the registry on the real MinIO: a champion alias change is served without a
restart (each photo's record and tags name the model that labelled it), a challenger labels in the shadow, and
a model that fails its check is refused while the one serving stays."""

from __future__ import annotations

import collections
import concurrent.futures
import re
import threading
import time
import urllib.request

import pytest

from classifier_fn.inference import model
from gourmetgram import model_registry
from gourmetgram.store import Store
from tests.conftest import FIXTURES
from tests.model_photos import (
    BY_EVENT_S,
    drop_photos,
    head_shifted_by_one,
    labelled,
    nan_model,
    point,
    readyz,
    send_steadily,
)
from tests.stack import stack_settings, start_stack, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def follow_stack(tmp_path_factory):
    # `configure` (run by the stack) made the `models` bucket, the function's read rights on it and its alias events.
    stack = start_stack(tmp_path_factory.mktemp("follow"), stack_settings())
    yield stack
    stack.stop_all(kill=True)


@pytest.fixture(scope="module")
def root(follow_stack) -> Store:
    return Store.connect(follow_stack.settings)


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

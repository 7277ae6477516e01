"""An int8 model made from production on the real MinIO: photos labelled by the running function, `gourmetgram model
quantize` calibrates the champion's int8 copy on them and registers it, and the running function serves it in the
shadow as challenger, then as champion (each record and tag naming it)."""

from __future__ import annotations

import concurrent.futures
import json
import urllib.request

import pytest

from classifier_fn.inference import model
from gourmetgram import model_registry
from gourmetgram.store import Store
from gourmetgram_tools.client import drop
from tests.conftest import FIXTURES
from tests.seeding import photo_variants
from tests.stack import production_objects, run_cli, stack_settings, start_stack, wait_final, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CALIBRATION_PHOTOS = 20
BY_EVENT_S = 20  # under the follower's 30 s check: the alias event brought it


@pytest.fixture(scope="module")
def int8_stack(tmp_path_factory):
    stack = start_stack(tmp_path_factory.mktemp("int8"), stack_settings())
    yield stack
    stack.stop_all(kill=True)


def readyz(stack) -> dict:
    with urllib.request.urlopen(f"{stack.function_base}/readyz", timeout=10) as r:
        return json.load(r)


def point(store: Store, alias: str, version: str | None) -> None:
    model_registry.set_alias(store, model_registry.read_alias(store, alias), version, by="test", why="issue 29")


def drop_all(store: Store, prefix: str, photos: list[bytes]) -> list[dict]:
    """Every photo dropped at once, then its final record (done, in production once)."""
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        dropped = list(
            pool.map(lambda ip: drop(store, "incoming", f"{prefix}/{ip[0]:03d}.jpg", ip[1]), enumerate(photos))
        )
    records = [wait_final(store, d, 90) for d in dropped]
    for r in records:
        assert r["status"] == "done", r
        assert production_objects(store, r["id"]) == [r["production_key"]]
    return records


def test_an_int8_copy_of_the_champion_is_made_from_production_and_served_as_challenger_then_champion(int8_stack):
    s = int8_stack
    root = Store.connect(s.settings)
    fixture = model.load(FIXTURES / "food11_full.pth").version
    champion, _ = model_registry.add(root, (FIXTURES / "food11_full.pth").read_bytes(), format="full_model", by="test")
    point(root, model_registry.CHAMPION, champion.version)
    assert champion.version == fixture == readyz(s)["model_version"]
    # GIVEN production photos labelled by the function
    photos = photo_variants(CALIBRATION_PHOTOS + 12)  # distinct pixels: calibration, shadow, champion
    produced = drop_all(root, "production", photos[:CALIBRATION_PHOTOS])
    assert {r["model_version"] for r in produced} == {fixture}

    # WHEN the operator quantizes the champion on them
    done = run_cli(
        s.settings, "model", "quantize", "--from", "champion", "--calibrate-since", "1h", "--max", "20", "--note", "t"
    )
    print(f"\n{done.stdout}{done.stderr}")
    assert done.returncode == 0, done.stderr
    # THEN an int8 model is in the registry, with its source, its calibration photos and its agreement
    (int8,) = [m for m in model_registry.listing(root) if m.format == "int8"]
    assert int8.source == fixture and int8.note == "t"
    assert len(int8.calibration) == 15 and set(int8.calibration) <= {r["id"] for r in produced}
    assert int8.agreement["photos"] == 5 and set(int8.agreement["held_out"]) <= {r["id"] for r in produced}
    assert f"added {int8.version} (int8 of {fixture}" in done.stdout
    assert int8.size < champion.size / 3

    # WHEN it is set as challenger, THEN the running function labels a share of new photos with it in the shadow
    point(root, model_registry.CHALLENGER, int8.version)
    wait_until(lambda: readyz(s)["models"]["shadow"] == int8.version, BY_EVENT_S, "the int8 challenger to shadow")
    shadowed = drop_all(root, "shadow", photos[CALIBRATION_PHOTOS : CALIBRATION_PHOTOS + 8])
    assert {r["model_version"] for r in shadowed} == {fixture}
    answers = [r["shadow"] for r in shadowed if r.get("shadow")]
    assert len(answers) == 2 and {a["model_version"] for a in answers} == {int8.version}  # a quarter of 8
    assert all(0 < a["confidence"] <= 1 for a in answers)

    # WHEN it is made champion, THEN it labels production: records and tags name it
    point(root, model_registry.CHAMPION, int8.version)
    wait_until(lambda: readyz(s)["model_version"] == int8.version, BY_EVENT_S, "the int8 champion to serve")
    served = drop_all(root, "champion", photos[-4:])
    assert {r["model_version"] for r in served} == {int8.version}
    for r in served:
        assert root.get_tags("production", r["production_key"])["model_version"] == int8.version
    assert readyz(s)["models"]["refused"] == []

"""An event of the `models` bucket (an alias changed) wakes the model follower, by webhook and by stream, and is
never taken for a photo; the record and tags of a photo name the model that labelled it, and its shadow."""

from __future__ import annotations

import copy

from starlette.testclient import TestClient

from classifier_fn.app import create_app
from classifier_fn.endpoints.jetstream import JetStreamConsumer
from classifier_fn.inference.infer import Prediction
from classifier_fn.metrics import Metrics
from classifier_fn.pipeline.queue import WorkQueue
from classifier_fn.pipeline.worker import process
from classifier_fn.runtime import Runtime
from gourmetgram import model_registry, names, outcome
from tests.conftest import load_event, photo
from tests.unit.test_jetstream import FakeMsg, event_body, run
from tests.unit.test_webhook import AUTH, demo  # noqa: F401  (the module's demo model fixture)
from tests.unit.test_worker import FixedBatcher, drop, pid_of


class Woken:
    """Stands in for the model follower: counts wake-ups."""

    def __init__(self):
        self.woken = 0

    def wake(self):
        self.woken += 1


def alias_event() -> dict:
    """MinIO's event for `mc cp champion.json local/models/aliases/` (the captured put, in the models bucket)."""
    doc = copy.deepcopy(load_event("put_simple"))
    doc["Records"][0]["s3"]["bucket"]["name"] = model_registry.BUCKET
    doc["Records"][0]["s3"]["object"]["key"] = "aliases/champion.json"
    doc["Key"] = f"{model_registry.BUCKET}/aliases/champion.json"
    return doc


def test_a_models_event_on_the_webhook_wakes_the_follower_and_queues_nothing(settings, fake_store, demo):  # noqa: F811
    app = create_app(settings, store=fake_store, loaded=demo, run_check=False, run_reconciler=False)
    with TestClient(app) as client:
        rt = app.state.runtime
        rt.follower = Woken()
        fake_store.calls.clear()
        r = client.post("/minio/events", json=alias_event(), headers=AUTH)
        assert r.status_code == 200 and r.json()["results"] == [{"key": "aliases/champion.json", "result": "model"}]
        assert rt.follower.woken == 1
        assert rt.queue.depth()["held"] == 0 and fake_store.calls == []
        # an incoming photo's event never wakes it
        client.post("/minio/events", json=load_event("put_tagging"), headers=AUTH)
        assert rt.follower.woken == 1


def test_a_models_message_on_the_stream_wakes_the_follower_and_is_acknowledged(settings, fake_store):
    s = settings.replace(event_transport="jetstream")
    rt = Runtime(s, fake_store, WorkQueue(10, 10), None, "food11-test", Metrics(), "w-test")
    rt.follower = Woken()  # type: ignore[assignment]
    consumer = JetStreamConsumer(rt, capacity=4)
    msg = FakeMsg(event_body("aliases/challenger.json", "e", bucket=model_registry.BUCKET))
    run(consumer, lambda: consumer._take(msg))
    assert msg.settled == [("ack",)] and rt.follower.woken == 1 and rt.queue.depth()["held"] == 0


class ShadowedBatcher(FixedBatcher):
    def __init__(self):
        super().__init__()
        champion = self.prediction
        self.prediction = Prediction(
            champion.index,
            champion.probability,
            champion.top,
            "food11-champion",
            Prediction(2, 0.61, (), "food11-chall"),
        )
        self.shadow_asked: list[bool] = []

    def predict(self, tensor, timeout=120.0, shadow=False):
        self.shadow_asked.append(shadow)
        return super().predict(tensor, timeout)


def test_the_record_and_tags_name_the_batchs_model_and_the_shadow_stays_out_of_the_tags(settings, fake_store):
    batcher = ShadowedBatcher()
    # the runtime names another model: a swap came after this photo's batch
    rt = Runtime(settings, fake_store, WorkQueue(10, 10), batcher, "food11-swapped-since", Metrics(), "w-test")
    item = drop(fake_store, "a.jpg", photo())
    pid = pid_of(fake_store, item)
    assert process(rt, item) == "done" and batcher.shadow_asked == [True]
    record = outcome.read(fake_store, "events", pid).outcome
    assert record.model_version == "food11-champion"
    assert record.shadow == {
        "model_version": "food11-chall",
        "predicted_class": names.class_name(2),
        "class_index": 2,
        "confidence": 0.61,
    }
    tags = fake_store.get_tags("production", record.production_key)
    assert tags["model_version"] == "food11-champion" and "food11-chall" not in str(tags)
    assert record.production_key.startswith(f"class_{record.class_index:02d}/")


def test_the_shadow_field_round_trips_and_is_absent_without_one():
    base = dict(id="x", status=outcome.Status.DONE, incoming_key="k", incoming_etag="e")
    shadow = {"model_version": "v", "predicted_class": "Egg", "class_index": 3, "confidence": 0.5}
    doc = outcome.Outcome(**base, shadow=shadow).to_json()
    assert doc["shadow"] == shadow and outcome.Outcome.from_json(doc).shadow == shadow
    assert "shadow" not in outcome.Outcome(**base).to_json()

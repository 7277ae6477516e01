"""The course's design that the bench measures against: answers the label, then stores and tags."""

from __future__ import annotations

import io

from gourmetgram import names
from gourmetgram_tools.baseline import PREFIX, Baseline, create_app
from tests.conftest import FIXTURES, photo


def test_it_answers_the_label_then_stores_the_photo_with_three_tags(settings, fake_store):
    baseline = Baseline(settings.replace(model_path=FIXTURES / "food11_full.pth"), store=fake_store)
    client = create_app(baseline).test_client()
    answer = client.post("/predict", data={"file": (io.BytesIO(photo("9_452.jpg")), "soup.jpg")})
    assert answer.status_code == 200 and answer.json["prediction"] in names.CLASSES
    drained = client.get("/drain").json
    assert drained["stored"] == 1 and drained["last_stored_at"] > 0
    assert fake_store.calls == ["put", "put_tags"]  # as the course's app: the photo, then its tags
    [key] = fake_store.keys("production")
    assert key.startswith(PREFIX + "class_") and key.endswith(".jpg")
    assert key.split("/")[1] == f"class_{names.class_index(answer.json['prediction']):02d}"
    tags = fake_store.get_tags("production", key)
    assert set(tags) == {"predicted_class", "confidence", "timestamp"}
    assert tags["predicted_class"] == answer.json["prediction"]
    assert client.post("/predict", data={"file": (io.BytesIO(b"not a photo"), "x.jpg")}).status_code == 400


def test_the_course_variant_serves_the_plain_eager_model_with_the_same_answer(settings, fake_store):
    import torch

    s = settings.replace(model_path=FIXTURES / "food11_full.pth")
    ours, course = Baseline(s, store=fake_store), Baseline(s, store=fake_store, course=True)
    assert isinstance(ours.module, torch.jit.ScriptModule)  # folded and traced, as this project serves it
    assert not isinstance(course.module, torch.jit.ScriptModule)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in course.module.modules())  # BatchNorm not folded
    index, probability, _ = course.classify(photo("9_452.jpg"))
    assert ours.classify(photo("9_452.jpg"))[0] == index
    assert abs(ours.classify(photo("9_452.jpg"))[1] - probability) < 1e-4

import uuid
from datetime import UTC, datetime

import pytest

from gourmetgram import names


def test_eleven_classes_in_design_order():
    assert len(names.CLASSES) == 11
    assert names.class_name(0) == "Bread" and names.class_name(6) == "Noodles/Pasta"
    assert names.class_name(10) == "Vegetable/Fruit"
    assert names.class_index("dairy PRODUCT") == 1
    with pytest.raises(ValueError, match="'Pizza' is not a Food-11 class"):
        names.class_index("Pizza")


def test_prediction_id_prefers_valid_metadata_and_is_stable_otherwise():
    given = str(uuid.uuid4())
    assert names.prediction_id("incoming", "a.jpg", "e1", given) == given
    derived = names.prediction_id("incoming", "a.jpg", "e1")
    assert derived == str(uuid.uuid5(uuid.NAMESPACE_URL, "incoming/a.jpg@e1"))
    assert names.prediction_id("incoming", "a.jpg", "e1", "../../etc") == derived  # garbage is ignored
    assert names.prediction_id("incoming", "a.jpg", "e2") != derived  # a new version is a new photo


@pytest.mark.parametrize(("key", "fmt", "ext"), [
    pytest.param("a/b/Photo.JPG", "JPEG", ".jpg", id="upper-case"),
    pytest.param("dish.jpeg", "JPEG", ".jpeg", id="jpeg"),
    pytest.param("scan", "PNG", ".png", id="no-extension"),
    pytest.param("notes.txt", "JPEG", ".jpg", id="lying-extension"),
    pytest.param("blob", None, "", id="unknown"),
])
def test_extension(key, fmt, ext):
    assert names.extension(key, fmt) == ext


def test_production_key_and_record_key():
    assert names.production_key(7, "abc", ".png") == "class_07/abc.png"
    assert names.record_key("abc") == "abc.json"


def test_tag_values():
    moment = datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=UTC)
    tags = names.production_tags(6, 0.87349, "food11-abc", "web", moment)
    assert tags == {"predicted_class": "Noodles/Pasta", "confidence": "0.873", "timestamp": "2026-01-02T03:04:05Z",
                    "model_version": "food11-abc", "source": "web"}
    assert names.production_tags(0, 1.0, "v", "evil")["source"] == "bucket"
    assert names.tag_value("bad <file> & 'quotes'") == "bad _file_ _ _quotes_"
    assert len(names.tag_value("x" * 1000)) == 256

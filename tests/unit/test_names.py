import uuid
from datetime import UTC, datetime, timedelta

import pytest

from gourmetgram import names


def test_eleven_classes_in_design_order():
    assert len(names.CLASSES) == 11
    assert names.class_name(0) == "Bread" and names.class_name(6) == "Noodles/Pasta"
    assert names.class_name(10) == "Vegetable/Fruit"
    assert names.class_index("dairy PRODUCT") == 1
    with pytest.raises(ValueError, match="'Pizza' is not a Food-11 class"):
        names.class_index("Pizza")


def test_a_drop_id_is_a_time_ordered_uuid8_stable_for_one_object_version():
    moment = datetime(2026, 11, 29, 10, 0, 5, 700000, tzinfo=UTC)
    pid = names.drop_id("incoming", "a.jpg", "e1", moment)
    parsed = uuid.UUID(pid)
    assert parsed.version == 8 and parsed.variant == uuid.RFC_4122
    assert parsed.int >> 80 == 1_795_946_405_000  # Last-Modified in whole seconds, as ms
    assert names.drop_id("incoming", "a.jpg", "e1", moment.replace(microsecond=0)) == pid  # as HEAD reports it
    assert names.drop_id("incoming", "a.jpg", "e2", moment) != pid      # a new version is a new photo
    assert names.drop_id("incoming", "b.jpg", "e1", moment) != pid
    later = names.drop_id("incoming", "a.jpg", "e1", moment + timedelta(seconds=1))
    assert later != pid and later > pid  # sorts by time, as strings too


def test_upload_ids_are_uuid7_in_time_order():
    ids = [names.upload_id(1_795_946_405.0 + i / 1000) for i in range(3)]
    assert [uuid.UUID(i).version for i in ids] == [7, 7, 7]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert uuid.UUID(ids[0]).int >> 80 == 1_795_946_405_000


def test_drop_id_candidates_cover_the_put_window():
    moment = datetime(2026, 11, 29, 10, 0, 5, tzinfo=UTC)
    pid = names.drop_id("incoming", "a.jpg", "e1", moment)
    assert pid in names.drop_id_candidates("incoming", "a.jpg", "e1", moment.timestamp() - 0.2,
                                           moment.timestamp() + 0.3)


@pytest.mark.parametrize(("key", "metadata_id", "honoured"), [
    pytest.param("{id}.jpg", "{id}", True, id="web-upload"),
    pytest.param("{id}", "{id}", True, id="no-extension"),
    pytest.param("again.jpg", "{id}", False, id="copied-back-under-another-name"),
    pytest.param("x/{id}.jpg", "{id}", False, id="in-a-folder"),
    pytest.param("{id}.jpg", "../../etc", False, id="garbage"),
    pytest.param("{id}.jpg", None, False, id="none"),
])
def test_an_upload_id_is_honoured_only_on_its_own_key(key, metadata_id, honoured):
    pid = str(uuid.uuid4())
    given = metadata_id.format(id=pid) if metadata_id else None
    assert names.honoured_upload_id(key.format(id=pid), given) == (pid if honoured else None)


@pytest.mark.parametrize(("fmt", "ext", "content_type"), [
    pytest.param("JPEG", ".jpg", "image/jpeg", id="jpeg"),
    pytest.param("MPO", ".jpg", "image/jpeg", id="mpo"),
    pytest.param("PNG", ".png", "image/png", id="png"),
    pytest.param("GIF", ".gif", "image/gif", id="gif"),
    pytest.param("WEBP", ".webp", "image/webp", id="webp"),
    pytest.param("BMP", ".bmp", "image/bmp", id="bmp"),
    pytest.param("TIFF", ".tiff", "image/tiff", id="tiff"),
    pytest.param("PPM", "", "application/octet-stream", id="not-ours"),
    pytest.param(None, "", "application/octet-stream", id="unknown"),
])
def test_extension_and_content_type_follow_the_detected_format(fmt, ext, content_type):
    assert names.extension(fmt) == ext and names.content_type(fmt) == content_type


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

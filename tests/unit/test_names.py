import hashlib
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from gourmetgram import names


def test_eleven_classes_in_design_order():
    # DESIGN.md: index = NN of the production key, in this order (the model's outputs follow it)
    assert [names.class_name(i) for i in range(11)] == [
        "Bread", "Dairy product", "Dessert", "Egg", "Fried food", "Meat", "Noodles/Pasta", "Rice", "Seafood",
        "Soup", "Vegetable/Fruit"]
    assert [names.class_index(name) for name in names.CLASSES] == list(range(11))
    assert names.class_index("  vegetable/fruit ") == 10
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


def test_a_drop_id_follows_the_documented_layout_so_every_release_computes_the_same():
    # Records already stored are found by this id: it must never change between releases. DESIGN.md: 48 bits
    # of Last-Modified in ms, version 8, then the leading bits of SHA-256("<bucket>/<key>@<etag>").
    moment = datetime(2026, 11, 29, 10, 0, 5, tzinfo=UTC)
    assert names.drop_id("incoming", "a.jpg", "e1", moment) == "01a226bf-5c88-85dd-abb8-02d0b1a9a179"
    digest = int.from_bytes(hashlib.sha256(b"incoming/a.jpg@e1").digest()[:10], "big")
    parsed = uuid.UUID(names.drop_id("incoming", "a.jpg", "e1", moment))
    assert parsed.int >> 64 & 0xFFF == digest >> 62 & 0xFFF and parsed.int & (1 << 62) - 1 == digest & (1 << 62) - 1


def test_a_twins_id_also_hashes_its_version_id_and_keeps_the_time():
    # The same bytes under the same key in the same second: the id of the second version covers its version id.
    moment = datetime(2026, 11, 29, 10, 0, 5, tzinfo=UTC)
    plain = names.drop_id("incoming", "a.jpg", "e1", moment)
    twin = names.drop_id("incoming", "a.jpg", "e1", moment, "v2")
    digest = int.from_bytes(hashlib.sha256(b"incoming/a.jpg@e1#v2").digest()[:10], "big")
    parsed = uuid.UUID(twin)
    assert parsed.int & (1 << 62) - 1 == digest & (1 << 62) - 1 and parsed.version == 8
    assert twin != plain and twin[:13] == plain[:13]  # another id, the same leading time
    assert names.drop_id("incoming", "a.jpg", "e1", moment, "v3") != twin
    assert names.drop_id("incoming", "a.jpg", "e1", moment, None) == plain


def test_drop_id_candidates_are_the_put_window_and_a_second_of_clock_skew_each_side():
    def at(second: int) -> str:
        return names.drop_id("incoming", "a.jpg", "e1", datetime.fromtimestamp(second, UTC))

    start = 1_795_946_405
    assert names.drop_id_candidates("incoming", "a.jpg", "e1", start + 0.2, start + 1.7) == [
        at(start - 1), at(start), at(start + 1), at(start + 2)]


def test_drop_id_candidates_do_not_depend_on_the_machines_time_zone(monkeypatch):
    start = 1_795_946_405
    in_utc = names.drop_id_candidates("incoming", "a.jpg", "e1", start, start)
    monkeypatch.setenv("TZ", "America/St_Johns")  # UTC-03:30, with summer time
    time.tzset()
    try:
        assert time.localtime(start).tm_gmtoff == -int(3.5 * 3600)  # the zone is really in force
        assert names.drop_id_candidates("incoming", "a.jpg", "e1", start, start) == in_utc
    finally:
        monkeypatch.undo()
        time.tzset()


def test_an_upload_id_keeps_every_millisecond():
    assert uuid.UUID(names.upload_id(1_795_946_405.0015)).int >> 80 == 1_795_946_405_001


def test_tag_and_record_times_do_not_depend_on_the_machines_time_zone(monkeypatch):
    india = timezone(timedelta(hours=5, minutes=30))
    monkeypatch.setenv("TZ", "America/St_Johns")  # UTC-03:30, with summer time
    time.tzset()
    try:
        assert names.timestamp_tag(datetime(2026, 11, 29, 15, 30, 5, tzinfo=india)) == "2026-11-29T10:00:05Z"
        assert names.parse_iso(names.timestamp_tag()) == pytest.approx(time.time(), abs=60)
        assert names.now_iso(1_795_946_405.123) == "2026-11-29T10:00:05.123Z"
        assert names.parse_iso("2026-11-29T10:00:05.123Z") == pytest.approx(1_795_946_405.123)
    finally:
        monkeypatch.undo()
        time.tzset()


def test_upload_ids_are_random_within_one_millisecond():
    ids = {names.upload_id(1_795_946_405.0) for _ in range(50)}
    assert len(ids) == 50 and all(uuid.UUID(i).int >> 80 == 1_795_946_405_000 for i in ids)
    assert uuid.UUID(names.upload_id()).int >> 80 == pytest.approx(time.time() * 1000, abs=60_000)


@pytest.mark.parametrize(("value", "is_id"), [
    pytest.param("0190f3c4-5b6a-7c8d-9e0f-112233445566", True, id="uuid7"),
    pytest.param(str(uuid.uuid4()), True, id="uuid4-of-older-records"),
    pytest.param("0190F3C4-5B6A-7C8D-9E0F-112233445566", False, id="upper-case-is-not-how-we-spell-it"),
    pytest.param("0190f3c45b6a7c8d9e0f112233445566", False, id="no-dashes"),
    pytest.param("../../etc/passwd", False, id="a-path"),
    pytest.param("", False, id="empty"),
])
def test_is_prediction_id_accepts_only_the_canonical_spelling(value, is_id):
    assert names.is_prediction_id(value) is is_id


def test_token_hash_accepts_only_a_sha256_hex_digest():
    digest = hashlib.sha256(b"token").hexdigest()
    assert names.token_hash(digest) == digest
    for bad in (None, "", digest.upper(), digest[:-1], digest + "0", "g" * 64, f" {digest}"):
        assert names.token_hash(bad) is None, bad


def test_a_folder_marker_is_a_key_ending_in_a_slash():
    assert names.is_folder_marker("photos/") and names.is_folder_marker("/")
    assert not names.is_folder_marker("photos/a.jpg") and not names.is_folder_marker("photos")


def test_quarantine_key_is_the_id_then_the_files_own_name():
    assert names.quarantine_key("p1", "holiday/day 1/IMG_0001.HEIC") == "p1/IMG_0001.HEIC"
    assert names.quarantine_key("p1", "x" * 300 + ".jpg") == "p1/" + "x" * 200
    assert names.quarantine_key("p1", "") == "p1/object"


def test_record_times_are_utc_to_the_millisecond_and_read_back_in_any_zone():
    moment = 1_795_946_405.123
    assert names.now_iso(moment) == "2026-11-29T10:00:05.123Z"
    assert names.parse_iso("2026-11-29T10:00:05.123Z") == pytest.approx(moment)
    # the same moment written by a machine in another zone
    assert names.parse_iso("2026-11-29T15:30:05.123+05:30") == pytest.approx(moment)
    assert names.parse_iso("2026-11-29T06:00:05.123-04:00") == pytest.approx(moment)
    assert names.parse_iso(names.now_iso()) == pytest.approx(time.time(), abs=60)


def test_a_time_without_a_zone_is_refused_not_taken_as_local():
    with pytest.raises(ValueError, match="time '2026-11-29T10:00:05' has no time zone"):
        names.parse_iso("2026-11-29T10:00:05")


def test_the_tag_time_is_utc_to_the_second_whatever_the_zone_given():
    india = timezone(timedelta(hours=5, minutes=30))
    assert names.timestamp_tag(datetime(2026, 11, 29, 15, 30, 5, 900000, tzinfo=india)) == "2026-11-29T10:00:05Z"
    assert names.parse_iso(names.timestamp_tag()) == pytest.approx(time.time(), abs=60)


def test_confidence_has_three_decimals():
    assert [names.confidence_tag(p) for p in (0.87349, 0.8735, 1.0, 0.0)] == ["0.873", "0.874", "1.000", "0.000"]


def test_tag_values_keep_every_character_s3_allows():
    allowed = "AZaz09 +-=._:/@"
    assert names.tag_value(allowed) == allowed
    assert names.tag_value("café;€") == "caf___"
    assert names.tag_value("x" * 300) == "x" * 256


def test_production_tags_name_the_source_web_or_bucket():
    assert names.production_tags(0, 0.5, "v", "web")["source"] == "web"
    assert names.production_tags(0, 0.5, "v", "bucket")["source"] == "bucket"
    assert names.production_tags(3, 0.5, "model <1>", "web")["model_version"] == "model _1_"
    assert names.production_tags(3, 0.5, "v", "web")["predicted_class"] == "Egg"

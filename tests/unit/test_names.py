import hashlib
import re
import string
import time
import urllib.parse
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from gourmetgram import names


def test_eleven_classes_in_design_order():
    # docs/contract.md#food-11-classes: index = NN of the production key, in this order (the model's outputs follow it)
    assert [names.class_name(i) for i in range(11)] == [
        "Bread",
        "Dairy product",
        "Dessert",
        "Egg",
        "Fried food",
        "Meat",
        "Noodles/Pasta",
        "Rice",
        "Seafood",
        "Soup",
        "Vegetable/Fruit",
    ]
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
    assert names.drop_id("incoming", "a.jpg", "e2", moment) != pid  # a new version is a new photo
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
    assert pid in names.drop_id_candidates(
        "incoming", "a.jpg", "e1", moment.timestamp() - 0.2, moment.timestamp() + 0.3
    )


@pytest.mark.parametrize(
    ("key", "metadata_id", "honoured"),
    [
        pytest.param("{id}.jpg", "{id}", True, id="web-upload"),
        pytest.param("{id}", "{id}", True, id="no-extension"),
        pytest.param("again.jpg", "{id}", False, id="copied-back-under-another-name"),
        pytest.param("x/{id}.jpg", "{id}", False, id="in-a-folder"),
        pytest.param("{id}.jpg", "../../etc", False, id="garbage"),
        pytest.param("{id}.jpg", None, False, id="none"),
    ],
)
def test_an_upload_id_is_honoured_only_on_its_own_key(key, metadata_id, honoured):
    pid = str(uuid.uuid4())
    given = metadata_id.format(id=pid) if metadata_id else None
    assert names.honoured_upload_id(key.format(id=pid), given) == (pid if honoured else None)


@pytest.mark.parametrize(
    ("fmt", "ext", "content_type"),
    [
        pytest.param("JPEG", ".jpg", "image/jpeg", id="jpeg"),
        pytest.param("MPO", ".jpg", "image/jpeg", id="mpo"),
        pytest.param("PNG", ".png", "image/png", id="png"),
        pytest.param("GIF", ".gif", "image/gif", id="gif"),
        pytest.param("WEBP", ".webp", "image/webp", id="webp"),
        pytest.param("BMP", ".bmp", "image/bmp", id="bmp"),
        pytest.param("TIFF", ".tiff", "image/tiff", id="tiff"),
        pytest.param("HEIC", ".heic", "image/heic", id="heic"),
        pytest.param("HEIF", ".heif", "image/heif", id="heif"),
        pytest.param("AVIF", ".avif", "image/avif", id="avif"),
        pytest.param("PPM", "", "application/octet-stream", id="not-ours"),
        pytest.param(None, "", "application/octet-stream", id="unknown"),
    ],
)
def test_extension_and_content_type_follow_the_detected_format(fmt, ext, content_type):
    assert names.extension(fmt) == ext and names.content_type(fmt) == content_type


def test_phone_formats_are_opened_by_their_own_plugins_avif_before_heif():
    # both plugins claim the generic `mif1` brand; libavif declines an HEVC file, so AVIF goes first
    assert names.PILLOW_OPENERS[-2:] == ("AVIF", "HEIF")


def test_production_key_and_record_key():
    assert names.production_key(7, "abc", ".png") == "class_07/abc.png"
    assert names.record_key("abc") == "abc.json"


def test_tag_values():
    moment = datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=UTC)
    tags = names.production_tags(6, 0.87349, "food11-abc", "web", moment)
    assert tags == {
        "predicted_class": "Noodles/Pasta",
        "confidence": "0.873",
        "timestamp": "2026-01-02T03:04:05Z",
        "model_version": "food11-abc",
        "source": "web",
    }
    assert names.production_tags(0, 1.0, "v", "evil")["source"] == "bucket"
    assert names.tag_value("bad <file> & 'quotes'") == "bad file + quotes"
    assert len(names.tag_value("x" * 1000)) == 256


def test_a_drop_id_follows_the_documented_layout_so_every_release_computes_the_same():
    # Stored records are found by this id, so it never changes (docs/contract.md#prediction-ids): 48 bits
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
        at(start - 1),
        at(start),
        at(start + 1),
        at(start + 2),
    ]


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


@pytest.mark.parametrize(
    ("value", "is_id"),
    [
        pytest.param("0190f3c4-5b6a-7c8d-9e0f-112233445566", True, id="uuid7"),
        pytest.param(str(uuid.uuid4()), True, id="uuid4-of-older-records"),
        pytest.param("0190F3C4-5B6A-7C8D-9E0F-112233445566", False, id="upper-case-is-not-how-we-spell-it"),
        pytest.param("0190f3c45b6a7c8d9e0f112233445566", False, id="no-dashes"),
        pytest.param("../../etc/passwd", False, id="a-path"),
        pytest.param("", False, id="empty"),
    ],
)
def test_is_prediction_id_accepts_only_the_canonical_spelling(value, is_id):
    assert names.is_prediction_id(value) is is_id


def test_token_hash_accepts_only_a_sha256_hex_digest():
    digest = hashlib.sha256(b"token").hexdigest()
    assert names.token_hash(digest) == digest
    for bad in (None, "", digest.upper(), digest[:-1], digest + "0", "g" * 64, f" {digest}"):
        assert names.token_hash(bad) is None, bad


def test_a_folder_marker_is_a_zero_byte_key_ending_in_a_slash():
    assert names.is_folder_marker("photos/", 0) and names.is_folder_marker("/", 0)
    assert not names.is_folder_marker("photos/a.jpg", 0) and not names.is_folder_marker("photos", 0)


def test_a_key_ending_in_a_slash_that_holds_bytes_is_no_folder_marker():
    # S3 lets any key hold bytes: `put_object(Key="weird/dirwithdata/", Body=<a JPEG>)` is a photo to classify
    assert not names.is_folder_marker("weird/dirwithdata/", 306_000) and not names.is_folder_marker("x/", 1)


def test_quarantine_key_is_the_id_then_the_files_own_name():
    assert names.quarantine_key("p1", "holiday/day 1/IMG_0001.HEIC") == "p1/IMG_0001.HEIC"
    # a key ending in '/' (an object holding bytes, not a folder marker): its last segment, no empty name
    assert names.quarantine_key("p1", "weird/dirwithdata/") == "p1/dirwithdata"
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


# What the pinned MinIO accepts as a tag value (minio-go pkg/tags: validTagKeyValue, maxValueLength).
MINIO_TAG_VALUE = re.compile(r"[a-zA-Z0-9+\-._:/@ =]{0,256}")


def test_tag_values_keep_every_character_s3_allows():
    allowed = "AZaz09 +-=._:/@"
    assert names.tag_value(allowed) == allowed
    assert names.tag_value(string.ascii_letters + string.digits) == string.ascii_letters + string.digits
    assert names.tag_value("café;€") == "cafe:_"
    assert names.tag_value("x" * 256) == "x" * 256
    assert names.tag_value("x" * 257) == "x" * 253 + "..."


@pytest.mark.parametrize(
    ("text", "tag"),
    [
        pytest.param(
            "not an image: the content is in no image format we accept (JPEG, PNG, GIF, WebP, BMP or TIFF)",
            "not an image: the content is in no image format we accept JPEG PNG GIF WebP BMP or TIFF",
            id="the-reason-of-issue-25",
        ),
        pytest.param(
            "too many pixels: 20000x20000 is more than 89,478,485",
            "too many pixels: 20000x20000 is more than 89 478 485",
            id="thousands",
        ),
        pytest.param("Crème brûlée [2] – final.jpg", "Creme brulee 2 - final.jpg", id="accents-brackets-dash"),
        pytest.param('“quoted” «text» {x} `y` "z"', "quoted text x y z", id="quotes"),
        pytest.param("a;b & c", "a:b + c", id="semicolon-ampersand"),
        pytest.param("寿司 の 写真.jpg", "_ _ _.jpg", id="no-spelling-one-underscore-per-run"),
        pytest.param("my__file#1.jpg", "my__file_1.jpg", id="underscores-of-the-text-kept"),
        pytest.param("\u00a0 a\t\n b  \u3000", "a b", id="any-white-space-one-space-none-at-the-ends"),
        pytest.param("ﬁsh½.png", "fish1_2.png", id="compatibility-forms"),
        pytest.param("()", "", id="nothing-left"),
    ],
)
def test_tag_values_read_as_the_text(text, tag):
    assert names.tag_value(text) == tag
    assert MINIO_TAG_VALUE.fullmatch(tag)


def test_a_long_tag_value_is_cut_where_it_reads_as_cut():
    assert names.tag_value("word " * 100) == ("word " * 51)[:253] + "..."
    assert names.tag_value("a" * 252 + " " + "b" * 10) == "a" * 252 + "..."  # no space before the cut
    assert len(names.tag_value("word " * 100)) <= names.TAG_VALUE_MAX
    assert names.tag_value("é" * 300) == "e" * 253 + "..."  # counted after spelling, not in the text given
    assert names.tag_value(" " * 300 + "x") == "x"


def test_every_character_gives_a_tag_value_minio_takes():
    every = "".join(chr(c) for c in range(0x2FFF)) + "\ud800\U0001f363"
    for start in range(0, len(every), 200):
        assert MINIO_TAG_VALUE.fullmatch(names.tag_value(every[start : start + 200]))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        pytest.param("photo 1.jpg", "photo 1.jpg", id="ascii-as-it-is"),
        pytest.param("Crème brûlée.jpg", "Cr%C3%A8me br%C3%BBl%C3%A9e.jpg", id="utf-8-percent-encoded"),
        pytest.param("100% sure", "100%25 sure", id="percent-itself-encoded"),
        pytest.param(" a  b ", "%20a%20%20b%20", id="spaces-http-would-change"),
        pytest.param(" ab", "%20ab", id="a-leading-space"),
        pytest.param("a b", "a b", id="a-space-before-the-last-character"),
        pytest.param("a\tb\nc\x7f", "a%09b%0Ac%7F", id="controls"),
        pytest.param("🍣", "%F0%9F%8D%A3", id="four-bytes"),
        pytest.param("!\"#$&'()*+,-./:;<=>?@[\\]^_`{|}~", "!\"#$&'()*+,-./:;<=>?@[\\]^_`{|}~", id="printable"),
    ],
)
def test_a_metadata_value_is_ascii_and_decodes_to_the_text(text, value):
    assert names.metadata_value(text, 100) == value
    assert value.isascii() and urllib.parse.unquote(value) == text  # what the console's decodeURIComponent does


def test_a_lone_surrogate_json_allows_is_still_an_ascii_value():
    assert names.metadata_value("a\ud800", 100) == "a%ED%A0%80"


def test_a_long_metadata_value_is_cut_between_characters():
    assert names.metadata_value("a" * 10, 10) == "a" * 10
    assert names.metadata_value("a" * 11, 10) == "a" * 7 + "..."
    assert names.metadata_value("é" * 10, 10) == "%C3%A9..."  # a second é (6 more) would pass 10
    assert names.metadata_value("é" * 10, 12) == "%C3%A9..."
    assert names.metadata_value("é" * 10, 15) == "%C3%A9%C3%A9..."
    assert names.metadata_value("ab  cd", 5) == "ab..."
    assert names.metadata_value("a b" + "c" * 10, 5) == "a ..."  # a lone space before the cut is no trailing one


def test_production_tags_name_the_source_web_or_bucket():
    assert names.production_tags(0, 0.5, "v", "web")["source"] == "web"
    assert names.production_tags(0, 0.5, "v", "bucket")["source"] == "bucket"
    assert names.production_tags(3, 0.5, "model <1>", "web")["model_version"] == "model 1"
    assert names.production_tags(3, 0.5, "v", "web")["predicted_class"] == "Egg"

import json

import pytest

from classifier_fn.pipeline.events import MalformedEvent, key_problem, parse_body
from tests.conftest import load_event


def body(name: str) -> bytes:
    return json.dumps(load_event(name)).encode()


def test_simple_put():
    [event] = parse_body(body("put_simple"))
    assert (event.name, event.bucket, event.key) == ("s3:ObjectCreated:Put", "incoming", "photo.jpg")
    assert event.accepted and len(event.etag) == 32 and event.size == 313591
    assert event.time.endswith("Z")


def test_key_is_decoded_once_form_style():
    [event] = parse_body(body("put_encoded_key"))
    # MinIO sent "my+folder%2Fpho+to%2B1+%C3%A9.jpg"
    assert event.key == "my folder/pho to+1 é.jpg"
    assert load_event("put_encoded_key")["Key"] == "incoming/" + event.key


def test_multipart_has_a_dashed_etag():
    [event] = parse_body(body("multipart"))
    assert event.name == "s3:ObjectCreated:CompleteMultipartUpload" and event.accepted
    assert event.key == "multi part.jpg" and event.etag.endswith("-2")


def test_zero_byte_object_has_no_size():
    [event] = parse_body(body("put_zero_bytes"))
    assert event.size is None and event.accepted


def with_key(name: str, key: str) -> bytes:
    doc = load_event(name)
    doc["Records"][0]["s3"]["object"]["key"] = key
    return json.dumps(doc).encode()


def test_a_zero_byte_key_ending_in_a_slash_is_a_folder_marker():
    # MinIO leaves out the size of a zero-byte object (put_zero_bytes was captured so)
    [event] = parse_body(with_key("put_zero_bytes", "folder%2F"))
    assert event.key == "folder/" and event.size is None and event.folder_marker
    [zero] = parse_body(
        json.dumps(
            {
                "Records": [
                    {
                        **load_event("put_zero_bytes")["Records"][0],
                        "s3": {"bucket": {"name": "incoming"}, "object": {"key": "folder%2F", "size": 0}},
                    }
                ]
            }
        ).encode()
    )
    assert zero.size == 0 and zero.folder_marker


def test_a_key_ending_in_a_slash_with_bytes_is_a_photo_not_a_folder_marker():
    [event] = parse_body(with_key("put_simple", "weird%2Fdirwithdata%2F"))
    assert event.key == "weird/dirwithdata/" and event.size == 313591 and not event.folder_marker
    [empty] = parse_body(with_key("put_zero_bytes", "empty.jpg"))
    assert not empty.folder_marker  # a zero-byte file is a file: quarantined as empty


@pytest.mark.parametrize("name", ["put_tagging", "delete"])
def test_tagging_and_deletes_are_not_work(name):
    [event] = parse_body(body(name))
    assert not event.accepted


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param(b"{not json", "not JSON", id="garbage"),
        pytest.param(b"\xff\xfe", "not JSON", id="binary"),
        pytest.param(b"[]", "must be a JSON object, not a list", id="list"),
        pytest.param(b"null", "must be a JSON object, not null", id="null"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, "nested too deeply", id="deep"),
        pytest.param(b'{"Records": {}}', "no Records list", id="records-not-a-list"),
        pytest.param(b'{"Records": [{"eventName": "s3:ObjectCreated:Put"}]}', "lacks", id="no-s3"),
        pytest.param(
            b'{"Records": [{"eventName": "x", "s3": {"bucket": {"name": 1}, "object": {"key": "a"}}}]}',
            "non-string",
            id="bad-types",
        ),
    ],
)
def test_malformed_bodies(raw, message):
    with pytest.raises(MalformedEvent, match=message):
        parse_body(raw)


@pytest.mark.parametrize(
    "key",
    [
        "photo.jpg",
        "my folder/pho to+1 é.jpg",
        "..jpg",
        "a/..b/c.",
        "x" * 1020 + ".jpg",
        "é" * 512,
    ],
)
def test_keys_minio_can_hold_are_valid(key):
    assert key_problem(key) == ""


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("a/../b.jpg", "'..' segment"),
        ("..", "'..' segment"),
        ("a/./b", "'.' or"),
        ("a//b.jpg", "'//'"),
        ("/b.jpg", "starts with '/'"),
        ("x" * 1025, "longer than 1024 bytes"),
        ("é" * 513, "longer than 1024 bytes"),
        ("a\x00b", "NUL"),
        ("a\tb", "control character"),
        ("a\x85b", "control character"),
    ],
)
def test_keys_no_object_can_have_name_their_problem(key, problem):
    assert problem in key_problem(key)


def test_an_impossible_key_is_parsed_not_refused_so_the_webhook_can_answer_2xx():
    doc = load_event("put_simple")
    doc["Records"][0]["s3"]["object"]["key"] = "a%2F..%2Fb.jpg"
    [event] = parse_body(json.dumps(doc).encode())
    assert event.key == "a/../b.jpg" and "'..' segment" in event.invalid
    doc["Records"][0]["s3"]["object"]["key"] = "%FF.jpg"
    assert parse_body(json.dumps(doc).encode())[0].invalid == "the key is not UTF-8"
    assert parse_body(body("put_encoded_key"))[0].invalid == ""


def with_record(**changes) -> bytes:
    """The captured simple PUT, with fields of its record (`name`) or its object changed or removed (None)."""
    doc = load_event("put_simple")
    record = doc["Records"][0]
    for field, value in changes.items():
        target, key = (
            (record, "eventName")
            if field == "name"
            else (record, field)
            if field == "eventTime"
            else (record["s3"]["object"], field)
        )
        if value is None:
            del target[key]
        else:
            target[key] = value
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("s3:ObjectCreated:Put", id="put"),
        pytest.param("s3:ObjectCreated:Post", id="form-post"),
        pytest.param("s3:ObjectCreated:Copy", id="server-side-copy"),
        pytest.param("s3:ObjectCreated:CompleteMultipartUpload", id="multipart"),
    ],
)
def test_every_way_a_new_photo_arrives_is_work(name):
    [event] = parse_body(with_record(name=name))
    assert event.accepted and event.name == name


@pytest.mark.parametrize(
    "name",
    [
        "s3:ObjectCreated:PutTagging",
        "s3:ObjectCreated:PutRetention",
        "s3:ObjectCreated:PutLegalHold",
        "s3:ObjectCreated:*",
        "s3:ObjectAccessed:Get",
        "s3:ObjectRemoved:Delete",
        "s3:objectcreated:put",
        "",
    ],
)
def test_nothing_else_is_work(name):
    [event] = parse_body(with_record(name=name))
    assert not event.accepted


@pytest.mark.parametrize(
    ("etag", "expected"),
    [
        pytest.param('"2943fabce8583703afe2f0b11f9b4909"', "2943fabce8583703afe2f0b11f9b4909", id="quoted-as-in-s3"),
        pytest.param("2943fabce8583703afe2f0b11f9b4909", "2943fabce8583703afe2f0b11f9b4909", id="bare-as-minio-sends"),
        pytest.param(" abc ", " abc ", id="spaces-are-part-of-it"),
        pytest.param('"abcX"', "abcX", id="only-quotes-are-stripped"),
        pytest.param(None, "", id="omitted"),
    ],
)
def test_the_etag_is_kept_without_its_quotes(etag, expected):
    assert parse_body(with_record(eTag=etag))[0].etag == expected


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        pytest.param(12, 12, id="bytes"),
        pytest.param(0, 0, id="zero"),
        pytest.param(None, None, id="omitted"),
        pytest.param("12", None, id="a-string"),
        pytest.param(True, None, id="a-boolean"),
        pytest.param(12.5, None, id="a-fraction"),
    ],
)
def test_the_size_is_kept_only_when_it_is_a_whole_number(size, expected):
    assert parse_body(with_record(size=size))[0].size == expected


def test_the_event_time_is_kept_as_sent_and_empty_when_omitted():
    assert parse_body(with_record())[0].time == "2026-11-26T16:14:29.219Z"
    assert parse_body(with_record(eventTime=None))[0].time == ""


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param(b'{"Records": {}}', "the body has no Records list", id="records-not-a-list"),
        pytest.param(
            b'{"Records": [{"eventName": "s3:ObjectCreated:Put"}]}',
            "record lacks eventName, s3.bucket.name or s3.object.key",
            id="no-s3",
        ),
        pytest.param(
            b'{"Records": [{"eventName": "x", "s3": {"bucket": {"name": "b"}, "object": {"key": ""}}}]}',
            "record has a non-string or empty key, bucket or event name",
            id="empty-key",
        ),
    ],
)
def test_a_malformed_body_is_answered_with_what_is_wrong(raw, message):
    # The webhook answers 400 with this text: it is what the sender (or the operator reading MinIO's log) sees.
    with pytest.raises(MalformedEvent) as refused:
        parse_body(raw)
    assert str(refused.value) == message


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("/b.jpg", "the key starts with '/' or contains '//'"),
        ("a/ .. /b.jpg", "the key has a '.' or '..' segment"),
        ("a\x7fb", "the key contains a NUL or another control character"),
        ("x" * 1025, "the key is longer than 1024 bytes"),
    ],
)
def test_an_impossible_key_is_named_in_full(key, problem):
    # The webhook's answer carries this reason for the key it would not HEAD.
    assert key_problem(key) == problem


VERSION = "5f3c1b7e-a8d2-4c1e-9b7a-1d2e3f4a5b6c"


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        pytest.param(VERSION, VERSION, id="minio-version-id"),
        pytest.param(VERSION.upper(), VERSION, id="upper-case-is-the-same-version"),
        pytest.param("null", None, id="stored-before-versioning"),
        pytest.param(None, None, id="omitted-without-versioning"),
        pytest.param(VERSION.replace("-", ""), None, id="without-dashes-is-not-minios-form"),
        pytest.param(VERSION + "0", None, id="one-character-too-many"),
        pytest.param("zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz", None, id="36-characters-no-uuid"),
        pytest.param(12345, None, id="not-a-string"),
    ],
)
def test_the_version_id_names_a_version_only_when_it_is_minios_uuid(version, expected):
    # The worker GETs, copies and deletes exactly this version; anything else is taken by key and ETag
    [event] = parse_body(with_record(versionId=version) if version is not None else with_record())
    assert event.version_id == expected

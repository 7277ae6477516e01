import uuid
from datetime import UTC, datetime

import pytest

from gourmetgram import logorder, names
from gourmetgram.store import ObjectInfo

NOW = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC).timestamp()


def info(key: str, written: float = NOW) -> ObjectInfo:
    return ObjectInfo("events", key, "etag", 10, datetime.fromtimestamp(written, UTC))


def test_a_new_id_is_placed_by_its_time_and_keeps_it_when_its_record_is_rewritten():
    upload = names.upload_id(NOW - 3600.25)
    drop = names.drop_id("incoming", "a.jpg", "e", datetime.fromtimestamp(NOW - 60.9, UTC))
    assert logorder.place(info(f"{upload}.json")).time == pytest.approx(NOW - 3600.25, abs=0.001)
    assert logorder.place(info(f"{upload}.json", written=NOW + 86400)).time == pytest.approx(NOW - 3600.25, abs=0.001)
    assert logorder.place(info(f"{drop}.json")).time == NOW - 61  # the object's Last-Modified, whole seconds


@pytest.mark.parametrize(
    "pid",
    [
        pytest.param(str(uuid.uuid4()), id="uuid4"),
        pytest.param(str(uuid.uuid5(uuid.NAMESPACE_URL, "incoming/a.jpg@e")), id="uuid5"),
        pytest.param("not-an-id", id="no-id"),
        pytest.param(str(uuid.uuid4()).upper(), id="not-canonical"),
    ],
)
def test_an_old_format_id_is_placed_by_its_records_last_write(pid):
    assert logorder.id_time_ms(f"{pid}.json") is None
    assert logorder.place(info(f"{pid}.json", written=NOW - 5)).time == NOW - 5


def test_an_id_from_after_its_own_record_is_not_believed():
    future = names.upload_id(NOW + 10 * 86400)
    assert logorder.place(info(f"{future}.json", written=NOW)).time == NOW
    within_skew = names.upload_id(NOW + logorder.CLOCK_SKEW_S - 1)
    assert logorder.place(info(f"{within_skew}.json", written=NOW)).time == pytest.approx(NOW + 299, abs=0.001)


def test_key_at_bounds_the_keys_of_a_moment():
    pid = names.upload_id(NOW)
    key = names.record_key(pid)
    assert logorder.key_at(NOW) < key < logorder.key_after(NOW)
    assert logorder.key_after(NOW - 0.001) <= key and logorder.key_at(NOW + 0.001) > key
    assert key.startswith(logorder.key_at(NOW))


def test_keys_sort_by_time_across_an_hour_a_day_and_a_year():
    moments = [
        datetime(2026, 12, 31, 23, 59, 59, 999000, tzinfo=UTC).timestamp(),
        datetime(2027, 1, 1, 0, 0, 0, tzinfo=UTC).timestamp(),
        NOW - 0.001,
        NOW,
        NOW + 3600,
    ]
    keys = [logorder.key_at(m) for m in sorted(moments)]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)

import uuid
from datetime import UTC, datetime

from gourmetgram import idtime, names
from gourmetgram.outcome import Outcome, Status

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC).timestamp()


def record(store, pid: str) -> None:
    store.put_json(
        "events",
        names.record_key(pid),
        Outcome(id=pid, status=Status.DONE, incoming_key="k", incoming_etag="e").to_json(),
    )


def test_the_time_of_web_and_dropped_ids_and_none_for_random_ones():
    assert idtime.id_time(names.upload_id(T0 + 0.25)) == T0 + 0.25
    dropped = names.drop_id("incoming", "a.jpg", "etag", datetime.fromtimestamp(T0 + 7.9, UTC))
    assert idtime.id_time(dropped) == T0 + 7  # whole seconds, as HEAD reports Last-Modified
    assert idtime.id_time(str(uuid.uuid4())) is None and idtime.id_time("not-an-id") is None


def test_keys_sort_by_time():
    offsets = (0, 0.001, 1, 86400, 10**6)
    ids = [names.upload_id(T0 + s) for s in offsets]
    assert sorted(ids) == ids
    assert all(pid.startswith(idtime.key_at(T0 + s)) for pid, s in zip(ids, offsets, strict=True))


def test_a_window_lists_only_its_photos_in_time_order(fake_store):
    inside = [names.upload_id(T0 + s) for s in (0, 10, 3599.999)]
    outside = [names.upload_id(T0 - 0.001), names.upload_id(T0 + 3600)]
    legacy = [str(uuid.uuid4()) for _ in range(5)]
    for pid in inside + outside + legacy:
        record(fake_store, pid)
    fake_store.put("events", "README.txt", b"not a record")
    listed = [o.key.removesuffix(".json") for o in idtime.list_records(fake_store, "events", T0, T0 + 3600)]
    assert listed == inside  # until is exclusive; random ids say nothing of their time
    assert {o.key.removesuffix(".json") for o in idtime.list_records(fake_store, "events")} == set(
        inside + outside + legacy
    )


def test_the_listing_starts_at_the_window_and_stops_after_it(fake_store):
    ids = [names.upload_id(T0 + day * 86400) for day in range(10)]
    for pid in ids:
        record(fake_store, pid)
    seen = []
    real_list = fake_store.list

    def spying_list(bucket, prefix="", start_after=""):
        for info in real_list(bucket, prefix, start_after):
            seen.append(info.key)
            yield info

    fake_store.list = spying_list
    got = list(idtime.list_records(fake_store, "events", T0 + 3 * 86400, T0 + 5 * 86400))
    assert [o.key for o in got] == [names.record_key(p) for p in ids[3:5]]
    # Not a scan: nothing before the window is listed, and the listing ends at the first key past it
    assert seen == [names.record_key(p) for p in ids[3:6]]


def test_photos_carry_their_upload_day_and_bad_records_are_skipped(fake_store):
    late = T0 + 11.9 * 3600
    record(fake_store, names.upload_id(late))
    fake_store.put_json("events", names.record_key(names.upload_id(T0)), {"not": "an outcome"})
    old = str(uuid.uuid4())
    legacy = Outcome(id=old, status=Status.DONE, incoming_key="k", incoming_etag="e")
    legacy.stamp("uploaded", T0 - 86400)
    fake_store.put_json("events", names.record_key(old), legacy.to_json())
    photos = list(idtime.read_photos(fake_store, "events"))
    assert sorted((p.uploaded, str(p.day)) for p in photos) == [(T0 - 86400, "2026-02-28"), (late, "2026-03-01")]


def test_the_last_days_start_at_midnight_utc():
    since, until = idtime.last_days(3, T0)
    assert datetime.fromtimestamp(since, UTC) == datetime(2026, 2, 27, tzinfo=UTC) and until == T0

import io
import logging
import random

import pytest

from gourmetgram.retry import RetryingStore, with_retries
from gourmetgram.store import NotFound, StoreUnavailable


def test_retries_transient_errors_then_succeeds():
    calls, sleeps = [], []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise StoreUnavailable("down")
        return "ok"

    assert with_retries(flaky, 4, "x", sleep=sleeps.append) == "ok"
    assert len(calls) == 3 and len(sleeps) == 2
    assert all(0 <= s <= 5 for s in sleeps)


def test_gives_up_after_the_limit_and_never_retries_permanent_errors():
    calls = []

    def down():
        calls.append(1)
        raise StoreUnavailable("down")

    with pytest.raises(StoreUnavailable):
        with_retries(down, 3, "x", sleep=lambda s: None)
    assert len(calls) == 3

    def missing():
        calls.append(1)
        raise NotFound("gone")

    calls.clear()
    with pytest.raises(NotFound):
        with_retries(missing, 3, "x", sleep=lambda s: None)
    assert len(calls) == 1


def test_a_retrying_store_retries_each_call_but_never_a_listing(fake_store):
    store = RetryingStore(fake_store, attempts=3, sleep=lambda s: None)
    fake_store.put("incoming", "a.jpg", b"photo")
    fake_store.fail_next["head"] = 2
    assert store.head("incoming", "a.jpg").key == "a.jpg"
    assert fake_store.calls.count("head") == 3
    fake_store.fail_next["head"] = 3
    with pytest.raises(StoreUnavailable):
        store.head("incoming", "a.jpg")
    fake_store.fail_next["list"] = 1
    with pytest.raises(StoreUnavailable):
        list(store.list("incoming"))


def test_a_stream_is_rewound_before_each_attempt(fake_store):
    store = RetryingStore(fake_store, attempts=2, sleep=lambda s: None)
    stream = io.BytesIO(b"xxphoto")
    stream.seek(2)
    original_put, attempts = fake_store.put, []

    def consuming_put(bucket, key, body, **kwargs):
        attempts.append(1)
        if len(attempts) == 1:
            body.read(3)  # a first attempt that read part of the body, then lost its connection
            raise StoreUnavailable("reset")
        return original_put(bucket, key, body, **kwargs)

    fake_store.put = consuming_put
    store.put("incoming", "a.jpg", stream)
    assert fake_store.read("incoming", "a.jpg") == b"photo"


def test_the_back_off_doubles_from_0_2_s_up_to_5_s_with_full_jitter(monkeypatch):
    # Full jitter: each pause is drawn between 0 and the bound; here the draw is pinned to the bound.
    bounds = []
    monkeypatch.setattr(random, "uniform", lambda low, high: bounds.append((low, high)) or high)
    sleeps = []

    def down():
        raise StoreUnavailable("down")

    with pytest.raises(StoreUnavailable):
        with_retries(down, 8, "x", sleep=sleeps.append)
    assert sleeps == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0] and all(low == 0 for low, _ in bounds)


def test_each_retry_is_logged_with_what_failed_and_how_many_are_left(caplog):
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise StoreUnavailable("MinIO unreachable")
        return "ok"

    with caplog.at_level(logging.WARNING, logger="gourmetgram.retry"):
        assert with_retries(flaky, 4, "head incoming/a.jpg", sleep=lambda s: None) == "ok"
    assert [r.getMessage().split(" in ")[0] for r in caplog.records] == [
        "head incoming/a.jpg: MinIO unreachable; retry 1/3",
        "head incoming/a.jpg: MinIO unreachable; retry 2/3",
    ]


def test_a_single_attempt_is_never_retried():
    calls = []

    def down():
        calls.append(1)
        raise StoreUnavailable("down")

    with pytest.raises(StoreUnavailable):
        with_retries(down, 1, "x", sleep=lambda s: pytest.fail("slept"))
    assert calls == [1]


def test_no_attempt_configured_still_calls_once():
    # transient_retries=0 made every store call of the workers raise AssertionError("unreachable")
    assert with_retries(lambda: "ok", 0, "x", sleep=lambda s: pytest.fail("slept")) == "ok"
    calls = []

    def down():
        calls.append(1)
        raise StoreUnavailable("down")

    with pytest.raises(StoreUnavailable, match="down"):
        with_retries(down, 0, "x", sleep=lambda s: pytest.fail("slept"))
    assert calls == [1]


def test_run_retries_a_function_of_store_calls_as_a_whole(fake_store, caplog):
    slept = []
    store = RetryingStore(fake_store, attempts=3, sleep=slept.append)
    fake_store.put("incoming", "a.jpg", b"photo")
    fake_store.fail_next["read"] = 1

    def head_then_read(plain, bucket, key):
        return plain.head(bucket, key).size, plain.read(bucket, key)

    assert store.run(head_then_read, "incoming", "a.jpg") == (5, b"photo")
    assert fake_store.calls.count("head") == 2 and len(slept) == 1  # the head ran again with the read
    assert [r.getMessage().split(";")[0] for r in caplog.records] == ["head_then_read: read: transient failure (fake)"]


def test_plain_attributes_and_private_ones_pass_through_unwrapped(fake_store):
    store = RetryingStore(fake_store, attempts=3, sleep=lambda s: None)
    assert store.buckets is fake_store.buckets and store._get == fake_store._get
    assert store.plain is fake_store


def test_a_stream_passed_by_name_is_rewound_too(fake_store):
    store = RetryingStore(fake_store, attempts=2, sleep=lambda s: None)
    stream = io.BytesIO(b"photo")
    original_put, attempts = fake_store.put, []

    def consuming_put(bucket, key, body, **kwargs):
        attempts.append(1)
        if len(attempts) == 1:
            body.read()
            raise StoreUnavailable("reset")
        return original_put(bucket, key, body, **kwargs)

    fake_store.put = consuming_put
    store.put("incoming", "a.jpg", body=stream)
    assert fake_store.read("incoming", "a.jpg") == b"photo"

import io

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

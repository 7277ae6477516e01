import pytest

from classifier_fn.retry import with_retries
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

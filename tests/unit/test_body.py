"""The shared body reader: its deadline (BodyPace), and the byte budget every reader of `POST /predict` shares."""

import time

import anyio
import pytest
from starlette.requests import Request

from classifier_fn.body import BodyPace, BodyTimeout, BodyTooLarge, ByteBudget, OverBudget, read_capped


def request_of(chunks, content_length: int | None = None, stall: bool = False) -> Request:
    """A request whose body arrives in `chunks`; with `stall`, the client then sends nothing more, ever."""
    headers = [(b"content-length", str(content_length).encode())] if content_length is not None else []
    pending = list(chunks)
    taken = []

    async def receive():
        if pending:
            chunk = pending.pop(0)
            taken.append(len(chunk))
            return {"type": "http.request", "body": chunk, "more_body": bool(pending) or stall}
        if stall:
            await anyio.sleep(3600)
        return {"type": "http.request", "body": b"", "more_body": False}

    request = Request({"type": "http", "method": "POST", "path": "/", "headers": headers}, receive)
    request.taken = taken  # what the reader took from the client, chunk by chunk
    return request


@pytest.mark.parametrize(
    ("content_length", "expected_s"),
    [
        pytest.param(100_000, 2 + 100_000 / 50_000, id="declared"),
        pytest.param(None, 2 + 1_000_000 / 50_000, id="chunked-bounded-by-the-cap"),
        pytest.param(9_999_999, 2 + 1_000_000 / 50_000, id="declared-over-the-cap"),
        pytest.param(0, 2, id="empty"),
    ],
)
def test_the_deadline_is_a_grace_plus_the_length_at_the_minimum_rate(content_length, expected_s):
    pace = BodyPace(grace_s=2, min_bytes_per_s=50_000)
    assert pace.allowed_s(request_of([], content_length), limit=1_000_000) == pytest.approx(expected_s)


def test_a_body_that_stops_coming_is_given_up_at_its_deadline():
    # GIVEN a client that sends 10 of its 100 bytes, then nothing
    request = request_of([b"x" * 10], content_length=100, stall=True)
    started = time.monotonic()
    # WHEN it is read within 0.3 s, THEN the reader gives up then, saying how much had come
    with pytest.raises(BodyTimeout) as caught:
        anyio.run(read_capped, request, 1000, 0.3)
    elapsed = time.monotonic() - started
    print(f"\ngave up after {elapsed:.2f} s (deadline 0.3 s)")
    assert caught.value.received == 10 and "0.3 s" in str(caught.value)
    assert 0.3 <= elapsed < 10


def test_bytes_are_counted_as_they_arrive_and_given_back_at_the_end():
    budget = ByteBudget(100)
    with budget.holding() as slow, budget.holding() as fast:
        slow.add(5)  # a slow sender holds what it has sent, not what it declared
        fast.add(90)
        assert budget.held() == 95
        with pytest.raises(OverBudget, match="100 bytes"):
            slow.add(6)  # 101 > 100: refused at once, nothing counted
        assert budget.held() == 95 and slow.bytes == 5
        fast.give_back()
        slow.add(6)
        assert budget.held() == 11
    assert budget.held() == 0


def test_a_body_larger_than_the_whole_budget_arrives_while_it_is_the_only_one():
    budget = ByteBudget(100)
    with budget.holding() as big:
        big.add(80)
        big.add(80)  # alone: allowed past the budget, as a huge photo decodes alone
        with budget.holding() as other, pytest.raises(OverBudget):
            other.add(1)
    assert budget.held() == 0


def test_a_reader_over_the_budget_keeps_nothing_and_reads_the_rest_so_the_client_sees_its_answer():
    # GIVEN a budget of 100 bytes, 60 of them held by another reader
    budget = ByteBudget(100)
    request = request_of([b"a" * 30, b"b" * 30, b"c" * 30])
    with budget.holding() as other, budget.holding() as mine:
        other.add(60)
        # WHEN a body of 90 bytes arrives, THEN it is refused, its bytes given back at once
        with pytest.raises(OverBudget):
            anyio.run(read_capped, request, 1000, 5.0, mine)
        assert mine.bytes == 0 and budget.held() == 60
    # AND the whole body was taken from the client (dropped), never left unread
    assert request.taken == [30, 30, 30]


def test_a_body_over_the_cap_is_still_refused_as_too_large_with_a_budget():
    budget = ByteBudget(10_000)
    with budget.holding() as mine, pytest.raises(BodyTooLarge):
        anyio.run(read_capped, request_of([b"x" * 600, b"x" * 600]), 1000, None, mine)
    assert budget.held() == 0

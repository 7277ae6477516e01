import itertools

from gourmetgram import names
from gourmetgram.outcome import Outcome, Status
from gourmetgram.waiter import OutcomeWaiter, parse_wait

PID = "6f1c1f5e-2a55-4c4c-9b44-3c5d2f0a9e01"


def test_a_wait_stops_reading_once_nobody_waits(fake_store):
    # GIVEN a photo whose record stays pending, and a client that hangs up after three reads
    fake_store.put_json(
        "events",
        names.record_key(PID),
        Outcome(id=PID, status=Status.PENDING, incoming_key=f"{PID}.jpg", incoming_etag="e").to_json(),
    )
    checks = itertools.count()
    waiter = OutcomeWaiter(fake_store, "events", first_interval_s=0.01, max_interval_s=0.01)
    # WHEN it waits up to 30 s
    doc = waiter.wait(PID, 30, should_stop=lambda: next(checks) >= 3)
    # THEN it answers the record as it stands, and read it no more after the client left
    assert doc.status is Status.PENDING
    assert fake_store.calls.count("get_json") == 3


def test_a_wait_without_a_record_answers_none_when_time_runs_out(fake_store):
    waiter = OutcomeWaiter(fake_store, "events", first_interval_s=0.01, max_interval_s=0.01)
    assert waiter.wait(PID, 0.05) is None and fake_store.calls.count("get_json") >= 2


def test_a_client_gone_before_the_first_read_costs_no_read(fake_store):
    waiter = OutcomeWaiter(fake_store, "events")
    assert waiter.wait(PID, 30, should_stop=lambda: True) is None
    assert "get_json" not in fake_store.calls


def test_the_pause_between_reads_is_the_one_given_with_the_photo_it_waits_for(fake_store):
    fake_store.put_json(
        "events",
        names.record_key(PID),
        Outcome(id=PID, status=Status.PENDING, incoming_key=f"{PID}.jpg", incoming_etag="e").to_json(),
    )
    pauses = []

    def pause(pid, seconds):  # the photo is done during the first pause
        pauses.append((pid, seconds))
        fake_store.put_json(
            "events",
            names.record_key(PID),
            Outcome(id=PID, status=Status.REJECTED, incoming_key=f"{PID}.jpg", incoming_etag="e").to_json(),
        )

    waiter = OutcomeWaiter(fake_store, "events", first_interval_s=0.5, pause=pause)
    assert waiter.wait(PID, 30).status is Status.REJECTED
    assert pauses == [(PID, 0.5)]


def test_a_wait_told_the_record_was_just_read_pauses_before_its_first_read(fake_store):
    fake_store.put_json(
        "events",
        names.record_key(PID),
        Outcome(id=PID, status=Status.PENDING, incoming_key=f"{PID}.jpg", incoming_etag="e").to_json(),
    )
    events = []

    def pause(pid, seconds):
        events.append(("pause", fake_store.calls.count("get_json")))
        fake_store.put_json(
            "events",
            names.record_key(PID),
            Outcome(id=PID, status=Status.DONE, incoming_key=f"{PID}.jpg", incoming_etag="e").to_json(),
        )

    waiter = OutcomeWaiter(fake_store, "events", pause=pause)
    assert waiter.wait(PID, 30, read_first=False).status is Status.DONE
    assert events == [("pause", 0)] and fake_store.calls.count("get_json") == 1


def test_a_wait_told_the_record_was_just_read_still_reads_once_when_its_time_runs_out(fake_store):
    fake_store.put_json(
        "events",
        names.record_key(PID),
        Outcome(id=PID, status=Status.PENDING, incoming_key=f"{PID}.jpg", incoming_etag="e").to_json(),
    )
    waiter = OutcomeWaiter(fake_store, "events", first_interval_s=0.05)
    assert waiter.wait(PID, 0.01, read_first=False).status is Status.PENDING
    assert fake_store.calls.count("get_json") == 1


def test_parse_wait_takes_finite_seconds_within_the_limit_only():
    assert [parse_wait(raw, 10) for raw in ("0", "10", "2.5")] == [0.0, 10.0, 2.5]
    assert [parse_wait(raw, 10) for raw in ("nan", "inf", "-inf", "-0.1", "10.01", "", "soon")] == [None] * 7

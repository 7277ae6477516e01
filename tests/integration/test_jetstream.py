"""EVENT_TRANSPORT=jetstream on one machine: the real nats-server, MinIO's NATS target, the function consuming."""

from __future__ import annotations

import pytest

from gourmetgram import names
from gourmetgram.store import Store
from minio_config import current
from minio_config.apply import configure
from tests.bus import Burst, Ledger, stream_state
from tests.stack import stack_settings, start_stack, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def js_stack(tmp_path_factory):
    # A grace far above the tests' pauses: whatever is done, the stream brought (the reconciler waits 20 s).
    stack = start_stack(
        tmp_path_factory.mktemp("jetstream"),
        stack_settings(event_transport="jetstream", reconcile_interval_s=5.0, reconcile_grace_s=20.0),
    )
    yield stack
    stack.stop_all(kill=True)


@pytest.fixture(scope="module")
def jstore(js_stack) -> Store:
    return Store.connect(js_stack.settings)


def test_photos_come_by_the_stream_and_leave_it_empty(js_stack, jstore):
    ledger = Ledger(jstore)
    records = ledger.assert_each_once(Burst(jstore, "stream", 12).wait(), timeout=60)
    # well before the reconciler could have found them (grace 20 s)
    assert max(r["latency_ms"] for r in records) < 20_000, [r["latency_ms"] for r in records]
    wait_until(lambda: stream_state(js_stack.settings).messages == 0, 10, "every message acknowledged")
    state = stream_state(js_stack.settings)
    assert state.ack_pending == 0 and state.pending == 0


def test_the_subscription_names_the_nats_target_and_configure_twice_plans_nothing(js_stack):
    rules = current.read(current.client(js_stack.settings), ("incoming",)).rules["incoming"]
    assert names.NATS_ARN in {r.arn for r in rules} and names.WEBHOOK_ARN not in {r.arn for r in rules}
    lines = []
    assert configure(js_stack.settings, echo=lines.append) == []
    assert lines == ["MinIO already configured: nothing to do (nor in NATS)"]


def test_no_event_is_lost_while_the_function_is_down(js_stack, jstore):
    ledger = Ledger(jstore)
    js_stack.stop("function")
    drops = Burst(jstore, "down", 10).wait()
    # GIVEN every event kept by the stream meanwhile
    wait_until(lambda: stream_state(js_stack.settings).messages == 10, 10, "the stream to hold the 10 events")
    # WHEN the function comes back
    js_stack.start_function()
    # THEN it takes them from the stream (not the reconciler: they are younger than its grace)
    records = ledger.assert_each_once(drops, timeout=60)
    print(f"\nlatencies after the function came back: {sorted(r['latency_ms'] for r in records)} ms")
    wait_until(lambda: stream_state(js_stack.settings).messages == 0, 10, "every message acknowledged")

"""What the frontend and the function agree on for held nudges (gourmetgram/held_nudge.py)."""

from classifier_fn.pipeline.admission import Admission
from classifier_fn.pipeline.worker import Result
from gourmetgram.held_nudge import HOLD_S, MAX_HOLD_S, WAKING


def test_every_worker_result_is_known_to_wake_the_page_or_not():
    # A new Result must be placed: waking a page on a record that has not moved costs it its early read.
    assert {r.value for r in Result} - WAKING == {"busy", "stale", "unavailable", "marker"}
    assert WAKING <= {r.value for r in Result} and Admission.GONE.value in WAKING  # the nudge's own "gone" too


def test_the_frontend_asks_for_a_hold_the_function_grants():
    assert 0 < HOLD_S <= MAX_HOLD_S

import threading
import time

import pytest

from classifier_fn.inference import preprocess
from classifier_fn.inference.decoding import DecodeBudget
from tests import phone_photos
from tests.conftest import image_bytes


def run_holding(budget: DecodeBudget, pixels: int, started: list, release: threading.Event) -> threading.Thread:
    def hold():
        with budget.take(pixels):
            started.append(pixels)
            release.wait(10)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    return thread


def wait_for(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def test_small_photos_decode_side_by_side_up_to_the_slots():
    budget, release, started = DecodeBudget(slots=2, pixels=100), threading.Event(), []
    threads = [run_holding(budget, 10, started, release) for _ in range(3)]
    assert wait_for(lambda: len(started) == 2)
    assert not wait_for(lambda: len(started) == 3, timeout=0.3)  # the third waits for a slot
    assert budget.in_use() == (2, 20)
    release.set()
    for t in threads:
        t.join(5)
    assert started == [10, 10, 10] and budget.in_use() == (0, 0)


def test_pixels_beyond_the_budget_wait_and_a_huge_photo_decodes_alone():
    budget, release, started = DecodeBudget(slots=4, pixels=100), threading.Event(), []
    first = run_holding(budget, 60, started, release)
    assert wait_for(lambda: started == [60])
    second = run_holding(budget, 60, started, release)  # 120 > 100: waits
    assert not wait_for(lambda: len(started) == 2, timeout=0.3)
    release.set()
    for t in (first, second):
        t.join(5)
    assert started == [60, 60]
    release.clear()
    small = run_holding(budget, 1, started, release)
    assert wait_for(lambda: len(started) == 3)
    huge = run_holding(budget, 10_000, started, release)  # larger than the whole budget: alone, not never
    assert not wait_for(lambda: len(started) == 4, timeout=0.3)
    release.set()
    for t in (small, huge):
        t.join(5)
    assert started[-1] == 10_000 and budget.in_use() == (0, 0)


def test_prepare_holds_the_budget_while_it_decodes_and_gives_it_back_on_a_rejection():
    budget = DecodeBudget(slots=1, pixels=1_000_000)
    assert preprocess.prepare(image_bytes("PNG", (300, 200)), budget=budget).tensor.shape == (3, 224, 224)
    truncated = image_bytes("JPEG", (300, 200))[:400]
    try:
        preprocess.prepare(truncated, budget=budget)
    except preprocess.Rejected:
        pass
    assert budget.in_use() == (0, 0)


@pytest.mark.parametrize("fmt", ["HEIC", "AVIF"])
def test_a_phone_photo_decodes_within_the_budget_for_its_pixels(fmt):
    held = []

    class Spy(DecodeBudget):
        def take(self, pixels):
            held.append(pixels)
            return super().take(pixels)

    budget = Spy(slots=1, pixels=1_000_000)
    assert preprocess.prepare(phone_photos.PHONE_FORMATS[fmt](), budget=budget).format == fmt
    assert held == [512 * 384] and budget.in_use() == (0, 0)  # RGB: no second copy counted


def test_a_lane_decodes_one_at_a_time_and_leaves_the_other_slots_and_every_pixel_to_the_shared_budget():
    # GIVEN two cores' worth of decoding, and a lane of one slot beside it (the synchronous predictions)
    shared, release, started = DecodeBudget(slots=2, pixels=100), threading.Event(), []
    lane = DecodeBudget(slots=1, pixels=100, within=shared)
    first = run_holding(lane, 100, started, release)  # a photo as big as the whole budget
    assert wait_for(lambda: started == [100])
    assert lane.in_use() == (1, 100) and shared.in_use() == (1, 0)
    # WHEN another prediction comes, THEN it waits for the lane, though the shared budget has a free slot
    second = run_holding(lane, 10, started, release)
    assert not wait_for(lambda: len(started) == 2, timeout=0.3)
    # AND a pipeline photo, even one as big as the budget, decodes at once on the other slot
    pipeline = run_holding(shared, 100, started, release)
    assert wait_for(lambda: started == [100, 100])
    assert shared.in_use() == (2, 100)
    release.set()
    for t in (first, second, pipeline):
        t.join(5)
    assert sorted(started) == [10, 100, 100] and lane.in_use() == (0, 0) and shared.in_use() == (0, 0)


def test_a_lane_decode_takes_one_of_the_shared_slots_so_decodes_never_outnumber_the_cores():
    shared, release, started = DecodeBudget(slots=1, pixels=100), threading.Event(), []
    lane = DecodeBudget(slots=1, pixels=100, within=shared)
    pipeline = run_holding(shared, 1, started, release)
    assert wait_for(lambda: started == [1])
    prediction = run_holding(lane, 2, started, release)  # the one core is busy: it waits
    assert not wait_for(lambda: len(started) == 2, timeout=0.3)
    release.set()
    for t in (pipeline, prediction):
        t.join(5)
    assert started == [1, 2] and lane.in_use() == (0, 0) and shared.in_use() == (0, 0)

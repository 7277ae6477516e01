import threading
import time

from classifier_fn import preprocess
from classifier_fn.decoding import DecodeBudget
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
    second = run_holding(budget, 60, started, release)    # 120 > 100: waits
    assert not wait_for(lambda: len(started) == 2, timeout=0.3)
    release.set()
    for t in (first, second):
        t.join(5)
    assert started == [60, 60]
    release.clear()
    small = run_holding(budget, 1, started, release)
    assert wait_for(lambda: len(started) == 3)
    huge = run_holding(budget, 10_000, started, release)   # larger than the whole budget: alone, not never
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

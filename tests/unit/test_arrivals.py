"""The frontend's arrivals: a held nudge's answer wakes the long-poll on its photo, once."""

import threading

from ingest.arrivals import Arrivals

A, B = "0190a0b4-7c1e-7a3b-8f00-0123456789ab", "0190a0b4-7c1e-7a3b-8f00-0123456789ac"


def pause_in_thread(arrivals: Arrivals, pid: str, seconds: float) -> threading.Thread:
    t = threading.Thread(target=arrivals.pause, args=(pid, seconds), daemon=True)
    t.start()
    return t


def test_an_arrival_ends_the_pause_on_its_photo_only():
    arrivals = Arrivals()
    mine, theirs = pause_in_thread(arrivals, A, 120), pause_in_thread(arrivals, B, 120)
    arrivals.announce(A)
    mine.join(30)
    assert not mine.is_alive(), "the pause on A did not end when A arrived"
    assert theirs.is_alive() and A not in arrivals, "the arrival was taken by the pause on A"
    arrivals.announce(B)
    theirs.join(30)
    assert not theirs.is_alive()


def test_an_arrival_before_the_pause_is_kept_for_it_and_taken_once():
    arrivals = Arrivals()
    arrivals.announce(A)
    assert A in arrivals
    done = pause_in_thread(arrivals, A, 120)
    done.join(30)
    assert not done.is_alive() and A not in arrivals


def test_arrivals_nobody_took_are_forgotten_oldest_first():
    arrivals = Arrivals(remembered=2)
    for pid in ("p1", "p2", "p3"):
        arrivals.announce(pid)
    assert "p1" not in arrivals and "p2" in arrivals and "p3" in arrivals

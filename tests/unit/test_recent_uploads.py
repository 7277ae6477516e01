from ingest.recent_uploads import RecentUploads


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_upload_is_known_for_its_trusted_time_only():
    clock = Clock()
    recent = RecentUploads(trusted_s=60, clock=clock)
    recent.add("a")
    assert "a" in recent and "b" not in recent
    clock.now += 60
    assert "a" in recent
    clock.now += 0.001
    assert "a" not in recent  # past it, the page lists `incoming` again


def test_only_the_last_uploads_are_remembered():
    recent = RecentUploads(remembered=2)
    for pid in ("a", "b", "c"):
        recent.add(pid)
    assert "a" not in recent and "b" in recent and "c" in recent


def test_an_upload_added_again_is_remembered_from_then():
    clock = Clock()
    recent = RecentUploads(remembered=2, trusted_s=60, clock=clock)
    recent.add("a")
    recent.add("b")
    clock.now += 50
    recent.add("a")  # now the newest: "c" pushes "b" out, not "a"
    recent.add("c")
    clock.now += 30
    assert "a" in recent and "b" not in recent and "c" in recent

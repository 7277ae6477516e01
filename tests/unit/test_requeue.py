import time

from gourmetgram import names
from gourmetgram.outcome import Outcome, Status
from gourmetgram_tools.requeue import requeue


def failed(store, pid: str, key: str, etag: str) -> None:
    store.put_json(
        "events",
        names.record_key(pid),
        Outcome(
            id=pid,
            status=Status.FAILED,
            incoming_key=key,
            incoming_etag=etag,
            reason="MinIO down",
            retry_after=names.now_iso(time.time() + 300),
        ).to_json(),
    )


def test_a_failed_photo_still_waiting_is_made_due_now_and_its_record_kept(fake_store, settings):
    etag = fake_store.put("incoming", "a.jpg", b"photo")
    failed(fake_store, "p1", "a.jpg", etag)
    done = requeue(fake_store, settings, echo=lambda line: None)
    doc, _ = fake_store.get_json("events", "p1.json")
    assert done.retried == 1 and doc["status"] == "failed" and names.parse_iso(doc["retry_after"]) <= time.time()
    assert Outcome.from_json(doc).expired()


def test_a_failed_record_whose_photo_left_is_kept_as_it_is(fake_store, settings):
    failed(fake_store, "p1", "gone.jpg", "e")
    lines: list[str] = []
    done = requeue(fake_store, settings, echo=lines.append)
    assert done.kept == 1 and done.retried == 0 and "no longer in incoming" in lines[0]
    assert fake_store.keys("events") == ["p1.json"]


def test_a_quarantined_object_goes_back_only_to_a_free_key(fake_store, settings):
    meta = {"original-key": "cam/IMG_0001.jpg", "prediction-id": "p1"}
    fake_store.put("quarantine", "p1/IMG_0001.jpg", b"text", metadata=meta)
    fake_store.put("quarantine", "p2/other.jpg", b"text", metadata={"original-key": "cam/other.jpg"})
    waiting = fake_store.put("incoming", "cam/IMG_0001.jpg", b"a real photo waiting")
    lines: list[str] = []
    done = requeue(fake_store, settings, echo=lines.append)
    assert (done.moved, done.kept) == (1, 1)
    assert fake_store.head("incoming", "cam/IMG_0001.jpg").etag == waiting  # not replaced
    assert fake_store.keys("quarantine") == ["p1/IMG_0001.jpg"]  # still there
    assert fake_store.read("incoming", "cam/other.jpg") == b"text"
    assert any("holds another photo" in line for line in lines)


def test_a_file_quarantined_from_a_key_ending_in_a_slash_goes_back_under_that_key(fake_store, settings):
    # The worker quarantined "notes/textdir/" (a file, not a folder marker) as `<id>/textdir`
    fake_store.put("quarantine", "p1/textdir", b"text now fixed", metadata={"original-key": "notes/textdir/"})
    done = requeue(fake_store, settings, echo=lambda line: None)
    assert done.moved == 1 and fake_store.keys("incoming") == ["notes/textdir/"]
    assert not names.is_folder_marker("notes/textdir/", fake_store.head("incoming", "notes/textdir/").size)

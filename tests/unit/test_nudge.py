from classifier_fn.events import parse_body
from ingest.nudge import event_body


def test_the_nudge_is_an_event_the_function_parses_like_minios():
    [event] = parse_body(event_body("incoming", "3f1c/ab c+é.jpg", "d41d8cd98f00b204e9800998ecf8427e", 12))
    assert event.accepted and event.bucket == "incoming"
    assert event.key == "3f1c/ab c+é.jpg" and event.etag == "d41d8cd98f00b204e9800998ecf8427e"
    assert event.size == 12 and event.time.endswith("Z")

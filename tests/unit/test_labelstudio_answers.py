"""A Label Studio export read without trusting it (gourmetgram_tools/labelstudio_answers.py): each task
checked on its own, photo references that must agree, times bounded by the clock, conflicts reported,
the file bounded in size and nesting. The tasks are the real export's
(tests/fixtures/labelstudio-export.json): task 1 answered Egg, task 2 Rice then Seafood, task 3 skipped."""

import copy
import json
import os
import threading
from datetime import UTC, datetime

import pytest

from gourmetgram import names
from gourmetgram_tools import labelstudio_answers as answers
from tests.conftest import FIXTURES

EXPORT = json.loads((FIXTURES / "labelstudio-export.json").read_text())
NOW = names.parse_iso("2026-12-01T00:00:00Z")  # two days after the export's answers
BUCKET = "production"
FIRST, SECOND = EXPORT[0]["meta"]["id"], EXPORT[1]["meta"]["id"]


def export(change=None) -> list:
    tasks = copy.deepcopy(EXPORT)
    if change:
        change(tasks)
    return tasks


def read(tasks: list, now: float = NOW) -> answers.Reading:
    return answers.read(tasks, BUCKET, now)


def first_result(tasks):
    return tasks[0]["annotations"][0]["result"][0]


def test_the_real_export_gives_each_answered_tasks_newest_answer():
    reading = read(export())
    assert [(a.id, a.human_label, a.reviewed_at, a.task) for a in reading.answers] == [
        (FIRST, "Egg", "2026-11-29T14:00:21Z", "task 1"),
        (SECOND, "Seafood", "2026-11-29T14:00:22Z", "task 2"),
    ]
    assert reading.answers[0].production_key == EXPORT[0]["meta"]["production_key"]
    assert (reading.unanswered, reading.problems) == (1, [])


# What the issue's reporter sent, and its kin: each one is a task's problem, never a traceback.
MALFORMED = {
    "choices is a number": (lambda t: first_result(t)["value"].update(choices=7), "choices are a number"),
    "annotations is a number": (lambda t: t[0].update(annotations=5), "annotations are a number"),
    "meta is a path": (lambda t: t[0].update(meta="../../etc"), "its meta is a string, not an object"),
    "value is a list": (lambda t: first_result(t).update(value=["Egg"]), "value is a list"),
    "data is a list": (lambda t: t[0].update(data=[1]), "its data is a list"),
    "result is an object": (lambda t: t[0]["annotations"][0].update(result={}), "result is an object"),
    "a result is a string": (lambda t: t[0]["annotations"][0].update(result=["Egg"]), "a result is a string"),
    "an annotation is a list": (lambda t: t[0]["annotations"].append([]), "annotation 2 is a list"),
    "was_cancelled is a string": (lambda t: t[0]["annotations"][0].update(was_cancelled="no"), "was_cancelled"),
    "a choice is a number": (lambda t: first_result(t)["value"].update(choices=[3]), "not a list of class names"),
    "two choices": (lambda t: first_result(t)["value"].update(choices=["Egg", "Rice"]), "found 2 ('Egg', 'Rice')"),
    "no choice": (lambda t: first_result(t)["value"].update(choices=[]), "expected one chosen class, found 0"),
    "not a class": (lambda t: first_result(t)["value"].update(choices=["Pizza"]), "'Pizza' is not a Food-11 class"),
    "meta.id is a number": (lambda t: t[0]["meta"].update(id=5), "meta.id a number is not a GourmetGram"),
    "meta.id is no uuid": (lambda t: t[0]["meta"].update(id="../x"), "meta.id '../x' is not a GourmetGram"),
    "data.id names another photo": (lambda t: t[0]["data"].update(id=SECOND), "name two photos"),
    "a time without zone": (
        lambda t: t[0]["annotations"][0].update(updated_at="2026-11-29T14:00:21"),
        "'2026-11-29T14:00:21' is not a time with a zone",
    ),
    "a time that is a number": (
        lambda t: t[0]["annotations"][0].update(updated_at=1764424821),
        "updated_at a number is not a time",
    ),
    "no time": (lambda t: t[0]["annotations"][0].update(updated_at=None, created_at=None), "it has no time"),
    "a time before year 1 in UTC": (
        lambda t: t[0]["annotations"][0].update(updated_at="0001-01-01T00:00:00+01:00"),
        "is not a time with a zone",
    ),
}


@pytest.mark.parametrize("name", MALFORMED)
def test_a_malformed_task_is_named_and_skipped_and_the_others_are_read(name):
    change, said = MALFORMED[name]
    reading = read(export(change))
    [problem] = reading.problems
    assert problem.startswith("task 1") and said in problem, problem
    assert [a.id for a in reading.answers] == [SECOND] and reading.unanswered == 1


def test_a_skipped_annotation_is_not_read_whatever_it_holds():
    reading = read(export(lambda t: t[2]["annotations"][0].update(result=7, updated_at="9999-12-31T23:59:59Z")))
    assert (reading.unanswered, reading.problems) == (1, [])


@pytest.mark.parametrize("tid", [None, "7", True, -1, 2**64, 1.5])
def test_a_task_without_a_usable_id_is_named_by_its_position(tid):
    def change(tasks):
        tasks[1]["id"] = tid
        tasks[1]["annotations"] = 5

    [problem] = read(export(change)).problems
    assert problem.startswith(f"task at position 2 ({SECOND}): its annotations are a number"), problem


def test_what_is_not_a_task_is_named_by_its_position():
    reading = read([*export(), "not a task", [1]])
    assert reading.problems == [
        "task at position 4: not a task object but a string",
        "task at position 5: not a task object but a list",
    ]
    assert len(reading.answers) == 2


def test_a_task_whose_image_is_another_photo_is_refused():
    """The issue's case: meta.id names photo 2 while data.image is photo 3's URL (as `review export` wrote it)."""

    def change(tasks):
        tasks[0]["data"]["image"] = tasks[1]["data"]["image"]

    [problem] = (reading := read(export(change))).problems
    assert problem.startswith(f"task 1 ({FIRST}): its data.image shows another photo ({SECOND})")
    assert [a.id for a in reading.answers] == [SECOND]


NOT_OURS = "is not a photo's URL of bucket production"


@pytest.mark.parametrize(
    ("image", "said"),
    [
        (None, "its data.image is null, not the photo's URL that `review export` wrote"),
        (7, "its data.image is a number, not the photo's URL"),
        ("", NOT_OURS),
        ("class_09/{pid}.jpg", NOT_OURS),
        ("file:///production/class_09/{pid}.jpg", NOT_OURS),
        ("http://127.0.0.1:9000/incoming/class_09/{pid}.jpg", NOT_OURS),
        ("http://127.0.0.1:9000/production/class_11/{pid}.jpg", NOT_OURS),
        ("http://127.0.0.1:9000/production/class_9/{pid}.jpg", NOT_OURS),
        ("http://127.0.0.1:9000/production/class_09/{pid}.exe", NOT_OURS),
        ("http://127.0.0.1:9000/production/{pid}.jpg", NOT_OURS),
        ("http://127.0.0.1:9000/production/class_09/not-an-id.jpg", NOT_OURS),
    ],
)
def test_a_task_whose_image_is_not_a_production_photo_is_refused(image, said):
    def change(tasks):
        tasks[0]["data"]["image"] = image.format(pid=FIRST) if isinstance(image, str) else image

    [problem] = read(export(change)).problems
    assert problem.startswith(f"task 1 ({FIRST}): its data.image ") and said in problem, problem


def test_the_photo_is_the_one_of_the_image_url_quoted_or_not_behind_any_host():
    def change(tasks):
        tasks[0]["data"]["image"] = f"https://photos.example:8443/production/class_09/{FIRST}%2Ejpg?sig=1"

    assert [a.production_key for a in read(export(change)).answers][0] == f"class_09/{FIRST}.jpg"


def test_a_production_key_that_is_not_the_images_photo_is_refused():
    def change(tasks):
        tasks[0]["meta"]["production_key"] = "class_00/\x1b[2Jelse.jpg"

    [problem] = read(export(change)).problems
    assert problem == (
        f"task 1 ({FIRST}): its meta.production_key 'class_00/\\x1b[2Jelse.jpg' is not the "
        f"photo of its image (class_09/{FIRST}.jpg)"
    )


def test_a_task_may_lack_the_ids_the_image_does_not_contradict():
    def change(tasks):
        del tasks[0]["data"]["id"]
        del tasks[0]["meta"]["production_key"]

    assert [a.id for a in read(export(change)).answers] == [FIRST, SECOND]


@pytest.mark.parametrize(
    ("ahead_s", "refused"), [(-3600, False), (answers.CLOCK_SKEW_S - 1, False), (answers.CLOCK_SKEW_S + 1, True)]
)
def test_an_answer_from_the_future_is_refused_beyond_the_clock_skew(ahead_s, refused):
    when = NOW + ahead_s
    stamp = names.now_iso(when)

    def change(tasks):
        tasks[0]["annotations"][0]["updated_at"] = stamp

    reading = read(export(change))
    assert bool(reading.problems) is refused
    if refused:
        assert reading.problems[0].startswith(
            f"task 1 ({FIRST}): its annotation 1: its updated_at '{stamp}' is in "
            "the future (this machine's clock is 2026-12-01T00:00:00Z, 300 s"
        )
    else:
        assert reading.answers[0].reviewed_at == names.timestamp_tag(datetime.fromtimestamp(when, UTC))


def test_the_issues_far_future_time_is_refused_and_created_at_is_not_a_fallback_for_it():
    reading = read(export(lambda t: t[0]["annotations"][0].update(updated_at="9999-12-31T23:59:59Z")))
    assert "'9999-12-31T23:59:59Z' is in the future" in reading.problems[0]
    assert FIRST not in [a.id for a in reading.answers]


def test_created_at_is_the_time_of_an_annotation_without_updated_at():
    reading = read(export(lambda t: t[0]["annotations"][0].update(updated_at=None)))
    assert reading.answers[0].reviewed_at == "2026-11-29T14:00:21Z" and reading.problems == []


def test_within_a_task_the_newest_answer_stands_by_time_not_by_order_in_the_file():
    reading = read(export(lambda t: t[1]["annotations"].reverse()))
    assert [a.human_label for a in reading.answers] == ["Egg", "Seafood"]


def test_a_time_in_another_zone_is_compared_as_the_moment_it_is():
    def change(tasks):  # Rice at 15:00:30+01:00 is 14:00:30Z: after Seafood (14:00:22Z), though its text sorts before
        tasks[1]["annotations"][0]["updated_at"] = "2026-11-29T15:00:30+01:00"

    assert [(a.human_label, a.reviewed_at) for a in read(export(change)).answers][1] == ("Rice", "2026-11-29T14:00:30Z")


def test_two_answers_of_one_person_at_the_same_time_that_disagree_are_reported_and_neither_is_read():
    def change(tasks):
        tasks[1]["annotations"][0]["updated_at"] = tasks[1]["annotations"][1]["updated_at"]

    reading = read(export(change))
    assert reading.problems == [
        f"{SECOND}: conflicting answers in one file, none saved: task 2 answers Rice "
        "(2026-11-29T14:00:22Z, user 1); task 2 answers Seafood (2026-11-29T14:00:22Z, "
        "user 1). Make them agree (or remove all but one) in Label Studio and export again"
    ]
    assert [a.id for a in reading.answers] == [FIRST]


def test_two_people_whose_newest_answers_disagree_are_reported_and_neither_is_read():
    """Rice by user 2 then Seafood by user 1: not a change of mind but two reviews that disagree."""
    reading = read(export(lambda t: t[1]["annotations"][0].update(completed_by={"id": 2, "email": "b@example"})))
    [problem] = reading.problems
    assert problem.startswith(
        f"{SECOND}: conflicting answers in one file, none saved: task 2 answers Rice "
        "(2026-11-29T14:00:21Z, user 2); task 2 answers Seafood (2026-11-29T14:00:22Z, user 1)"
    )
    assert [a.id for a in reading.answers] == [FIRST]


def test_two_people_who_agree_are_one_answer_and_each_persons_older_answers_are_changes_of_mind():
    def change(tasks):  # user 2 answered Seafood too, after user 1's Rice and before their Seafood
        tasks[1]["annotations"].append(
            {**tasks[1]["annotations"][1], "completed_by": 2, "updated_at": "2026-11-29T14:00:22.000001Z"}
        )

    reading = read(export(change))
    assert reading.problems == []
    assert [(a.human_label, a.reviewed_at, a.by) for a in reading.answers][1] == (
        "Seafood",
        "2026-11-29T14:00:22Z",
        "user 1",
    )


@pytest.mark.parametrize("who", ["1", True, 1.0, [1], {"id": "1"}])
def test_an_annotator_that_is_not_a_user_id_is_refused(who):
    [problem] = read(export(lambda t: t[0]["annotations"][0].update(completed_by=who))).problems
    assert problem.startswith(f"task 1 ({FIRST}): its annotation 1: its completed_by is "), problem


def test_two_tasks_of_one_photo_that_disagree_at_the_same_time_are_reported_and_neither_is_read():
    """The issue's case: two answers for one photo at the same time, where the last one in the file won."""

    def change(tasks):
        again = copy.deepcopy(tasks[0])
        again["id"] = 9
        again["annotations"][0]["result"][0]["value"]["choices"] = ["Bread"]
        tasks.append(again)

    reading = read(export(change))
    [problem] = reading.problems
    assert problem.startswith(
        f"{FIRST}: conflicting answers in one file, none saved: task 1 answers Egg "
        "(2026-11-29T14:00:21Z, user 1); task 9 answers Bread (2026-11-29T14:00:21Z, user 1)"
    )
    assert [a.id for a in reading.answers] == [SECOND]


def test_one_persons_answers_in_two_tasks_of_one_photo_are_a_change_of_mind():
    def change(tasks):
        again = copy.deepcopy(tasks[0])
        again["id"] = 9
        again["annotations"][0]["result"][0]["value"]["choices"] = ["Bread"]
        again["annotations"][0]["updated_at"] = "2026-11-30T08:00:00Z"
        tasks.append(again)

    reading = read(export(change))
    assert reading.problems == [] and [(a.human_label, a.task) for a in reading.answers][0] == ("Bread", "task 9")


def test_two_tasks_of_one_photo_that_agree_are_one_answer_at_the_newest_time():
    def change(tasks):
        again = copy.deepcopy(tasks[0])
        again["id"] = 9
        again["annotations"][0]["updated_at"] = "2026-11-30T08:00:00Z"
        tasks.insert(0, again)

    reading = read(export(change))
    assert [(a.id, a.reviewed_at, a.task) for a in reading.answers] == [
        (FIRST, "2026-11-30T08:00:00Z", "task 9"),
        (SECOND, "2026-11-29T14:00:22Z", "task 2"),
    ]
    assert reading.problems == []


def test_what_a_message_quotes_from_the_file_is_escaped_and_short():
    def change(tasks):
        first_result(tasks)["value"]["choices"] = ["\x1b]0;owned\x07\r\n" + "x" * 500]

    [problem] = read(export(change)).problems
    assert "'\\x1b]0;owned\\x07\\r\\n" in problem and "\x1b" not in problem and "\n" not in problem
    assert len(problem) < 300 and problem.endswith("…' is not a Food-11 class")


def test_a_deep_value_is_described_not_shown():
    def change(tasks):
        first_result(tasks)["value"]["choices"] = [json.loads("[" * 50 + "]" * 50)]

    [problem] = read(export(change)).problems
    assert "its choices are a list, not a list of class names" in problem


def test_the_nesting_of_json_text_is_counted_outside_its_strings():
    assert answers.nesting(json.dumps(EXPORT)) == 9
    assert answers.nesting('{"a": "[[[{{{", "b": ["\\"]]]["]}') == 2
    assert answers.nesting("[" * 1000 + "]" * 1000) == 1000
    assert answers.nesting("7") == 0


@pytest.mark.parametrize(("text", "deepest"), [('[["abc', 2), ('[{"a\\', 2), ('["\\"]]', 1), ('[]["', 1), ('"', 0)])
def test_an_unterminated_string_runs_to_the_end_of_the_text(text, deepest):
    assert answers.nesting(text) == deepest


@pytest.mark.parametrize("tail", ["", "\\"], ids=["quote-last", "backslash-last"])
def test_a_large_unterminated_string_full_of_escaped_quotes_is_refused_in_one_pass(tail):
    """Searched again from each quote inside it, 60 KB of this took 21 s and 2 MB would take hours (past
    pytest-timeout's 300 s); scanned once, the file is refused as not JSON."""
    text = '["' + '\\"' * 1_000_000 + tail
    with pytest.raises(ValueError, match="not JSON"):
        answers.parse(text)


def test_a_file_nested_deeper_than_allowed_is_refused_whole_before_it_is_parsed():
    deep = "[" * 1000 + "]" * 1000
    with pytest.raises(ValueError, match="nested 1000 deep, more than the 64 allowed"):
        answers.parse(deep)
    inner = answers.MAX_NESTING - 2  # the list of tasks is one level, the task another

    def nested(levels: int) -> str:
        return json.dumps([{"id": 1, "data": json.loads("[" * levels + "]" * levels)}])

    assert answers.parse(nested(inner))[0]["id"] == 1
    with pytest.raises(ValueError, match="nested 65 deep"):
        answers.parse(nested(inner + 1))


@pytest.mark.parametrize("text", ["{}", "not json", '{"tasks": []}', '"[]"'])
def test_a_file_that_is_no_export_is_refused_whole(text):
    with pytest.raises(ValueError, match="export"):
        answers.parse(text)


def test_a_file_over_the_size_limit_is_refused_and_one_within_it_read(tmp_path):
    big = tmp_path / "export.json"
    with big.open("wb") as f:  # sparse: nothing is written but its size
        f.truncate(answers.MAX_EXPORT_BYTES + 1)
    with pytest.raises(ValueError, match="larger than 32 MiB"):
        answers.read_file(big)
    fits = tmp_path / "fits.json"
    fits.write_text(json.dumps(EXPORT))
    assert answers.parse(answers.read_file(fits)) == EXPORT


def test_a_stream_without_a_size_is_read_no_further_than_the_limit(tmp_path):
    """A FIFO's size is 0 to stat: the read itself stops after the limit (an unbounded read never ends here)."""
    stream = tmp_path / "stream"
    os.mkfifo(stream)

    def feed_forever():
        with stream.open("wb") as f:
            try:
                while True:
                    f.write(b" " * 2**20)
            except BrokenPipeError:
                pass

    feeder = threading.Thread(target=feed_forever, daemon=True)
    feeder.start()
    with pytest.raises(ValueError, match="larger than 32 MiB"):
        answers.read_file(stream)
    feeder.join(timeout=30)
    assert not feeder.is_alive()


def test_a_file_that_is_not_utf8_is_refused_whole(tmp_path):
    bad = tmp_path / "export.json"
    bad.write_bytes(b'[{"id": 1, "data": {"x": "\xff"}}]')
    with pytest.raises(ValueError, match=r"not UTF-8 text \(byte 26\)"):
        answers.read_file(bad)


def test_a_file_that_cannot_be_read_is_refused_with_the_reason(tmp_path):
    with pytest.raises(ValueError, match=r"cannot be read \(Is a directory\)"):
        answers.read_file(tmp_path)

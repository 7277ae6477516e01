"""A Label Studio JSON export read without trusting it: the answers it holds, at most one per photo.

The file comes from outside (anyone with the project can edit or forge one), so it is bounded before it is
parsed (size, nesting), every task is checked on its own (a bad task is named and skipped, the others
still count), and nothing in it is believed unless it agrees with the rest of the task:
- the photo a person saw is `data.image`, the presigned URL `review export` wrote (`.../<production
  bucket>/class_NN/<id><ext>?X-Amz-...`); its id and key must be the task's `meta.id`, `data.id` and
  `meta.production_key`, else the answer could label another photo than the one shown;
- an answer's time (`updated_at`, else `created_at`) becomes `reviewed_at`, and a newer review is never
  replaced: a time in the future (beyond CLOCK_SKEW_S) would shadow every later genuine answer, so it is
  refused;
- a person's newest answer for a photo stands (an older one of theirs is a change of mind), but when the
  newest answers of two people (Label Studio's `completed_by`) disagree, in one task or in two tasks of one
  photo, that is a disagreement between reviews: reported with every answer, and none saved. Choosing the
  newest would hide it, and the record keeps no second opinion to show it later.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from gourmetgram import names
from gourmetgram.terminal import printable
from gourmetgram_tools.tool_error import ToolError

# A task of the real export is about 2.4 KB with one answer (tests/fixtures/labelstudio-export.json, compact),
# so this is some 13,000 tasks, far more than a review queue; measured on 2 busy cores, 32 MiB of such tasks
# take 1.2 s to scan, 2.5 s to parse and 1.4 s to check, in about 300 MB.
MAX_EXPORT_BYTES = 32 * 1024 * 1024
# The real export nests 9 deep (tasks, task, annotations, annotation, prediction, result list, result,
# value, choices).
MAX_NESTING = 64
# How far an answer's time may be ahead of this machine's clock (Label Studio's clock against ours).
CLOCK_SKEW_S = 300
SHOWN_CHARS = 120  # of a value quoted in a message

# One pass over the text: a string, from its quote to its closing one, or to the end of the text when it has
# none (an unterminated string is consumed once, not searched again from each quote inside it, which took
# time quadratic in its length), else a bracket. Every attempt at a position matches, or fails at its
# first character.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)|[\[\]{}]', re.DOTALL)
_FOLDER = re.compile(r"class_(\d\d)")
_EXTENSIONS = frozenset(ext for ext, _ in names.IMAGE_FORMATS.values())


@dataclass(frozen=True)
class LabelStudioAnswer:
    """One task's answer: the class a person chose for a photo, and when."""

    id: str
    production_key: str
    human_label: str
    reviewed_at: str  # tag time, UTC seconds
    task: str  # how messages name the task it came from
    by: str  # who answered, as messages name them: "user 3" (Label Studio's completed_by)
    moment: float  # when, to the microsecond (reviewed_at is cut to the second)


@dataclass
class Reading:
    answers: list[LabelStudioAnswer] = field(default_factory=list)  # at most one per photo
    unanswered: int = 0  # tasks with no annotation, or only skipped ones
    problems: list[str] = field(default_factory=list)  # terminal-safe


class BadTask(ToolError, ValueError):
    """This task cannot be imported; the message says why (terminal-safe)."""


def read_file(path: Path) -> str:
    """The file's text, refused whole beyond MAX_EXPORT_BYTES (before reading it all) or if not UTF-8."""
    limit = f"{MAX_EXPORT_BYTES // 2**20} MiB"
    try:
        if path.stat().st_size > MAX_EXPORT_BYTES:
            raise ValueError(f"larger than {limit}: export fewer tasks (a filtered view of the project) at a time")
        with path.open("rb") as f:
            raw = f.read(MAX_EXPORT_BYTES + 1)  # a pipe or a device has no size to check beforehand
    except OSError as exc:
        raise ValueError(f"cannot be read ({exc.strerror or exc})") from None
    if len(raw) > MAX_EXPORT_BYTES:
        raise ValueError(f"larger than {limit}: export fewer tasks (a filtered view of the project) at a time")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text (byte {exc.start}): export the project from Label Studio as JSON") from None


def parse(text: str) -> list:
    """The export's list of tasks; ValueError refuses the whole file (not JSON, too deep, not a list)."""
    deepest = nesting(text)
    if deepest > MAX_NESTING:
        raise ValueError(f"nested {deepest} deep, more than the {MAX_NESTING} allowed: not a Label Studio export")
    try:
        export = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not JSON ({exc}): export the project from Label Studio as JSON") from None
    if not isinstance(export, list):
        raise ValueError("a Label Studio JSON export is a list of tasks (Export > JSON); this file is not")
    return export


def nesting(text: str) -> int:
    """How deep arrays and objects nest in JSON text, counted without parsing it: Python's parser (and
    anything that walks its result recursively) fails with a RecursionError about 1,000 deep."""
    depth = deepest = 0
    for token in _TOKEN.finditer(text):
        mark = token.group()
        if mark in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif mark in "]}":
            depth -= 1
    return deepest


def read(export: list, bucket: str, now: float) -> Reading:
    """The answers of an export's tasks: each task's newest annotation that was not skipped, one per photo.
    `bucket` is the production bucket the photos' URLs must name; `now` bounds the answers' times."""
    reading = Reading()
    per_photo: dict[str, list[LabelStudioAnswer]] = {}
    for position, item in enumerate(export, 1):
        try:
            given = task_answers(item, task_name(item, position), bucket, now)
        except BadTask as exc:
            reading.problems.append(str(exc))
            continue
        if not given:
            reading.unanswered += 1
        for answer in given:
            per_photo.setdefault(answer.id, []).append(answer)
    for pid, given in per_photo.items():
        standing = newest_of_each_person(given)
        if len({a.human_label for a in standing}) > 1:
            said = "; ".join(f"{a.task} answers {a.human_label} ({a.reviewed_at}, {a.by})" for a in standing)
            reading.problems.append(
                f"{pid}: conflicting answers in one file, none saved: {said}. Make them agree "
                "(or remove all but one) in Label Studio and export again"
            )
        else:
            reading.answers.append(max(standing, key=lambda a: a.moment))
    return reading


def newest_of_each_person(given: list[LabelStudioAnswer]) -> list[LabelStudioAnswer]:
    """Each person's newest answers (several only when given at the same moment)."""
    newest: dict[str, float] = {}
    for answer in given:
        newest[answer.by] = max(newest.get(answer.by, answer.moment), answer.moment)
    return [a for a in given if a.moment == newest[a.by]]


def task_name(item: object, position: int) -> str:
    """`task 7` by Label Studio's id, or `task at position 3` (1 = the file's first) when it has none."""
    tid = item.get("id") if isinstance(item, dict) else None
    if isinstance(tid, int) and not isinstance(tid, bool) and 0 <= tid < 2**63:
        return f"task {tid}"
    return f"task at position {position}"


def task_answers(item: object, where: str, bucket: str, now: float) -> list[LabelStudioAnswer]:
    """The task's answers that were not skipped (none: not answered); BadTask says what is wrong with it,
    naming the task. Every annotation must be well formed: with one unreadable, which is newest is unknown."""
    pid = None
    try:
        if not isinstance(item, dict):
            raise BadTask(f"not a task object but {kind(item)}")
        meta, data = optional_object(item, "meta"), optional_object(item, "data")
        pid = photo_id(meta, data)
        key = image_key(data, pid, bucket)
        named = meta.get("production_key")
        if named is not None and named != key:
            raise BadTask(f"its meta.production_key {shown(named)} is not the photo of its image ({key})")
        return [
            LabelStudioAnswer(pid, key, label, names.timestamp_tag(moment), where, by, moment.timestamp())
            for by, moment, label in choices(item, now)
        ]
    except BadTask as exc:
        raise BadTask(f"{where} ({pid}): {exc}" if pid else f"{where}: {exc}") from None


def optional_object(item: dict, name: str) -> dict:
    value = item.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadTask(f"its {name} is {kind(value)}, not an object")
    return value


def photo_id(meta: dict, data: dict) -> str:
    """The prediction id of `meta.id` and `data.id`: at least one, both the same when both are there."""
    ids = {
        where: value for where, value in (("meta.id", meta.get("id")), ("data.id", data.get("id"))) if value is not None
    }
    if not ids:
        raise BadTask("no GourmetGram prediction id in its meta or data (not ours?)")
    for where, value in ids.items():
        if not isinstance(value, str) or not names.is_prediction_id(value):
            raise BadTask(f"its {where} {shown(value)} is not a GourmetGram prediction id")
    if len(set(ids.values())) > 1:
        raise BadTask(f"its meta.id {ids['meta.id']} and data.id {ids['data.id']} name two photos")
    return next(iter(ids.values()))


def image_key(data: dict, pid: str, bucket: str) -> str:
    """The production key of `data.image`, the URL of the photo the person was shown; it must be `pid`'s."""
    url = data.get("image")
    if not isinstance(url, str):
        raise BadTask(f"its data.image is {kind(url)}, not the photo's URL that `review export` wrote")
    parts = urlsplit(url)
    segments = [unquote(s) for s in parts.path.split("/")]
    if parts.scheme not in ("http", "https") or len(segments) < 4:
        raise BadTask(f"its data.image {shown(url)} is not a photo's URL of bucket {bucket}")
    url_bucket, folder, filename = segments[-3:]
    found = _FOLDER.fullmatch(folder)
    stem, ext = PurePosixPath(filename).stem, PurePosixPath(filename).suffix
    if (
        url_bucket != bucket
        or not found
        or int(found.group(1)) >= len(names.CLASSES)
        or ext not in _EXTENSIONS
        or not names.is_prediction_id(stem)
    ):
        raise BadTask(f"its data.image {shown(url)} is not a photo's URL of bucket {bucket}")
    if stem != pid:
        raise BadTask(
            f"its data.image shows another photo ({stem}): the answer would label {pid} "
            "with what a person saw on another photo"
        )
    return f"{folder}/{filename}"


def choices(item: dict, now: float) -> list[tuple[str, datetime, str]]:
    """Who chose which class when, in each annotation of the task that was not skipped."""
    annotations = item.get("annotations")
    if annotations is None:
        return []
    if not isinstance(annotations, list):
        raise BadTask(f"its annotations are {kind(annotations)}, not a list")
    given = []
    for n, annotation in enumerate(annotations, 1):
        if not isinstance(annotation, dict):
            raise BadTask(f"its annotation {n} is {kind(annotation)}, not an object")
        try:
            cancelled = annotation.get("was_cancelled")
            if cancelled is not None and not isinstance(cancelled, bool):
                raise BadTask(f"was_cancelled is {kind(cancelled)}, not true or false")
            if cancelled:
                continue  # skipped in Label Studio: no answer, whatever else it holds
            given.append((annotator(annotation), answered_at(annotation, now), choice(annotation)))
        except BadTask as exc:
            raise BadTask(f"its annotation {n}: {exc}") from None
    return given


def annotator(annotation: dict) -> str:
    """Who gave the annotation: Label Studio's user id in `completed_by` (a number, or an object with one)."""
    who = annotation.get("completed_by")
    if isinstance(who, dict):
        who = who.get("id")
    if who is None:
        return "an unknown user"
    if not isinstance(who, int) or isinstance(who, bool):
        raise BadTask(f"its completed_by is {kind(who)}, not a user id")
    return f"user {who}"


def choice(annotation: dict) -> str:
    """The one Food-11 class chosen in an annotation's `result`."""
    results = annotation.get("result")
    if not isinstance(results, list):
        raise BadTask(f"its result is {kind(results)}, not a list")
    chosen = []
    for result in results:
        if not isinstance(result, dict):
            raise BadTask(f"a result is {kind(result)}, not an object")
        if result.get("type") != "choices":
            continue
        value = result.get("value")
        if not isinstance(value, dict):
            raise BadTask(f"a choices result's value is {kind(value)}, not an object")
        classes = value.get("choices")
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
            raise BadTask(f"its choices are {kind(classes)}, not a list of class names")
        chosen += classes
    if len(chosen) != 1:
        raise BadTask(
            f"expected one chosen class, found {len(chosen)}"
            + (f" ({', '.join(shown(c) for c in chosen[:11])})" if chosen else "")
        )
    try:
        return names.class_name(names.class_index(chosen[0]))
    except ValueError:
        raise BadTask(f"{shown(chosen[0])} is not a Food-11 class") from None


def answered_at(annotation: dict, now: float) -> datetime:
    """When the person last gave this answer: `updated_at`, else `created_at`; never after now + skew."""
    name = "updated_at" if annotation.get("updated_at") is not None else "created_at"
    raw = annotation.get(name)
    if raw is None:
        raise BadTask("it has no time (updated_at or created_at): when it was given is unknown")
    try:
        if not isinstance(raw, str):
            raise ValueError
        moment = datetime.fromisoformat(raw)
        if moment.tzinfo is None:
            raise ValueError
        moment = moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise BadTask(f"its {name} {shown(raw)} is not a time with a zone (ISO 8601)") from None
    if moment.timestamp() > now + CLOCK_SKEW_S:
        raise BadTask(
            f"its {name} {shown(raw)} is in the future (this machine's clock is "
            f"{names.timestamp_tag(datetime.fromtimestamp(now, UTC))}, {CLOCK_SKEW_S} s of skew allowed)"
        )
    return moment


def shown(value: object) -> str:
    """A value from the file, quoted for a message: terminal-safe and at most SHOWN_CHARS long."""
    if not isinstance(value, str):
        return kind(value)
    cut = value[:SHOWN_CHARS] + "…" if len(value) > SHOWN_CHARS else value
    return f"'{printable(cut)}'"


def kind(value: object) -> str:
    """What a JSON value is, in words (its contents, possibly huge or deep, are never shown)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"

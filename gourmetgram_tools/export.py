"""`gourmetgram export`: labelled production photos as a Food-11 dataset the training script reads.

`<out>/{training,validation,evaluation}/class_NN/<id><ext>` and `<out>/manifest.csv`, one row per file
with where it came from. Every split holds all eleven `class_00`..`class_10` folders, empty or not: a
folder-based loader numbers classes by the folders it finds, so a missing one would shift every label.
The label is the reviewer's (`human_label`), else the uploader's correction (`corrected_class`), else,
only when asked, the model's above a confidence. The split is a hash of the photo's bytes: identical
photos (the same bytes uploaded twice) share a split, and are exported once, the manifest naming the
other ids (`duplicate_ids`). A second run reads the manifest, copies only what is new, and follows label
changes both ways: a photo whose label changed moves, one whose label was withdrawn leaves.

One run at a time per folder (a lock naming its holder). The manifest is written when the run ends,
however it ends short of SIGKILL (SIGTERM and Ctrl-C included), and every CHECKPOINT_S while it copies;
it always names exactly the files in the folder. After SIGKILL the next run removes what the dead run
left outside the manifest (its partial files, the photos it copied since its last checkpoint) and
converges: it copies them again if they are still labelled.

The folder is the export's alone: a folder holding files but no manifest of ours is refused (its files
would be taken for a dead run's), and only the split folders' `class_NN` folders are ever swept. Nothing
inside it is followed as a symlink (a planted link would let the sweep delete, or a copy write, elsewhere).
The manifest is not trusted either: a row is followed only when its columns agree with each other and its
file still has the bytes its `sha256` names.
"""

from __future__ import annotations

import csv
import hashlib
import io
import numbers
import os
import secrets
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import click
from PIL import ImageOps

from gourmetgram import idtime, images, names
from gourmetgram.outcome import Outcome, Status
from gourmetgram.settings import Settings
from gourmetgram.store import CorruptDocument, NotFound, ObjectInfo, Store
from gourmetgram.terminal import printable
from gourmetgram_tools.folder_lock import holding
from gourmetgram_tools.termination import held, terminating
from gourmetgram_tools.tool_error import ToolError

# Food-11's own proportions (9,866 / 3,430 / 3,347 photos), in percent of the hash's 100 buckets.
SPLITS = (("training", 60), ("validation", 20), ("evaluation", 20))
MANIFEST = "manifest.csv"
LOCK = ".export.lock"
PARTIAL = ".partial"
# The record's own columns: the photo whose label the file carries.
RECORD_COLUMNS = (
    "id",
    "production_key",
    "human_label",
    "reviewed_at",
    "corrected_class",
    "flagged",
    "predicted_class",
    "confidence",
    "model_version",
    "source",
    "uploaded_at",
    "record_etag",
)
COLUMNS = (
    "path",
    "split",
    "class_index",
    "class_name",
    "label_source",
    "id",
    "production_key",
    "etag",
    "bytes",
    "human_label",
    "reviewed_at",
    "corrected_class",
    "flagged",
    "predicted_class",
    "confidence",
    "model_version",
    "source",
    "uploaded_at",
    "exported_at",
    "record_etag",
    "sha256",
    "duplicate_ids",
    "file_sha256",  # of the file, when it is a PNG made from the photo (`sha256` is the photo's)
)
# Columns later versions added: a manifest without them is still read.
LATER_COLUMNS = ("sha256", "duplicate_ids", "file_sha256")
REQUIRED_COLUMNS = tuple(c for c in COLUMNS if c not in LATER_COLUMNS)
RANK = {"human": 3, "corrected": 2, "predicted": 1}
# What torchvision's ImageFolder reads (torchvision.datasets.folder.IMG_EXTENSIONS). A photo of another format
# (GIF, HEIC, HEIF, AVIF) is exported as a PNG: the course's trainer would otherwise skip it without a word.
FOLDER_LOADER_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp"})
# How often a long run writes its manifest while it copies: what SIGKILL can cost is what was copied since.
CHECKPOINT_S = 10.0


def split_of(content_sha256: str) -> str:
    """The split of a photo: fixed by its bytes' SHA-256 alone (salted, independent of the review sample's)."""
    bucket = int.from_bytes(hashlib.sha256(f"split/{content_sha256}".encode()).digest()[:8], "big") % 100
    for name, share in SPLITS:
        if bucket < share:
            return name
        bucket -= share
    raise AssertionError("the split shares add up to 100")


def class_folders() -> list[PurePosixPath]:
    """Every split's eleven class folders, which the dataset always has."""
    return [PurePosixPath(split, f"class_{index:02d}") for split, _ in SPLITS for index in range(len(names.CLASSES))]


@dataclass(frozen=True)
class Label:
    class_name: str
    source: str  # "human", "corrected" or "predicted"


def label_of(record: Outcome, min_confidence: float | None) -> Label | None:
    """The label a photo is exported with; the model's only with `min_confidence` (and at least it)."""
    if record.human_label:
        return Label(record.human_label, "human")
    if record.corrected_class:
        return Label(record.corrected_class, "corrected")
    if min_confidence is not None and record.confidence is not None and record.confidence >= min_confidence:
        return Label(record.predicted_class, "predicted")
    return None


@dataclass(frozen=True)
class Member:
    """A labelled photo: its label and its record's manifest columns."""

    pid: str
    label: Label
    fields: dict

    @classmethod
    def of_row(cls, row: dict) -> Member:
        return cls(row["id"], Label(row["class_name"], row["label_source"]), {k: row[k] for k in RECORD_COLUMNS})


class ExportRefused(ToolError):
    """The output folder is not one this export may write (nothing in it was touched): says why."""


class Conflict(ToolError):
    """Identical photos whose best labels disagree: the file is left out rather than given either."""


def choose(members: Iterable[Member]) -> Member | None:
    """The photo whose label a file of identical photos carries: the best-sourced label (a reviewer's over an
    uploader's over the model's), the earliest id among those giving it; None without any label."""
    members = list(members)
    if not members:
        return None
    best = max(RANK[m.label.source] for m in members)
    top = [m for m in members if RANK[m.label.source] == best]
    if len({names.class_index(m.label.class_name) for m in top}) > 1:
        raise Conflict(", ".join(f"{m.pid} {m.label.class_name}" for m in sorted(top, key=lambda m: m.pid)))
    return min(top, key=lambda m: m.pid)


def path_of(content_sha256: str, member: Member) -> PurePosixPath:
    index = names.class_index(member.label.class_name)
    suffix = exported_suffix(PurePosixPath(member.fields["production_key"]).suffix)
    return PurePosixPath(split_of(content_sha256), f"class_{index:02d}", member.pid + suffix)


def exported_suffix(production_suffix: str) -> str:
    return production_suffix if production_suffix.lower() in FOLDER_LOADER_SUFFIXES else ".png"


def for_folder_loaders(data: bytes, production_suffix: str, max_pixels: int) -> bytes:
    """The file to export for a production photo: its own bytes when folder loaders read its format, else a
    lossless PNG of its pixels, turned upright as it is shown (a GIF's first frame)."""
    if exported_suffix(production_suffix) == production_suffix:
        return data
    with images.open_header(data, max_pixels) as image:
        # Turned before the conversion: convert() reads the EXIF again, where a HEIF's orientation was reset.
        ImageOps.exif_transpose(image, in_place=True)
        out = io.BytesIO()
        (image if image.mode == "RGB" else image.convert("RGB")).save(out, "PNG")
    return out.getvalue()


@dataclass
class Copy:
    """One file of the dataset: one content, the labelled photos that have it, and its manifest row as the
    file stands now (so that a stopped run's manifest names exactly the files there are)."""

    sha256: str
    row: dict
    path: str | None  # where the file is now; None once removed
    fresh: bool = False  # copied by this run
    known: tuple[str, ...] = ()  # the ids the manifest named for it
    members: dict[str, Member] = field(default_factory=dict)


@dataclass
class Exported:
    copied: int = 0
    moved: int = 0  # already exported, but its label changed: now under its new class
    kept: int = 0  # already exported as it is
    removed: int = 0  # already exported, but its label was withdrawn (or its record is gone)
    unlabelled: int = 0
    duplicates: int = 0  # photos whose identical bytes are exported under another id (`duplicate_ids`)
    leftovers: int = 0  # files a stopped run left outside the manifest, removed
    conflicts: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return path.lstat()
    except FileNotFoundError:
        return None


def real_folder(path: Path) -> Path:
    """`path` made if missing, and refused unless it is a folder itself (never a symlink to one)."""
    try:
        path.mkdir(exist_ok=True)
    except FileExistsError:
        pass  # a file or a dangling symlink there: named below
    st = _lstat(path)
    if st is None or not stat.S_ISDIR(st.st_mode):
        raise ExportRefused(
            f"{printable(str(path))} is not a folder (a symlink or a file): export writes only into folders of its own"
        )
    return path


def _is_partial(name: str) -> bool:
    return name.startswith(".") and name.endswith(PARTIAL)


def _ours_without_manifest(out: Path) -> str | None:
    """The first thing in `out` that no export makes before its first manifest (None: only export's own):
    the lock, partial files, and the split and class folders."""
    splits = {name for name, _ in SPLITS}
    classes = {f"class_{i:02d}" for i in range(len(names.CLASSES))}
    for entry in sorted(os.scandir(out), key=lambda e: e.name):
        if entry.name == LOCK or _is_partial(entry.name):
            continue
        if entry.name not in splits or not entry.is_dir(follow_symlinks=False):
            return entry.path
        for inner in sorted(os.scandir(entry.path), key=lambda e: e.name):
            if inner.name not in classes or not inner.is_dir(follow_symlinks=False):
                return inner.path
            for photo in sorted(os.scandir(inner.path), key=lambda e: e.name):
                if not _is_partial(photo.name):
                    return photo.path
    return None


def check_folder(out: Path) -> None:
    """Refuse (`ExportRefused`, having touched nothing) a folder this export may not write: one holding files but
    no manifest of ours (another dataset, someone's photos: the sweep would take them for a dead run's), or
    one whose lock, manifest, split or class folders are not what export makes (a symlink above all)."""
    for path in (out / LOCK, out / MANIFEST):
        st = _lstat(path)
        if st is not None and not stat.S_ISREG(st.st_mode):
            raise ExportRefused(f"{printable(str(path))} is not a regular file (a symlink?): export does not follow it")
    for folder in [PurePosixPath(split) for split, _ in SPLITS] + class_folders():
        st = _lstat(out / folder)
        if st is not None and not stat.S_ISDIR(st.st_mode):
            raise ExportRefused(
                f"{printable(str(out / folder))} is not a folder (a symlink or a file): export writes "
                "only into folders of its own"
            )
    if (out / MANIFEST).exists():
        with open(out / MANIFEST, newline="") as f:
            header = next(csv.reader(f), [])
        if not set(REQUIRED_COLUMNS) <= set(header):
            raise ExportRefused(
                f"{printable(str(out / MANIFEST))} is not an export's manifest: --out must be a folder "
                "only export writes"
            )
        return
    foreign = _ours_without_manifest(out)
    if foreign is not None:
        raise ExportRefused(
            f"{printable(str(out))} holds {printable(foreign)} and no {MANIFEST} of an export: --out "
            "must be an empty folder, or one only export writes"
        )


def file_sha256(path: Path) -> str | None:
    """The SHA-256 of a regular file at `path`; None if it is gone, a symlink (not followed) or no file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:  # ELOOP for a symlink
        return None
    with open(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return hashlib.file_digest(f, "sha256").hexdigest()


def write_new(path: Path, data: bytes) -> None:
    """`data` into a new file at `path`: never through a symlink, never over anything already there."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    with open(fd, "wb") as f:
        f.write(data)


def read_manifest(out: Path) -> list[dict]:
    try:
        with open(out / MANIFEST, newline="") as f:
            return list(csv.DictReader(f))
    except FileNotFoundError:
        return []


def write_manifest(out: Path, rows: Iterable[dict], token: str) -> None:
    """Replace the manifest in one step: an interrupted write leaves the previous one."""
    temporary = out / f".{MANIFEST}.{token}{PARTIAL}"
    with open(temporary, "x", newline="") as f:  # O_EXCL: never through a symlink planted there
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        for row in sorted(rows, key=lambda r: r["path"]):
            writer.writerow(row)
    os.replace(temporary, out / MANIFEST)


def run_token() -> str:
    """This run's part of its partial files' names: no two runs (nor a dead one's leftovers) share one."""
    return f"{os.getpid()}-{secrets.token_hex(4)}"


def export(
    store: Store,
    s: Settings,
    out: Path,
    since: float | None = None,
    min_confidence: float | None = None,
    progress: Callable = click.progressbar,
    echo: Callable[[str], None] = click.echo,
    checkpoint_s: float = CHECKPOINT_S,
) -> Exported:
    """Raises `ExportRefused` (nothing touched) when `out` is not a folder only export writes, `folder_lock.Locked`
    when another export writes it, `folder_lock.NotALockFile` when its lock is a symlink or no regular file,
    `termination.Terminated` on SIGTERM (after writing the manifest)."""
    out.mkdir(parents=True, exist_ok=True)
    check_folder(out)  # before the lock, which is a file made in it
    with holding(out / LOCK), terminating():
        run = _Run(store, s, out, since, min_confidence, checkpoint_s)
        try:
            run.load()
            infos = list(idtime.list_records(store, s.bucket_events, since))
            with progress(infos, label="exporting", show_pos=True, item_show_func=lambda i: None) as bar:
                for info in bar:
                    run.visit(info)
            run.finish()
        finally:  # what is in the folder is in the manifest, even after Ctrl-C or SIGTERM
            with held():
                run.write()
    if run.done.leftovers:
        echo(f"removed {run.done.leftovers} file(s) that a stopped run had left outside the manifest")
    for line in run.done.conflicts + run.done.errors:
        echo(printable(line))  # object keys, paths and record values: text from outside
    return run.done


class _Run:
    def __init__(
        self,
        store: Store,
        s: Settings,
        out: Path,
        since: float | None,
        min_confidence: float | None,
        checkpoint_s: float,
    ):
        self.store, self.s, self.out, self.since, self.min_confidence = store, s, out, since, min_confidence
        self.checkpoint_s, self.checkpoint = checkpoint_s, time.monotonic()
        self.token = run_token()
        self.copies: dict[str, Copy] = {}  # by content
        self.owner: dict[str, str] = {}  # photo id -> its content's SHA-256, for every photo seen
        self.listed: set[str] = set()
        self.loaded = False  # until the manifest's files are all known, the manifest on disk is the truer one
        self.done = Exported()

    def class_entries(self) -> Iterable[Path]:
        """What the split folders' class folders hold (their subfolders aside): all the sweep may remove."""
        for folder in class_folders():
            path = self.out / folder
            st = _lstat(path)
            if st is None:
                continue
            if not stat.S_ISDIR(st.st_mode):  # planted since `check_folder`
                raise ExportRefused(
                    f"{printable(str(path))} is not a folder (a symlink or a file): export does not follow it"
                )
            for entry in os.scandir(path):
                if not entry.is_dir(follow_symlinks=False):
                    yield Path(entry.path)

    def load(self) -> None:
        """The manifest's files, and the folder cleared of what a dead run left outside it."""
        for partial in self.out.glob(f".{MANIFEST}.*{PARTIAL}"):
            partial.unlink(missing_ok=True)  # unlink removes a symlink itself, never what it points to
        entries = list(self.class_entries())
        for partial in entries:
            if _is_partial(partial.name):
                partial.unlink(missing_ok=True)
        for row in read_manifest(self.out):
            if not _sound(row):
                continue  # edited by hand: the record decides again
            # Every file is hashed (0.7 s for 1,000 photos of 270 KB, measured): a row whose sha256 is not its
            # file's is not followed, so a wrong one can neither make a photo another's duplicate nor send it to
            # a wrong split. A PNG made from a photo is checked against file_sha256; its photo's sha256 only
            # against its split (a hand edit can still make it another photo's duplicate; the record's label
            # stands either way). Manifests from before content hashes have none: the file's bytes are the photo's.
            on_disk = file_sha256(self.out / row["path"])
            if on_disk is None or (row.get("file_sha256") or row.get("sha256")) not in (None, "", on_disk):
                continue  # removed, replaced or moved by hand or by a dead run: the record decides again
            sha = row["sha256"] if row.get("file_sha256") else on_disk  # the photo's own bytes decide its split
            if not sha or (row.get("file_sha256") and split_of(sha) != row["split"]):
                continue  # a converted file cannot show its photo's hash: at least its split must be that hash's
            ids = (row["id"], *(row.get("duplicate_ids") or "").split())
            if sha in self.copies:  # the same bytes exported twice under ids (before dedupe): one stays
                (self.out / row["path"]).unlink()
                self.done.removed += 1
                first = self.copies[sha]
                first.known += ids
            else:
                self.copies[sha] = Copy(sha, {**row, "sha256": sha}, row["path"], known=ids)
            self.owner.update(dict.fromkeys(ids, sha))
        named = {c.path for c in self.copies.values()}
        for path in entries:
            if not _is_partial(path.name) and path.relative_to(self.out).as_posix() not in named:
                path.unlink(missing_ok=True)  # copied by a run that died before its manifest: again if labelled
                self.done.leftovers += 1
        self.loaded = True
        self.write()  # the folder is marked as an export's from now on, even if this run is killed

    def visit(self, info: ObjectInfo) -> None:
        pid = info.key.removesuffix(idtime.RECORD_SUFFIX)
        if not names.is_prediction_id(pid):  # its id becomes a file name: nothing else may
            self.done.errors.append(f"skipped {self.s.bucket_events}/{printable(info.key)}: not a photo's record")
            return
        self.listed.add(pid)
        copy = self.copies.get(self.owner.get(pid, ""))
        # Its record has not changed: not even read (unless the model labelled it: this run's options decide).
        if (
            copy
            and copy.row["id"] == pid
            and copy.row["record_etag"] == info.etag
            and copy.row["label_source"] != "predicted"
        ):
            copy.members[pid] = Member.of_row(copy.row)
            return
        member = self.member(pid, info.last_modified.timestamp())
        if member is None:
            return
        copy = copy or self.fetch(member)
        if copy is not None:
            copy.members[pid] = member

    def member(self, pid: str, written: float) -> Member | None:
        """The photo's record read, as a labelled photo; None without a usable label."""
        key = names.record_key(pid)
        try:
            doc, etag = self.store.get_json(self.s.bucket_events, key)
            record = Outcome.from_json(doc)
        except NotFound:
            return None
        except (CorruptDocument, TypeError, ValueError, KeyError, AttributeError) as exc:
            self.done.errors.append(f"skipped {self.s.bucket_events}/{key}: not an outcome record ({exc})")
            return None
        problem = malformed(record, pid)
        if problem:
            self.done.errors.append(f"skipped {self.s.bucket_events}/{key}: not an outcome record ({problem})")
            return None
        label = (
            label_of(record, self.min_confidence) if record.status is Status.DONE and record.production_key else None
        )
        if label is None:
            self.done.unlabelled += 1
            return None
        try:
            names.class_index(label.class_name)
        except ValueError:
            self.done.errors.append(f"skipped {pid}: its label {label.class_name!r} is not a Food-11 class")
            return None
        return Member(pid, label, _record_fields(record, pid, idtime.photo_time(record, written), etag))

    def fetch(self, member: Member) -> Copy | None:
        """A photo not exported before: its bytes read once, hashed, and written unless identical ones are."""
        key = member.fields["production_key"]
        try:
            head = self.store.head(self.s.bucket_production, key)
            data = self.store.read(self.s.bucket_production, key, etag=head.etag)
        except NotFound:
            self.done.errors.append(f"skipped {member.pid}: {self.s.bucket_production}/{printable(key)} is gone")
            return None
        sha = hashlib.sha256(data).hexdigest()
        if sha in self.copies:
            self.owner[member.pid] = sha
            return self.copies[sha]
        try:
            written = for_folder_loaders(data, PurePosixPath(key).suffix, self.s.max_pixels)
        except images.ImageRefused as exc:
            self.done.errors.append(f"skipped {member.pid}: {self.s.bucket_production}/{printable(key)}: {exc}")
            return None
        self.owner[member.pid] = sha
        path = path_of(sha, member)
        target = self.out / path
        real_folder(real_folder(target.parent.parent) / target.parent.name)
        partial = target.with_name(f".{target.name}.{self.token}{PARTIAL}")
        write_new(partial, written)
        row = _row(member, path, sha, head.etag, len(written), names.timestamp_tag())
        if written is not data:
            row["file_sha256"] = hashlib.sha256(written).hexdigest()
        with held():  # the file and the state that names it, together
            os.replace(partial, target)
            copy = self.copies[sha] = Copy(sha, row, str(path), fresh=True)
            self.done.copied += 1
            if time.monotonic() - self.checkpoint >= self.checkpoint_s:
                self.write()
                self.checkpoint = time.monotonic()
        return copy

    def in_window(self, pid: str) -> bool:
        """Whether this run's listing covers the photo: when it does and did not list it, its record is gone."""
        moment = idtime.id_time(pid)
        return self.since is None or (moment is not None and moment >= self.since)

    def finish(self) -> None:
        """Each file where its photos' labels now put it: moved, kept or removed."""
        for copy in list(self.copies.values()):
            for pid in copy.known:
                if pid not in self.listed and not self.in_window(pid):  # outside `--since`: as it was
                    member = Member.of_row(copy.row) if pid == copy.row["id"] else self.member(pid, 0.0)
                    if member:
                        copy.members[pid] = member
            try:
                chosen = choose(copy.members.values())
            except Conflict as exc:
                self.done.conflicts.append(
                    f"left out {printable(str(copy.path))}: identical photos labelled differently ({exc})"
                )
                chosen = None
            with held():
                self.settle(copy, chosen)

    def settle(self, copy: Copy, chosen: Member | None) -> None:
        current = copy.path
        if current is None:  # removed earlier in this run: nothing left to move or remove
            return
        if chosen is None:
            (self.out / current).unlink(missing_ok=True)
            copy.path = None
            self.done.removed += not copy.fresh
            self.done.copied -= copy.fresh
            return
        path = path_of(copy.sha256, chosen)
        if str(path) != current:
            real_folder(real_folder((self.out / path).parent.parent) / path.parent.name)
            os.replace(self.out / current, self.out / path)
            copy.path = str(path)
            self.done.moved += not copy.fresh
        else:
            self.done.kept += not copy.fresh
        others = sorted(set(copy.members) - {chosen.pid})
        self.done.duplicates += len(others)
        copy.row = {
            **_row(chosen, path, copy.sha256, copy.row["etag"], copy.row["bytes"], copy.row["exported_at"]),
            "duplicate_ids": " ".join(others),
            "file_sha256": copy.row.get("file_sha256") or "",
        }

    def write(self) -> None:
        for folder in class_folders():
            real_folder(real_folder(self.out / folder.parent) / folder.name)
            for partial in (self.out / folder).glob(f".*.{self.token}{PARTIAL}"):  # a copy cut short by a signal
                partial.unlink(missing_ok=True)
        if self.loaded:
            write_manifest(self.out, [c.row for c in self.copies.values() if c.path is not None], self.token)


def _sound(row: dict) -> bool:
    """A manifest row this export could have written: a file name it chose, in a class folder of a split, and
    photo ids (a row edited into `../` or an odd id is not followed: its file is then left over, removed);
    its split, class folder, class index and class name agreeing, and the label the record column of its
    source gives (the label of an unchanged record is taken from its row: an edited one must not relabel it)."""
    if any(row.get(column) is None for column in REQUIRED_COLUMNS):  # a short line
        return False
    path = PurePosixPath(row["path"])
    ids = [row["id"], *(row.get("duplicate_ids") or "").split()]
    if not (
        str(path.parent) in {str(f) for f in class_folders()}
        and path.stem == row["id"]
        and all(names.is_prediction_id(pid) for pid in ids)
        and row["label_source"] in RANK
        and row["class_name"] in names.CLASSES
    ):
        return False
    index = names.CLASSES.index(row["class_name"])
    given = row[
        {"human": "human_label", "corrected": "corrected_class", "predicted": "predicted_class"}[row["label_source"]]
    ]
    return (
        path.parts[0] == row["split"]
        # A file of an earlier export kept a format that folder loaders skip: it is exported again, as a PNG.
        and path.suffix == exported_suffix(PurePosixPath(row["production_key"]).suffix)
        and path.parent.name == f"class_{index:02d}"
        and row["class_index"] == str(index)
        and given.strip().lower() == row["class_name"].lower()
    )


# The record's fields export reads, and the types it can use them with (from_json checks none).
_TEXT = ("production_key", "human_label", "reviewed_at", "corrected_class", "predicted_class", "model_version")


def malformed(record: Outcome, pid: str) -> str | None:
    """Why export cannot use a record (a field of the wrong type, another photo's id), or None."""
    if record.id != pid:  # its file is named by its key: a record claiming another id is not this photo's
        return f"its id {record.id!r} is not its key's"
    for name in _TEXT:
        if not isinstance(getattr(record, name), str | None):
            return f"{name} is not text"
    if not isinstance(record.source, str):
        return "source is not text"
    if record.flagged is not None and not isinstance(record.flagged, bool):
        return "flagged is not true or false"
    if record.confidence is not None and (
        isinstance(record.confidence, bool) or not isinstance(record.confidence, numbers.Real)
    ):
        return "confidence is not a number"
    if not isinstance(record.timestamps.get("uploaded", ""), str):
        return "timestamps.uploaded is not text"
    return None


def _record_fields(record: Outcome, pid: str, uploaded: float, record_etag: str) -> dict:
    return {
        "id": pid,
        "production_key": record.production_key,
        "human_label": record.human_label or "",
        "reviewed_at": record.reviewed_at or "",
        "corrected_class": record.corrected_class or "",
        "flagged": "" if record.flagged is None else str(record.flagged).lower(),
        "predicted_class": record.predicted_class or "",
        "confidence": "" if record.confidence is None else f"{record.confidence:.3f}",
        "model_version": record.model_version or "",
        "source": record.source,
        "uploaded_at": names.timestamp_tag(datetime.fromtimestamp(uploaded, UTC)),
        "record_etag": record_etag,
    }


def _row(member: Member, path: PurePosixPath, sha: str, etag: str, size: int | str, exported_at: str) -> dict:
    index = names.class_index(member.label.class_name)
    return {
        **member.fields,
        "path": str(path),
        "split": path.parts[0],
        "class_index": index,
        "class_name": names.CLASSES[index],
        "label_source": member.label.source,
        "etag": etag,
        "bytes": size,
        "exported_at": exported_at,
        "sha256": sha,
        "duplicate_ids": "",
        "file_sha256": "",
    }


def parse_since(text: str) -> float:
    """`--since`: a UTC date (`2026-11-20`) or an ISO time with a zone."""
    try:
        if len(text) == 10:
            return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()
        return names.parse_iso(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is neither a date (2026-11-20) nor a time with a zone (2026-11-20T08:00:00Z)"
        ) from None

"""The model registry in MinIO's `models` bucket: model files by version, and the two aliases that say which
model labels production (`champion`) and which labels in the shadow (`challenger`). docs/contract.md#models.

Keys:
    versions/<version>/model.pth   the file as the operator gave it (either course format), never rewritten
    versions/<version>/info.json   what it is: sha256, format, size, when and by whom it was added, a note; for a
                                   model made from another (int8), its source version, calibration photos and
                                   agreement with the source
    aliases/<alias>.json           the version an alias names now, with every change made to it (its history)

An alias changes only by a conditional write over the version its writer read (If-Match, or If-None-Match for
the first), so two operators changing it at once cannot both win; its history travels in the same document,
so no change is ever recorded without taking effect, or the other way round.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field

from gourmetgram import names
from gourmetgram.base_error import GourmetGramError
from gourmetgram.store import AlreadyExists, Changed, NotFound, Store

BUCKET = "models"
CHAMPION, CHALLENGER = "champion", "challenger"
ALIASES = (CHAMPION, CHALLENGER)
# Larger than any MobileNetV2 file (about 9 MB) by far, and small enough to hold twice in memory during a swap.
MAX_MODEL_BYTES = 200 * 1024 * 1024
HISTORY_KEPT = 200  # changes kept in an alias document, newest last


class RegistryError(GourmetGramError):
    """The registry cannot do what was asked; the message says why in the operator's words."""


class AliasMoved(RegistryError):
    """Somebody changed the alias since it was read: read it again and decide again."""


class UnknownVersion(RegistryError):
    """No model of that version is registered."""


class BrokenAlias(RegistryError):
    """An alias document that no version of this code writes (edited by hand): nothing can be read from it."""


class BrokenInfo(RegistryError):
    """A model's info document that no version of this code writes (edited by hand)."""


def version_of(sha256_hex: str) -> str:
    """A model's version: what records and tags name it by (`model_version`)."""
    return "food11-" + sha256_hex[:12]


def model_key(version: str) -> str:
    return f"versions/{version}/model.pth"


def info_key(version: str) -> str:
    return f"versions/{version}/info.json"


def alias_key(alias: str) -> str:
    if alias not in ALIASES:
        raise RegistryError(f"{alias!r} is not an alias (champion or challenger)")
    return f"aliases/{alias}.json"


@dataclass(frozen=True)
class ModelInfo:
    version: str
    sha256: str
    format: str  # "state_dict" or "full_model": the course's two forms; "int8": made by `model quantize`
    size: int
    added_at: str
    added_by: str
    note: str = ""
    # A model made from another one (`gourmetgram model quantize`): the version it was made from, the ids of the
    # production photos it was calibrated on, and how it agreed with its source on photos it did not see.
    source: str = ""
    calibration: list[str] = field(default_factory=list)
    agreement: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Change:
    alias: str
    to: str | None  # None: the alias was cleared (challenger only)
    previous: str | None
    at: str
    by: str
    forced: bool = False
    why: str = ""


@dataclass(frozen=True)
class Alias:
    name: str
    version: str | None
    etag: str | None = None  # of the alias document; None when the alias was never set
    history: tuple[Change, ...] = field(default_factory=tuple)


def add(
    store: Store,
    data: bytes,
    *,
    format: str,
    by: str,
    note: str = "",
    source: str = "",
    calibration: list[str] | None = None,
    agreement: dict | None = None,
) -> tuple[ModelInfo, bool]:
    """Store a model file under its version; (its info, whether it was new). Adding the same bytes again changes
    nothing. The file is written before its info, so an info always names a file that is there."""
    if len(data) > MAX_MODEL_BYTES:
        raise RegistryError(f"the model file is {len(data):,} bytes; the limit is {MAX_MODEL_BYTES:,}")
    sha = hashlib.sha256(data).hexdigest()
    info = ModelInfo(
        version_of(sha),
        sha,
        format,
        len(data),
        names.now_iso(),
        by,
        note,
        source,
        list(calibration or []),
        dict(agreement or {}),
    )
    try:
        store.create(
            BUCKET, model_key(info.version), data, content_type="application/octet-stream", metadata={"sha256": sha}
        )
    except AlreadyExists:
        pass  # a retry after a lost answer, or the same model again: its info decides below
    try:
        store.put_json(BUCKET, info_key(info.version), asdict(info), if_absent=True)
    except AlreadyExists:
        return get(store, info.version), False
    return info, True


def get(store: Store, version: str) -> ModelInfo:
    try:
        doc, _ = store.get_json(BUCKET, info_key(version))
    except NotFound:
        raise UnknownVersion(f"no model {version!r} in the registry (`gourmetgram model list` shows them)") from None
    return _info(doc, version)


# What an info document must hold, and of which type, before anything trusts it (the function judges a model's
# memory by `size` before it reads the file).
_INFO_TYPES = {"version": str, "sha256": str, "format": str, "size": int, "added_at": str, "added_by": str}
_INFO_OPTIONAL = {"note": str, "source": str, "calibration": list, "agreement": dict}


def _info(doc: object, version: str) -> ModelInfo:
    """The info document as a ModelInfo; BrokenInfo when it is not what `add` writes (edited by hand)."""

    def wrong(why: str) -> BrokenInfo:
        return BrokenInfo(f"{BUCKET}/{info_key(version)} {why}: restore an earlier version (mc cp --version-id)")

    if not isinstance(doc, dict):
        raise wrong("is not a JSON object")
    for name, kind in _INFO_TYPES.items():
        if type(doc.get(name)) is not kind:  # bool is no size; a string of digits is no size
            raise wrong(f"has no {kind.__name__} {name!r}")
    for name, kind in _INFO_OPTIONAL.items():
        if name in doc and not isinstance(doc[name], kind):
            raise wrong(f"has a {name!r} that is not a {kind.__name__}")
    if doc["version"] != version or doc["size"] < 0:
        raise wrong("does not describe this version")
    return ModelInfo(**{k: doc[k] for k in ModelInfo.__dataclass_fields__ if k in doc})


def listing(store: Store) -> list[ModelInfo]:
    """Every registered model, oldest first."""
    found = [get(store, o.key.split("/")[1]) for o in store.list(BUCKET, "versions/") if o.key.endswith("/info.json")]
    return sorted(found, key=lambda m: (m.added_at, m.version))


def read_model(store: Store, version: str) -> bytes:
    """The model file's bytes, checked against the SHA-256 it was registered with. No more than its registered
    size is read (and one byte to tell a larger file): the function judged its memory by that size."""
    info = get(store, version)
    data = store.read(BUCKET, model_key(version), limit=min(info.size, MAX_MODEL_BYTES))
    if hashlib.sha256(data).hexdigest() != info.sha256:
        raise RegistryError(f"the file of {version} is not the one registered (its SHA-256 differs)")
    return data


def read_alias(store: Store, alias: str) -> Alias:
    try:
        doc, etag = store.get_json(BUCKET, alias_key(alias))
    except NotFound:
        return Alias(alias, None)
    try:
        version, changes = doc.get("version"), doc.get("history", [])
        if not (version is None or isinstance(version, str)) or not isinstance(changes, list):
            raise TypeError("version is not a string, or history is not a list")
        history = tuple(Change(**c) for c in changes)
    except (AttributeError, TypeError) as exc:  # a list, a number, a change with missing or foreign fields
        raise BrokenAlias(
            f"{BUCKET}/{alias_key(alias)} is not an alias document ({exc}): write it back as it was, or restore "
            f"an earlier version of it (`mc cp --version-id`, the bucket keeps them)"
        ) from None
    return Alias(alias, version, etag, history)


def set_alias(store: Store, read: Alias, to: str | None, *, by: str, forced: bool = False, why: str = "") -> Alias:
    """Point alias `read.name` at version `to` (None clears it), over exactly the alias document `read` was read
    as; AliasMoved if it changed since."""
    if to is None and read.name == CHAMPION:
        raise RegistryError("the champion cannot be cleared: production needs a model")
    if to is not None:
        get(store, to)  # UnknownVersion before anything is written
    change = Change(read.name, to, read.version, names.now_iso(), by, forced, why)
    history = (*read.history, change)[-HISTORY_KEPT:]
    doc = {"alias": read.name, "version": to, "history": [asdict(c) for c in history]}
    try:
        if read.etag is None:
            etag = store.put_json(BUCKET, alias_key(read.name), doc, if_absent=True)
        else:
            etag = store.put_json(BUCKET, alias_key(read.name), doc, if_match=read.etag)
    except (AlreadyExists, Changed, NotFound):
        raise AliasMoved(
            f"the {read.name} alias changed while this change was being made; nothing was written"
        ) from None
    return Alias(read.name, to, etag, history)

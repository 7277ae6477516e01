"""The model follower: keeps the batcher serving the registry's champion (and its challenger in the shadow).

It reads the two aliases of the `models` bucket (gourmetgram.model_registry) when an alias event wakes it, and
every MODEL_CHECK_INTERVAL_S anyway (a lost event; the other replicas of a cluster, which the event does not
reach). When an alias names another version, the new model is read (its SHA-256 checked), loaded beside the
one serving, checked (model_check) and handed to the batcher, which swaps it in between two batches: no photo
waits for a restart, and each photo's record names the model of the batch that labelled it.

A model that fails its check never serves: the one serving stays, and /readyz and the log say which version was
refused and why. A version whose file failed (it does not load, or answers NaN) is not tried again until the
function restarts (a version is its file's content); one refused for the memory left, or whose file or info is
missing, is tried again at each check, as those change without the file changing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from classifier_fn.inference.infer import CHALLENGER, CHAMPION, Batcher, ServedModel
from classifier_fn.inference.model_check import ModelRefused, Room, TooLarge, checked, fits
from gourmetgram import memory, model_registry, names
from gourmetgram.store import NotFound, Store, StoreError

log = logging.getLogger(__name__)

MODEL_CHECK_INTERVAL_S = 30.0  # the safety net's period: an alias change reaches every replica within this
SWAP_WAIT_S = 120.0  # how long a swap may wait for the batch in progress (a batch takes well under a second)
STOP_WAIT_S = 10.0


@dataclass(frozen=True)
class ModelRefusal:
    alias: str
    version: str
    why: str
    at: str


@dataclass
class FollowerStatus:
    """What /readyz shows of the model side."""

    champion: str | None = None  # what the registry's champion alias names (None: none set, or unreadable)
    challenger: str | None = None
    shadow: str | None = None  # the challenger labelling in the shadow now, if any
    last_check: str | None = None
    problem: str = ""  # why the registry could not be read at the last check, if so
    refused: dict[str, ModelRefusal] = field(default_factory=dict)  # the last refusal per alias, while it stands


class Follower:
    """`serving(served)` is told each time the champion changes (the runtime's model_version follows it)."""

    def __init__(
        self,
        store: Store,
        batcher: Batcher,
        batch_size: int,
        serving: Callable[[ServedModel], None] = lambda served: None,
        on_swap: Callable[[str], None] = lambda alias: None,
        on_refused: Callable[[str], None] = lambda alias: None,
        room: Room = memory.headroom,
        interval_s: float = MODEL_CHECK_INTERVAL_S,
    ):
        self._store = store
        self._batcher = batcher
        self._batch_size = batch_size
        self._serving = serving
        self._on_swap = on_swap
        self._on_refused = on_refused
        self._room = room
        self._interval_s = interval_s
        self.status = FollowerStatus()
        self._refused_versions: dict[str, str] = {}  # version -> why its file was refused
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._checked = threading.Condition()
        self._checks = 0
        self._thread = threading.Thread(target=self._run, name="model-follower", daemon=True)

    def start(self) -> Follower:
        self._wake.set()  # a first check at once: the registry may have changed while the function was starting
        self._thread.start()
        return self

    def wake(self) -> None:
        """An alias may have changed (a `models` event): check now rather than at the next period."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        # A model being built is not waited for long: the thread is a daemon, and what it builds is not served.
        self._thread.join(timeout=STOP_WAIT_S)

    def wait_checks(self, count: int, timeout: float) -> bool:
        """Block until `count` checks have ended since start (for tests and tools)."""
        with self._checked:
            return self._checked.wait_for(lambda: self._checks >= count, timeout)

    @property
    def checks(self) -> int:
        return self._checks

    def describe(self) -> dict:
        st = self.status
        return {
            "champion": st.champion,
            "challenger": st.challenger,
            "shadow": st.shadow,
            "last_check": st.last_check,
            "problem": st.problem,
            "refused": [vars(r) for r in self._refusals()],
        }

    def problems(self) -> list[str]:
        """Lines for /readyz's problems: the models refused (the one serving stays). A registry that cannot be read
        is not one of them (the model serving labels on; a function without rights on `models` never follows one):
        it is in describe()'s "problem" and the log."""
        return [
            f"{r.alias} {r.version} refused at {r.at}: {r.why}; "
            + ("the model serving stays" if r.alias == CHAMPION else "no shadow labels from it")
            for r in self._refusals()
        ]

    def _refusals(self) -> list[ModelRefusal]:
        # A copy taken at once (the follower's thread changes the dict while the event loop reads it).
        return list(dict(self.status.refused).values())

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._interval_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.check()
            except Exception:  # a bug must not stop the following: the next period tries again
                log.exception("model follower: the check failed")

    def check(self) -> None:
        """Read both aliases and serve what they name (one pass; the thread calls it, tests may too)."""
        try:
            champion = model_registry.read_alias(self._store, model_registry.CHAMPION).version
            challenger = model_registry.read_alias(self._store, model_registry.CHALLENGER).version
        except (StoreError, model_registry.BrokenAlias) as exc:  # down, or an alias edited into garbage
            problem = f"cannot read the model registry (bucket {model_registry.BUCKET}): {exc}"
            if problem != self.status.problem:
                log.warning("%s; the model serving stays", problem)
            self.status.problem = problem
            self._ended()
            return
        self.status.problem = ""
        self.status.champion, self.status.challenger = champion, challenger
        if champion is not None:
            self._follow_champion(champion)
        self._follow_challenger(challenger)
        self._ended()

    def _ended(self) -> None:
        self.status.last_check = names.now_iso()
        with self._checked:
            self._checks += 1
            self._checked.notify_all()

    def _follow_champion(self, version: str) -> None:
        current = self._batcher.serving(CHAMPION)
        if current is not None and current.version == version:
            self.status.refused.pop(CHAMPION, None)
            return
        # The challenger promoted: it is built and warm already.
        shadow = self._batcher.serving(CHALLENGER)
        promoted = shadow is not None and shadow.version == version
        served = shadow if promoted else self._build(CHAMPION, version)
        if served is None:
            return
        if promoted:
            # Out of the shadow first: a batch between the two swaps would label its photos with the new champion
            # and give them its own shadow answer as well (a record comparing the model with itself).
            self._swap(CHALLENGER, None)
            self.status.shadow = None
        self._swap(CHAMPION, served)
        self._serving(served)
        log.info("now serving %s (was %s)", version, current.version if current else None)

    def _follow_challenger(self, version: str | None) -> None:
        current = self._batcher.serving(CHALLENGER)
        champion = self._batcher.serving(CHAMPION)
        if version is not None and champion is not None and version == champion.version:
            version = None  # the champion in its own shadow would compare it with itself
        if (current.version if current else None) == version:
            standing = self.status.refused.get(CHALLENGER)
            if standing is not None and standing.version != version:  # the alias moved on from the refused one
                self.status.refused.pop(CHALLENGER, None)
            self.status.shadow = version
            return
        if version is None:
            self._swap(CHALLENGER, None)
            self.status.refused.pop(CHALLENGER, None)
            self.status.shadow = None
            log.info("no challenger: no shadow labels from now on")
            return
        served = self._build(CHALLENGER, version)
        if served is None:
            # A challenger that fails its check labels nothing, not even the one before it (the operator moved on).
            if current is not None:
                self._swap(CHALLENGER, None)
            self.status.shadow = None
            return
        self._swap(CHALLENGER, served)
        self.status.shadow = version
        log.info("challenger %s labels in the shadow", version)

    def _build(self, alias: str, version: str) -> ServedModel | None:
        """The model of `version` read, checked and built; None (and the refusal recorded) if it fails."""
        if version in self._refused_versions:  # refused before, maybe in the other alias: said again for this one
            self._refuse(alias, version, self._refused_versions[version])
            return None
        try:
            info = model_registry.get(self._store, version)
            fits(info.size, self._room)  # before its bytes are read
            data = model_registry.read_model(self._store, version)
            _, served = checked(data, version, self._batch_size, self._room)
        except TooLarge as exc:  # tried again at the next check: memory may be freed meanwhile
            self._refuse(alias, version, str(exc), lasting=False)
            return None
        except (NotFound, model_registry.UnknownVersion) as exc:
            # Not served, and said why; but a missing file or info says nothing of the model: tried again at the
            # next check (its file may be put back, or not be replicated yet).
            why = f"its file {model_registry.BUCKET}/{model_registry.model_key(version)} is missing"
            self._refuse(alias, version, str(exc) if isinstance(exc, model_registry.UnknownVersion) else why, False)
            return None
        except StoreError as exc:  # MinIO trouble: not the model's fault, try again at the next check
            log.warning("cannot read %s model %s: %s; trying again at the next check", alias, version, exc)
            return None
        except (ModelRefused, model_registry.RegistryError) as exc:
            self._refuse(alias, version, str(exc))
            return None
        if served.version != version:  # read_model checked the SHA-256: this means the version is misnamed
            self._refuse(alias, version, f"its file is version {served.version}")
            return None
        return served

    def _refuse(self, alias: str, version: str, why: str, lasting: bool = True) -> None:
        """`lasting`: the file itself failed, so the version is not tried again."""
        if lasting:
            self._refused_versions[version] = why
        standing = self.status.refused.get(alias)
        if standing is not None and (standing.version, standing.why) == (version, why):
            return  # told already, at an earlier check
        self.status.refused[alias] = ModelRefusal(alias, version, why, names.now_iso())
        self._on_refused(alias)
        serving = self._batcher.serving(CHAMPION)
        log.error(
            "%s model %s refused, it will not serve: %s (serving %s)",
            alias,
            version,
            why,
            serving.version if serving else None,
        )

    def _swap(self, alias: str, served: ServedModel | None) -> None:
        # Applied by the batcher's thread between two batches; waiting here keeps the old model referenced (and
        # so alive) only until the batch that used it has ended.
        self._batcher.swap(alias, served).result(SWAP_WAIT_S)
        self._on_swap(alias)
        if served is not None:
            self.status.refused.pop(alias, None)


def initial(store: Store, batch_size: int, room: Room = memory.headroom) -> tuple[ServedModel | None, str]:
    """At start-up: the registry's champion checked and built, or (None, why not) to serve MODEL_PATH or the
    demo model as without a registry."""
    try:
        version = model_registry.read_alias(store, model_registry.CHAMPION).version
        if version is None:
            return None, "the registry has no champion"
        info = model_registry.get(store, version)
        fits(info.size, room)
        data = model_registry.read_model(store, version)
        _, served = checked(data, version, batch_size, room)
    except StoreError as exc:
        return None, f"the model registry cannot be read: {exc}"
    except (ModelRefused, model_registry.RegistryError) as exc:
        log.error("the champion was refused at start-up, it will not serve: %s", exc)
        return None, f"the champion was refused: {exc}"
    return served, f"the registry's champion {served.version}"

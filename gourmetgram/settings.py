"""The settings of each part, read from the environment at its entry point, and the defaults of the rest.

Three parts read settings: the function (`FunctionSettings`), the frontend (`FrontendSettings`) and the
stack's tools (`Settings`: `up`, `configure`, the operator's commands, which hold every setting and hand each
part its own). What the function and the frontend both read is `SharedSettings`. A field with env metadata is
read from that environment variable (docs/contract.md#settings lists them all, a test checks the list); a
field without it is a fixed value of the code that tests may set when they build the settings.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit

from gourmetgram import names
from gourmetgram.base_error import GourmetGramError
from gourmetgram.cores import usable_cores

DECODES = ("fast", "exact")
# Names a browser on this machine uses for it; no other site's page can make a browser send them as Host.
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})
ANY_HOST = "*"
_WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::", "[::]"})
_HOST_ENTRY = re.compile(r"(\[[0-9a-f:.]+\]|[a-z0-9_-]+(\.[a-z0-9_-]+)*)(:[0-9]{1,5})?")
# The public default of WEBHOOK_TOKEN (fine for a test, never used by `up`, which generates its own).
DEV_WEBHOOK_TOKEN = "gourmetgram-dev-token"


class SettingsError(GourmetGramError, ValueError):
    """A setting has a value that cannot be used; the message names the variable and the value."""


def _env(name: str, **kwargs: Any) -> Any:
    return field(metadata={"env": name}, **kwargs)


def _name(f: dataclasses.Field) -> str:
    """What an error calls a field: its environment variable, or the field's own name for a fixed value."""
    return f.metadata.get("env", f.name)


@dataclass(frozen=True)
class SharedSettings:
    """What the function and the frontend both read: MinIO, the buckets, the bind address, the nudge token,
    and the limits both check. Build a part's settings with `from_env()` (once, at the edge) or directly in tests."""

    # The secrets' defaults are public (this file): fine for a test, never used by `up`, which generates a
    # folder's own when they are unset (gourmetgram_tools/state.py).
    minio_url: str = _env("MINIO_URL", default="http://127.0.0.1:9000")
    minio_user: str = _env("MINIO_USER", default="gourmetgram")
    minio_password: str = _env("MINIO_PASSWORD", default="gourmetgram-dev-password", repr=False)
    host: str = _env("BIND_HOST", default="127.0.0.1")
    # The frontend's credential for telling the function about an upload (narrower than WEBHOOK_TOKEN: it can
    # only ask the function to look at an object of `incoming`). Unset: derived from WEBHOOK_TOKEN.
    nudge_token: str | None = _env("NUDGE_TOKEN", default=None, repr=False)

    # Fixed: the bucket names (tests may use others).
    bucket_incoming: str = "incoming"
    bucket_production: str = "production"
    bucket_quarantine: str = "quarantine"
    bucket_events: str = "events"
    # Fixed: the largest object the function reads and the frontend shows, and the most pixels a photo may
    # have (a decompression bomb is refused before it is decoded).
    max_object_bytes: int = 25 * 1024 * 1024
    max_pixels: int = 40_000_000

    def __post_init__(self) -> None:
        self._check()

    def _check(self) -> None:
        """Refuse a value the part cannot use. Each part's class adds its own checks after these."""
        parts = urlsplit(self.minio_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SettingsError(f"MINIO_URL {self.minio_url!r} is not an http(s) URL")
        if len(self.minio_password) < 8:
            raise SettingsError("MINIO_PASSWORD must be at least 8 characters (MinIO refuses shorter ones)")
        nudge = self.nudge_token
        if nudge is not None and (not nudge or len(nudge.split()) != 1):
            raise SettingsError("NUDGE_TOKEN must be one word, and not the WEBHOOK_TOKEN")
        watched = {self.bucket_incoming}
        for name in (self.bucket_production, self.bucket_quarantine, self.bucket_events):
            if name in watched:
                raise SettingsError(f"bucket {name!r} is the watched bucket: the function would trigger itself")
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):  # a wait of inf would hold a thread for ever
                raise SettingsError(f"{_name(f)} {value!r} must be a finite number")
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
                raise SettingsError(f"{_name(f)} {value!r} must not be negative")

    @property
    def buckets(self) -> tuple[str, str, str, str]:
        return (self.bucket_incoming, self.bucket_production, self.bucket_quarantine, self.bucket_events)

    @property
    def effective_nudge_token(self) -> str:
        """NUDGE_TOKEN, or the one derived from the default WEBHOOK_TOKEN (the function's default derives the same)."""
        return self.nudge_token or _derive(DEV_WEBHOOK_TOKEN, "nudge")

    @classmethod
    def env_names(cls) -> dict[str, str]:
        """Field name -> environment variable, for the fields read from the environment: the single source of
        truth for deployment files."""
        return {f.name: f.metadata["env"] for f in dataclasses.fields(cls) if "env" in f.metadata}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Self:
        """Read every variable of this class that is set, cast it, and apply `overrides` (e.g. from CLI flags,
        or a fixed value a test sets) last."""
        environ = os.environ if environ is None else environ
        values = {}
        for f in dataclasses.fields(cls):
            if "env" not in f.metadata:
                continue
            raw = environ.get(f.metadata["env"])
            if raw is not None and raw != "":
                values[f.name] = _cast(f, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """The environment that makes `from_env` in a child process rebuild these settings (the fixed values
        are not passed: a child has the same code)."""
        env = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not None and "env" in f.metadata:
                env[f.metadata["env"]] = str(value)
        return env

    def replace(self, **changes: Any) -> Self:
        return dataclasses.replace(self, **changes)

    def fixed_changes(self) -> dict[str, str]:
        """The fixed values (fields without env metadata) that differ from the code's: what a test's stack hands
        a part's process on its command line (`serve-fn --fixed name=value`), never through its environment."""
        changed = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if "env" not in f.metadata and value != f.default:
                changed[f.name] = str(value)
        return changed

    @classmethod
    def parse_fixed(cls, pairs: tuple[str, ...] | list[str]) -> dict[str, Any]:
        """`name=value` pairs of fixed values (see `fixed_changes`), cast, for `from_env`'s overrides."""
        fixed = {f.name: f for f in dataclasses.fields(cls) if "env" not in f.metadata}
        values = {}
        for pair in pairs:
            name, equals, raw = pair.partition("=")
            if not equals or name not in fixed:
                raise SettingsError(f"{pair!r} is not name=value of a fixed value of {cls.__name__}")
            values[name] = _cast(fixed[name], raw)
        return values


@dataclass(frozen=True)
class FunctionSettings(SharedSettings):
    """What the classifier function reads (`gourmetgram serve-fn` builds it from its environment)."""

    webhook_token: str = _env("WEBHOOK_TOKEN", default=DEV_WEBHOOK_TOKEN, repr=False)
    model_path: Path | None = _env("MODEL_PATH", default=None)
    function_port: int = _env("FUNCTION_PORT", default=8080)
    batch_size: int = _env("BATCH_SIZE", default=8)
    workers: int = _env("WORKERS", default=6)
    torch_threads: int = _env("TORCH_THREADS", default=0)  # 0: one fewer than the cores (see model_threads)
    # How long a worker's claim on a photo lasts: a photo of a function that died waits this long before
    # another worker takes it; it must outlast the slowest photo's work.
    claim_ttl_s: float = _env("CLAIM_TTL_S", default=120.0)
    # How often the reconciler looks through `incoming` for photos whose event was lost.
    reconcile_interval_s: float = _env("RECONCILE_INTERVAL_S", default=10.0)
    # How MinIO's events reach the function: `webhook` (MinIO POSTs each event to FUNCTION_URL) or `jetstream`
    # (MinIO publishes it to a NATS JetStream stream that every function replica pulls from; see docs/scaling.md).
    event_transport: str = _env("EVENT_TRANSPORT", default=names.WEBHOOK)
    # The NATS servers (comma-separated; one is enough, the client learns the rest of a cluster from it).
    nats_url: str = _env("NATS_URL", default="nats://127.0.0.1:4222")
    # The token NATS asks of every client (MinIO, `configure`, the function; never the frontend). Unset: derived
    # from WEBHOOK_TOKEN, as NUDGE_TOKEN is, so `up` stores no secret.
    nats_token: str | None = _env("NATS_TOKEN", default=None, repr=False)

    # Fixed values (tests set some of them to make a test fast).
    # How long a batch waits for more photos once it has one.
    batch_wait_ms: int = 15
    # Tries of a storage call that failed with a transient error, before the photo is given back.
    transient_retries: int = 4
    # How old an object in `incoming` must be before the reconciler takes it (its event is usually on the way).
    reconcile_grace_s: float = 10.0
    # Photos per second the reconciler feeds in from a backlog, so a new photo does not queue behind them.
    backlog_per_s: float = 20.0
    # How the function decodes a photo: "fast" decodes a large JPEG at 1/2, 1/4 or 1/8 scale (keeping its
    # shorter side at least three times the model's input) before the exact transform; "exact" decodes it
    # whole. The default is what tests/integration/test_fast_decode_evidence.py's evidence allows.
    decode: str = "fast"
    # Open connections the function holds (its callers are MinIO, the frontend and /predict clients: a few dozen
    # at most). One more makes room by closing the connection idle longest; see gourmetgram_tools/function_server.py.
    function_connection_limit: int = 1000
    # Synchronous `POST /predict` requests the function works at once; more are refused with 503.
    predict_concurrency: int = 4
    # A `POST /predict` body must arrive within this grace plus its length at this rate (else 408), so a
    # slow or idle client holds nothing for long; bodies received and kept at once, all clients together,
    # stay within the budget (past it: 503 at once), so slow senders hold little while fast ones are served.
    predict_body_grace_s: float = 5.0
    predict_body_min_bytes_per_s: int = 32 * 1024
    predict_body_budget_bytes: int = 128 * 1024 * 1024
    # A stream message not acknowledged (nor extended) within this is delivered again, at most
    # nats_max_deliver times in all; then the function terminates it and leaves its photo to the reconciler.
    # A transient error gives the message back after nats_nak_delay_s (times the deliveries so far).
    nats_ack_wait_s: float = 30.0
    nats_max_deliver: int = 5
    nats_nak_delay_s: float = 2.0

    def _check(self) -> None:
        super()._check()
        if not self.webhook_token or len(self.webhook_token.split()) != 1:
            raise SettingsError("WEBHOOK_TOKEN must be one word (MinIO drops the header otherwise)")
        if self.nudge_token is not None and self.nudge_token == self.webhook_token:
            raise SettingsError("NUDGE_TOKEN must be one word, and not the WEBHOOK_TOKEN")
        if self.batch_size < 1 or self.workers < 1:
            raise SettingsError("BATCH_SIZE and WORKERS must be at least 1")
        if self.predict_concurrency < 1:
            raise SettingsError("predict_concurrency must be at least 1")
        if self.decode not in DECODES:
            raise SettingsError(f"decode {self.decode!r} must be one of {', '.join(DECODES)}")
        if self.predict_body_min_bytes_per_s < 1 or self.predict_body_budget_bytes < 1:
            raise SettingsError("predict_body_min_bytes_per_s and predict_body_budget_bytes must be at least 1")
        if self.function_connection_limit < 1:
            raise SettingsError(f"function_connection_limit {self.function_connection_limit!r} must be at least 1")
        self._check_nats()

    def _check_nats(self) -> None:
        if self.event_transport not in names.TRANSPORT_ARNS:
            raise SettingsError(
                f"EVENT_TRANSPORT {self.event_transport!r} must be one of {', '.join(names.TRANSPORT_ARNS)}"
            )
        if not self.nats_servers:
            raise SettingsError(f"NATS_URL {self.nats_url!r} names no server")
        for url in self.nats_servers:
            parts = urlsplit(url)
            try:
                port = parts.port
            except ValueError:
                port = None
            if parts.scheme not in ("nats", "tls") or not parts.hostname or port is None or parts.path not in ("", "/"):
                raise SettingsError(f"NATS_URL entry {url!r} is not nats://host:port (several: comma-separated)")
        token = self.nats_token
        if token is not None and (not token or len(token.split()) != 1):
            raise SettingsError("NATS_TOKEN must be one word")
        if self.nats_max_deliver < 1 or self.nats_ack_wait_s < 1:
            raise SettingsError("nats_max_deliver and nats_ack_wait_s must be at least 1")

    @property
    def model_threads(self) -> int:
        """torch's threads for the forward pass: TORCH_THREADS, or one fewer than the cores (at least one). The
        workers decode the next photos while the model runs; a team of one thread per core then waits at every
        layer for a thread descheduled by a decode. Measured on 2 cores (bench, 2026-11-30): the model alone, one
        thread against two, the same images per second for 20 against 27 ms of CPU per image."""
        return self.torch_threads or max(1, usable_cores() - 1)

    @property
    def nats_servers(self) -> list[str]:
        return [url.strip() for url in self.nats_url.split(",") if url.strip()]

    @property
    def effective_nats_token(self) -> str:
        return self.nats_token or _derive(self.webhook_token, "nats")

    @property
    def effective_nudge_token(self) -> str:
        return self.nudge_token or _derive(self.webhook_token, "nudge")

    @property
    def jetstream(self) -> bool:
        return self.event_transport == names.JETSTREAM

    @property
    def transport_arn(self) -> str:
        """The ARN of the target the subscription on `incoming` names (webhook or NATS)."""
        return names.TRANSPORT_ARNS[self.event_transport]


@dataclass(frozen=True)
class FrontendSettings(SharedSettings):
    """What the web frontend reads (`gourmetgram serve-web` builds it from its environment)."""

    # Where the frontend (and MinIO's webhook) reaches the function.
    function_url: str = _env("FUNCTION_URL", default="http://127.0.0.1:8080")
    web_port: int = _env("WEB_PORT", default=5000)
    max_upload_bytes: int = _env("MAX_UPLOAD_BYTES", default=10 * 1000 * 1000)
    # Host names (or host:port) the frontend answers to, comma-separated, besides the loopback names;
    # `*` allows any. Unset: the bind address. Anything else is refused, so a DNS-rebinding page cannot use it.
    web_allowed_hosts: str | None = _env("WEB_ALLOWED_HOSTS", default=None)
    # The operator pages (/review, /quality, /quality/metrics): off while REVIEW_TOKEN is unset. The token is
    # taken as `Authorization: Bearer <token>` or as the HTTP basic-auth password of review_user.
    review_token: str | None = _env("REVIEW_TOKEN", default=None, repr=False)

    # Fixed values (tests set some of them).
    # The longest a status request waits for a photo's outcome.
    long_poll_max_s: float = 30.0
    web_threads: int = 48
    # Long-polls that may wait at once; past it a poll answers the current status at once, so waiting
    # clients can never take every thread of the frontend.
    long_poll_max_concurrent: int = 16
    # Open connections the frontend accepts (slow or idle clients each hold one).
    web_connection_limit: int = 1000
    review_user: str = "operator"
    # The review queue: every photo under this confidence, flagged or corrected, and this many of the rest
    # per day, among the photos of the last review_window_days days (gourmetgram/review_queue.py).
    review_confidence: float = 0.7
    review_sample_per_day: int = 5
    review_window_days: int = 7
    # Days of traffic that /quality and its gauges cover by default.
    quality_window_days: int = 14

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Self:
        settings = super().from_env(environ, **overrides)
        # An operator's MAX_UPLOAD_BYTES above the function's fixed limit per photo: the page would take photos
        # the function then quarantines. (Tests that shrink the function's limit build their settings directly.)
        if settings.max_upload_bytes > settings.max_object_bytes:
            raise SettingsError(
                f"MAX_UPLOAD_BYTES {settings.max_upload_bytes} must not exceed the function's limit per photo "
                f"({settings.max_object_bytes} bytes)"
            )
        return settings

    def _check(self) -> None:
        super()._check()
        if not urlsplit(self.function_url).hostname:
            raise SettingsError(f"FUNCTION_URL {self.function_url!r} is not an http(s) URL")
        if self.long_poll_max_concurrent < 1:
            raise SettingsError("long_poll_max_concurrent must be at least 1")
        if self.web_allowed_hosts is not None:
            _host_entries(self.web_allowed_hosts)  # a bad entry is refused now, not at every request
        if not 0 <= self.review_confidence <= 1:  # nan included
            raise SettingsError(f"review_confidence {self.review_confidence!r} must be from 0 to 1")
        if self.review_window_days < 1 or self.quality_window_days < 1:
            raise SettingsError("review_window_days and quality_window_days must be at least 1")
        token = self.review_token
        if token is not None and (len(token) < 16 or len(token.split()) != 1):
            raise SettingsError(
                "REVIEW_TOKEN must be one word of at least 16 characters (it guards the operator pages)"
            )
        if not self.review_user or ":" in self.review_user:
            raise SettingsError(
                f"review_user {self.review_user!r} must be a non-empty name without ':' (HTTP basic auth splits on it)"
            )

    @property
    def allowed_web_hosts(self) -> frozenset[str]:
        """What the frontend accepts as a Host header: `name` (any port), `name:port`, or `*` (anything);
        the loopback names always. Unset WEB_ALLOWED_HOSTS: the bind address, unless it is a wildcard."""
        if self.web_allowed_hosts is None:
            bind = self.host.strip().lower()
            named = set() if bind in _WILDCARD_BINDS else {f"[{bind}]" if ":" in bind else bind}
            return LOOPBACK_HOSTS | named
        return LOOPBACK_HOSTS | _host_entries(self.web_allowed_hosts)


@dataclass(frozen=True)
class Settings(FunctionSettings, FrontendSettings):
    """Every setting: what `up`, `configure` and the operator's commands read. `function()` and `frontend()`
    give each part only its own, with its own MinIO identity and tokens."""

    # Each component's own MinIO identity, created by `configure` (root credentials) and handed by `up`
    # and compose to that component alone as its MINIO_USER/MINIO_PASSWORD. Unset passwords are derived
    # from the root password (see `component_credentials`): `up` stores only the root ones (gourmetgram_tools/state.py).
    function_minio_password: str | None = _env("FUNCTION_MINIO_PASSWORD", default=None, repr=False)
    web_minio_password: str | None = _env("WEB_MINIO_PASSWORD", default=None, repr=False)
    # 0 keeps quarantined files forever; N > 0 lets MinIO expire them after N days (a lifecycle rule).
    quarantine_expiry_days: int = _env("QUARANTINE_EXPIRY_DAYS", default=0)
    # Copies of the stream `configure` creates: 1 on one server, 3 on a cluster (a NATS cluster of 3 or more).
    nats_replicas: int = _env("NATS_REPLICAS", default=1)
    # Where scripts/setup.sh installs the MinIO server, mc and nats-server built from source.
    tools_dir: Path = _env("GOURMETGRAM_BIN", default=Path.home() / ".cache" / "gourmetgram" / "bin")

    # Fixed values: the components' MinIO user names, and the ports `up` runs MinIO and NATS on (`up` takes
    # --minio-port and --console-port; the NATS ports are used in jetstream mode only).
    function_minio_user: str = "gourmetgram-function"
    web_minio_user: str = "gourmetgram-web"
    minio_port: int = 9000
    console_port: int = 9001
    nats_port: int = 4222
    nats_monitor_port: int = 8222

    def _check(self) -> None:
        super()._check()
        for name, value in (
            ("FUNCTION_MINIO_PASSWORD", self.function_minio_password),
            ("WEB_MINIO_PASSWORD", self.web_minio_password),
        ):
            if value is not None and len(value) < 8:
                raise SettingsError(f"{name} must be at least 8 characters (MinIO refuses shorter ones)")
        if not 1 <= self.nats_replicas <= 5:
            raise SettingsError(f"NATS_REPLICAS {self.nats_replicas!r} must be 1 to 5 (3 on a cluster, 1 alone)")

    @property
    def webhook_endpoint(self) -> str:
        return self.function_url.rstrip("/") + "/minio/events"

    def component_credentials(self, component: str) -> tuple[str, str]:
        """(user, password) of a component's own MinIO identity: "function" or "web"."""
        user, password = {
            "function": (self.function_minio_user, self.function_minio_password),
            "web": (self.web_minio_user, self.web_minio_password),
        }[component]
        return user, password or _derive(self.minio_password, f"minio:{component}")

    @property
    def local_review_token(self) -> str:
        """The review token `up` gives its frontend (and prints): REVIEW_TOKEN (which `up` generates for its folder
        when unset), or one derived from the root password, so the operator pages always have one."""
        return self.review_token or _derive(self.minio_password, "review")

    def function(self) -> FunctionSettings:
        """The function's settings: its own MinIO identity, the webhook, nudge and NATS tokens, nothing else."""
        user, password = self.component_credentials("function")
        return _part(
            FunctionSettings,
            self,
            minio_user=user,
            minio_password=password,
            nudge_token=self.effective_nudge_token,
            nats_token=self.effective_nats_token,
        )

    def frontend(self) -> FrontendSettings:
        """The frontend's settings: its own MinIO identity and the nudge token; never the webhook or NATS token."""
        user, password = self.component_credentials("web")
        return _part(
            FrontendSettings, self, minio_user=user, minio_password=password, nudge_token=self.effective_nudge_token
        )


_Part = TypeVar("_Part", bound=SharedSettings)


def _part(cls: type[_Part], whole: Settings, **changes: Any) -> _Part:
    values = {f.name: getattr(whole, f.name) for f in dataclasses.fields(cls)}
    return cls(**(values | changes))


def _host_entries(raw: str) -> frozenset[str]:
    entries = {e.strip().lower() for e in raw.split(",")} - {""}
    for entry in entries - {ANY_HOST}:
        if not _HOST_ENTRY.fullmatch(entry):
            raise SettingsError(
                f"WEB_ALLOWED_HOSTS entry {entry!r} is not a host name, an address or "
                "host:port (an IPv6 address in brackets), nor *"
            )
    return frozenset(entries)


def _derive(secret: str, purpose: str) -> str:
    """A secret for `purpose` that whoever holds it cannot turn back into `secret` (HMAC-SHA256)."""
    digest = hmac.new(secret.encode(), f"gourmetgram:{purpose}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:40]


def _cast(f: dataclasses.Field, raw: str) -> Any:
    kind = f.type if isinstance(f.type, str) else f.type.__name__
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind.startswith("Path"):
            return Path(raw).expanduser()
        return raw
    except ValueError:
        raise SettingsError(f"{_name(f)} {raw!r} is not a valid {kind}") from None

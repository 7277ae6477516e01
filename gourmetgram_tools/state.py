"""What `up` keeps in its data folder beside the parts' own state, for itself and for the operator's shell.

- `secrets.json`: the secrets `up` generated for this folder (MinIO's root password, the webhook token, the
  review token), once, when the environment gives none; reused at every start, since the folder's MinIO
  only accepts the root password it was started with. Nothing is shared between folders or machines.
- `cli.json`: what `gourmetgram <command>` needs to reach this set-up (URLs, buckets, the operator's MinIO
  identity, which is MinIO's root, as `mc` uses it), rewritten at every start.
- `env.sh`: `source <data>/env.sh` puts `bin/` (this set-up's `gourmetgram` and `mc`) first on the PATH,
  points `gourmetgram` at this folder from anywhere (GOURMETGRAM_DATA), and gives `mc` the alias `local`
  through MC_HOST_local, so `mc cp photo.jpg local/incoming/` works as typed and ~/.mc is not touched.
  MC_HOST_ holds the password inside a URL, and the pinned `mc` does not percent-decode it: a password with
  any other character than [A-Za-z0-9._~-] (never a generated one) cannot go there, so env.sh then leaves
  the alias out and `up` prints the `mc alias set` line to run once instead.

Every file that holds a secret is written with mode 0600, whole (a temporary file renamed over it). A state
file or folder is read only when it is the operator's own, and a secrets file only when no one else can
read it (gourmetgram_tools.ownership).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from gourmetgram.settings import Settings
from gourmetgram_tools.ownership import NotTrusted, check_owner, check_private
from gourmetgram_tools.tool_error import ToolError

SECRETS_FILE = "secrets.json"
CLI_FILE = "cli.json"
ENV_FILE = "env.sh"
# The upload page's URL in the operator's shell, so that README's `curl` lines work on any port.
WEB_VARIABLE = "GOURMETGRAM_WEB"
BIN_DIR = "bin"
DEFAULT_DATA = Path(".gourmetgram")
DATA_VARIABLE = "GOURMETGRAM_DATA"
MC_ALIAS = "local"
# The secrets whose public defaults (settings.py) `up` never uses: it generates these instead.
GENERATED = ("MINIO_PASSWORD", "WEBHOOK_TOKEN", "REVIEW_TOKEN")
# What `gourmetgram <command>` reads from cli.json: where things are, and the operator's credentials. The
# webhook and NATS tokens let `gourmetgram configure` set MinIO up as `up` did.
CLI_VARIABLES = (
    "MINIO_URL",
    "MINIO_USER",
    "MINIO_PASSWORD",
    "FUNCTION_URL",
    "EVENT_TRANSPORT",
    "NATS_URL",
    "REVIEW_TOKEN",
    "WEBHOOK_TOKEN",
    "NATS_TOKEN",
)
# What a URL's userinfo carries as it is (RFC 3986's unreserved characters): all `mc` reads from MC_HOST_.
_URL_SAFE = re.compile(r"[A-Za-z0-9._~-]+")


class StateError(ToolError):
    """A state file cannot be read or written; the message names it."""


def _public_defaults() -> dict[str, str]:
    defaults = Settings()
    return {"MINIO_PASSWORD": defaults.minio_password, "WEBHOOK_TOKEN": defaults.webhook_token}


PUBLIC_DEFAULTS = _public_defaults()


@dataclass(frozen=True)
class FolderSecrets:
    """The secrets of a data folder that the environment does not give."""

    path: Path
    values: dict[str, str]  # variable -> value, for every GENERATED one the environment lacks
    generated: tuple[str, ...]  # made now (a fresh folder)
    kept: tuple[str, ...]  # read from `path`
    public: tuple[str, ...] = ()  # given by the environment, and equal to a public default
    replaced: bool = False  # generated for a folder whose MinIO ran before (on the public defaults)

    def describe(self) -> list[str]:
        """What `up` says about them."""
        lines = []
        if self.generated:
            lines.append(
                f"generated {', '.join(self.generated)} for this folder: kept in {self.path} (mode 0600) "
                "and used at every start; set them in the environment to choose your own"
            )
        if self.replaced:
            lines.append(
                "this folder's MinIO ran before on the public default password: it now takes the new one "
                "(its users and buckets stay), and `configure` gives the parts their new credentials"
            )
        if self.kept:
            lines.append(f"{', '.join(self.kept)} from {self.path}")
        for name in self.public:
            lines.append(
                f"WARNING: {name} is the public default from the source code: anyone can log in with "
                f"it. Unset it (up generates one) or choose your own"
            )
        return lines


def folder_secrets(data: Path, environ: Mapping[str, str], uid: int | None = None) -> FolderSecrets:
    """This folder's secrets for what `environ` does not set: the stored ones, else new random ones (stored).
    A stored file must be `uid`'s (default: ours) and private, else StateError says how to go on."""
    path = data / SECRETS_FILE
    stored = read_private(path, uid)
    values, generated, kept = {}, [], []
    for name in GENERATED:
        if environ.get(name):
            continue
        if stored.get(name):
            values[name] = stored[name]
            kept.append(name)
        else:
            values[name] = secrets.token_urlsafe(30)  # 40 characters of [A-Za-z0-9_-]: one word, as each must be
            generated.append(name)
    if generated:
        write_private(path, json.dumps({**stored, **{n: values[n] for n in generated}}, indent=1) + "\n")
    public = tuple(n for n, default in PUBLIC_DEFAULTS.items() if environ.get(n) == default)
    replaced = "MINIO_PASSWORD" in generated and any((data / part).exists() for part in ("minio", "cluster"))
    return FolderSecrets(path, values, tuple(generated), tuple(kept), public, replaced)


def read_private(path: Path, uid: int | None = None) -> dict[str, str]:
    """A JSON object of strings written by `write_private`; {} when there is none. StateError when it is not
    `uid`'s (default: ours) or others can read or write it (checked on the file opened, not on its name)."""
    try:
        with open(path, "rb") as f:
            check_private(path, os.fstat(f.fileno()), os.geteuid() if uid is None else uid)
            text = f.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return {}
    except NotTrusted as exc:
        raise StateError(str(exc)) from None
    except OSError as exc:
        raise StateError(f"cannot read {path}: {exc.strerror}") from None
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in doc.items()):
        raise StateError(
            f"{path} is not what `gourmetgram up` writes (a JSON object of strings): move it away and start `up` again"
        )
    return doc


def write_private(path: Path, text: str, mode: int = 0o600) -> None:
    """Write `text` whole, readable by its owner only (never, even for a moment, by anyone else)."""
    # A new name, never a file or link someone put there beforehand (O_EXCL refuses any, O_NOFOLLOW a link).
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    created = False
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
        created = True
        with os.fdopen(fd, "w") as f:
            os.fchmod(f.fileno(), mode)  # the umask may have taken rights that `mode` gives (bin/gourmetgram's x)
            f.write(text)
        os.replace(temporary, path)
    except OSError as exc:
        if created:
            with contextlib.suppress(OSError):
                temporary.unlink()
        raise StateError(f"cannot write {path}: {exc.strerror}") from None


def cli_values(settings: Settings) -> dict[str, str]:
    env = {**settings.to_env(), "REVIEW_TOKEN": settings.local_review_token}
    return {name: env[name] for name in CLI_VARIABLES if name in env}


def mc_host(settings: Settings) -> str | None:
    """MC_HOST_<alias>: MinIO's URL with the operator's credentials in it; None when they cannot go in a URL
    as they are (the pinned `mc` does not percent-decode them: it would sign with the encoded password)."""
    if not (_URL_SAFE.fullmatch(settings.minio_user) and _URL_SAFE.fullmatch(settings.minio_password)):
        return None
    url = urlsplit(settings.minio_url)
    userinfo = f"{settings.minio_user}:{settings.minio_password}"
    return urlunsplit((url.scheme, f"{userinfo}@{url.netloc}", url.path, "", ""))


def mc_alias_command(settings: Settings) -> str:
    """The `mc alias set` line that gives `mc` this MinIO as `local` (in ~/.mc), quoted for a shell."""
    return shlex.join(
        ["mc", "alias", "set", MC_ALIAS, settings.minio_url, settings.minio_user, settings.minio_password]
    )


def web_url(settings: Settings) -> str:
    """Where the operator's browser and scripts reach the frontend (up binds it on loopback by default)."""
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    return f"http://[{host}]:{settings.web_port}" if ":" in host else f"http://{host}:{settings.web_port}"


def env_script(data: Path, settings: Settings) -> str:
    data, bin_dir = data.resolve(), (data / BIN_DIR).resolve()
    q = shlex.quote
    host = mc_host(settings)
    # The comments name no path: a folder's name may hold a newline, which would end the comment and run the
    # rest of the name as a command (shlex.quote keeps a newline as it is, which only code lines may hold).
    alias = (
        f"export MC_HOST_{MC_ALIAS}={q(host)}\n"
        if host is not None
        else f"# No MC_HOST_{MC_ALIAS}: the MinIO password has characters `mc` cannot read from a URL. Run\n"
        f"# `mc alias set` as `gourmetgram up` printed it, once.\n"
    )
    return f"""\
# Written by `gourmetgram up` at every start (mode 0600: it holds the operator's MinIO password).
# Sourcing it puts this set-up's `gourmetgram` and `mc` first on the PATH (another `mc`, such as Midnight
# Commander, comes after), points `gourmetgram` at this folder from any other (${DATA_VARIABLE}), gives `mc`
# the alias `{MC_ALIAS}` for this MinIO (MC_HOST_{MC_ALIAS}; ~/.mc is not changed) and names the upload page
# in ${WEB_VARIABLE}.
export {DATA_VARIABLE}={q(str(data))}
case ":$PATH:" in
  *:{q(str(bin_dir))}:*) ;;
  *) export PATH={q(str(bin_dir))}:"$PATH" ;;
esac
{alias}export {WEB_VARIABLE}={q(web_url(settings))}
"""


def write_cli_state(data: Path, settings: Settings) -> Path:
    """cli.json, env.sh and bin/ (a `gourmetgram` that runs this Python, `mc` from the tools); returns env.sh."""
    write_private(data / CLI_FILE, json.dumps(cli_values(settings), indent=1) + "\n")
    bin_dir = data / BIN_DIR
    # This interpreter (the venv `up` runs in): no console script of another install can come first.
    write_private(
        bin_dir / "gourmetgram", f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m gourmetgram "$@"\n', mode=0o700
    )
    mc = bin_dir / "mc"
    try:
        mc.unlink(missing_ok=True)
        mc.symlink_to(settings.tools_dir / "mc")
    except OSError as exc:
        raise StateError(f"cannot link {mc} to {settings.tools_dir / 'mc'}: {exc.strerror}") from None
    path = data / ENV_FILE
    write_private(path, env_script(data, settings))
    return path


@dataclass(frozen=True)
class OperatorState:
    """The environment an operator's command runs with: its own variables over the state `up` left."""

    environ: dict[str, str]
    own: Mapping[str, str]
    state_file: Path | None

    def origin(self, variable: str) -> str:
        """Where a setting came from, for messages that must let the operator fix it."""
        if self.own.get(variable):
            return f"the environment ({variable})"
        if self.state_file is not None and variable in self.environ:
            return f"{self.state_file}, written by `gourmetgram up`"
        return f"the default ({variable} unset, and no state of `gourmetgram up` in ./{DEFAULT_DATA})"


def operator_state(data: Path | None, environ: Mapping[str, str], uid: int | None = None) -> OperatorState:
    """The environment for `gourmetgram <command>`: `environ` over `data`'s cli.json. `data` None: ./.gourmetgram
    when it holds one; named explicitly, it must hold one. The folder and the file must be `uid`'s (default:
    ours) and the file private: StateError otherwise, never another user's URLs and credentials."""
    explicit = data is not None
    data = data if data is not None else DEFAULT_DATA
    path = data / CLI_FILE
    if not path.exists():
        if explicit:
            raise StateError(
                f"{data} holds no state of `gourmetgram up` (no {path}): give the folder `up` ran with "
                f"(--data), or start `gourmetgram up --data {data}` once"
            )
        return OperatorState(dict(environ), environ, None)
    uid = os.geteuid() if uid is None else uid
    try:
        check_owner(data, data.stat(), uid)
    except NotTrusted as exc:
        raise StateError(str(exc)) from None
    except OSError as exc:
        raise StateError(f"cannot read {data}: {exc.strerror}") from None
    stored = read_private(path, uid)
    return OperatorState({**stored, **{k: v for k, v in environ.items() if v != ""}}, environ, path)

"""`gourmetgram up`: start every part, say where to go, keep the parts running, and stop them all at the end.

Whatever ends `up` (Ctrl-C, SIGTERM, a closed terminal, a crash loop, an error of its own), no part is
left running: the normal paths drain them here, and `kill -9` of `up` is covered by the kernel
(`gourmetgram_tools.spawn`).
"""

from __future__ import annotations

import os
import shlex
import signal
from collections.abc import Callable, Mapping
from pathlib import Path

from gourmetgram.settings import Settings
from gourmetgram_tools import state
from gourmetgram_tools.local import LocalStack, StartupError
from gourmetgram_tools.supervise import CrashLoop, Supervisor


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def banner(stack: LocalStack, secrets: state.FolderSecrets | None = None, env_script: Path | None = None) -> str:
    s, data = stack.settings, stack.data_dir.resolve()
    demo = (
        ""
        if s.model_path
        else (
            "WARNING: no MODEL_PATH: the function serves the bundled DEMO model (untrained backbone, head fit on 27\n"
            "photos): its labels are not trustworthy. Serve the real one with MODEL_PATH=/path/to/food11.pth.\n\n"
        )
    )
    nodes = "".join(line + "\n" for line in stack.node_lines())
    extra = f"{nodes}{_secret_lines(secrets)}{_shell_lines(stack, env_script)}"
    return f"""
{demo}GourmetGram is running (state in {data}, logs in {data / "logs"}; events by {s.event_transport}):
  upload page      {stack.web_url}
  event log        {stack.web_url}/review/events   (operators, as review)
  review queue     {stack.web_url}/review   (user {s.review_user}, password {s.local_review_token})
  model quality    {stack.web_url}/quality
  MinIO console    {stack.console_url}   (user {s.minio_user}, password {s.minio_password})
  MinIO API        {s.minio_url}   ({state.mc_alias_command(s)})
  function         {stack.function_base}   (/readyz, /metrics)
{extra}A part that exits or stops answering is restarted (back-off 1 s doubling to 30 s); 5 crashes of one part
in 2 minutes stop all.
Drop a photo: mc cp photo.jpg local/{s.bucket_incoming}/     Ctrl-C stops (a second Ctrl-C kills).
"""


def tightened_line(stack: LocalStack) -> str:
    return (
        f"{stack.data_dir.resolve()} was mode {stack.tightened_from:04o}, open to other users: now "
        f"{stack.data_dir.stat().st_mode & 0o7777:04o} (MinIO's store under it holds the parts' secret keys, "
        "every photo and record)"
    )


def _secret_lines(secrets: state.FolderSecrets | None) -> str:
    return "".join(f"Secrets: {line}\n" for line in secrets.describe()) if secrets else ""


def _shell_lines(stack: LocalStack, env_script: Path | None) -> str:
    if env_script is None:
        return ""
    bin_dir = (stack.data_dir / state.BIN_DIR).resolve()
    known = (
        f"`mc` knows this MinIO as `{state.MC_ALIAS}`)\n"
        if state.mc_host(stack.settings) is not None
        else f"`mc` cannot take this MinIO password from env.sh (a character outside A-Za-z0-9._~-):\n"
        f"  run once `{state.mc_alias_command(stack.settings)}`)\n"
    )
    return (
        f"In another terminal:  source {shlex.quote(str(env_script.resolve()))}\n"
        f"  then `mc cp photo.jpg {state.MC_ALIAS}/{stack.settings.bucket_incoming}/` and `gourmetgram events` "
        f"work as typed\n  ({bin_dir}/gourmetgram and {bin_dir}/mc first on the PATH; {known}"
    )


_FIELDS = {env: name for name, env in Settings.env_names().items()}


def adopt_secrets(stack: LocalStack, environ: Mapping[str, str]) -> state.FolderSecrets:
    """Give the stack its folder's secrets for what `environ` does not set (generated once, then reused)."""
    try:
        secrets = state.folder_secrets(stack.data_dir, environ)
    except state.StateError as exc:
        raise StartupError(str(exc)) from None
    stack.settings = stack.settings.replace(**{_FIELDS[n]: v for n, v in secrets.values.items()})
    return secrets


def _drain(stack: LocalStack, echo: Callable[[str], None], why: str = "stopping") -> None:
    echo(f"{why}: draining the function (Ctrl-C again to kill)…")
    try:
        stack.stop_all()
    except KeyboardInterrupt:
        stack.stop_all(kill=True)


def run(stack: LocalStack, echo: Callable[[str], None], environ: Mapping[str, str] | None = None) -> None:
    """Start, supervise until Ctrl-C or SIGTERM, then drain. Raises StartupError (a part did not come up,
    the folder or a port is taken) or CrashLoop (a part crashed too often), everything stopped either way."""
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        if not stack.claimed:  # first: only the one `up` that holds the folder may generate its secrets
            stack.claim()
        if stack.tightened_from is not None:
            echo(tightened_line(stack))
        secrets = adopt_secrets(stack, os.environ if environ is None else environ)
        stack.start()
        try:
            env_script = state.write_cli_state(stack.data_dir, stack.settings)
        except state.StateError as exc:
            raise StartupError(str(exc)) from None
        echo(banner(stack, secrets, env_script))
        Supervisor(stack.parts(), echo, **stack.supervision()).run()
    except KeyboardInterrupt:
        _drain(stack, echo)
    except StartupError:
        stack.stop_all()
        raise
    except CrashLoop:
        _drain(stack, echo, "stopping everything")
        raise
    finally:
        stack.stop_all(kill=True)  # nothing left after a drain; after anything else, nothing may stay
        for sig, handler in previous.items():
            signal.signal(sig, handler)

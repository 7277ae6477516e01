"""How `up` starts a child process: with only the settings and secrets it needs, its output in a log
file, in its own session, and never outliving its parent.

On Linux each child asks the kernel (`prctl(PR_SET_PDEATHSIG)`) to SIGKILL it when its parent goes,
however the parent ends (`kill -9` included). The kernel sends it when the *thread* that forked the
child ends, so spawn from a thread that lives as long as the children should (the main thread, as
`up`, the tests and the bench do). The child's own session keeps a Ctrl-C on the terminal from
reaching it: the parent receives it and drains its children in order.
"""

from __future__ import annotations

import ctypes
import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gourmetgram.settings import Settings

_PR_SET_PDEATHSIG = 1

# Settings fields declared with repr=False are the secrets: no child gets one it does not need.
SECRETS = frozenset(f.metadata["env"] for f in dataclasses.fields(Settings) if not f.repr and "env" in f.metadata)


def component_env(settings: Settings, component: str) -> dict[str, str]:
    """The settings a component's process runs with ("function" or "web"): its part's own only (see
    Settings.function and Settings.frontend), with its MinIO credentials and only the tokens it needs (the
    function checks WEBHOOK_TOKEN and NUDGE_TOKEN and consumes the stream with NATS_TOKEN; the frontend sends
    NUDGE_TOKEN, checks REVIEW_TOKEN and holds neither WEBHOOK_TOKEN nor NATS_TOKEN)."""
    if component == "function":
        return settings.function().to_env()
    # The operator pages (/review, /quality) are the frontend's, and only its own.
    return settings.frontend().replace(review_token=settings.local_review_token).to_env()


def component_args(settings: Settings, component: str) -> list[str]:
    """The command-line arguments that give a component's process the fixed values a test changed (e.g. a
    short claim); none in a real stack."""
    part = settings.function() if component == "function" else settings.frontend()
    return [arg for name, value in part.fixed_changes().items() for arg in ("--fixed", f"{name}={value}")]


# glibc's allocator for the function, which decodes big photos on many threads: few arenas (each thread's
# own arena otherwise fragments into gigabytes), and blocks over 32 MiB (a decoded photo of 11 Mpx and up)
# mapped and returned on free, not kept in an arena where one thread's peak would sit beside the next one's.
# Not lower: the model's activations (4.6 MiB per image: 28 MiB for the 6 workers' photos at once) would then
# be mapped, faulted in and zeroed on every forward pass, which doubled its time per image (measured 21.9
# against 8.1 ms at batch 8). 32 MiB is glibc's highest threshold: a batch of 7 or more (predictions joining
# the workers' photos) still maps its largest activations. The trim threshold keeps glibc from handing the
# heap's top back after every pass. Cost, measured: peak RSS 717 MiB in the bench's burst (647 with 4 MiB),
# 934 MiB under 8 concurrent 40-Mpx predictions (772 with 4 MiB); both under the 1 GiB the function is given.
FUNCTION_MALLOC_ENV = {
    "MALLOC_ARENA_MAX": "2",
    "MALLOC_MMAP_THRESHOLD_": str(32 << 20),
    "MALLOC_TRIM_THRESHOLD_": str(64 << 20),
}


# Credentials an operator's shell may hold that no child is given by inheritance: `env.sh` exports mc's alias with
# MinIO's root keys (MC_HOST_local), and a shell may hold root's or an S3 client's keys. MinIO gets root's from `up`.
CREDENTIAL_PREFIXES = ("MC_HOST_", "MINIO_ROOT_", "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY", "AWS_")


def inherited_env() -> dict[str, str]:
    """Our environment without any GourmetGram setting or credential: each child is given its own explicitly."""
    ours = set(Settings.env_names().values())
    return {
        name: value
        for name, value in os.environ.items()
        if name not in ours and not name.startswith(CREDENTIAL_PREFIXES)
    }


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec function after which the kernel SIGKILLs the child when its parent (thread) ends."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: the child only calls it
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before prctl: no signal would ever come
            os._exit(1)

    return preexec


_STARTED = "==== {name} started at {time} ====\n"


def tail(path: Path, lines: int = 30) -> str:
    """The last `lines` lines of a child's log, from its latest start only (a restart appends to the log)."""
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    starts = [i for i, line in enumerate(text) if line.startswith("==== ") and " started at " in line]
    return "\n".join(text[starts[-1] + 1 if starts else 0 :][-lines:])


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    log_path: Path

    def tail(self, lines: int = 30) -> str:
        return tail(self.log_path, lines)


def spawn(name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> Child:
    """Start `argv` with `env` (added to ours, without our settings), appending to `<log_dir>/<name>.log`."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with open(log_path, "ab") as out:  # the child keeps its own copy of the descriptor
        out.write(_STARTED.format(name=name, time=time.strftime("%Y-%m-%d %H:%M:%S")).encode())
        out.flush()
        process = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**inherited_env(), **env},
            start_new_session=True,
            preexec_fn=_die_with_parent(),
        )
    return Child(name, process, log_path)

"""`gourmetgram up`: start every part, say where to go, keep the parts running, and stop them all at the end.

Whatever ends `up` (Ctrl-C, SIGTERM, a closed terminal, a crash loop, an error of its own), no part is
left running: the normal paths drain them here, and `kill -9` of `up` is covered by the kernel
(`gourmetgram.cli.spawn`).
"""

from __future__ import annotations

import signal
from collections.abc import Callable

from gourmetgram.cli.local import LocalStack, StartupError
from gourmetgram.cli.supervise import CrashLoop, Supervisor


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def banner(stack: LocalStack) -> str:
    s, data = stack.settings, stack.data_dir.resolve()
    demo = "" if s.model_path else (
        "WARNING: no MODEL_PATH: the function serves the bundled DEMO model (untrained backbone, head fit on 27\n"
        "photos): its labels are not trustworthy. Serve the real one with MODEL_PATH=/path/to/food11.pth.\n\n")
    nodes = "".join(line + "\n" for line in stack.node_lines())
    return f"""
{demo}GourmetGram is running (state in {data}, logs in {data / 'logs'}; events by {s.event_transport}):
  upload page      {stack.web_url}
  event log        {stack.web_url}/events
  review queue     {stack.web_url}/review   (user {s.review_user}, password {s.local_review_token})
  model quality    {stack.web_url}/quality
  MinIO console    {stack.console_url}   (user {s.minio_user}, password {s.minio_password})
  MinIO API        {s.minio_url}   (mc alias set local {s.minio_url} {s.minio_user} {s.minio_password})
  function         {stack.function_base}   (/readyz, /metrics)
{nodes}A part that exits or stops answering is restarted (back-off 1 s doubling to 30 s); 5 crashes of one part
in 2 minutes stop all.
Drop a photo: mc cp photo.jpg local/{s.bucket_incoming}/     Ctrl-C stops (a second Ctrl-C kills).
"""


def _drain(stack: LocalStack, echo: Callable[[str], None], why: str = "stopping") -> None:
    echo(f"{why}: draining the function (Ctrl-C again to kill)…")
    try:
        stack.stop_all()
    except KeyboardInterrupt:
        stack.stop_all(kill=True)


def run(stack: LocalStack, echo: Callable[[str], None]) -> None:
    """Start, supervise until Ctrl-C or SIGTERM, then drain. Raises StartupError (a part did not come up,
    the folder or a port is taken) or CrashLoop (a part crashed too often), everything stopped either way."""
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        stack.start()
        echo(banner(stack))
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

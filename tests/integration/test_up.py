"""README's first command: `gourmetgram up` runs everything, prints where to go, stops cleanly, resumes."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
import urllib.request

import pytest

from gourmetgram.settings import Settings
from gourmetgram_tools import state
from gourmetgram_tools.client import post_photo
from gourmetgram_tools.local import free_ports
from tests.conftest import ROOT, photo

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def clean_env() -> dict[str, str]:
    """This process's environment without any GourmetGram setting (a developer's MINIO_PASSWORD, a sourced env.sh)."""
    ours = {*Settings.env_names().values(), state.DATA_VARIABLE}
    return {k: v for k, v in os.environ.items() if k not in ours and not k.startswith(("MINIO_", "WEB_", "MC_HOST_"))}


def run_up(data, ports: dict[str, int], cwd=ROOT) -> tuple[subprocess.Popen, list[str]]:
    """`gourmetgram up` in `cwd` (with --data unless `data` is None) until it says it runs."""
    argv = [sys.executable, "-m", "gourmetgram", "up", *(["--data", str(data)] if data is not None else [])]
    for flag, port in ports.items():
        argv += [f"--{flag}", str(port)]
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=cwd, env=clean_env()
    )
    lines: list[str] = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("Drop a photo"):
            return process, lines
    process.kill()
    raise AssertionError("`up` did not come up:\n" + "".join(lines))


def stop(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=90)
    return out


def test_up_prints_the_urls_serves_and_stops_cleanly_then_resumes_with_the_folders_own_secrets(tmp_path):
    ports = dict(zip(("minio-port", "console-port", "function-port", "web-port"), free_ports(4), strict=True))
    process, lines = run_up(tmp_path / "state", ports)
    try:
        text = "".join(lines)
        assert f"http://127.0.0.1:{ports['web-port']}" in text and f"http://127.0.0.1:{ports['console-port']}" in text
        assert "mc alias set local" in text
        assert "WARNING: no MODEL_PATH: the function serves the bundled DEMO model" in text  # not only in its log
        with urllib.request.urlopen(f"http://127.0.0.1:{ports['function-port']}/readyz", timeout=10) as r:
            ready = json.load(r)
        assert ready["demo_model"] and ready["subscription"] == "ok"
        with urllib.request.urlopen(f"http://127.0.0.1:{ports['web-port']}/api/status", timeout=10) as r:
            assert json.load(r)["demo_model"] is True  # the page shows its banner from this
    finally:
        out = stop(process)
    assert process.returncode == 0, out
    assert "stopping" in out
    assert (tmp_path / "state" / "minio").is_dir() and (tmp_path / "state" / "logs" / "function.log").exists()
    secrets_file = tmp_path / "state" / state.SECRETS_FILE
    made = json.loads(secrets_file.read_text())
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    assert "Secrets: generated MINIO_PASSWORD, WEBHOOK_TOKEN, REVIEW_TOKEN for this folder" in text
    assert f"password {made['MINIO_PASSWORD']}" in text and f"password {made['REVIEW_TOKEN']}" in text
    assert Settings().minio_password not in text

    # Started again on the same folder: the same secrets (its MinIO accepts them), nothing to configure, and the
    # data is still there.
    process, lines = run_up(tmp_path / "state", ports)
    try:
        text = "".join(lines)
        assert "MinIO already configured: nothing to do" in text
        assert json.loads(secrets_file.read_text()) == made
        assert f"Secrets: MINIO_PASSWORD, WEBHOOK_TOKEN, REVIEW_TOKEN from {secrets_file}" in text
        assert f"password {made['MINIO_PASSWORD']}" in text
        poll = post_photo(f"http://127.0.0.1:{ports['web-port']}", photo())["poll"]
        with urllib.request.urlopen(f"http://127.0.0.1:{ports['web-port']}{poll}?wait=30", timeout=40) as r:
            assert json.load(r)["status"] == "done"
    finally:
        stop(process)
    assert process.returncode == 0

    # Another fresh folder: secrets of its own, nothing shared.
    process, _ = run_up(tmp_path / "other", ports)
    stop(process)
    other = json.loads((tmp_path / "other" / state.SECRETS_FILE).read_text())
    assert set(other) == set(made) == set(state.GENERATED)
    assert all(other[name] != made[name] for name in state.GENERATED)

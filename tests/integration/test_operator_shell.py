"""The operator's commands as typed in a shell: after `up` on ports other than the defaults, `source` the line
it prints, drop a photo with `mc`, and see it labelled with `gourmetgram events`.

The command lines are read from README's "Using it" section, so that README shows only what works."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from gourmetgram_tools.events_table import COLUMNS
from gourmetgram_tools.local import free_ports
from tests.conftest import PHOTOS, ROOT
from tests.integration.test_up import clean_env, run_up, stop

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def using_it(readme: str) -> list[str]:
    """The command lines of README's "Using it" section (its ```bash blocks) minus the start of `up` itself,
    which this test runs on free ports of its own."""
    section = readme.split("\n## Using it\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```bash\n(.*?)^```", section, flags=re.M | re.S)
    return [line for block in blocks for line in block.splitlines() if not line.startswith("./scripts/up.sh")]


# What a user types in the folder `up` ran in (its data folder is ./.gourmetgram), a photo of theirs beside it.
USING_IT = using_it((ROOT / "README.md").read_text())
SEE_EVENTS = ["source .gourmetgram/env.sh", "gourmetgram events"]


def user_shell_env(home: Path) -> dict[str, str]:
    """A user's environment: no GourmetGram variable, a home of its own (~/.mc stays untouched), and another
    `mc` first on the PATH (Debian's Midnight Commander is `mc` too)."""
    midnight = home / "bin"
    midnight.mkdir(parents=True)
    (midnight / "mc").write_text("#!/bin/sh\necho 'this is Midnight Commander' >&2\nexit 64\n")
    (midnight / "mc").chmod(0o755)
    env = clean_env()
    env.update(HOME=str(home), PATH=f"{midnight}:/usr/local/bin:/usr/bin:/bin")
    return env


def run_typed(lines: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run the command lines in one bash as a user types them (what `source` sets carries to the next line),
    stopping at the first that fails."""
    script = "set -e\n" + "\n".join(line for line in lines if line.strip() and not line.lstrip().startswith("#"))
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def table_rows(header: str, lines: list[str]) -> list[dict[str, str]]:
    """The events table's rows, each cell cut at its header's column position: a cell may hold a space
    (the classes "Dairy product", "Fried food"), so splitting on spaces would shift the columns after it."""
    starts, at = [], 0
    for name, _ in COLUMNS:
        at = header.index(name, at)
        starts.append(at)
        at += len(name)
    bounds = list(zip(starts, [*starts[1:], None], strict=True))
    return [
        {name: line[start:end].strip() for (name, _), (start, end) in zip(COLUMNS, bounds, strict=True)}
        for line in lines
        if line.strip()
    ]


def test_table_rows_keeps_a_class_with_a_space_in_its_column():
    from gourmetgram_tools.events_table import header, row

    line = row(
        {
            "time": "2026-12-07T02:00:00",
            "original_filename": "photo.jpg",
            "status": "done",
            "predicted_class": "Dairy product",
            "confidence": 0.5,
            "source": "web",
        }
    )
    [cells] = table_rows(header(), [line])
    assert (cells["file name"], cells["class"], cells["source"], cells["review"]) == (
        "photo.jpg",
        "Dairy product",
        "web",
        "-",
    )


def test_the_operators_commands_work_as_typed_on_other_ports(tmp_path):
    ports = dict(zip(("minio-port", "console-port", "function-port", "web-port"), free_ports(4), strict=True))
    assert ports["minio-port"] != 9000
    shutil.copy(PHOTOS / "9_452.jpg", tmp_path / "photo.jpg")
    env = user_shell_env(tmp_path / "home")
    process, lines = run_up(None, ports, cwd=tmp_path)  # no --data: ./.gourmetgram, as README says
    try:
        text = "".join(lines)
        assert f"source {(tmp_path / '.gourmetgram' / 'env.sh').resolve()}" in text
        assert {"source .gourmetgram/env.sh", "mc cp photo.jpg local/incoming/"} <= set(USING_IT)
        typed = run_typed(USING_IT, tmp_path, env)
        assert typed.returncode == 0, typed.stdout + typed.stderr
        assert "Midnight Commander" not in typed.stderr
        deadline = time.monotonic() + 90
        while True:
            output = typed.stdout.splitlines()
            header, *lines = output[next(i for i, line in enumerate(output) if line.startswith("time ")) :]
            rows = table_rows(header, lines)
            labelled = [r for r in rows if (r["file name"], r["status"]) == ("photo.jpg", "done")]
            sources = {r["source"] for r in labelled}
            if sources >= {"web", "bucket"} or time.monotonic() > deadline:
                break
            time.sleep(1)
            typed = run_typed(SEE_EVENTS, tmp_path, env)
            assert typed.returncode == 0, typed.stdout + typed.stderr
        assert header.split()[:4] == ["time", "file", "name", "status"], typed.stdout
        assert labelled, typed.stdout
        assert sources == {"web", "bucket"}, typed.stdout  # README's curl upload and its mc drop
        assert all(r["class"] not in ("", "-") for r in labelled)  # each with a class
        mc_config = tmp_path / "home" / ".mc" / "config.json"  # mc writes its defaults there on first use
        assert not mc_config.exists() or f":{ports['minio-port']}" not in mc_config.read_text()  # no alias of ours
    finally:
        out = stop(process)
    assert process.returncode == 0, out
    # Once `up` stopped, the message names the URL it tried and where it came from.
    down = run_typed(SEE_EVENTS, tmp_path, env)
    assert down.returncode == 1
    assert f"MinIO tried at http://127.0.0.1:{ports['minio-port']}, from " in down.stderr
    assert os.path.join(".gourmetgram", "cli.json") in down.stderr


def test_a_password_mc_cannot_take_from_env_sh_works_through_the_alias_command_up_prints(tmp_path):
    """The pinned mc signs with MC_HOST_'s password as written, percent-encoding and all, so env.sh leaves
    MC_HOST_local out for such a password: the `mc alias set` line `up` prints instead is what works."""
    from gourmetgram_tools import state
    from gourmetgram_tools.local import LocalStack
    from tests.stack import stack_settings

    password = "p@ss:w/rd%41-1234"
    stack = LocalStack(stack_settings(minio_password=password), tmp_path / "data")
    env = {**clean_env(), "MC_CONFIG_DIR": str(tmp_path / "mc"), "PATH": f"{stack.settings.tools_dir}:/usr/bin:/bin"}
    try:
        stack.claim()
        stack.start_minio()
        encoded = stack.settings.minio_url.replace("://", f"://gourmetgram:{quote(password, safe='')}@")
        as_url = run_typed(["mc mb local/through-a-url"], tmp_path, {**env, "MC_HOST_local": encoded})
        assert as_url.returncode != 0 and "signature" in as_url.stderr  # why env.sh cannot carry it
        env_sh = tmp_path / "env.sh"
        env_sh.write_text(state.env_script(stack.data_dir, stack.settings))
        typed = run_typed(
            [f"source {env_sh}", state.mc_alias_command(stack.settings), "mc mb local/through-alias", "mc ls local/"],
            tmp_path,
            env,
        )
        assert typed.returncode == 0, typed.stdout + typed.stderr
        assert "through-alias/" in typed.stdout
    finally:
        stack.stop_all()

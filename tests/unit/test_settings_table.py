"""docs/contract.md#settings lists every environment variable the code reads, with the parts that read it."""

from __future__ import annotations

import re

import pytest

from gourmetgram.settings import FrontendSettings, FunctionSettings, Settings
from tests.conftest import ROOT

PRODUCT = ("classifier_fn", "ingest", "gourmetgram", "gourmetgram_tools", "minio_config")
# A variable named in the code where it is read: os.environ["X"], os.environ.get("X"), os.getenv("X"), and
# click's envvar="X".
NAMED_READ = re.compile(r"""(?:os\.environ(?:\.get\(|\[)|os\.getenv\(|envvar=)\s*["']([A-Z][A-Z0-9_]*)["']""")
ANY_READ = re.compile(r"os\.environ|os\.getenv|getenv\(")
# Where the whole environment is handed on rather than one variable read: each place reads only the settings'
# own names from it (from_env, the operator's state over it) or gives the rest to a child untouched.
HANDED_ON = {
    "gourmetgram/settings.py": "from_env reads the settings' own names",
    "gourmetgram_tools/commands.py": "the operator's environment over the state file, then Settings.from_env",
    "gourmetgram_tools/up.py": "the folder's secrets: MINIO_PASSWORD, WEBHOOK_TOKEN, REVIEW_TOKEN when unset",
    "gourmetgram_tools/spawn.py": "a child's environment without any of our settings",
}


def documented(text: str) -> dict[str, str]:
    """Variable -> its "read by" cell, from the table of the `## Settings` section."""
    section = re.search(r"^## Settings\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert section, "docs/contract.md has no '## Settings' section"
    rows = {}
    for line in section.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 4 or not cells[0].startswith("`"):
            continue  # prose, the header or its rule
        names = re.findall(r"`([A-Z][A-Z0-9_]*)`", cells[0])
        assert len(names) == 1, f"one variable a row: {line}"
        assert names[0] not in rows, f"{names[0]} is in the table twice"
        rows[names[0]] = cells[1]
    return rows


def read_by_the_code() -> set[str]:
    found = set(Settings.env_names().values())
    for package in PRODUCT:
        for path in (ROOT / package).rglob("*.py"):
            found |= set(NAMED_READ.findall(path.read_text()))
    return found


def test_every_variable_the_code_reads_is_in_the_table_and_nothing_else():
    table = documented((ROOT / "docs" / "contract.md").read_text())
    code = read_by_the_code()
    assert not code - table.keys(), f"read by the code, missing from docs/contract.md#settings: {code - table.keys()}"
    assert not table.keys() - code, f"in docs/contract.md#settings, read by nothing: {table.keys() - code}"


def test_the_table_names_the_parts_that_read_each_variable():
    table = documented((ROOT / "docs" / "contract.md").read_text())
    for name, parts in table.items():
        assert ("function" in parts) == (name in FunctionSettings.env_names().values()), name
        assert ("frontend" in parts) == (name in FrontendSettings.env_names().values()), name
        assert "tools" in parts, name  # the tools read them all, and hand each part its own


def test_every_part_s_variables_are_the_tools_too_and_fewer_than_thirty_in_all():
    every = set(Settings.env_names().values())
    assert set(FunctionSettings.env_names().values()) <= every
    assert set(FrontendSettings.env_names().values()) <= every
    assert len(read_by_the_code()) < 30


def test_the_environment_is_read_nowhere_else():
    readers = set()
    for package in PRODUCT:
        for path in (ROOT / package).rglob("*.py"):
            text = NAMED_READ.sub("", path.read_text())  # a named read is in the table already
            if ANY_READ.search(text):
                readers.add(str(path.relative_to(ROOT)))
    assert readers <= HANDED_ON.keys(), (
        f"read the environment: add what they read to the table {readers - HANDED_ON.keys()}"
    )


@pytest.mark.parametrize(
    ("row", "message"),
    [
        pytest.param("| `A`, `B` | tools | 1 | two |", "one variable a row", id="two-in-a-row"),
        pytest.param("| `A` | tools | 1 | a |\n| `A` | tools | 1 | again |", "twice", id="twice"),
    ],
)
def test_the_table_reader_refuses_what_it_cannot_check(row, message):
    text = f"## Settings\n\n| variable | read by | default | meaning |\n| --- | --- | --- | --- |\n{row}\n"
    with pytest.raises(AssertionError, match=message):
        documented(text)
    assert documented(text.split("\n| `")[0] + "\n| `C` | frontend, tools | 2 | c |\n") == {"C": "frontend, tools"}

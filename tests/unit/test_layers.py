"""The import direction of every module: the foundation imports none of ours, the parts only the foundation,
the tools anything. A shortcut between floors fails here, loudly."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

PARTS = ("ingest", "classifier_fn", "minio_config")
FOUNDATION = "gourmetgram"
TOOLS = "gourmetgram.cli"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def ours(name: str) -> bool:
    return name.split(".")[0] in (FOUNDATION, *PARTS)


def imports_of(path: Path) -> set[str]:
    """Every module of ours the file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}  # `from pkg import module`
    return {name for name in found if ours(name)}


def floor(name: str) -> str:
    if name == TOOLS or name.startswith(TOOLS + ".") or name == f"{FOUNDATION}.__main__":  # `python -m gourmetgram`
        return "tools"
    if name.split(".")[0] == FOUNDATION:
        return "foundation"
    return name.split(".")[0]  # one of the parts


MODULES = sorted(p for top in (FOUNDATION, *PARTS) for p in (ROOT / top).rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_only_run_downward(path):
    here = floor(module_name(path))
    for name in imports_of(path):
        there = floor(name)
        if here == "tools" or there == here:
            continue
        assert there == "foundation", f"{module_name(path)} ({here}) imports {name} ({there})"


def test_every_floor_is_there():
    floors = {floor(module_name(p)) for p in MODULES}
    assert floors == {"tools", "foundation", *PARTS}


def test_the_check_sees_an_upward_import(tmp_path, monkeypatch):
    # A check that cannot fail is no check: a foundation module importing a part is caught.
    bad = ROOT / "gourmetgram" / "settings.py"
    source = bad.read_text() + "\nfrom classifier_fn import worker\n"
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: source if self == bad else Path.read_bytes(
        self).decode())
    with pytest.raises(AssertionError, match="gourmetgram.settings .foundation. imports classifier_fn"):
        test_imports_only_run_downward(bad)

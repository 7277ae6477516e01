"""The import direction of every module, by top-level package: the foundation imports none of ours, the parts
only the foundation, the tools anything. A shortcut between floors fails here, loudly."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

from tests.conftest import ROOT

FOUNDATION = "gourmetgram"
PARTS = ("ingest", "classifier_fn", "minio_config")
TOOLS = "gourmetgram_tools"
# What each floor may import besides itself.
MAY_IMPORT = {FOUNDATION: set(), **{part: {FOUNDATION} for part in PARTS}, TOOLS: {FOUNDATION, *PARTS}}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module of ours the file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {name for name in found if name.split(".")[0] in MAY_IMPORT}


def floor(name: str) -> str:
    return name.split(".")[0]


MODULES = sorted(p for top in MAY_IMPORT for p in (ROOT / top).rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_only_run_downward(path):
    here = floor(module_name(path))
    for name in imports_of(path):
        there = floor(name)
        assert there == here or there in MAY_IMPORT[here], (
            f"{module_name(path)} imports {name}: {here} may import only {sorted(MAY_IMPORT[here])}"
        )


def test_every_floor_is_there():
    assert {floor(module_name(p)) for p in MODULES} == set(MAY_IMPORT)


def test_python_m_gourmetgram_names_the_tools_without_importing_them():
    # `python -m gourmetgram` runs the command on the floor above by name (runpy), not by an import.
    source = (ROOT / FOUNDATION / "__main__.py").read_text()
    assert f'"{TOOLS}"' in source and imports_of(ROOT / FOUNDATION / "__main__.py") == set()


def test_the_check_sees_an_upward_import(tmp_path, monkeypatch):
    # A check that cannot fail is no check: a foundation module importing a part or a tool is caught.
    bad = ROOT / FOUNDATION / "settings.py"
    for line, there in (("from classifier_fn import app", "classifier_fn"), (f"import {TOOLS}.up", TOOLS)):
        source = bad.read_text() + f"\n{line}\n"
        monkeypatch.setattr(
            Path, "read_text", lambda self, *a, s=source, **k: s if self == bad else Path.read_bytes(self).decode()
        )
        with pytest.raises(AssertionError, match=f"gourmetgram.settings imports {there}"):
            test_imports_only_run_downward(bad)
        monkeypatch.undo()


def test_the_check_sees_a_part_importing_another_part(monkeypatch):
    bad = ROOT / "ingest" / "validate.py"
    source = bad.read_text() + "\nfrom minio_config import plan\n"
    monkeypatch.setattr(
        Path, "read_text", lambda self, *a, **k: source if self == bad else Path.read_bytes(self).decode()
    )
    with pytest.raises(AssertionError, match="ingest.validate imports minio_config"):
        test_imports_only_run_downward(bad)


def _drawing_script():
    spec = importlib.util.spec_from_file_location("draw_layers", ROOT / "scripts" / "draw_layers.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


def test_the_drawing_of_the_layers_is_the_codes_and_every_arrow_runs_down():
    draw = _drawing_script()
    edges = draw.arrows()
    assert set(draw.PACKAGES) == set(MAY_IMPORT)
    assert edges and all(there in MAY_IMPORT[here] for here, there in edges)
    assert draw.DRAWING.read_text() == draw.svg(edges), "docs/layers.svg is stale: python scripts/draw_layers.py"
    # an import added between packages changes the drawing
    assert draw.svg(edges | {(FOUNDATION, "ingest")}) != draw.svg(edges)

"""Draws docs/layers.svg: the top-level packages as floors and every import between them as an arrow, read
from the code (an import inside a function counts). tests/unit/test_layers.py checks the drawing is current.

Redraw after a change of imports between packages: .venv/bin/python scripts/draw_layers.py
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
DRAWING = ROOT / "docs" / "layers.svg"
# Top floor first. What each package holds, in a few words.
FLOORS = (
    (("gourmetgram_tools", "the CLI: up, configure, export, review, bench"),),
    (
        ("ingest", "the frontend (Flask)"),
        ("classifier_fn", "the function (Starlette)"),
        ("minio_config", "MinIO's configuration"),
    ),
    (("gourmetgram", "the foundation: names, records, store, settings"),),
)
PACKAGES = [name for floor in FLOORS for name, _ in floor]
BOX_W, BOX_H, GAP_X, GAP_Y, MARGIN = 230, 54, 40, 70, 20


def imported_packages(path: Path) -> set[str]:
    """The other top-level packages of ours that a file imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & set(PACKAGES)


def arrows(root: Path = ROOT) -> set[tuple[str, str]]:
    """(importer, imported) for every pair of packages with at least one import between them."""
    return {
        (package, other)
        for package in PACKAGES
        for path in (root / package).rglob("*.py")
        for other in imported_packages(path)
        if other != package
    }


def svg(edges: set[tuple[str, str]]) -> str:
    widest = max(len(floor) for floor in FLOORS)
    width = 2 * MARGIN + widest * BOX_W + (widest - 1) * GAP_X
    height = 2 * MARGIN + len(FLOORS) * BOX_H + (len(FLOORS) - 1) * GAP_Y
    centre: dict[str, tuple[float, float]] = {}
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'font-family="Helvetica, Arial, sans-serif">',
        '<defs><marker id="head" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" '
        'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>',
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    for row, floor in enumerate(FLOORS):
        row_w = len(floor) * BOX_W + (len(floor) - 1) * GAP_X
        y = MARGIN + row * (BOX_H + GAP_Y)
        for i, (name, words) in enumerate(floor):
            x = (width - row_w) / 2 + i * (BOX_W + GAP_X)
            centre[name] = (x + BOX_W / 2, y + BOX_H / 2)
            parts += [
                f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="8" fill="#f5f5f5" stroke="#555"/>',
                f'<text x="{x + BOX_W / 2}" y="{y + 22}" text-anchor="middle" font-size="14" '
                f'font-weight="bold">{escape(name)}/</text>',
                f'<text x="{x + BOX_W / 2}" y="{y + 40}" text-anchor="middle" font-size="11">{escape(words)}</text>',
            ]
    for source, target in sorted(edges):
        (x1, y1), (x2, y2) = centre[source], centre[target]
        up = y2 < y1  # an import running back up is drawn red: tests/unit/test_layers.py refuses it anyway
        y1 += BOX_H / 2 * (-1 if up else 1)
        y2 += BOX_H / 2 * (1 if up else -1)
        colour = "#c00" if up or y1 == y2 else "#555"
        shape = f"M{x1},{y1} L{x2},{y2}"
        if abs(y2 - y1) > BOX_H + GAP_Y:  # past a floor: down the gap right of the middle box, not through it
            x1 = x2 = x1 + BOX_W / 2 - 15
            gap = x1 + 15 + GAP_X / 2
            shape = f"M{x1},{y1} C{gap},{y1 + GAP_Y} {gap},{y2 - GAP_Y} {x2},{y2}"
        parts.append(
            f'<path d="{shape}" fill="none" stroke="{colour}" stroke-width="1.5" '
            f'marker-end="url(#head)"><title>{source} imports {target}</title></path>'
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    DRAWING.write_text(svg(arrows()))
    print(f"drew {DRAWING.relative_to(ROOT)}: {len(arrows())} arrows", file=sys.stderr)

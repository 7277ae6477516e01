"""Every relative link and #anchor in README.md and docs/*.md leads somewhere (GitHub's anchor rules)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"^\s*(```|~~~)")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
# [text](target) and ![alt](target); the target ends at whitespace or the closing parenthesis.
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def _prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks (a `#` there is a shell comment, a `[x](y)` is code)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation removed, each space a '-'."""
    text = _CODE_SPAN.sub(lambda m: m.group(2), heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link in a heading keeps its text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every heading's anchor; a repeated one gets -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for line in _prose_lines(text):
        match = _HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(text: str) -> list[str]:
    """The targets of every Markdown link and image outside code."""
    # Whole text, not line by line: a link's text may run over a line break.
    prose = "\n".join(_prose_lines(text))
    # A code span may hold brackets and parentheses that are no link; keep its text out of the match.
    prose = _CODE_SPAN.sub(lambda m: "code" if "](" in m.group(2) else m.group(0), prose)
    return [match.group(1) for match in _LINK.finditer(prose)]


def broken_links(page: Path) -> list[str]:
    """What in `page` leads nowhere: a missing file, or an #anchor its page has no heading for."""
    problems = []
    for target in links(page.read_text(encoding="utf-8")):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:: not ours to check
            continue
        path_part, _, anchor = target.partition("#")
        dest = (page.parent / unquote(path_part)).resolve() if path_part else page
        if not dest.exists():
            problems.append(f"{target}: no such file")
            continue
        if anchor and dest.suffix == ".md" and unquote(anchor) not in anchors(dest.read_text(encoding="utf-8")):
            problems.append(f"{target}: no heading with anchor #{anchor} in {dest.name}")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(page):
    assert broken_links(page) == []


def test_the_docs_exist_and_link_to_each_other():
    # The README is the front door: every reference page is reachable from it or from the docs index.
    reachable = {
        Path(t.partition("#")[0]).name
        for p in (ROOT / "README.md", ROOT / "docs" / "README.md")
        for t in links(p.read_text(encoding="utf-8"))
    }
    pages = {p.name for p in (ROOT / "docs").glob("*.md")} - {"README.md"}
    assert len(pages) >= 8
    assert pages <= reachable


@pytest.mark.parametrize(
    "heading, anchor",
    [
        ("How it stays correct", "how-it-stays-correct"),
        ("Running it locally: `gourmetgram up`", "running-it-locally-gourmetgram-up"),
        (
            "The event transports (`gourmetgram bench --transports`)",
            "the-event-transports-gourmetgram-bench---transports",
        ),
        ("A killed MinIO node's locks", "a-killed-minio-nodes-locks"),
        ("Upload (`/`)", "upload-"),
        ("Event log with photos (`/review/events`)", "event-log-with-photos-reviewevents"),
        ("Keys_and ids", "keys_and-ids"),
    ],
)
def test_slug_follows_githubs_rules(heading, anchor):
    assert slug(heading) == anchor


def test_a_repeated_heading_gets_a_numbered_anchor():
    assert anchors("# A\n## Notes\n## Notes\n```\n# not a heading\n```\n") == {"a", "notes", "notes-1"}


def test_broken_links_are_found(tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n## A section\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n"
        "[fine](other.md#a-section) [fine too](#page) [web](https://example.com/x#y) ![pic](other.md)\n"
        "[no file](missing.md) [no anchor](other.md#nowhere) [no anchor\nhere](#nope)\n"
        "`[code](not-a-link.md)`\n"
        "```\n[in a block](also-not.md)\n```\n"
    )
    assert broken_links(page) == [
        "missing.md: no such file",
        "other.md#nowhere: no heading with anchor #nowhere in other.md",
        "#nope: no heading with anchor #nope in page.md",
    ]

"""`gourmetgram events` as a table: one line per outcome record, under a header, safe to print.

The file name is the uploader's (`original_filename`) for a web upload, whose key is only `<uuid><ext>`, and
the key for a photo dropped into the bucket. Names and keys come from whoever uploaded: a control character
in one (an escape sequence, a carriage return, a bidirectional override) is shown escaped, never sent to the
terminal, and a long one is cut to its column's width.
"""

from __future__ import annotations

from gourmetgram.terminal import printable

# (header, width): the last column (why a photo was rejected or failed) takes what it needs.
COLUMNS = (
    ("time", 19),
    ("file name", 40),
    ("status", 8),
    ("class", 16),
    ("conf.", 5),
    ("source", 6),
    ("correction", 16),
    ("flag", 7),
    ("review", 16),
    ("reason", 0),
)


def _fit(text: str, width: int) -> str:
    if not width:
        return text
    return text.ljust(width) if len(text) <= width else text[: width - 1] + "…"


def file_name(doc: dict) -> str:
    return doc.get("original_filename") or doc.get("incoming_key") or ""


def _cells(doc: dict) -> list[str]:
    confidence = doc.get("confidence")
    return [
        str(doc.get("time") or "")[:19],
        file_name(doc),
        str(doc.get("status") or ""),
        str(doc.get("predicted_class") or "-"),
        f"{confidence:.3f}" if isinstance(confidence, (int, float)) else "-",
        str(doc.get("source") or ""),
        str(doc.get("corrected_class") or "-"),
        "flagged" if doc.get("flagged") is True else "-",
        str(doc.get("human_label") or "-"),
        str(doc.get("reason") or ""),
    ]


def _line(cells: list[str]) -> str:
    return "  ".join(_fit(printable(cell), width) for cell, (_, width) in zip(cells, COLUMNS, strict=True)).rstrip()


def header() -> str:
    return _line([name for name, _ in COLUMNS])


def row(doc: dict) -> str:
    return _line(_cells(doc))

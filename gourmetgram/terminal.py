"""Text from outside (object keys, names and values read from files) made safe to print on a terminal.

A key or a value can hold control characters: ESC sequences clear the screen, set the window's title or
move the cursor, a newline or a carriage return fakes rows of a listing, and a bidirectional override
(U+202E) shows a name backwards. Printed through `printable` they show as visible escapes instead.
"""

from __future__ import annotations


def printable(text: str) -> str:
    """`text` with every character that `str.isprintable` refuses (C0 and C1 controls, DEL, format
    characters such as U+202E, separators other than the space, lone surrogates, unassigned code points)
    written as Python writes it in a repr: `\\n`, `\\x1b`, `\\u202e`, `\\U000e0001`. Everything else, the
    backslash included, is kept as it is: this makes text safe to show, not a reversible encoding."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)


_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(character: str) -> str:
    if character in _SHORT:
        return _SHORT[character]
    code = ord(character)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"

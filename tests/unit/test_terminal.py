"""Text from outside made safe to print (gourmetgram/terminal.py)."""

import pytest

from gourmetgram.terminal import printable


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("class_09/photo.jpg", "class_09/photo.jpg"),
        ("Noodles/Pasta été 食べ物 🍜 a\\b", "Noodles/Pasta été 食べ物 🍜 a\\b"),  # printable, backslash kept
        ("\x1b[2J\x1b]0;title\x07", "\\x1b[2J\\x1b]0;title\\x07"),  # clear the screen, set the title
        ("a\nb\rc\td\x00e\x7f\x0b", "a\\nb\\rc\\td\\x00e\\x7f\\x0b"),  # fake rows, tab, NUL, DEL, VT
        ("\x9b31m", "\\x9b31m"),  # C1: the one-byte CSI
        ("\u202egpj.exe", "\\u202egpj.exe"),  # right-to-left override
        ("a\u2028b\u00a0c\u200bd", "a\\u2028b\\xa0c\\u200bd"),  # line separator, no-break space, zero width
        ("\ud800", "\\ud800"),  # a lone surrogate (JSON allows "\ud800"): it could not even be encoded
        ("\U000e0041", "\\U000e0041"),  # a tag character
        ("", ""),
    ],
)
def test_what_a_terminal_would_act_on_is_shown_as_an_escape(text, shown):
    assert printable(text) == shown
    assert printable(text).isprintable()

"""signatures.services.clean_text: the names, groups and comments signers send.

The rule: no control, surrogate, private-use or unassigned character and no
bidirectional control, anywhere; a line break only in a multi-line field.
The function scans with str.isprintable() first and looks at each character
only when that scan fails; these tests compare it with the rule itself, so
they fail if the shortcut ever lets through what the rule refuses.
"""

from __future__ import annotations

import unicodedata

import pytest

from signatures.errors import BadRequest
from signatures.services.common import clean_text

BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def refused_by_the_rule(text: str, *, multiline: bool) -> bool:
    return any(
        not (multiline and char == "\n")
        and (unicodedata.category(char) in ("Cc", "Cs", "Co", "Cn") or char in BIDI_CONTROLS)
        for char in text
    )


def accepted(text: str, *, multiline: bool = False) -> bool:
    try:
        clean_text(text, field="comment", max_len=1000, multiline=multiline)
    except BadRequest:
        return False
    return True


def code_points():
    """Every code point below U+3000, the Unicode blocks with surrogates,
    private use, specials, emoji and tags, and every 97th code point beyond."""
    ranges = [
        range(0, 0x3000),
        range(0xD7F0, 0xE010),
        range(0xF8F0, 0xF900),
        range(0xFE00, 0x10000),
        range(0x1F000, 0x1FB00),
        range(0xE0000, 0xE0080),
        range(0xF0000, 0xF0010),
        range(0x10FFF0, 0x110000),
        range(0x3000, 0x110000, 97),
    ]
    return sorted({point for points in ranges for point in points})


@pytest.mark.parametrize("multiline", [False, True])
def test_every_character_is_judged_by_the_rule(multiline):
    disagreements = []
    for point in code_points():
        text = unicodedata.normalize("NFC", f"a{chr(point)}b")
        if accepted(text, multiline=multiline) == refused_by_the_rule(text, multiline=multiline):
            disagreements.append(f"U+{point:04X}")
    assert disagreements == []


@pytest.mark.parametrize(
    "text",
    [
        "Quiet Heron 12",
        "Zoë Ångström-Ñúñez",
        "李小龍",
        "محمد",  # right-to-left script: allowed, only the controls are not
        "👩‍💻 on the night shift",  # zero-width joiner inside an emoji
        "soft\u00adhyphen",
        "non\u00a0breaking",
    ],
)
def test_real_names_are_kept(text):
    assert clean_text(text, field="name", max_len=80) == text


@pytest.mark.parametrize(
    "text",
    ["bell\x07", "nul\x00", "esc\x1b[31m", "evil\u202ename", "iso\u2066late", "del\x7f"],
)
def test_controls_are_refused(text):
    with pytest.raises(BadRequest, match="control or invisible"):
        clean_text(text, field="name", max_len=80)


def test_line_breaks_only_where_the_field_has_lines():
    assert clean_text("one\r\ntwo\nthree", field="comment", max_len=99, multiline=True) == (
        "one\ntwo\nthree"
    )
    with pytest.raises(BadRequest):
        clean_text("one\ntwo", field="name", max_len=99)
    with pytest.raises(BadRequest):
        clean_text("one\rtwo", field="comment", max_len=99, multiline=True)


def test_normalized_stripped_and_bounded():
    assert clean_text("  Cafe\u0301  ", field="name", max_len=80) == "Café"
    assert clean_text(None, field="name", max_len=80) == ""
    with pytest.raises(BadRequest, match="required"):
        clean_text("   ", field="name", max_len=80, required=True)
    with pytest.raises(BadRequest, match="longer than 3"):
        clean_text("abcd", field="name", max_len=3)
    with pytest.raises(BadRequest, match="must be text"):
        clean_text(["x"], field="name", max_len=80)

"""core.text: the one rule for text from outside, in forms and JSON.

The character rule itself is checked against every code point in
tests/signatures/test_clean_text.py (through signatures.services.clean_text).
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from core.text import CleanTextField, clean_text, refuse_unstorable_json, unstorable


def test_real_names_stay_as_they_are():
    for name in ["Zoë Ångström-Ñúñez", "李小龍", "محمد", "👩‍💻 night shift", "soft\u00adhyphen"]:
        assert clean_text(name, field="name", max_len=60) == name
        assert CleanTextField(label="Name", max_length=60).clean(name) == name


@pytest.mark.parametrize("bad", ["\u202e", "\u2067", "\x00", "\x1b[31m", "\t", "\n", "\ud800"])
def test_the_form_field_refuses_with_its_label(bad):
    field = CleanTextField(label="Display name", max_length=60)
    with pytest.raises(ValidationError, match="“Display name” contains a control or invisible"):
        field.clean(f"a{bad}b")


def test_the_form_field_keeps_its_other_checks():
    field = CleanTextField(label="Name", max_length=3)
    assert field.clean("  ab ") == "ab"
    with pytest.raises(ValidationError, match="longer than 3"):
        field.clean("abcd")
    with pytest.raises(ValidationError, match="required"):
        field.clean("   ")
    assert CleanTextField(label="Notes", multiline=True).clean("one\r\ntwo") == "one\ntwo"


def test_unstorable_means_nul_or_a_lone_surrogate():
    assert unstorable("a\x00") and unstorable("\udfff") and unstorable("\ud800x")
    assert not unstorable("tab\tline\nemoji 😀 \u202e")


def test_json_is_searched_everywhere_and_names_the_top_level_key():
    refuse_unstorable_json({"a": [1, {"b": ["fine", None, 2.5]}], "c": "ok"})
    with pytest.raises(ValidationError, match="“proof”"):
        refuse_unstorable_json({"proof": {"code": ["x", "\x00"]}})
    with pytest.raises(ValidationError, match="a field name"):
        refuse_unstorable_json({"ok": 1, "\ud800": 1})
    deep = ["\x00"]
    for _ in range(5000):  # deeper than Python's recursion limit
        deep = [deep]
    with pytest.raises(ValidationError, match="“deep”"):
        refuse_unstorable_json({"deep": deep})

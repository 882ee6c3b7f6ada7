"""The hold list's matching (signatures/holds.py): the ways an impersonator
would write an executive's name are all caught; unrelated text is not."""

from __future__ import annotations

import pytest

from signatures.holds import fold, matching_terms

TERMS = ["Tim Cook", "Jane O'Neil", "Dana"]


@pytest.mark.parametrize(
    "text",
    [
        "Tim Cook",
        "tim cook",
        "TIM COOK",
        "TimCook",
        "Tim  Cook",
        "Tim-Cook",
        "Tim.Cook",
        "T i m   C o o k",
        "Tím Cóok",  # accents
        "Ｔｉｍ Ｃｏｏｋ",  # full-width letters (NFKD)
        "T1m C00k",  # digits for letters
        "Тim Cook",  # Cyrillic Т
        "Tim Сооk",  # Cyrillic С and о
        "Tim\u200bCook",  # a zero-width space between
        "Signed, tim cook, CEO",  # inside longer text
        "JANE ONEIL",
        "jane o’neil",  # another apostrophe
        "da na",
    ],
)
def test_every_way_of_writing_a_term_matches(text):
    assert matching_terms(TERMS, [text]), text


@pytest.mark.parametrize("text", ["Tim Cooper-Smith? no: Tom Cook", "Timothy", "Cook", "Jane"])
def test_other_text_does_not_match(text):
    assert matching_terms(["Tim Cook", "Jane O'Neil"], [text]) == []


def test_matching_looks_at_every_field_and_returns_the_terms_as_typed():
    assert matching_terms(TERMS, ["Quiet Heron", "", "Greetings from Dana"]) == ["Dana"]
    assert matching_terms(TERMS, ["T1M C00K", "jane o neil"]) == ["Tim Cook", "Jane O'Neil"]
    assert matching_terms([], ["Tim Cook"]) == []
    assert matching_terms(TERMS, []) == []


def test_fold_keeps_letters_and_digits_only():
    assert fold("  Tim, Cook! ") == "timcook"
    assert fold("Ann-Lee 41") == "annieeai"  # l and 1 read as i, 4 as a
    assert fold("!!! ---") == ""

"""The hold list's matching: does a signature's public text contain one of
the campaign's names or words? Plain functions, no Django.

Both sides are folded the same way before a plain substring test, so that
"Tim Cook", "tim  cook", "TIM-COOK", "Tím Cóok", "T1m C00k" and "Тim Cook"
(with a Cyrillic Т) all hold a signature for the term "Tim Cook":

- compatibility decomposition (NFKD: full-width letters, ligatures), then
  accents and other combining marks dropped;
- case folded;
- a few look-alikes mapped to one letter: digits written for letters
  (0 o, 1 and l and i, 3 e, 4 a, 5 s, 7 t) and the Cyrillic and Greek
  letters that look like Latin ones;
- everything that is not a letter or a digit dropped (spaces, punctuation,
  zero-width characters), so spacing and separators change nothing.

A term also matches inside a longer word ("Cook" holds "Cookson"): the list
holds text for a person to look at, it refuses nothing, so a few extra holds
are cheap and a missed impersonation is not.
"""

from __future__ import annotations

import unicodedata

# Cyrillic and Greek letters that read as Latin ones (lower case: folding
# comes first), and digits written for letters.
_LOOK_ALIKES = str.maketrans(
    {
        "а": "a",
        "в": "b",
        "е": "e",
        "ё": "e",
        "к": "k",
        "м": "m",
        "н": "h",
        "о": "o",
        "р": "p",
        "с": "c",
        "т": "t",
        "у": "y",
        "х": "x",
        "і": "i",
        "ї": "i",
        "ј": "j",
        "ѕ": "s",
        "ԁ": "d",
        "α": "a",
        "β": "b",
        "ε": "e",
        "η": "n",
        "ι": "i",
        "κ": "k",
        "μ": "u",
        "ν": "v",
        "ο": "o",
        "ρ": "p",
        "τ": "t",
        "υ": "u",
        "χ": "x",
        "0": "o",
        "1": "i",
        "l": "i",
        "|": "i",
        "3": "e",
        "4": "a",
        "5": "s",
        "7": "t",
        "$": "s",
        "@": "a",
    }
)

# A term must keep at least this many letters once folded: "A." would hold
# every signature.
TERM_MIN_LETTERS = 3


def fold(text: str) -> str:
    """The text as the hold list compares it (the module's docstring)."""
    decomposed = unicodedata.normalize("NFKD", text)
    without_marks = "".join(char for char in decomposed if not unicodedata.combining(char))
    folded = without_marks.casefold().translate(_LOOK_ALIKES)
    return "".join(char for char in folded if char.isalnum())


def matching_terms(terms: list[str], texts: list[str]) -> list[str]:
    """The terms (as typed) found in any of the texts, in the list's order."""
    folded_texts = [fold(text) for text in texts if text]
    found = []
    for term in terms:
        folded = fold(term)
        if folded and any(folded in text for text in folded_texts):
            found.append(term)
    return found

"""The one rule for text that comes from outside (docs/security.md, "Bad input").

- No request may carry a NUL character or a lone UTF-16 surrogate anywhere:
  PostgreSQL cannot store the first, UTF-8 cannot encode the second
  (`unstorable`, checked for every query parameter and form field by
  core.middleware.RefuseUnreadableInputMiddleware, and for every string
  of a JSON body or websocket frame by `refuse_unstorable_json`).
- Query parameters, and every name or short text shown to other people
  (display names, pseudonyms, channel, campaign and letter names), are free of
  every other control character, private-use or unassigned character and
  bidirectional control (`clean_text`, `CleanTextField`), which could make a
  name read differently from what it is; a line break only where the field
  has lines.

Refusals are ValidationErrors (InputRefused in the middleware) whose message
names the field; the API turns them into JSON 400 answers, pages into a form
error or a 400 page.

Forms, services, the API, the consumer and the middleware of every app use
it; it imports none of them.
"""

from __future__ import annotations

import re
import unicodedata

from django import forms
from django.core.exceptions import BadRequest, ValidationError
from django.utils.translation import gettext as _

from core.errors import AppError

# Bidirectional overrides and isolates can make a name read differently from
# what it is.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Control, surrogate, private-use and unassigned characters.
REFUSED_CATEGORIES = frozenset(("Cc", "Cs", "Co", "Cn"))
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class InputRefused(AppError, BadRequest):
    """A request refused before any view saw it; its message is for the
    person who sent it (core.errors.bad_request shows it)."""


def unstorable(text: str) -> bool:
    """Whether `text` holds a NUL or a lone surrogate (a surrogate in a str is
    always lone: pairs are decoded into one code point)."""
    return _UNSTORABLE.search(text) is not None


def unstorable_message(field: str) -> str:
    return _(
        "“%(field)s” contains a character that text cannot hold (a NUL or a broken "
        "UTF-16 surrogate). Remove it and try again."
    ) % {"field": field}


def invisible_message(field: str) -> str:
    return _(
        "“%(field)s” contains a control or invisible character (such as a NUL, a "
        "tab or a right-to-left override). Remove it and try again."
    ) % {"field": field}


def has_invisible_characters(text: str, *, multiline: bool = False) -> bool:
    """The rule itself: any control, surrogate, private-use, unassigned or
    bidirectional control character (a "\\n" only where `multiline`)."""
    # isprintable() is False for every character refused here (and for more,
    # such as zero-width joiners, which are allowed): a C scan that spares
    # most text the look at each character in Python.
    if (text.replace("\n", "") if multiline else text).isprintable():
        return False
    return any(
        not (multiline and char == "\n")
        and (unicodedata.category(char) in REFUSED_CATEGORIES or char in BIDI_CONTROLS)
        for char in text
    )


def clean_text(
    value,
    *,
    field: str,
    max_len: int,
    required: bool = False,
    multiline: bool = False,
    required_message: str | None = None,
) -> str:
    """NFC-normalized, stripped text with no invisible characters, or a
    ValidationError that names `field` (a label people read, such as
    "Pseudonym", not a form or JSON key). `required_message` says what to do
    when a required text is empty ("Choose a pseudonym.")."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationError(_("“%(field)s” must be text.") % {"field": field}, code="type")
    text = unicodedata.normalize("NFC", value.replace("\r\n", "\n")).strip()
    if has_invisible_characters(text, multiline=multiline):
        raise ValidationError(invisible_message(field), code="invisible")
    if required and not text:
        raise ValidationError(
            required_message or _("“%(field)s” is required.") % {"field": field},
            code="required",
        )
    if len(text) > max_len:
        raise ValidationError(
            _("“%(field)s” is longer than %(max)d characters.") % {"field": field, "max": max_len},
            code="max_length",
        )
    return text


def refuse_unstorable_json(data: dict) -> None:
    """ValidationError if a string anywhere in parsed JSON (keys too) is
    unstorable; the message names the top-level key it is under."""
    for key, item in data.items():
        if unstorable(key):
            raise ValidationError(unstorable_message(_("a field name")), code="unstorable")
        if _holds_unstorable(item):
            raise ValidationError(unstorable_message(key), code="unstorable")


def _holds_unstorable(value) -> bool:
    # A loop, not recursion: JSON nested nearly as deep as the parser allows
    # must not exhaust the stack here.
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if unstorable(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


class CleanTextField(forms.CharField):
    """A form field under clean_text's rule; its messages name the field's label."""

    def __init__(self, *, multiline: bool = False, **kwargs):
        self.multiline = multiline
        super().__init__(**kwargs)

    def to_python(self, value):
        value = super().to_python(value)
        return clean_text(
            value,
            field=str(self.label),
            max_len=len(value) if self.max_length is None else self.max_length,
            multiline=self.multiline,
        )

"""Checks of what clients send over the websocket, shared by the services and
the selectors. A failed check raises ChannelError, whose code names it in the
error frame (docs/channels-protocol.md)."""

from __future__ import annotations

import base64
import binascii

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from core.errors import AppError


class ChannelError(AppError, ValidationError):
    """Bad input from a client; `code` names it in the websocket error frame."""

    def __init__(self, message, code):
        super().__init__(message, code=code)


def base64_field(
    value, *, name: str, size: int | None = None, max_size: int | None = None
) -> bytes:
    if not isinstance(value, str) or not value:
        raise ChannelError(_("%(name)s is missing.") % {"name": name}, "bad_field")
    if len(value) > 4 * ((max_size or size or 64) + 2) // 3:
        raise ChannelError(_("%(name)s is too long.") % {"name": name}, "too_large")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ChannelError(_("%(name)s is not valid base64.") % {"name": name}, "bad_field")
    if size is not None and len(raw) != size:
        raise ChannelError(_("%(name)s has the wrong length.") % {"name": name}, "bad_field")
    if max_size is not None and len(raw) > max_size:
        raise ChannelError(_("%(name)s is too long.") % {"name": name}, "too_large")
    return raw


def whole_number(value, *, name: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or value > 2**62:
        raise ChannelError(_("%(name)s must be a whole number.") % {"name": name}, "bad_field")
    return value

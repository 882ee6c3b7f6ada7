"""The letter's log over HTTP, as C2SP tlog-tiles serves a log:

    GET /log/<slug>/checkpoint               the latest signed checkpoint
    GET /log/<slug>/tile/<L>/<N>[.p/<W>]     Merkle tree tiles
    GET /log/<slug>/tile/entries/<N>[.p/<W>] entry bundles
    GET /log/<slug>/checkpoints[?after=S]    every checkpoint published (JSON)

The same letters as the letter API (signatures.api.load_letter): open,
closed or delivered, and public or unlisted with its `key` parameter.
Errors are short plain-text answers. Tiles and bundles never change once
served (a partial tile of width W is the first W hashes for good), so they
may be cached for a year; the checkpoint and the list change with each batch.
"""

from __future__ import annotations

import base64
from functools import wraps

from django.http import HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from core.errors import AppError
from letters.models import Visibility
from signatures import log_selectors, tlog
from signatures.api import load_letter
from signatures.errors import BadRequest, NotFound

IMMUTABLE_SECONDS = 365 * 24 * 3600
CHECKPOINT_SECONDS = 5


def _plain(status: int, message: str) -> HttpResponse:
    response = HttpResponse(message + "\n", status=status, content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "no-store"
    return response


def log_view(view):
    """GET or HEAD only; an AppError (an unknown letter or tile, a bad
    parameter) becomes a plain-text answer of its status."""

    @require_safe
    @wraps(view)
    def wrapper(request, slug, *args, **kwargs):
        try:
            letter = load_letter(request, slug)
            return view(request, letter, *args, **kwargs)
        except AppError as exc:
            return _plain(exc.status, exc.message)

    return wrapper


def _cache(response: HttpResponse, letter, seconds: int, *, immutable: bool = False):
    # An unlisted letter's log is for those who have its link: no shared cache.
    scope = "public" if letter.visibility == Visibility.PUBLIC else "private"
    response["Cache-Control"] = f"{scope}, max-age={seconds}" + (", immutable" if immutable else "")
    return response


def _no_log() -> NotFound:
    return NotFound(_("This letter has no log yet."))


@log_view
def checkpoint(request, letter):
    found = log_selectors.latest_checkpoint(letter)
    if found is None:
        raise _no_log()
    response = HttpResponse(found.note, content_type="text/plain; charset=utf-8")
    return _cache(response, letter, CHECKPOINT_SECONDS)


@log_view
def tile(request, letter, path):
    try:
        level, index, width = tlog.parse_tile_path(path)
    except tlog.LogFormatError:
        raise NotFound(_("No such tile: see C2SP tlog-tiles for tile paths.")) from None
    if level == "entries":
        data = log_selectors.log_entry_bundle(letter, index=index, width=width)
    else:
        data = log_selectors.log_tile(letter, level=level, index=index, width=width)
    if data is None:
        raise NotFound(_("This tile is beyond the log's tree."))
    response = HttpResponse(data, content_type="application/octet-stream")
    return _cache(response, letter, IMMUTABLE_SECONDS, immutable=True)


@log_view
def checkpoints(request, letter):
    after = request.GET.get("after", "0")
    if not after.isascii() or not after.isdigit() or len(after) > 18:
        raise BadRequest(_("“after” must be a tree size (a whole number)."))
    rows = log_selectors.log_checkpoints(letter, after=int(after))
    if not rows and log_selectors.letter_log(letter) is None:
        raise _no_log()
    response = JsonResponse(
        [
            {
                "size": row.tree_size,
                "root": base64.b64encode(bytes(row.root_hash)).decode("ascii"),
                "time": row.published_hour.isoformat(),
                "note": row.note,
            }
            for row in rows
        ],
        safe=False,
    )
    return _cache(response, letter, CHECKPOINT_SECONDS)

"""Read-only queries about signatures: public figures and lists."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.core.cache import cache, caches
from django.db.models import Count

from core.redis import redis_client
from core.unavailable import REDIS_DOWN
from signatures import tlog
from signatures.log_selectors import latest_checkpoint
from signatures.models import Issuance, Signature

logger = logging.getLogger(__name__)

# Public figures are cached briefly: the count is read from the latest
# checkpoint, the groups are a COUNT(*) over an index, never a hot row that
# every signature would update.
FIGURES_CACHE_SECONDS = 5


@dataclass(frozen=True)
class LetterFigures:
    count: int
    tokens_issued: int
    goal: int
    # (name, count) for groups with at least k signatures, largest first.
    departments: list[tuple[str, int]] = field(default_factory=list)
    locations: list[tuple[str, int]] = field(default_factory=list)
    k: int = 5
    # The tree size of the checkpoint whose count `count` is; None for a
    # letter without a log (opened before logs existed).
    tree_size: int | None = None

    @property
    def percent(self) -> int:
        return min(100, (100 * self.count) // self.goal) if self.goal else 0


def groups_at_least_k(letter, field_name: str, k: int) -> list[tuple[str, int]]:
    rows = (
        Signature.objects.counted()
        .filter(letter=letter)
        .exclude(**{field_name: ""})
        .values(field_name)
        .annotate(n=Count("id"))
        .filter(n__gte=k)
        .order_by("-n", field_name)
    )
    return [(row[field_name], row["n"]) for row in rows]


def letter_figures(letter, *, use_cache: bool = True) -> LetterFigures:
    """The letter's public figures, cached for FIGURES_CACHE_SECONDS; counted
    afresh when the cache (Redis) is unreachable: the letter's pages only
    read the database and must not fail with it."""
    key = f"letter-figures:{letter.pk}"
    if use_cache:
        try:
            cached = cache.get(key)
        except REDIS_DOWN:
            return _counted_figures(letter)
        if cached is not None:
            return cached
    figures = _counted_figures(letter)
    try:
        cache.set(key, figures, FIGURES_CACHE_SECONDS)
    except REDIS_DOWN:
        pass  # the next request counts again
    return figures


def _counted_figures(letter) -> LetterFigures:
    """The count is the latest checkpoint's (signature entries minus
    withdrawals), so what the site shows is what anyone can recompute from
    the log at that tree size. A letter without a log counts its rows."""
    k = letter.campaign.k_threshold
    checkpoint = latest_checkpoint(letter)
    if checkpoint is not None:
        count, tree_size = checkpoint.count, checkpoint.tree_size
    else:
        count, tree_size = Signature.objects.counted().filter(letter=letter).count(), None
    return LetterFigures(
        count=count,
        tokens_issued=Issuance.objects.filter(letter=letter, is_alias=False).count(),
        goal=letter.goal,
        departments=groups_at_least_k(letter, "department", k),
        locations=groups_at_least_k(letter, "location", k),
        k=k,
        tree_size=tree_size,
    )


def letter_figures_forget(letter) -> None:
    """Drop the cached figures (after a signature or withdrawal).

    Called after the change is committed: with the cache unreachable there
    is nothing to drop now, and a copy that survived an outage expires
    within FIGURES_CACHE_SECONDS.
    """
    key = f"letter-figures:{letter.pk}"
    client = redis_client()
    try:
        if client is None:
            cache.delete(key)
        else:
            client.delete(caches["default"].make_and_validate_key(key))
    except REDIS_DOWN:
        logger.warning("Cached figures not dropped: the cache is unreachable")


PUBLIC_PAGE_SIZE = 50


@dataclass(frozen=True)
class PublicSignature:
    pseudonym: str
    public_name: str  # empty unless the signer's reveal threshold is reached
    department: str  # empty unless its group holds at least k signatures
    location: str
    comment: str
    # The signature's entry in the letter's log, and what lets anyone check
    # the shown fields against it (signatures.tlog.fields_disclosure); None
    # for signatures sealed before the log existed.
    log_index: int | None = None
    commitment: dict | None = None


SHOWN_FIELDS = ("pseudonym", "public_name", "department", "location", "comment")


def _commitment(sig, shown_values: dict) -> dict | None:
    if not sig.salt:
        return None
    shown = {name for name, value in shown_values.items() if value == getattr(sig, name)}
    return tlog.fields_disclosure(
        salt=sig.salt,
        shown=shown,
        pseudonym=sig.pseudonym,
        public_name=sig.public_name,
        reveal_at=sig.reveal_at,
        department=sig.department,
        location=sig.location,
        comment=sig.comment,
        attestations=sig.attestations,
    )


def public_signature_rows(letter, signatures, figures: LetterFigures) -> list[PublicSignature]:
    """Apply the disclosure rules to signatures of one letter.

    - A public name shows once the letter's count reaches the signer's
      reveal_at (at once when reveal_at is empty).
    - A department or location shows only if its group holds at least k
      signatures; when both would show but their combination holds fewer
      than k, only the department shows (the pair would single people out).
    """
    big_departments = {name for name, _n in figures.departments}
    big_locations = {name for name, _n in figures.locations}
    pairs: dict[tuple[str, str], int] = {}
    if big_departments and big_locations:
        rows = (
            Signature.objects.counted()
            .filter(letter=letter, department__in=big_departments, location__in=big_locations)
            .values("department", "location")
            .annotate(n=Count("id"))
        )
        pairs = {(row["department"], row["location"]): row["n"] for row in rows}
    result = []
    for sig in signatures:
        department = sig.department if sig.department in big_departments else ""
        location = sig.location if sig.location in big_locations else ""
        if department and location and pairs.get((department, location), 0) < figures.k:
            location = ""
        revealed = bool(sig.public_name) and (
            sig.reveal_at is None or figures.count >= sig.reveal_at
        )
        shown = {
            "pseudonym": sig.pseudonym,
            "public_name": sig.public_name if revealed else "",
            "department": department,
            "location": location,
            "comment": sig.comment,
        }
        result.append(
            PublicSignature(**shown, log_index=sig.log_index, commitment=_commitment(sig, shown))
        )
    return result


def public_signatures_page(letter, page_number: int):
    """(Paginator page, rows, figures) of a letter's counted signatures.

    Ordered by the random primary key: a shuffle, not the order of signing.
    """
    from django.core.paginator import Paginator

    figures = letter_figures(letter)
    queryset = (
        Signature.objects.counted()
        .filter(letter=letter)
        .only(
            "pseudonym",
            "public_name",
            "reveal_at",
            "department",
            "location",
            "comment",
            "attestations",
            "salt",
            "log_index",
        )
        .order_by("id")
    )
    paginator = Paginator(queryset, PUBLIC_PAGE_SIZE, allow_empty_first_page=True)
    page = paginator.page(page_number)
    return page, public_signature_rows(letter, page.object_list, figures), figures

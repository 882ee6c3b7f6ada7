"""Read-only queries about signatures: public figures and lists."""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.core.cache import cache, caches
from django.db.models import Count

from core.redis import redis_client
from core.unavailable import REDIS_DOWN
from signatures.models import Issuance, Signature

logger = logging.getLogger(__name__)

# Public figures are cached briefly: the count is a COUNT(*) over an index,
# never a hot row that every signature would update.
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

    @property
    def percent(self) -> int:
        return min(100, (100 * self.count) // self.goal) if self.goal else 0


def group_key(name: str) -> str:
    """What makes spellings of a department or location one group: equal up
    to case and spacing ("Warehouse", "WAREHOUSE" and "warehouse" are one
    group; "Ware house" and "ware  house" another)."""
    return " ".join(name.casefold().split())


def canonical_groups(counts: Mapping[str, int]) -> dict[str, tuple[str, int]]:
    """{group key: (spelling shown, signatures)} of {spelling as signed: count}.

    The spelling shown is the group's most used one (ties: the first in
    code-point order), with each run of spaces as one space. Empty names form
    no group. petitions.manifest groups the same way, so the PDF and the
    public pages agree.
    """
    spellings: dict[str, dict[str, int]] = defaultdict(dict)
    for name, n in counts.items():
        key = group_key(name)
        if key:
            spellings[key][name] = spellings[key].get(name, 0) + n
    return {
        key: (" ".join(min(found, key=lambda s: (-found[s], s)).split()), sum(found.values()))
        for key, found in spellings.items()
    }


def groups_at_least_k(letter, field_name: str, k: int) -> list[tuple[str, int]]:
    """(spelling shown, signatures) of the groups holding at least k, largest first."""
    rows = (
        Signature.objects.counted()
        .filter(letter=letter)
        .exclude(**{field_name: ""})
        .values(field_name)
        .annotate(n=Count("id"))
        .order_by()
    )
    groups = canonical_groups({row[field_name]: row["n"] for row in rows})
    return sorted(((name, n) for name, n in groups.values() if n >= k), key=lambda g: (-g[1], g[0]))


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
    k = letter.campaign.k_threshold
    return LetterFigures(
        count=Signature.objects.counted().filter(letter=letter).count(),
        tokens_issued=Issuance.objects.filter(letter=letter, is_alias=False).count(),
        goal=letter.goal,
        departments=groups_at_least_k(letter, "department", k),
        locations=groups_at_least_k(letter, "location", k),
        k=k,
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


def public_signature_rows(letter, signatures, figures: LetterFigures) -> list[PublicSignature]:
    """Apply the disclosure rules to signatures of one letter.

    - A public name shows once the letter's count reaches the signer's
      reveal_at (at once when reveal_at is empty).
    - A department or location shows only if its group (canonical_groups:
      spellings equal up to case and spacing) holds at least k signatures,
      in the group's one spelling; when both would show but their
      combination holds fewer than k, only the department shows (the pair
      would single people out).
    """
    # Group key -> the spelling shown (figures list groups by their shown spelling).
    big_departments = {group_key(name): name for name, _n in figures.departments}
    big_locations = {group_key(name): name for name, _n in figures.locations}
    pairs: Counter[tuple[str, str]] = Counter()
    if big_departments and big_locations:
        rows = (
            Signature.objects.counted()
            .filter(letter=letter)
            .exclude(department="")
            .exclude(location="")
            .values("department", "location")
            .annotate(n=Count("id"))
            .order_by()
        )
        for row in rows:
            pairs[group_key(row["department"]), group_key(row["location"])] += row["n"]
    result = []
    for sig in signatures:
        department_key, location_key = group_key(sig.department), group_key(sig.location)
        department = big_departments.get(department_key, "")
        location = big_locations.get(location_key, "")
        if department and location and pairs[department_key, location_key] < figures.k:
            location = ""
        revealed = bool(sig.public_name) and (
            sig.reveal_at is None or figures.count >= sig.reveal_at
        )
        result.append(
            PublicSignature(
                pseudonym=sig.pseudonym,
                public_name=sig.public_name if revealed else "",
                department=department,
                location=location,
                comment=sig.comment,
            )
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
        .only("pseudonym", "public_name", "reveal_at", "department", "location", "comment")
        .order_by("id")
    )
    paginator = Paginator(queryset, PUBLIC_PAGE_SIZE, allow_empty_first_page=True)
    page = paginator.page(page_number)
    return page, public_signature_rows(letter, page.object_list, figures), figures

"""Read-only queries about signatures: public figures and lists."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.core.cache import cache, caches
from django.db.models import Count

from core.redis import redis_client
from core.unavailable import REDIS_DOWN
from signatures import tlog
from signatures.models import MODERATED_FIELDS, Issuance, Signature, SignatureModeration

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


def shown_group_signatures(field_name: str):
    """Counted signatures whose `field_name` (department or location) the
    organizers neither hid nor hold for review: only those make up the
    public groups, so a group's figure never tells of hidden text."""
    return (
        Signature.objects.counted()
        .exclude(moderation__held=True)
        .exclude(**{f"moderation__hide_{field_name}": True})
    )


def groups_at_least_k(letter, field_name: str, k: int) -> list[tuple[str, int]]:
    rows = (
        shown_group_signatures(field_name)
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
MODERATION_COLUMNS = ("held", *(f"hide_{name}" for name in MODERATED_FIELDS))


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
    # The signature's public id (the manifest lists it too), for reports.
    id: str = ""
    # Fields the organizers hid (or that wait for their review) that would
    # otherwise show: the list says so in their place.
    hidden: frozenset[str] = frozenset()
    # The text waits for an organizer's review (the campaign's hold list).
    waiting_review: bool = False

    @property
    def moderation(self) -> dict | None:
        """What the API says of the organizers' moderation of this row."""
        if self.waiting_review:
            state = "waiting_for_review"
        elif self.hidden:
            state = "hidden"
        else:
            return None
        return {"state": state, "fields": [f for f in MODERATED_FIELDS if f in self.hidden]}


SHOWN_FIELDS = ("pseudonym", "public_name", "department", "location", "comment")


def moderation_of(sig) -> SignatureModeration | None:
    try:
        return sig.moderation
    except SignatureModeration.DoesNotExist:
        return None


def _commitment(sig, shown_values: dict, held_back: set[str]) -> dict | None:
    """Held-back fields go to the disclosure's hashes: the salt of hidden
    text is never published, so the list discloses nothing of it."""
    if not sig.salt:
        return None
    shown = {
        name
        for name, value in shown_values.items()
        if name not in held_back and value == getattr(sig, name)
    }
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


class DisclosureRules:
    """The public list's rules for the signatures of one letter.

    - A public name shows once the letter's count reaches the signer's
      reveal_at (at once when reveal_at is empty).
    - A department or location shows only if its group holds at least k
      signatures; when both would show but their combination holds fewer
      than k, only the department shows (the pair would single people out).
    - What the organizers hid, or what waits for their review, does not
      show; groups are counted without hidden values (shown_group_signatures).

    `would_show` applies the first two rules only: what the public would see
    without moderation. Organizers review that, never more (a name below its
    threshold or a group under k stays out of their pages too).
    """

    def __init__(self, letter, figures: LetterFigures):
        self.figures = figures
        self.big_departments = {name for name, _n in figures.departments}
        self.big_locations = {name for name, _n in figures.locations}
        self.pairs: dict[tuple[str, str], int] = {}
        if self.big_departments and self.big_locations:
            rows = (
                shown_group_signatures("department")
                .exclude(moderation__hide_location=True)
                .filter(
                    letter=letter,
                    department__in=self.big_departments,
                    location__in=self.big_locations,
                )
                .values("department", "location")
                .annotate(n=Count("id"))
            )
            self.pairs = {(row["department"], row["location"]): row["n"] for row in rows}

    def would_show(self, sig) -> dict[str, str]:
        figures = self.figures
        department = sig.department if sig.department in self.big_departments else ""
        location = sig.location if sig.location in self.big_locations else ""
        if department and location and self.pairs.get((department, location), 0) < figures.k:
            location = ""
        revealed = bool(sig.public_name) and (
            sig.reveal_at is None or figures.count >= sig.reveal_at
        )
        return {
            "pseudonym": sig.pseudonym,
            "public_name": sig.public_name if revealed else "",
            "department": department,
            "location": location,
            "comment": sig.comment,
        }

    def public_row(self, sig) -> PublicSignature:
        """`sig` comes with its moderation (select_related)."""
        would_show = self.would_show(sig)
        moderation = moderation_of(sig)
        held_back = set(moderation.hidden_fields) if moderation is not None else set()
        shown = {name: "" if name in held_back else value for name, value in would_show.items()}
        return PublicSignature(
            **shown,
            log_index=sig.log_index,
            commitment=_commitment(sig, shown, held_back),
            id=str(sig.pk),
            hidden=frozenset(name for name in held_back if would_show[name]),
            waiting_review=moderation is not None and moderation.held,
        )


def public_signature_rows(letter, signatures, figures: LetterFigures) -> list[PublicSignature]:
    """Apply the disclosure rules (DisclosureRules) to signatures of one
    letter, which come with their moderation (select_related)."""
    rules = DisclosureRules(letter, figures)
    return [rules.public_row(sig) for sig in signatures]


def public_signatures_page(letter, page_number: int):
    """(Paginator page, rows, figures) of a letter's counted signatures.

    Ordered by the random primary key: a shuffle, not the order of signing.
    """
    from django.core.paginator import Paginator

    figures = letter_figures(letter)
    queryset = (
        Signature.objects.counted()
        .filter(letter=letter)
        .select_related("moderation")
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
            *(f"moderation__{name}" for name in MODERATION_COLUMNS),
        )
        .order_by("id")
    )
    paginator = Paginator(queryset, PUBLIC_PAGE_SIZE, allow_empty_first_page=True)
    page = paginator.page(page_number)
    return page, public_signature_rows(letter, page.object_list, figures), figures

"""Read-only queries about signatures: public figures and lists."""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.core.cache import cache, caches
from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone

from core.redis import redis_client
from core.unavailable import REDIS_DOWN
from signatures import tlog
from signatures.log_selectors import latest_checkpoint
from signatures.models import (
    MODERATED_FIELDS,
    Issuance,
    PendingSignature,
    PendingWithdrawal,
    Signature,
    SignatureModeration,
)

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
    """(spelling shown, signatures) of the groups holding at least k, largest first."""
    rows = (
        shown_group_signatures(field_name)
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
    """Drop the cached figures and timeline (after a signature or withdrawal).

    Called after the change is committed: with the cache unreachable there
    is nothing to drop now, and a copy that survived an outage expires
    within FIGURES_CACHE_SECONDS.
    """
    keys = [f"letter-figures:{letter.pk}", f"letter-timeline:{letter.pk}"]
    client = redis_client()
    try:
        if client is None:
            cache.delete_many(keys)
        else:
            client.delete(*(caches["default"].make_and_validate_key(key) for key in keys))
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
    - A department or location shows only if its group (canonical_groups:
      spellings equal up to case and spacing) holds at least k signatures,
      in the group's one spelling; when both would show but their
      combination holds fewer than k, only the department shows (the pair
      would single people out).
    - What the organizers hid, or what waits for their review, does not
      show; groups are counted without hidden values (shown_group_signatures).

    `would_show` applies the first two rules only: what the public would see
    without moderation. Organizers review that, never more (a name below its
    threshold or a group under k stays out of their pages too).
    """

    def __init__(self, letter, figures: LetterFigures):
        self.figures = figures
        # Group key -> the spelling shown (figures list groups by their shown spelling).
        self.big_departments = {group_key(name): name for name, _n in figures.departments}
        self.big_locations = {group_key(name): name for name, _n in figures.locations}
        self.pairs: Counter[tuple[str, str]] = Counter()
        if self.big_departments and self.big_locations:
            rows = (
                shown_group_signatures("department")
                .exclude(moderation__hide_location=True)
                .filter(letter=letter)
                .exclude(department="")
                .exclude(location="")
                .values("department", "location")
                .annotate(n=Count("id"))
                .order_by()
            )
            for row in rows:
                self.pairs[group_key(row["department"]), group_key(row["location"])] += row["n"]

    def would_show(self, sig) -> dict[str, str]:
        figures = self.figures
        department_key, location_key = group_key(sig.department), group_key(sig.location)
        department = self.big_departments.get(department_key, "")
        location = self.big_locations.get(location_key, "")
        if department and location and self.pairs[department_key, location_key] < figures.k:
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


# --- the timeline: signatures and tokens per day ---------------------------------
#
# Days only, never finer: a signature's day is the UTC day of its stored hour
# (signatures written together in a batch share the batch's hour, so they
# share its day), an issuance's its stored day. A day is shown on its own only
# when each of its figures is 0 or at least k, like a department: a quieter
# day is merged with the days after it into one period until the period's
# figures are, so no row of the timeline singles out fewer than k people
# ("the one token issued on Tuesday, the one signature on Tuesday"). The
# last, unfinished period is merged into the ones before it; if nothing
# is left it is the whole history, whose figures are the public totals.


def counted_signatures_per_day(letter) -> dict[dt.date, int]:
    """Counted (not withdrawn) signatures of the letter per day of their stored
    hour. The timeline's only read of signed_hour: if signatures come to carry
    their time another way (their batch's), only this changes."""
    rows = (
        Signature.objects.counted()
        .filter(letter=letter)
        .annotate(day=TruncDate("signed_hour", tzinfo=dt.UTC))
        .values("day")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {row["day"]: row["n"] for row in rows}


def tokens_issued_per_day(letter) -> dict[dt.date, int]:
    """Tokens issued for the letter per stored day (aliases are no tokens)."""
    rows = (
        Issuance.objects.filter(letter=letter, is_alias=False)
        .values("issued_on")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {row["issued_on"]: row["n"] for row in rows}


@dataclass(frozen=True)
class TimelinePeriod:
    first_day: dt.date
    last_day: dt.date
    signatures: int
    tokens_issued: int
    # Counted signatures up to the end of this period.
    total: int

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1


@dataclass(frozen=True)
class Timeline:
    periods: list[TimelinePeriod]
    count: int
    tokens_issued: int
    goal: int
    k: int

    @property
    def merged(self) -> bool:
        """Whether some period spans more than one day."""
        return any(period.days > 1 for period in self.periods)

    @property
    def busiest_day(self) -> int:
        """The most signatures of a period that is a single day (0 if none is)."""
        return max((p.signatures for p in self.periods if p.days == 1), default=0)


def _shows(n: int, k: int) -> bool:
    return n == 0 or n >= k


def timeline_periods(days, signatures: dict, tokens: dict, k: int) -> list[TimelinePeriod]:
    """Consecutive `days` grouped into periods whose figures are each 0 or at
    least k (see above); with each period's running total of signatures."""
    closed: list[list] = []
    current = None
    for day in days:
        if current is None:
            current = [day, day, 0, 0]
        current[1] = day
        current[2] += signatures.get(day, 0)
        current[3] += tokens.get(day, 0)
        if _shows(current[2], k) and _shows(current[3], k):
            closed.append(current)
            current = None
    if current is not None:
        while closed and not (_shows(current[2], k) and _shows(current[3], k)):
            first, _last, n, t = closed.pop()
            current = [first, current[1], n + current[2], t + current[3]]
        closed.append(current)
    periods, total = [], 0
    for first, last, n, t in closed:
        total += n
        periods.append(TimelinePeriod(first, last, n, t, total))
    return periods


def _timeline_days(letter, active: set[dt.date]) -> list[dt.date]:
    """From the day the letter opened to the day it closed (today while open)."""
    today = timezone.now().date()
    first = letter.opened_at.date() if letter.opened_at else today
    last = letter.closed_at.date() if letter.closed_at else today
    if active:
        first, last = min(first, *active), max(last, *active)
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


def letter_timeline(letter, *, use_cache: bool = True) -> Timeline:
    """Signatures and tokens issued per day (or per period of quiet days),
    cached like the figures; counted afresh when the cache is unreachable."""
    key = f"letter-timeline:{letter.pk}"
    if use_cache:
        try:
            cached = cache.get(key)
        except REDIS_DOWN:
            return _counted_timeline(letter)
        if cached is not None:
            return cached
    timeline = _counted_timeline(letter)
    try:
        cache.set(key, timeline, FIGURES_CACHE_SECONDS)
    except REDIS_DOWN:
        pass
    return timeline


def _counted_timeline(letter) -> Timeline:
    k = letter.campaign.k_threshold
    signatures = counted_signatures_per_day(letter)
    tokens = tokens_issued_per_day(letter)
    days = _timeline_days(letter, set(signatures) | set(tokens))
    return Timeline(
        periods=timeline_periods(days, signatures, tokens, k),
        count=sum(signatures.values()),
        tokens_issued=sum(tokens.values()),
        goal=letter.goal,
        k=k,
    )


def waiting_for_batch(letter) -> bool:
    """Whether a signature or a withdrawal of the letter waits for its batch."""
    return (
        PendingSignature.objects.filter(letter_id=letter.pk).exists()
        or PendingWithdrawal.objects.filter(letter_id=letter.pk).exists()
    )

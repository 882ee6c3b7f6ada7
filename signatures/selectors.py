"""Read-only queries about signatures: public figures and lists."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from time import monotonic

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


# --- the letter of a signing request -------------------------------------------------

# Letter fields a signing request uses; the others load lazily if touched.
_SIGNING_LETTER_FIELDS = {
    "id",
    "campaign_id",
    "slug",
    "state",
    "visibility",
    "unlisted_token",
    "deadline",
    "text_hash",
}
_signing_sql: dict[str, tuple[str, list]] = {}


def _signing_letter_query(vendor: str) -> tuple[str, list]:
    """(SQL, letter fields in model order) of letter_for_signing."""
    from letters.models import Letter
    from organizing.models import Campaign
    from signatures.models import Attestation, IssuerKey

    fields = [f for f in Letter._meta.concrete_fields if f.attname in _SIGNING_LETTER_FIELDS]
    if vendor == "postgresql":
        ids = "string_agg(a.id::text, ',')"
    else:
        ids = "group_concat(a.id, ',')"
    columns = ", ".join(f"l.{f.column}" for f in fields)
    sql = (
        f"SELECT {columns}, c.allowed_domains, k.id, k.key_id, "  # noqa: S608 - model names only
        f"(SELECT {ids} FROM {Attestation._meta.db_table} a "
        "WHERE a.campaign_id = l.campaign_id AND a.active) "
        f"FROM {Letter._meta.db_table} l "
        f"JOIN {Campaign._meta.db_table} c ON c.id = l.campaign_id "
        f"LEFT JOIN {IssuerKey._meta.db_table} k ON k.letter_id = l.id "
        "WHERE l.slug = %s"
    )
    return sql, fields


def letter_for_signing(slug: str):
    """The letter addressed by a signing request (token issuance, redemption),
    or None, in one raw query: the ORM's query compilation cost more CPU than
    the rest of a redemption (bench/signing.py, docs/benchmarks.md).

    Loads only what those requests use: the letter's state, deadline,
    visibility and text hash; its campaign's `allowed_domains` (other campaign
    fields load lazily); its issuer key row (`private_key_encrypted` loads
    lazily, once per process, see signatures.keys); and, as
    `letter.required_attestation_ids`, the ids of the campaign's active
    attestations. Always a fresh read; cached_letter_for_signing keeps the
    result of one for the next requests.
    """
    from django.db import connection

    from letters.models import Letter
    from organizing.models import Campaign
    from signatures.models import IssuerKey

    query = _signing_sql.get(connection.vendor)
    if query is None:
        query = _signing_sql[connection.vendor] = _signing_letter_query(connection.vendor)
    sql, fields = query
    with connection.cursor() as cursor:
        cursor.execute(sql, [slug])
        row = cursor.fetchone()
    if row is None:
        return None
    values = []
    for model_field, value in zip(fields, row, strict=False):
        col = model_field.get_col("l")
        converters = connection.ops.get_db_converters(col) + model_field.get_db_converters(
            connection
        )
        for converter in converters:
            value = converter(value, col, connection)
        values.append(value)
    domains, key_pk, key_id, attestation_ids = row[len(fields) :]
    domains_field = Campaign._meta.get_field("allowed_domains")
    domains = domains_field.from_db_value(domains, None, connection)
    letter = Letter.from_db(connection.alias, [f.attname for f in fields], values)
    letter.campaign = Campaign.from_db(
        connection.alias, ["id", "allowed_domains"], [letter.campaign_id, domains]
    )
    if key_pk is not None:
        letter.issuer_key = IssuerKey.from_db(
            connection.alias, ["id", "letter_id", "key_id"], [key_pk, letter.pk, key_id]
        )
    letter.required_attestation_ids = (
        {int(x) for x in str(attestation_ids).split(",")} if attestation_ids else set()
    )
    return letter


# --- the signing letter, kept between requests -----------------------------------------

# How long a worker process reuses an open letter it has loaded for signing.
# Reuse is safe however stale the copy is: the copy is only kept while the
# letter is open with an issuer key, when its text hash and key can no longer
# change; every other condition (state, deadline, address, visibility,
# statements, invite code) is checked again by the statement that records the
# issuance or the signature (signatures.services, "guarded INSERT"); and a
# request refused on a kept copy is retried on a fresh read before it is
# answered. The time limit bounds only how long a worker keeps a closed
# letter's key in memory and the campaign's email domains it uses.
SIGNING_LETTER_KEEP_SECONDS = 60
SIGNING_LETTERS_KEPT_MAX = 256
_kept_letters: dict[str, tuple[float, object]] = {}


def cached_letter_for_signing(slug: str):
    """The open letter at `slug` as loaded by an earlier signing request in
    this process, or None (not loaded yet, expired, or not open then).

    One request in SIGNING_LETTER_KEEP_SECONDS reads the letter
    (letter_for_signing) and keeps it here: that saves the query for all the
    others (bench/signing.py). Callers must only trust the immutable parts
    (id, campaign, text hash, issuer key) and retry a refusal on a fresh read.
    """
    kept = _kept_letters.get(slug)
    if kept is None:
        return None
    expires, letter = kept
    if expires < monotonic():
        _kept_letters.pop(slug, None)
        return None
    return letter


def letter_for_signing_kept(slug: str):
    """letter_for_signing, kept for the next requests if it is open and has
    its issuer key (see cached_letter_for_signing)."""
    letter = letter_for_signing(slug)
    if letter is None or not letter.is_open or not hasattr(letter, "issuer_key"):
        _kept_letters.pop(slug, None)
        return letter
    if len(_kept_letters) >= SIGNING_LETTERS_KEPT_MAX:
        _kept_letters.clear()
    _kept_letters[slug] = (monotonic() + SIGNING_LETTER_KEEP_SECONDS, letter)
    return letter


def signing_letter_forget(slug: str) -> None:
    """Drop the kept letter at `slug` (a fresh read found it closed or gone)."""
    _kept_letters.pop(slug, None)


def signing_letters_forget() -> None:
    """Drop every kept letter of this process (tests)."""
    _kept_letters.clear()

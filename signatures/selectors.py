"""Read-only queries about signatures: public figures and lists."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.cache import cache
from django.db.models import Count

from signatures.models import Issuance, Signature

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
    key = f"letter-figures:{letter.pk}"
    if use_cache:
        cached = cache.get(key)
        if cached is not None:
            return cached
    k = letter.campaign.k_threshold
    figures = LetterFigures(
        count=Signature.objects.counted().filter(letter=letter).count(),
        tokens_issued=Issuance.objects.filter(letter=letter).count(),
        goal=letter.goal,
        departments=groups_at_least_k(letter, "department", k),
        locations=groups_at_least_k(letter, "location", k),
        k=k,
    )
    cache.set(key, figures, FIGURES_CACHE_SECONDS)
    return figures


def letter_figures_forget(letter) -> None:
    """Drop the cached figures (after a signature or withdrawal)."""
    cache.delete(f"letter-figures:{letter.pk}")

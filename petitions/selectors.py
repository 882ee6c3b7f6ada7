"""Read-only queries about petition exports."""

from __future__ import annotations

from dataclasses import dataclass

from petitions.models import Export


def delivered_export(letter) -> Export | None:
    """The export recorded as the letter's delivered petition, if any (a
    letter is delivered once: Delivery is one to one with it)."""
    return Export.objects.filter(letter=letter, delivery__isnull=False).first()


@dataclass(frozen=True)
class Standing:
    """Where a finished export stands against the letter's delivery."""

    export: Export
    delivered_export: Export | None

    @property
    def is_delivered(self) -> bool:
        """This export is the petition that was delivered."""
        return self.delivered_export is not None and self.delivered_export.pk == self.export.pk

    @property
    def is_superseded(self) -> bool:
        """Another export of the letter was delivered: this one is an earlier
        export, not the delivered petition."""
        return self.delivered_export is not None and not self.is_delivered


def export_standing(export: Export) -> Standing:
    return Standing(export=export, delivered_export=delivered_export(export.letter))

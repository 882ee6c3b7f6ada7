"""manage.py seal_batches [<letter-slug>] [--now]: seal the batches that are due.

Celery beat does this every minute; the command is for operators (a deploy
without beat, a letter to flush before an export). `--now` seals whatever
waits, whatever its size, and says how many signatures that exposes: a small
batch gives its signers a small crowd to hide in.
"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_slug

from letters.models import Letter
from signatures.models import PendingSignature
from signatures.services.batches import batches_seal_due


class Command(BaseCommand):
    help = "Seal the letters' signature batches that are due (or, with --now, all)."

    def add_arguments(self, parser):
        parser.add_argument("slug", nargs="?", help="only this letter")
        parser.add_argument("--now", action="store_true", help="seal what waits whatever its size")

    def handle(self, *args, slug=None, now=False, **options):
        if slug is not None and not (_is_slug(slug) and Letter.objects.filter(slug=slug).exists()):
            raise CommandError(f"No letter has the short name {slug!r}.")
        sealed = batches_seal_due(slug=slug, force=now)
        for batch in sealed:
            self.stdout.write(
                f"{batch.letter_slug}: sealed {batch.signatures} signature(s) and "
                f"{batch.withdrawals} withdrawal(s); the log now has {batch.tree_size} entries."
            )
            if now and batch.signatures < batch.smallest:
                self.stdout.write(
                    self.style.WARNING(
                        f"  --now exposed a batch of {batch.signatures} where the campaign "
                        f"asks for at least {batch.smallest}: these signers hide among "
                        f"{batch.signatures}, not {batch.smallest}."
                    )
                )
        if not sealed:
            waiting = PendingSignature.objects.filter(
                **({} if slug is None else {"letter__slug": slug})
            ).count()
            self.stdout.write(
                f"Nothing was due ({waiting} signature(s) waiting; use --now to seal anyway)."
            )


def _is_slug(text: str) -> bool:
    """Whether `text` can be a letter's short name (letters' SlugField):
    anything else, such as a command line that is not UTF-8, which Python
    gives as lone surrogates, is not looked up at all."""
    try:
        validate_slug(text)
    except ValidationError:
        return False
    return True

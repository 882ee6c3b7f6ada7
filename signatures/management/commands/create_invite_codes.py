"""manage.py create_invite_codes <campaign-slug> --count N [--batch LABEL]"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from organizing.models import Campaign
from signatures.services.common import INVITE_CODES_MAX_BATCH
from signatures.services.eligibility import invite_codes_create


class Command(BaseCommand):
    help = (
        "Create invite codes for a campaign and print them, one a line. "
        "They are stored only as HMACs: this is the only time they are shown."
    )

    def add_arguments(self, parser):
        parser.add_argument("campaign", help="the campaign's short name (slug)")
        parser.add_argument(
            "--count", type=int, required=True, help=f"1 to {INVITE_CODES_MAX_BATCH}"
        )
        parser.add_argument("--batch", default="", help="a label for bookkeeping")

    def handle(self, *args, campaign, count, batch, **options):
        found = Campaign.objects.filter(slug=campaign).first()
        if found is None:
            raise CommandError(f"No campaign with the short name {campaign!r}.")
        try:
            codes = invite_codes_create(actor=None, campaign=found, count=count, batch=batch)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        for code in codes:
            self.stdout.write(code)

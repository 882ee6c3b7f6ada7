"""Print the current two-factor codes of the demo accounts (demo data only)."""

from django.core.management.base import BaseCommand

from organizing.management.commands.seed_demo import DEMO_ACCOUNTS
from organizing.mfa import totp_current_code


class Command(BaseCommand):
    help = "Print the current TOTP codes of the demo organizer and delegate."

    def handle(self, *args, **options):
        for email, _password, role, _name, secret in DEMO_ACCOUNTS:
            if secret:
                self.stdout.write(f"{role:<10} {email:<26} {totp_current_code(secret)}")

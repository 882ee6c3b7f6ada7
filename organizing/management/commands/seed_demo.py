"""Create (or refresh) the demo campaign and its three accounts. Idempotent."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.urls import reverse

from organizing.mfa import (
    acting_from_command_line,
    recovery_codes,
    totp_current_code,
    totp_enable,
)
from organizing.models import Campaign, Membership, Role, User
from organizing.services import audit_record, user_create_verified
from organizing.signals import demo_seeded

DEMO_SLUG = "demo"
# Base32 secrets for the demo authenticators; demo data only.
DEMO_ACCOUNTS = [
    (
        "organizer@demo.invalid",
        "demo-organizer-pass",
        Role.ORGANIZER,
        "Ada (organizer)",
        "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
    ),
    (
        "delegate@demo.invalid",
        "demo-delegate-pass",
        Role.DELEGATE,
        "Grace (delegate)",
        "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU",
    ),
    ("member@demo.invalid", "demo-member-pass", Role.MEMBER, "Linus (member)", None),
]


class Command(BaseCommand):
    help = "Create the demo campaign 'demo' with an organizer, a delegate and a member."

    def handle(self, *args, **options):
        with transaction.atomic():
            campaign, created = Campaign.objects.get_or_create(
                slug=DEMO_SLUG,
                defaults={
                    "name": "Stop keystroke logging",
                    "employer_name": "Example Corp",
                    "description": (
                        "Our work laptops log every keystroke, possibly to train AI models. "
                        "We ask leadership to stop."
                    ),
                    "allowed_domains": ["example.com"],
                    "k_threshold": 5,
                    "approval_quorum": 2,
                },
            )
            accounts = {}
            for email, password, role, display_name, secret in DEMO_ACCOUNTS:
                user = User.objects.filter(email=email).first()
                if user is None:
                    user = user_create_verified(email=email, password=password)
                else:
                    # Keep the printed password true even if someone changed it.
                    user.set_password(password)
                    user.save(update_fields=["password"])
                if secret:
                    totp_enable(user, secret)
                Membership.objects.update_or_create(
                    campaign=campaign,
                    user=user,
                    defaults={"role": role, "display_name": display_name},
                )
                # seed_demo runs on the server's command line (organizing.mfa).
                accounts[role] = acting_from_command_line(user)
            if created:
                audit_record(
                    campaign=campaign,
                    actor=None,
                    action="campaign.create",
                    obj=campaign,
                    summary="demo data",
                )
            # Other apps add their demo content (organizing.signals).
            demo_seeded.send(
                sender=self.__class__, campaign=campaign, accounts=accounts, stdout=self.stdout
            )

        self.stdout.write(self.style.SUCCESS("Demo campaign ready: /c/demo/"))
        login_url = settings.SITE_URL + reverse("account_login")
        self.stdout.write(f"Log in at {login_url} with:")
        for email, password, role, _name, secret in DEMO_ACCOUNTS:
            line = f"  {role:<10} {email:<26} password: {password}"
            self.stdout.write(line)
            if secret:
                user = User.objects.get(email=email)
                codes = ", ".join(recovery_codes(user)[:3])
                self.stdout.write(
                    f"             two-factor: TOTP secret {secret} "
                    f"(code now: {totp_current_code(secret)}; "
                    f"`manage.py demo_codes` prints fresh ones), recovery codes: {codes}"
                )

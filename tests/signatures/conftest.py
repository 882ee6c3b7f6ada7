import re

import pytest
from django.core import mail

from signatures.models import Attestation
from tests.signatures.factories import open_letter


@pytest.fixture
def letter(roles):
    """An open letter of the `acme` campaign (domain example.com) with two
    required statements."""
    roles.campaign.allowed_domains = ["example.com"]
    roles.campaign.save()
    Attestation.objects.create(campaign=roles.campaign, text="I work here", position=0)
    Attestation.objects.create(campaign=roles.campaign, text="I am not a manager", position=1)
    return open_letter(roles.campaign, slug="stop-logging")


@pytest.fixture
def attestation_ids(letter):
    return list(
        Attestation.objects.filter(campaign=letter.campaign, active=True).values_list(
            "id", flat=True
        )
    )


@pytest.fixture
def scheduled(settings, letter):
    """The production configuration: batches of 3, at least 15 minutes apart."""
    settings.SIGNATURE_BATCHES = "scheduled"
    letter.campaign.batch_min = 3
    letter.campaign.batch_interval = 15
    letter.campaign.save()
    return letter


def last_code(address: str) -> str:
    for message in reversed(mail.outbox):
        if message.to == [address.lower()]:
            match = re.search(r"Your code: (\d{4}) (\d{4})", message.body)
            assert match, message.body
            return match.group(1) + match.group(2)
    raise AssertionError(f"no code was sent to {address}")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """The roles fixture hashes four passwords; PBKDF2 makes that seconds."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

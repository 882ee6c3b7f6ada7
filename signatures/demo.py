"""Demo content for `manage.py seed_demo` (registered in SignaturesConfig.ready)."""

from __future__ import annotations

from letters.models import Letter, LetterState
from signatures.models import Attestation
from signatures.services import eligibility, issuance, log

DEMO_ATTESTATIONS = [
    "I am a current employee of Example Corp.",
    "I am signing only once, for myself.",
]
DEMO_INVITE_BATCH = "demo"
DEMO_INVITE_CODES = 5


def seed_signatures_demo(*, campaign, accounts, stdout, **kwargs) -> None:
    """Idempotent: attestations once, issuer keys and logs for open letters, and a
    fresh batch of invite codes printed on each run (codes are stored as
    HMACs only, so earlier ones cannot be printed again)."""
    for position, text in enumerate(DEMO_ATTESTATIONS):
        Attestation.objects.get_or_create(
            campaign=campaign, text=text, defaults={"position": position}
        )
    for letter in Letter.objects.filter(campaign=campaign, state=LetterState.OPEN):
        issuance.issuer_key_create(letter=letter)
        log.log_open(letter=letter)
    codes = eligibility.invite_codes_create(
        actor=None, campaign=campaign, count=DEMO_INVITE_CODES, batch=DEMO_INVITE_BATCH
    )
    stdout.write("Invite codes for signing the demo letter (each good for one signature):")
    for code in codes:
        stdout.write(f"  {code}")
    stdout.write("Or verify with any address @example.com: the code is printed on this console.")

"""Demo letters for `manage.py seed_demo` (registered in LettersConfig.ready)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from letters import services
from letters.models import Letter, LetterState
from organizing.mfa import acting_from_command_line, totp_enable
from organizing.models import Membership, Role, User
from organizing.services import user_create_verified

DEMO_OPEN_SLUG = "stop-keystroke-logging"
DEMO_DRAFT_SLUG = "right-to-disconnect"
# Extra organizers so the demo letter reaches the campaign's approval quorum.
EXTRA_ORGANIZERS = [
    (
        "organizer2@demo.invalid",
        "demo-organizer2-pass",
        "Katherine (organizer)",
        "MFRGGZDFMZTWQ2LKMFRGGZDFMZTWQ2LK",
    ),
    (
        "organizer3@demo.invalid",
        "demo-organizer3-pass",
        "Edsger (organizer)",
        "NBSWY3DPFQQHO33SNRSCCIJBNBSWY3DP",
    ),
]

OPEN_TITLE = "Stop logging our keystrokes"
OPEN_SUMMARY = (
    "Since March, software on every work laptop records what we type. "
    "We ask leadership to switch it off and delete what it collected."
)
OPEN_BODY = """\
To the leadership of Example Corp,

Since March, the "productivity insights" agent installed on every work laptop
records **every keystroke** we type, together with screenshots taken every few
minutes. Nobody asked us, and the only notice was a line in an updated IT policy.

This software sees our passwords, our messages to doctors and family during
breaks, and drafts we never send. A vendor's [published documentation][vendor]
says the data may be used to *train AI models*. We cannot do good work while
being treated as suspects.

We are not against measuring results. We are against measuring people's
fingers.

We, the undersigned employees, ask you to:

[vendor]: https://example.com/vendor-documentation
"""
OPEN_DEMANDS = [
    "Switch off keystroke logging and periodic screenshots on all work devices within 30 days.",
    "Delete every keystroke log and screenshot collected so far, and confirm it in writing.",
    "Agree to any future monitoring with employee representatives before it is deployed.",
]

DRAFT_TITLE = "A right to disconnect after hours"
DRAFT_BODY = """\
To the leadership of Example Corp,

Chat messages at 11 pm are not an emergency. *Draft: please comment.*
"""
DRAFT_DEMANDS = ["No expectation to answer messages outside working hours."]


DEMO_UPDATE_TITLE = "The letter is open"
DEMO_UPDATE_BODY = """\
Thank you for reading. Sign if you work here, and tell colleagues you trust
**in person**, not over work chat. We will post here when we deliver it.
"""


def _organizers(campaign, accounts, stdout):
    organizers = [accounts["organizer"]]
    for email, password, display_name, secret in EXTRA_ORGANIZERS:
        if len(organizers) >= campaign.approval_quorum:
            break
        user = User.objects.filter(email=email).first()
        if user is None:
            user = user_create_verified(email=email, password=password)
        else:
            user.set_password(password)
            user.save(update_fields=["password"])
        totp_enable(user, secret)
        Membership.objects.update_or_create(
            campaign=campaign,
            user=user,
            defaults={"role": Role.ORGANIZER, "display_name": display_name},
        )
        stdout.write(f"  organizer  {email:<26} password: {password}")
        stdout.write(f"             two-factor: TOTP secret {secret} (`manage.py demo_codes`)")
        organizers.append(user)
    # seed_demo runs on the server's command line (organizing.mfa).
    return [acting_from_command_line(user) for user in organizers]


def seed_letters(*, campaign, accounts, stdout, **kwargs):
    """Idempotent: an open public letter with an update, and a draft, in the
    demo campaign."""
    organizers = _organizers(campaign, accounts, stdout)
    first = organizers[0]
    letter = Letter.objects.filter(slug=DEMO_OPEN_SLUG).first()
    if letter is None:
        letter = services.letter_create(
            actor=first,
            campaign=campaign,
            slug=DEMO_OPEN_SLUG,
            title=OPEN_TITLE,
            summary=OPEN_SUMMARY,
            body=OPEN_BODY,
            demands=OPEN_DEMANDS,
            goal=500,
            deadline=timezone.now() + timedelta(days=90),
            note="first draft",
        )
    if letter.state == LetterState.DRAFT:
        services.letter_submit_for_review(actor=first, letter=letter)
    if letter.state == LetterState.REVIEW:
        for organizer in organizers:
            services.letter_approve(actor=organizer, letter=letter)
        if services.approval_count(letter) >= campaign.approval_quorum:
            services.letter_open(actor=first, letter=letter)
        else:
            stdout.write("Demo letter stays in review: the campaign needs more approvals.")
    if letter.state == LetterState.OPEN and not letter.updates.exists():
        services.update_post(
            actor=first,
            letter=letter,
            title=DEMO_UPDATE_TITLE,
            body=DEMO_UPDATE_BODY,
        )
    if not Letter.objects.filter(slug=DEMO_DRAFT_SLUG).exists():
        services.letter_create(
            actor=first,
            campaign=campaign,
            slug=DEMO_DRAFT_SLUG,
            title=DRAFT_TITLE,
            body=DRAFT_BODY,
            demands=DRAFT_DEMANDS,
            goal=300,
        )
    stdout.write(f"Demo letter: /letters/{letter.slug}/ ({letter.get_state_display()})")

"""Rows for the tables `manage.py seed_demo` leaves empty (channels, messages,
keys, signatures, exports, deliveries, comments, groups, the admin log,
sessions), so that
scripts/check-migrate-copy.sh migrates a database with a row in every table.

Written against the models of commit 1d16306 and run INSIDE the old tree
(PYTHONPATH=<old tree>), after its seed_demo: it describes the old code, and
is not updated when the code moves.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os

import django

# It runs inside the OLD tree (check-migrate-copy.sh), whose settings may
# still be organizing.settings (before the move to config/).
os.environ.setdefault(
    "DJANGO_SETTINGS_MODULE",
    "config.settings" if os.path.exists("config/settings.py") else "organizing.settings",
)
django.setup()

# Models can only be imported once Django is set up.
from allauth.account.models import EmailAddress, EmailConfirmation  # noqa: E402
from django.contrib.admin.models import CHANGE, LogEntry  # noqa: E402
from django.contrib.auth.models import Group, Permission  # noqa: E402
from django.contrib.contenttypes.models import ContentType  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.db import transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from letters.models import Comment, Letter, LetterState  # noqa: E402
from organizing import services  # noqa: E402
from organizing.models import (  # noqa: E402
    Campaign,
    ChannelKeyEpoch,
    DiscussionChannel,
    MemberDeviceKey,
    Membership,
    Message,
    Role,
    WrappedKey,
)
from signatures.export.models import (  # noqa: E402
    CampaignKey,
    DelegateKey,
    Delivery,
    DeliveryMethod,
    Export,
)
from signatures.models import EmailCode, Issuance, Signature  # noqa: E402

try:  # since 1fab612, services need a session that completed MFA
    from organizing.mfa import acting_from_command_line as command_line  # noqa: E402
except ImportError:  # an older tree: the account's MFA was enough

    def command_line(user):
        return user


@transaction.atomic
def populate() -> None:
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    campaign = Campaign.objects.get(slug="demo")
    organizer = Membership.objects.filter(campaign=campaign, role=Role.ORGANIZER).order_by("pk")[0]
    members = list(Membership.objects.filter(campaign=campaign).order_by("pk"))
    services.invitation_create(
        actor=command_line(organizer.user), campaign=campaign, label="copy check"
    )

    channel = DiscussionChannel.objects.create(campaign=campaign, name="copy check", last_seq=3)
    devices = [
        MemberDeviceKey.objects.create(
            membership=member, public_key=f"key-{member.pk}", fingerprint=f"{member.pk:064x}"
        )
        for member in members
    ]
    ChannelKeyEpoch.objects.create(
        channel=channel, number=1, keyholder=devices[0], established_at=hour
    )
    for device in devices:
        WrappedKey.objects.create(
            channel=channel,
            epoch=1,
            recipient=device,
            wrapper_public_key=devices[0].public_key,
            wrapper_fingerprint=devices[0].fingerprint,
            wrapped="w" * 54,
            salt="s" * 22,
        )
    for seq in (1, 2, 3):
        Message.objects.create(
            channel=channel,
            seq=seq,
            epoch=1,
            sender=members[seq % len(members)],
            ciphertext="c" * 40,
            iv="i" * 16,
            created_hour=hour,
        )

    letter = Letter.objects.filter(campaign=campaign, state=LetterState.OPEN).first()
    EmailCode.objects.create(
        letter=letter, email_hmac="e" * 64, code_hmac="c" * 64, expires_at=hour + dt.timedelta(1)
    )
    for i in range(7):
        Issuance.objects.create(letter=letter, identity_hmac=f"{i:064x}")
        Signature.objects.create(
            letter=letter,
            token_hash=hashlib.sha256(f"token {i}".encode()).hexdigest(),
            receipt_hash=hashlib.sha256(f"receipt {i}".encode()).hexdigest(),
            pseudonym=f"Copy check {i}",
            department="Legal",
            signed_hour=hour,
            attestations=[],
        )
    CampaignKey.objects.create(
        campaign=campaign,
        fingerprint="F" * 40,
        public_key="-----BEGIN PGP PUBLIC KEY BLOCK-----",
        source=CampaignKey.Source.GENERATED,
        created_by=organizer.user,
    )
    DelegateKey.objects.create(
        membership=organizer,
        fingerprint="D" * 40,
        public_key="-----BEGIN PGP PUBLIC KEY BLOCK-----",
    )
    export = Export.objects.create(letter=letter, state_key="k" * 64, status="done", progress=100)
    Delivery.objects.create(
        export=export,
        letter=letter,
        delivered_at=hour,
        recipient="Leadership",
        method=DeliveryMethod.IN_PERSON,
        recorded_by=organizer.user,
    )
    revision = letter.revisions.order_by("number").first()
    Comment.objects.create(
        letter=letter, revision=revision, author=organizer.user, author_name="Org", body="Yes."
    )

    # Django's own tables that point at content types, which a model moving
    # to another app may change.
    user = organizer.user
    permission = Permission.objects.get(codename="view_discussionchannel")
    group = Group.objects.create(name="copy check")
    group.permissions.add(permission)
    user.groups.add(group)
    user.user_permissions.add(permission)
    LogEntry.objects.create(
        user=user,
        content_type=ContentType.objects.get_for_model(DiscussionChannel),
        object_id=str(channel.pk),
        object_repr=str(channel),
        action_flag=CHANGE,
        change_message="copy check",
    )
    EmailConfirmation.objects.create(
        email_address=EmailAddress.objects.filter(user=user).first(), key="k" * 64, sent=hour
    )
    session = SessionStore()
    session["copy-check"] = True
    session.create()


if __name__ == "__main__":
    populate()

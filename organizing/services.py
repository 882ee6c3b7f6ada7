"""State changes for campaigns, memberships, invitations and the audit log.

Views and consumers call these functions; nothing else writes these models.
Every function that acts for an organizer or delegate checks the actor's role
*and* that the session acting completed a second factor (organizing.mfa).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from allauth.account.models import EmailAddress
from allauth.mfa.utils import is_mfa_enabled
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from core import text
from core.db import insert_unless_conflicting
from core.errors import AppError
from organizing import signals
from organizing.mail_providers import public_mail_domains
from organizing.mfa import session_completed_mfa
from organizing.models import (
    PRIVILEGED_ROLES,
    AuditEntry,
    Campaign,
    Invitation,
    Membership,
    Role,
    User,
)


class MFARequired(AppError, PermissionDenied):
    """The actor has the role but this session has not completed a second factor.

    `needs_setup` is true when the account has no second factor at all (set
    one up), false when it has one that this session did not use (confirm it).
    """

    status, code = 403, "mfa_required"

    def __init__(self, message, *, needs_setup: bool):
        super().__init__(message)
        self.needs_setup = needs_setup


class NotPermitted(AppError, PermissionDenied):
    """The actor lacks the role (or the membership) an action needs."""

    status, code = 403, "forbidden"


# --- authorization -----------------------------------------------------------


def membership_for(*, user, campaign: Campaign) -> Membership | None:
    if user is None or not user.is_authenticated:
        return None
    return Membership.objects.filter(campaign=campaign, user=user).first()


def account_has_mfa(user) -> bool:
    """The account has a second factor (whatever this session did)."""
    return bool(user and user.is_authenticated and is_mfa_enabled(user))


def user_passed_mfa(user) -> bool:
    """The account has a second factor and the session acting completed it
    (organizing.mfa says how a request's user is marked)."""
    return account_has_mfa(user) and session_completed_mfa(user)


def require_mfa(user) -> None:
    """Raise MFARequired unless `user` passed a second factor in this session."""
    if user_passed_mfa(user):
        return
    if not account_has_mfa(user):
        raise MFARequired(
            _("Organizers and delegates must enable two-factor authentication first."),
            needs_setup=True,
        )
    raise MFARequired(
        _("Confirm your two-factor authentication in this session first."), needs_setup=False
    )


def require_role(*, user, campaign: Campaign, roles: set[str] | frozenset[str]) -> Membership:
    """Return the actor's membership if it has one of `roles`.

    Raises NotPermitted (a PermissionDenied) otherwise, and MFARequired when the role is an
    organizer or delegate role and this session has not completed a second
    factor of the account.
    """
    membership = membership_for(user=user, campaign=campaign)
    if membership is None or membership.role not in roles:
        raise NotPermitted(_("You do not have the role needed for this action."))
    if membership.role in PRIVILEGED_ROLES:
        require_mfa(user)
    return membership


def require_organizer(*, user, campaign: Campaign) -> Membership:
    return require_role(user=user, campaign=campaign, roles={Role.ORGANIZER})


# --- audit log -----------------------------------------------------------------


def audit_record(
    *, campaign: Campaign, actor, action: str, obj=None, summary: str = ""
) -> AuditEntry:
    """Append an entry. Never pass a signer's identity in `summary`."""
    label = str(actor) if actor is not None else "system"
    return AuditEntry.objects.create(
        campaign=campaign,
        actor=actor if actor is not None and actor.is_authenticated else None,
        actor_label=label[:120],
        action=action,
        object_type=obj._meta.model_name if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        summary=summary[:300],
    )


# --- campaigns -------------------------------------------------------------------


def normalize_domains(raw: list[str] | str) -> list[str]:
    """Lower-case, de-duplicated, validated email domains."""
    items = raw.replace(",", "\n").splitlines() if isinstance(raw, str) else list(raw)
    domains: list[str] = []
    for item in items:
        domain = item.strip().lower().lstrip("@")
        if not domain:
            continue
        labels = domain.split(".")
        if (
            len(domain) > 253
            or len(labels) < 2
            or not all(
                label and len(label) <= 63 and label.replace("-", "").isalnum() for label in labels
            )
        ):
            raise ValidationError(_("“%(domain)s” is not a valid email domain.") % {"domain": item})
        if domain not in domains:
            domains.append(domain)
    return domains


class PublicMailDomain(AppError, ValidationError):
    """A public mail provider (gmail.com, ...) as a work-email domain, not confirmed."""

    code = "public_mail_domain"


def public_mail_domains_added(domains: list[str], *, before: list[str] = ()) -> list[str]:
    """The public mail providers in `domains` that `before` did not allow yet."""
    return [domain for domain in public_mail_domains(domains) if domain not in before]


def _refuse_public_mail_domains(added: list[str], *, confirmed: bool) -> None:
    if added and not confirmed:
        raise PublicMailDomain(public_mail_domain_message(added))


def public_mail_domain_message(domains: list[str]) -> str:
    return ngettext(
        "%(domains)s is a public mail provider: anyone can get an address there and "
        "sign as an employee. Remove it, or confirm below that you mean it.",
        "%(domains)s are public mail providers: anyone can get an address there and "
        "sign as an employee. Remove them, or confirm below that you mean it.",
        len(domains),
    ) % {"domains": ", ".join(domains)}


@transaction.atomic
def campaign_create(
    *,
    creator,
    name: str,
    slug: str,
    employer_name: str,
    allowed_domains: list[str] | str = (),
    description: str = "",
    k_threshold: int | None = None,
    approval_quorum: int | None = None,
    display_name: str = "",
    batch_min: int | None = None,
    batch_interval: int | None = None,
    allow_public_mail_domains: bool = False,
) -> Campaign:
    """Create a campaign; its creator becomes its first organizer.

    A public mail provider among the allowed domains (anyone could sign) is
    refused unless `allow_public_mail_domains` confirms it.
    """
    require_mfa(creator)
    domains = normalize_domains(allowed_domains or [])
    _refuse_public_mail_domains(
        public_mail_domains_added(domains), confirmed=allow_public_mail_domains
    )
    campaign = Campaign(
        name=name,
        slug=slug,
        employer_name=employer_name,
        description=description,
        allowed_domains=domains,
    )
    if k_threshold is not None:
        campaign.k_threshold = k_threshold
    campaign.batch_min = batch_min
    if batch_interval is not None:
        campaign.batch_interval = batch_interval
    if approval_quorum is not None:
        campaign.approval_quorum = approval_quorum
    campaign.full_clean()
    campaign.save()
    Membership.objects.create(
        campaign=campaign,
        user=creator,
        role=Role.ORGANIZER,
        display_name=display_name_clean(display_name) or default_display_name(creator),
    )
    public = public_mail_domains(domains)
    audit_record(
        campaign=campaign,
        actor=creator,
        action="campaign.create",
        obj=campaign,
        summary=_("Public mail provider confirmed: %(domains)s") % {"domains": ", ".join(public)}
        if public
        else "",
    )
    return campaign


@transaction.atomic
def campaign_update(
    *, actor, campaign: Campaign, allow_public_mail_domains: bool = False, **fields
) -> Campaign:
    """Change a campaign's settings. Adding a public mail provider to the
    allowed domains needs `allow_public_mail_domains` (one allowed before stays)."""
    require_organizer(user=actor, campaign=campaign)
    allowed = {
        "name",
        "employer_name",
        "description",
        "allowed_domains",
        "k_threshold",
        "approval_quorum",
        "batch_min",
        "batch_interval",
    }
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"Cannot update {sorted(unknown)}")
    public_added = []
    if "allowed_domains" in fields:
        fields["allowed_domains"] = normalize_domains(fields["allowed_domains"])
        public_added = public_mail_domains_added(
            fields["allowed_domains"], before=campaign.allowed_domains
        )
        _refuse_public_mail_domains(public_added, confirmed=allow_public_mail_domains)
    changed = sorted(name for name, value in fields.items() if getattr(campaign, name) != value)
    for name, value in fields.items():
        setattr(campaign, name, value)
    campaign.full_clean()
    campaign.save()
    if changed:
        audit_record(
            campaign=campaign,
            actor=actor,
            action="campaign.update",
            obj=campaign,
            summary=_("Changed: %(fields)s") % {"fields": ", ".join(changed)}
            + (
                _(" (public mail provider confirmed: %(domains)s)")
                % {"domains": ", ".join(public_added)}
                if public_added
                else ""
            ),
        )
    return campaign


DISPLAY_NAME_MAX = 60


def display_name_clean(value, *, required: bool = False) -> str:
    """A display name under the rule for every name shown to others
    (core.text): no control or bidirectional characters."""
    return text.clean_text(
        value, field=_("Display name"), max_len=DISPLAY_NAME_MAX, required=required
    )


def default_display_name(user) -> str:
    """A neutral name; members can change it. Never derived from the email,
    which would reveal the employee."""
    return f"member-{secrets.token_hex(3)}"


# --- invitations -----------------------------------------------------------------


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class NewInvitation:
    invitation: Invitation
    token: str  # shown once to the organizer, never stored


@transaction.atomic
def invitation_create(
    *,
    actor,
    campaign: Campaign,
    role: str = Role.MEMBER,
    max_uses: int = 1,
    valid_for: timedelta = timedelta(days=7),
    label: str = "",
) -> NewInvitation:
    require_organizer(user=actor, campaign=campaign)
    if role not in Role.values:
        raise ValidationError(_("Unknown role."))
    if not 1 <= max_uses <= 10000:
        raise ValidationError(_("An invitation can be used between 1 and 10,000 times."))
    if not timedelta(minutes=5) <= valid_for <= timedelta(days=90):
        raise ValidationError(_("An invitation is valid between 5 minutes and 90 days."))
    token = secrets.token_urlsafe(24)
    invitation = Invitation.objects.create(
        campaign=campaign,
        role=role,
        token_hash=hash_token(token),
        label=label[:80],
        max_uses=max_uses,
        expires_at=timezone.now() + valid_for,
        created_by=actor,
    )
    audit_record(
        campaign=campaign,
        actor=actor,
        action="invitation.create",
        obj=invitation,
        summary=f"{role}, {max_uses} use(s), until {invitation.expires_at:%Y-%m-%d %H:%M} UTC",
    )
    return NewInvitation(invitation=invitation, token=token)


def invitation_for_token(token: str) -> Invitation | None:
    if not token or len(token) > 100:
        return None
    return (
        Invitation.objects.select_related("campaign").filter(token_hash=hash_token(token)).first()
    )


@transaction.atomic
def invitation_revoke(*, actor, invitation: Invitation) -> Invitation:
    require_organizer(user=actor, campaign=invitation.campaign)
    if invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        audit_record(
            campaign=invitation.campaign, actor=actor, action="invitation.revoke", obj=invitation
        )
    return invitation


class InvitationUnusable(AppError, ValidationError):
    code = "invitation_unusable"


def invitation_accept(*, user, token: str, display_name: str = "") -> Membership:
    """Join the campaign in the invitation's role.

    The use counter is incremented with a conditional UPDATE so concurrent
    acceptances cannot exceed max_uses.
    """
    invitation = invitation_for_token(token)
    if invitation is None:
        raise InvitationUnusable(_("This invitation link is not valid."))
    display_name = display_name_clean(display_name) or default_display_name(user)
    with transaction.atomic():
        existing = membership_for(user=user, campaign=invitation.campaign)
        if existing is not None:
            return existing
        claimed = Invitation.objects.filter(
            pk=invitation.pk,
            revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
            uses__lt=F("max_uses"),
        ).update(uses=F("uses") + 1)
        if not claimed:
            raise InvitationUnusable(_("This invitation has expired, been revoked or used up."))
        membership = Membership(
            campaign=invitation.campaign,
            user=user,
            role=invitation.role,
            display_name=display_name,
        )
        if not insert_unless_conflicting(membership):
            # Joined concurrently through another request.
            return Membership.objects.get(campaign=invitation.campaign, user=user)
        if invitation.role in PRIVILEGED_ROLES:
            audit_record(
                campaign=invitation.campaign,
                actor=user,
                action="membership.join",
                obj=membership,
                summary=invitation.role,
            )
    return membership


# --- memberships -----------------------------------------------------------------


def _ensure_another_organizer(*, campaign: Campaign, membership: Membership) -> None:
    """Refuse to take away the campaign's last organizer.

    The organizer rows are locked (inside the caller's transaction), so two
    organizers demoting or removing each other at the same moment cannot both
    succeed and leave the campaign without one.
    """
    organizer_ids = set(
        Membership.objects.select_for_update()
        .filter(campaign=campaign, role=Role.ORGANIZER)
        .values_list("pk", flat=True)
    )
    if membership.pk in organizer_ids and len(organizer_ids) <= 1:
        raise ValidationError(_("A campaign needs at least one organizer."))


@transaction.atomic
def membership_remove(*, actor, membership: Membership) -> None:
    campaign = membership.campaign
    require_organizer(user=actor, campaign=campaign)
    _ensure_another_organizer(campaign=campaign, membership=membership)
    summary = f"{membership.display_name} ({membership.role})"
    membership_id = membership.pk
    # Inside this transaction, before the row goes (discussions rotates keys).
    signals.membership_removed.send(sender=Membership, membership=membership, actor=actor)
    membership.delete()
    audit_record(
        campaign=campaign,
        actor=actor,
        action="membership.remove",
        summary=summary + f" #{membership_id}",
    )


@transaction.atomic
def membership_change_role(*, actor, membership: Membership, role: str) -> Membership:
    campaign = membership.campaign
    require_organizer(user=actor, campaign=campaign)
    if role not in Role.values:
        raise ValidationError(_("Unknown role."))
    if role != Role.ORGANIZER:
        _ensure_another_organizer(campaign=campaign, membership=membership)
    old = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    signals.membership_role_changed.send(
        sender=Membership, membership=membership, old_role=old, actor=actor
    )
    audit_record(
        campaign=campaign,
        actor=actor,
        action="membership.role",
        obj=membership,
        summary=f"{membership.display_name}: {old} → {role}",
    )
    return membership


def membership_rename(*, membership: Membership, display_name: str) -> Membership:
    membership.display_name = display_name_clean(display_name, required=True)
    membership.save(update_fields=["display_name"])
    return membership


def user_create_verified(*, email: str, password: str, **extra) -> User:
    """Create an account whose email is already verified (seeding, tests)."""
    user = User.objects.create_user(email=email, password=password, **extra)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def login_day():
    """Midnight (UTC) of today: the time a login is recorded with."""
    return timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)


def on_user_logged_in(sender, *, user, **kwargs) -> None:
    """user_logged_in receiver, in place of django.contrib.auth's
    update_last_login (organizing.apps): `last_login` keeps the day only, so
    the accounts table does not tell when each person logged in. Written at
    most once a day per account."""
    day = login_day()
    if user.last_login != day:
        user.last_login = day
        user.save(update_fields=["last_login"])

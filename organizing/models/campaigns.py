"""Accounts, campaigns, memberships, invitations and the audit log."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra_fields)


class User(AbstractUser):
    """An account, identified by email. No username, no IP, no user agent."""

    username = None
    email = models.EmailField(_("email address"), unique=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    def __str__(self) -> str:
        return self.email


def _default_k() -> int:
    return settings.ORGANIZING["DEFAULT_K"]


def _default_quorum() -> int:
    return settings.ORGANIZING["DEFAULT_QUORUM"]


class Campaign(models.Model):
    name = models.CharField(_("name"), max_length=120)
    slug = models.SlugField(_("short name"), max_length=60, unique=True)
    employer_name = models.CharField(_("employer"), max_length=120)
    description = models.TextField(_("description"), blank=True, max_length=4000)
    # Lower-case domains such as "example.com"; work-email codes are only sent
    # to addresses in these domains.
    allowed_domains = models.JSONField(_("allowed work-email domains"), default=list, blank=True)
    k_threshold = models.PositiveSmallIntegerField(
        _("k-anonymity threshold"),
        default=_default_k,
        validators=[MinValueValidator(2), MaxValueValidator(1000)],
        help_text=_("Groups (departments, locations) are only shown once they hold this many."),
    )
    approval_quorum = models.PositiveSmallIntegerField(
        _("approval quorum"),
        default=_default_quorum,
        validators=[MinValueValidator(1), MaxValueValidator(50)],
        help_text=_("Distinct organizer approvals needed to open a letter."),
    )
    # Signatures are written in batches (docs/security.md, "Batches"): a batch
    # is sealed once it holds batch_min signatures (empty: the campaign's k)
    # and batch_interval minutes have passed since the last one.
    batch_min = models.PositiveIntegerField(
        _("smallest batch"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(100_000)],
        help_text=_(
            "Signatures are counted in batches of at least this many. Empty: the "
            "k-anonymity threshold."
        ),
    )
    batch_interval = models.PositiveIntegerField(
        _("minutes between batches"),
        default=15,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 60)],
        help_text=_("At least this long between two batches."),
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def allows_email_domain(self, domain: str) -> bool:
        return domain.lower() in {d.lower() for d in self.allowed_domains}


class Role(models.TextChoices):
    ORGANIZER = "organizer", _("Organizer")
    DELEGATE = "delegate", _("Delegate")
    MEMBER = "member", _("Member")


# Roles whose actions need multi-factor authentication.
PRIVILEGED_ROLES = frozenset({Role.ORGANIZER, Role.DELEGATE})


class Membership(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    # Shown to other members (e.g. in discussion channels) instead of the email.
    display_name = models.CharField(_("display name"), max_length=60)
    joined_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "user"], name="one_membership_per_campaign")
        ]
        ordering = ["role", "display_name"]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.get_role_display()}) in {self.campaign}"


class Invitation(models.Model):
    """A link that lets people join a campaign in a role.

    Only a hash of the token is stored: whoever copies the database cannot use
    live invitations.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="invitations")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    token_hash = models.CharField(max_length=64, unique=True)
    label = models.CharField(_("label"), max_length=80, blank=True)
    max_uses = models.PositiveIntegerField(
        _("maximum uses"), default=1, validators=[MinValueValidator(1), MaxValueValidator(10000)]
    )
    uses = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(_("expires at"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(uses__lte=models.F("max_uses")),
                name="invitation_uses_within_max",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_role_display()} invitation to {self.campaign}"

    @property
    def is_usable(self) -> bool:
        return (
            self.revoked_at is None
            and self.uses < self.max_uses
            and self.expires_at > timezone.now()
        )

    @property
    def status(self) -> str:
        if self.revoked_at:
            return _("revoked")
        if self.uses >= self.max_uses:
            return _("used up")
        if self.expires_at <= timezone.now():
            return _("expired")
        return _("active")


class AuditEntryQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("The audit log is append-only")

    def delete(self):
        raise TypeError("The audit log is append-only")


class AuditEntry(models.Model):
    """Append-only record of organizer and delegate actions.

    Never holds a signer's identity: actions on signatures are recorded, if at
    all, by aggregate only.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="audit_entries")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    # Kept so the entry still reads after an account is deleted.
    actor_label = models.CharField(max_length=120)
    action = models.CharField(max_length=60)
    object_type = models.CharField(max_length=40, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    summary = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label}: {self.action}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TypeError("The audit log is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("The audit log is append-only")

"""Open letters, their immutable revisions, comments and approvals."""

from __future__ import annotations

import hmac
import secrets
import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from organizing.models import Campaign

MAX_BODY_CHARS = 50_000
MAX_DEMANDS = 30
MAX_DEMAND_CHARS = 500


def new_unlisted_token() -> str:
    return secrets.token_urlsafe(18)


class LetterState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    REVIEW = "review", _("In review")
    OPEN = "open", _("Open for signatures")
    CLOSED = "closed", _("Closed")
    DELIVERED = "delivered", _("Delivered")


class Visibility(models.TextChoices):
    PUBLIC = "public", _("Public: listed and reachable by its address")
    UNLISTED = "unlisted", _("Only through its secret link")


class Letter(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="letters")
    # Globally unique: the public page and the signing API address letters by slug.
    slug = models.SlugField(_("short name"), max_length=80, unique=True)
    state = models.CharField(max_length=16, choices=LetterState.choices, default=LetterState.DRAFT)
    visibility = models.CharField(
        _("visibility"), max_length=16, choices=Visibility.choices, default=Visibility.PUBLIC
    )
    unlisted_token = models.CharField(max_length=40, unique=True, default=new_unlisted_token)
    # The current text; every save also writes an immutable Revision.
    title = models.CharField(_("title"), max_length=200)
    summary = models.CharField(_("summary"), max_length=500, blank=True)
    body = models.TextField(_("text (Markdown)"), max_length=MAX_BODY_CHARS)
    demands = models.JSONField(_("demands"), default=list, blank=True)
    language = models.CharField(_("language"), max_length=12, default="en")
    goal = models.PositiveIntegerField(
        _("signature goal"),
        default=100,
        validators=[MinValueValidator(1), MaxValueValidator(10**7)],
    )
    deadline = models.DateTimeField(_("deadline"), null=True, blank=True)
    current_revision = models.ForeignKey(
        "Revision", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # SHA-256 (hex) of the canonical frozen text, set when the letter opens.
    text_hash = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    opened_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title

    def visible_with(self, key: str) -> bool:
        """Whether a visitor with this link `key` (may be "") may see the
        letter: public, or unlisted and the key is its secret."""
        return self.visibility == Visibility.PUBLIC or hmac.compare_digest(
            key.encode(), self.unlisted_token.encode()
        )

    @property
    def is_open(self) -> bool:
        """Open and not past its deadline (the beat task closes it for good)."""
        return self.state == LetterState.OPEN and (
            self.deadline is None or self.deadline > timezone.now()
        )


class Revision(models.Model):
    """An immutable snapshot of a letter's text."""

    letter = models.ForeignKey(Letter, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    summary = models.CharField(max_length=500, blank=True)
    body = models.TextField(max_length=MAX_BODY_CHARS)
    demands = models.JSONField(default=list, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    note = models.CharField(_("note"), max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["letter", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["letter", "number"], name="unique_revision_number")
        ]

    def __str__(self) -> str:
        return f"{self.letter} r{self.number}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TypeError("Revisions are immutable")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("Revisions are immutable")


MAX_COMMENT_CHARS = 5_000


class Comment(models.Model):
    """An organizer's remark on one revision; replies go one level deep."""

    letter = models.ForeignKey(Letter, on_delete=models.CASCADE, related_name="comments")
    revision = models.ForeignKey(Revision, on_delete=models.CASCADE, related_name="comments")
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="replies"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    # The author's display name in the campaign when writing (never the email).
    author_name = models.CharField(max_length=60)
    body = models.TextField(_("comment"), max_length=MAX_COMMENT_CHARS)
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"comment by {self.author_name} on {self.revision}"

    @property
    def is_resolved(self) -> bool:
        return self.resolved_at is not None


class Approval(models.Model):
    """An organizer's approval of the revision under review.

    Voided (not deleted) when the letter goes back to draft, so the history
    stays readable; only non-void approvals count towards the quorum.
    """

    letter = models.ForeignKey(Letter, on_delete=models.CASCADE, related_name="approvals")
    revision = models.ForeignKey(Revision, on_delete=models.PROTECT, related_name="approvals")
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    approver_name = models.CharField(max_length=60)
    created_at = models.DateTimeField(default=timezone.now)
    voided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # One live approval per organizer and letter, even under concurrent clicks.
            models.UniqueConstraint(
                fields=["letter", "approver"],
                condition=models.Q(voided_at__isnull=True),
                name="one_live_approval_per_approver",
            )
        ]

    def __str__(self) -> str:
        return f"approval by {self.approver_name} of {self.revision}"


MAX_UPDATE_TITLE_CHARS = 200
MAX_UPDATE_BODY_CHARS = 10_000


class Update(models.Model):
    """News about a published letter, told to its signers and readers.

    Shown on the public letter page (newest first), in the letter's and the
    campaign's Atom feeds and with a signer's receipt. Public: it names the
    campaign's organizers as its author, never the person who wrote it
    (`author` is for the organizers' own pages and the audit log). The random
    id is the Atom entry's id, so it never changes, whatever the letter's
    address becomes.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    letter = models.ForeignKey(Letter, on_delete=models.PROTECT, related_name="updates")
    title = models.CharField(_("title"), max_length=MAX_UPDATE_TITLE_CHARS)
    body = models.TextField(_("text (Markdown)"), max_length=MAX_UPDATE_BODY_CHARS, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    published_at = models.DateTimeField(default=timezone.now)
    edited_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-published_at", "id"]
        indexes = [models.Index(fields=["letter", "-published_at"], name="update_letter_newest")]

    def __str__(self) -> str:
        return self.title

    @property
    def updated_at(self):
        """When it last changed: Atom's `updated`."""
        return self.edited_at or self.published_at

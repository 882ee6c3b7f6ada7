"""State changes of letters: drafting, review, approval, opening, closing, delivery.

The only module that writes letters, revisions, comments and approvals. Every
function checks the actor's role (organizing.services.require_role, which also
demands two-factor authentication) and the letter's state, and writes the
audit log. Each runs in a transaction that locks the letter row, so
concurrent requests see one consistent order of events.

Life cycle: draft → review → open → closed → delivered, with review → draft
to change the text again (which voids every approval).

Updates (news for the signers) are posted on published letters by organizers
and delegates; an organizer may change or delete any of them, a delegate the
ones they wrote.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from core import text as text_rule
from core.db import insert_unless_conflicting
from core.errors import AppError
from letters.models import (
    MAX_BODY_CHARS,
    MAX_COMMENT_CHARS,
    MAX_DEMAND_CHARS,
    MAX_DEMANDS,
    MAX_UPDATE_BODY_CHARS,
    MAX_UPDATE_TITLE_CHARS,
    Approval,
    Comment,
    Letter,
    LetterState,
    Revision,
    Update,
    Visibility,
    new_unlisted_token,
)
from letters.selectors import approval_count
from letters.signals import letter_closed, letter_opened
from organizing.models import Role
from organizing.services import audit_record, require_organizer, require_role

MAX_TITLE_CHARS = 200
MAX_SUMMARY_CHARS = 500
MAX_NOTE_CHARS = 300
MAX_BASE_SLUG_CHARS = 50  # leaves room for "-" + the unlisted token within 80
MAX_GOAL = 10**7
LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}$")

_UNSET = object()


# --- errors ---------------------------------------------------------------------


class LetterStateError(AppError, ValidationError):
    """The letter is not in a state that allows this action."""

    status, code = 409, "letter_state"


class RevisionConflict(AppError, ValidationError):
    """A save (or approval) was based on a revision that is no longer current.

    `current` is the letter's current revision (the conflicting one), `base`
    the revision the actor started from (None if unknown).
    """

    def __init__(self, *, current: Revision | None, base: Revision | None):
        super().__init__(
            _(
                "Someone else saved a newer version of this letter while you were editing. "
                "Nothing was overwritten: compare the versions and save again."
            ),
            code="stale",
        )
        self.status = 409
        self.current = current
        self.base = base


# --- the canonical text and its hash ----------------------------------------------


def canonical_text(*, title: str, body: str, demands: list[str]) -> bytes:
    """The bytes whose SHA-256 is a letter's text hash (see docs/organizers-guide.md).

    UTF-8 of the JSON object {"body", "demands", "title"} with keys sorted, no
    insignificant whitespace and non-ASCII characters written as themselves
    (what JSON.stringify produces for the same object with keys in that order).
    """
    document = {"body": body, "demands": list(demands), "title": title}
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode(
        "utf-8"
    )


def compute_text_hash(*, title: str, body: str, demands: list[str]) -> str:
    return hashlib.sha256(canonical_text(title=title, body=body, demands=demands)).hexdigest()


# --- input normalization and validation ----------------------------------------


def _normalize_line(value) -> str:
    value = unicodedata.normalize("NFC", str(value or ""))
    return " ".join(value.split())


def _normalize_block(value) -> str:
    value = unicodedata.normalize("NFC", str(value or ""))
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(line.rstrip() for line in value.split("\n")).strip("\n")


def normalize_demands(demands) -> list[str]:
    if isinstance(demands, str):
        demands = demands.split("\n")
    return [d for d in (_normalize_line(item) for item in (demands or [])) if d]


def clean_text(*, title, summary, body, demands) -> dict:
    """Normalized text fields, or a ValidationError naming each bad field."""
    text = {
        "title": _normalize_line(title),
        "summary": _normalize_line(summary),
        "body": _normalize_block(body),
        "demands": normalize_demands(demands),
    }
    errors: dict[str, list[str]] = {}
    # Shown to everyone: the rule for names (core.text).
    labels = {"title": _("Title"), "summary": _("Summary"), "demands": _("Demands")}
    for name, label in labels.items():
        lines = text[name] if name == "demands" else [text[name]]
        if any(text_rule.has_invisible_characters(line) for line in lines):
            errors.setdefault(name, []).append(text_rule.invisible_message(label))
    if not text["title"]:
        errors.setdefault("title", []).append(_("A letter needs a title."))
    if len(text["title"]) > MAX_TITLE_CHARS:
        errors.setdefault("title", []).append(
            _("The title is too long: at most %(max)d characters.") % {"max": MAX_TITLE_CHARS}
        )
    if len(text["summary"]) > MAX_SUMMARY_CHARS:
        errors.setdefault("summary", []).append(
            _("The summary is too long: at most %(max)d characters.") % {"max": MAX_SUMMARY_CHARS}
        )
    if len(text["body"]) > MAX_BODY_CHARS:
        errors.setdefault("body", []).append(
            _("The text is too long: %(length)d characters, at most %(max)d.")
            % {"length": len(text["body"]), "max": MAX_BODY_CHARS}
        )
    if len(text["demands"]) > MAX_DEMANDS:
        errors.setdefault("demands", []).append(
            _("Too many demands: at most %(max)d.") % {"max": MAX_DEMANDS}
        )
    if any(len(d) > MAX_DEMAND_CHARS for d in text["demands"]):
        errors.setdefault("demands", []).append(
            _("Each demand has at most %(max)d characters.") % {"max": MAX_DEMAND_CHARS}
        )
    if errors:
        raise ValidationError(errors)
    return text


def clean_settings(*, language=_UNSET, goal=_UNSET, deadline=_UNSET) -> dict:
    values: dict = {}
    errors: dict[str, list[str]] = {}
    if language is not _UNSET:
        language = (language or "").strip()
        if not LANGUAGE_RE.match(language) or len(language) > 12:
            errors["language"] = [_("Use a language code such as “en”, “de” or “pt-BR”.")]
        values["language"] = language
    if goal is not _UNSET:
        if not isinstance(goal, int) or isinstance(goal, bool) or not 1 <= goal <= MAX_GOAL:
            errors["goal"] = [
                _("The signature goal is a whole number from 1 to %(max)s.") % {"max": MAX_GOAL}
            ]
        values["goal"] = goal
    if deadline is not _UNSET:
        if deadline is not None:
            if not isinstance(deadline, datetime) or timezone.is_naive(deadline):
                errors["deadline"] = [_("The deadline needs a date, a time and a time zone.")]
            elif deadline <= timezone.now():
                errors["deadline"] = [_("The deadline must be in the future.")]
        values["deadline"] = deadline
    if errors:
        raise ValidationError(errors)
    return values


# --- helpers ------------------------------------------------------------------------


def _lock(letter: Letter) -> Letter:
    return Letter.objects.select_for_update().select_related("campaign").get(pk=letter.pk)


def _sync(target: Letter, source: Letter) -> None:
    """Copy the saved row's values onto the caller's instance (no query)."""
    if target is source:
        return
    for field in Letter._meta.concrete_fields:
        setattr(target, field.attname, getattr(source, field.attname))
    for name in ("current_revision",):
        if Letter._meta.get_field(name).is_cached(source):
            setattr(target, name, getattr(source, name))


def _require_state(letter: Letter, *states: str, action: str) -> None:
    if letter.state not in states:
        raise LetterStateError(
            _("You cannot %(action)s a letter that is “%(state)s”.")
            % {"action": action, "state": letter.get_state_display()},
            code="state",
        )


def _void_approvals(letter: Letter) -> int:
    return Approval.objects.filter(letter=letter, voided_at__isnull=True).update(
        voided_at=timezone.now()
    )


def _new_revision(*, letter: Letter, text: dict, author, note: str) -> Revision:
    last = letter.revisions.order_by("-number").values_list("number", flat=True).first() or 0
    return Revision.objects.create(
        letter=letter,
        number=last + 1,
        author=author,
        note=_normalize_line(note)[:MAX_NOTE_CHARS],
        **text,
    )


def base_slug(letter: Letter) -> str:
    """The human part of a letter's slug (without the unlisted token)."""
    suffix = f"-{letter.unlisted_token}"
    if letter.visibility == Visibility.UNLISTED and letter.slug.endswith(suffix):
        return letter.slug[: -len(suffix)]
    return letter.slug


def _slug_for(*, base: str, visibility: str, token: str) -> str:
    return f"{base}-{token}" if visibility == Visibility.UNLISTED else base


def _clean_base_slug(value: str) -> str:
    return slugify(value or "")[:MAX_BASE_SLUG_CHARS].strip("-")


# --- drafting ---------------------------------------------------------------------------


def letter_create(
    *,
    actor,
    campaign,
    title: str,
    body: str = "",
    summary: str = "",
    demands=(),
    slug: str = "",
    language: str = "en",
    goal: int = 100,
    deadline=None,
    visibility: str = Visibility.PUBLIC,
    note: str = "",
) -> Letter:
    """Start a draft; its text becomes revision 1."""
    membership = require_organizer(user=actor, campaign=campaign)
    text = clean_text(title=title, summary=summary, body=body, demands=demands)
    values = clean_settings(language=language, goal=goal, deadline=deadline)
    if visibility not in Visibility.values:
        raise ValidationError({"visibility": [_("Unknown visibility.")]})
    explicit = bool((slug or "").strip())
    base = _clean_base_slug(slug if explicit else text["title"]) or "letter"
    if explicit and base == "letter" and not _clean_base_slug(slug):
        raise ValidationError({"slug": [_("Use letters, digits and hyphens.")]})
    token = new_unlisted_token()
    candidates = [base] if explicit else [base] + [f"{base}-{n}" for n in range(2, 50)]
    for candidate in candidates:
        new_slug = _slug_for(base=candidate, visibility=visibility, token=token)
        if Letter.objects.filter(slug=new_slug).exists():
            continue
        letter = Letter(
            campaign=campaign,
            slug=new_slug,
            visibility=visibility,
            unlisted_token=token,
            **text,
            **values,
        )
        with transaction.atomic():
            if not insert_unless_conflicting(letter):
                continue  # taken concurrently: try the next candidate
            revision = _new_revision(letter=letter, text=text, author=actor, note=note)
            letter.current_revision = revision
            letter.save(update_fields=["current_revision"])
            audit_record(
                campaign=campaign,
                actor=actor,
                action="letter.create",
                obj=letter,
                summary=f"{letter.title} (r1) by {membership.display_name}",
            )
        return letter
    raise ValidationError({"slug": [_("This short name is already taken: choose another.")]})


@transaction.atomic
def letter_save(
    *,
    actor,
    letter: Letter,
    base_revision,
    title: str,
    body: str,
    summary: str = "",
    demands=(),
    language=_UNSET,
    goal=_UNSET,
    deadline=_UNSET,
    note: str = "",
) -> Letter:
    """Save a draft's text as a new revision.

    `base_revision` (a Revision or its id) is the revision the author started
    from. If someone saved in between, nothing is written and RevisionConflict
    carries the current revision so the author can merge by hand.
    """
    require_organizer(user=actor, campaign=letter.campaign)
    locked = _lock(letter)
    _require_state(locked, LetterState.DRAFT, action=_("edit"))
    base_id = getattr(base_revision, "pk", base_revision)
    if base_id is not None:
        try:
            base_id = int(base_id)
        except (TypeError, ValueError):
            base_id = None
    if base_id != locked.current_revision_id:
        base = Revision.objects.filter(letter=locked, pk=base_id).first() if base_id else None
        raise RevisionConflict(current=locked.current_revision, base=base)
    text = clean_text(title=title, summary=summary, body=body, demands=demands)
    values = clean_settings(language=language, goal=goal, deadline=deadline)
    current = locked.current_revision
    text_changed = current is None or any(
        getattr(current, name) != value for name, value in text.items()
    )
    changed = [name for name, value in {**text, **values}.items() if getattr(locked, name) != value]
    if text_changed:
        revision = _new_revision(letter=locked, text=text, author=actor, note=note)
        locked.current_revision = revision
        _void_approvals(locked)
    for name, value in {**text, **values}.items():
        setattr(locked, name, value)
    locked.save()
    if changed or text_changed:
        audit_record(
            campaign=locked.campaign,
            actor=actor,
            action="letter.save",
            obj=locked,
            summary=(f"r{locked.current_revision.number}: " if text_changed else "")
            + ", ".join(changed),
        )
    _sync(letter, locked)
    return letter


@transaction.atomic
def letter_set_visibility(*, actor, letter: Letter, visibility: str) -> Letter:
    """Public (listed, address from its short name) or unlisted (secret address).

    Making a letter unlisted gives it a fresh secret address: earlier links,
    public or secret, stop working.
    """
    require_organizer(user=actor, campaign=letter.campaign)
    if visibility not in Visibility.values:
        raise ValidationError({"visibility": [_("Unknown visibility.")]})
    locked = _lock(letter)
    if locked.visibility == visibility and visibility == Visibility.PUBLIC:
        _sync(letter, locked)
        return letter
    base = base_slug(locked)
    token = new_unlisted_token()
    new_slug = _slug_for(base=base, visibility=visibility, token=token)
    if Letter.objects.filter(slug=new_slug).exclude(pk=locked.pk).exists():
        raise ValidationError(
            {
                "visibility": [
                    _("Another letter already uses the address “%(slug)s”.") % {"slug": new_slug}
                ]
            }
        )
    locked.visibility = visibility
    locked.unlisted_token = token
    locked.slug = new_slug
    locked.save(update_fields=["visibility", "unlisted_token", "slug"])
    audit_record(
        campaign=locked.campaign,
        actor=actor,
        action="letter.visibility",
        obj=locked,
        summary=visibility,
    )
    _sync(letter, locked)
    return letter


# --- review and approval ----------------------------------------------------------------


@transaction.atomic
def letter_submit_for_review(*, actor, letter: Letter) -> Letter:
    """Freeze the text so organizers can approve it."""
    require_organizer(user=actor, campaign=letter.campaign)
    locked = _lock(letter)
    _require_state(locked, LetterState.DRAFT, action=_("submit for review"))
    if not locked.body.strip():
        raise LetterStateError(_("Write the letter's text before submitting it for review."))
    _void_approvals(locked)
    locked.state = LetterState.REVIEW
    locked.save(update_fields=["state"])
    audit_record(
        campaign=locked.campaign,
        actor=actor,
        action="letter.submit",
        obj=locked,
        summary=f"r{locked.current_revision.number}",
    )
    _sync(letter, locked)
    return letter


@transaction.atomic
def letter_return_to_draft(*, actor, letter: Letter) -> Letter:
    """Unfreeze the text; every approval given so far is voided."""
    require_organizer(user=actor, campaign=letter.campaign)
    locked = _lock(letter)
    _require_state(locked, LetterState.REVIEW, action=_("return to draft"))
    voided = _void_approvals(locked)
    locked.state = LetterState.DRAFT
    locked.save(update_fields=["state"])
    audit_record(
        campaign=locked.campaign,
        actor=actor,
        action="letter.return",
        obj=locked,
        summary=f"{voided} approval(s) voided",
    )
    _sync(letter, locked)
    return letter


@transaction.atomic
def letter_approve(*, actor, letter: Letter, revision=None) -> Approval:
    """Approve the text under review. Approving twice changes nothing.

    Pass the `revision` the organizer read: if the text changed since (back to
    draft, edited, resubmitted), RevisionConflict is raised instead.
    """
    membership = require_organizer(user=actor, campaign=letter.campaign)
    locked = _lock(letter)
    _require_state(locked, LetterState.REVIEW, action=_("approve"))
    revision_id = getattr(revision, "pk", revision)
    if revision_id is not None and str(revision_id) != str(locked.current_revision_id):
        base = Revision.objects.filter(letter=locked, pk=revision_id).first()
        raise RevisionConflict(current=locked.current_revision, base=base)
    existing = Approval.objects.filter(
        letter=locked, approver=actor, voided_at__isnull=True
    ).first()
    if existing is not None:
        return existing
    approval = Approval.objects.create(
        letter=locked,
        revision_id=locked.current_revision_id,
        approver=actor,
        approver_name=membership.display_name,
    )
    audit_record(
        campaign=locked.campaign,
        actor=actor,
        action="letter.approve",
        obj=locked,
        summary=f"r{locked.current_revision.number}: "
        f"{approval_count(locked)}/{locked.campaign.approval_quorum}",
    )
    return approval


@transaction.atomic
def letter_open(*, actor, letter: Letter) -> Letter:
    """Open the approved text for signatures and record its text hash.

    Needs the campaign's quorum of distinct organizer approvals. Sends
    letters.signals.letter_opened inside this transaction: if a receiver
    fails, the letter stays in review.
    """
    require_organizer(user=actor, campaign=letter.campaign)
    locked = _lock(letter)
    _require_state(locked, LetterState.REVIEW, action=_("open"))
    quorum = locked.campaign.approval_quorum
    count = approval_count(locked)
    if count < quorum:
        raise LetterStateError(
            _("Opening needs %(quorum)d distinct organizer approvals; this text has %(count)d.")
            % {"quorum": quorum, "count": count},
            code="quorum",
        )
    if locked.deadline is not None and locked.deadline <= timezone.now():
        raise LetterStateError(
            _("The deadline has passed: return the letter to draft to set a new one."),
            code="deadline",
        )
    revision = locked.current_revision
    # The frozen text is the approved revision's; the letter row must agree.
    for name in ("title", "body", "demands", "summary"):
        if getattr(locked, name) != getattr(revision, name):
            raise LetterStateError(_("The letter's text differs from its approved revision."))
    locked.text_hash = compute_text_hash(
        title=revision.title, body=revision.body, demands=revision.demands
    )
    locked.state = LetterState.OPEN
    locked.opened_at = timezone.now()
    locked.save(update_fields=["text_hash", "state", "opened_at"])
    audit_record(
        campaign=locked.campaign,
        actor=actor,
        action="letter.open",
        obj=locked,
        summary=f"r{revision.number} sha256:{locked.text_hash}",
    )
    letter_opened.send(sender=Letter, letter=locked)
    _sync(letter, locked)
    return letter


# --- closing and delivery ----------------------------------------------------------------


def _close(locked: Letter, *, actor, reason: str) -> None:
    locked.state = LetterState.CLOSED
    locked.closed_at = timezone.now()
    locked.save(update_fields=["state", "closed_at"])
    audit_record(
        campaign=locked.campaign, actor=actor, action="letter.close", obj=locked, summary=reason
    )
    letter_closed.send(sender=Letter, letter=locked)


@transaction.atomic
def letter_close(*, actor, letter: Letter) -> Letter:
    """Stop accepting signatures."""
    require_organizer(user=actor, campaign=letter.campaign)
    locked = _lock(letter)
    _require_state(locked, LetterState.OPEN, action=_("close"))
    _close(locked, actor=actor, reason="by an organizer")
    _sync(letter, locked)
    return letter


def letter_close_expired(*, now=None) -> int:
    """Close every open letter whose deadline has passed (the beat task). Returns how many."""
    now = now or timezone.now()
    closed = 0
    ids = Letter.objects.filter(
        state=LetterState.OPEN, deadline__isnull=False, deadline__lte=now
    ).values_list("pk", flat=True)
    for pk in ids:
        with transaction.atomic():
            locked = Letter.objects.select_for_update().select_related("campaign").get(pk=pk)
            if locked.state != LetterState.OPEN or not locked.deadline or locked.deadline > now:
                continue  # changed meanwhile
            _close(locked, actor=None, reason="deadline reached")
            closed += 1
    return closed


@transaction.atomic
def letter_deliver(*, actor, letter: Letter) -> Letter:
    """Mark a closed letter delivered (delegates and organizers)."""
    require_role(user=actor, campaign=letter.campaign, roles={Role.ORGANIZER, Role.DELEGATE})
    locked = _lock(letter)
    _require_state(locked, LetterState.CLOSED, action=_("deliver"))
    locked.state = LetterState.DELIVERED
    locked.delivered_at = timezone.now()
    locked.save(update_fields=["state", "delivered_at"])
    audit_record(campaign=locked.campaign, actor=actor, action="letter.deliver", obj=locked)
    _sync(letter, locked)
    return letter


# --- comments ------------------------------------------------------------------------------


@transaction.atomic
def comment_add(*, actor, letter: Letter, body: str, parent: Comment | None = None) -> Comment:
    """Comment on the current revision, or reply to a comment (one level deep)."""
    membership = require_organizer(user=actor, campaign=letter.campaign)
    body = _normalize_block(body)
    if not body:
        raise ValidationError({"body": [_("Write something first.")]})
    if len(body) > MAX_COMMENT_CHARS:
        raise ValidationError(
            {"body": [_("A comment has at most %(max)d characters.") % {"max": MAX_COMMENT_CHARS}]}
        )
    if parent is not None:
        if parent.letter_id != letter.pk:
            raise ValidationError(_("That comment belongs to another letter."))
        if parent.parent_id is not None:  # replies to a reply join its thread
            parent = parent.parent
        revision_id = parent.revision_id
    else:
        revision_id = letter.current_revision_id
    comment = Comment.objects.create(
        letter=letter,
        revision_id=revision_id,
        parent=parent,
        author=actor,
        author_name=membership.display_name,
        body=body,
    )
    audit_record(
        campaign=letter.campaign,
        actor=actor,
        action="comment.add",
        obj=comment,
        summary=f"{letter.title}: " + ("reply" if parent else "comment"),
    )
    return comment


@transaction.atomic
def comment_resolve(*, actor, comment: Comment, resolved: bool = True) -> Comment:
    """Mark a thread resolved (or open it again). Replies resolve their thread."""
    require_organizer(user=actor, campaign=comment.letter.campaign)
    thread = comment.parent if comment.parent_id else comment
    thread = Comment.objects.select_for_update().get(pk=thread.pk)
    if resolved and thread.resolved_at is None:
        thread.resolved_at = timezone.now()
        thread.resolved_by = actor
    elif not resolved and thread.resolved_at is not None:
        thread.resolved_at = None
        thread.resolved_by = None
    else:
        return thread
    thread.save(update_fields=["resolved_at", "resolved_by"])
    audit_record(
        campaign=comment.letter.campaign,
        actor=actor,
        action="comment.resolve" if resolved else "comment.reopen",
        obj=thread,
    )
    return thread


# --- updates ---------------------------------------------------------------------------

# Updates are public: only a letter that has a public page gets them.
UPDATE_STATES = (LetterState.OPEN, LetterState.CLOSED, LetterState.DELIVERED)
UPDATE_ROLES = frozenset({Role.ORGANIZER, Role.DELEGATE})


def clean_update(*, title, body) -> dict:
    """An update's normalized title and text, or a ValidationError per field."""
    text = {"title": _normalize_line(title), "body": _normalize_block(body)}
    errors: dict[str, list[str]] = {}
    if not text["title"]:
        errors["title"] = [_("An update needs a title.")]
    elif len(text["title"]) > MAX_UPDATE_TITLE_CHARS:
        errors["title"] = [
            _("The title is too long: at most %(max)d characters.")
            % {"max": MAX_UPDATE_TITLE_CHARS}
        ]
    elif text_rule.has_invisible_characters(text["title"]):
        errors["title"] = [text_rule.invisible_message(_("Title"))]
    # Tabs may indent Markdown; no other control character (the feeds are
    # XML, which cannot carry most of them).
    if text_rule.has_invisible_characters(text["body"].replace("\t", " "), multiline=True):
        errors["body"] = [text_rule.invisible_message(_("Text"))]
    elif len(text["body"]) > MAX_UPDATE_BODY_CHARS:
        errors["body"] = [
            _("The text is too long: %(length)d characters, at most %(max)d.")
            % {"length": len(text["body"]), "max": MAX_UPDATE_BODY_CHARS}
        ]
    if errors:
        raise ValidationError(errors)
    return text


def update_may_change(*, membership, update: Update) -> bool:
    """Organizers change every update of their campaign; delegates their own."""
    return membership is not None and (
        membership.role == Role.ORGANIZER
        or (membership.role == Role.DELEGATE and update.author_id == membership.user_id)
    )


def _require_update_change(*, actor, update: Update):
    membership = require_role(user=actor, campaign=update.letter.campaign, roles=UPDATE_ROLES)
    if not update_may_change(membership=membership, update=update):
        raise PermissionDenied(_("Only organizers and its author can change this update."))
    return membership


@transaction.atomic
def update_post(*, actor, letter: Letter, title: str, body: str = "") -> Update:
    """Post an update on a published letter: public at once."""
    require_role(user=actor, campaign=letter.campaign, roles=UPDATE_ROLES)
    locked = _lock(letter)
    _require_state(locked, *UPDATE_STATES, action=_("post an update on"))
    update = Update.objects.create(
        letter=locked, author=actor, **clean_update(title=title, body=body)
    )
    audit_record(
        campaign=locked.campaign,
        actor=actor,
        action="update.post",
        obj=update,
        summary=f"{locked.title}: {update.title}",
    )
    return update


@transaction.atomic
def update_edit(*, actor, update: Update, title: str, body: str = "") -> Update:
    """Change an update's title or text; its id and publication time stay."""
    _require_update_change(actor=actor, update=update)
    locked = Update.objects.select_for_update().select_related("letter__campaign").get(pk=update.pk)
    text = clean_update(title=title, body=body)
    changed = [name for name, value in text.items() if getattr(locked, name) != value]
    if not changed:
        return locked
    for name, value in text.items():
        setattr(locked, name, value)
    locked.edited_at = timezone.now()
    locked.save(update_fields=[*text, "edited_at"])
    audit_record(
        campaign=locked.letter.campaign,
        actor=actor,
        action="update.edit",
        obj=locked,
        summary=f"{locked.letter.title}: {locked.title} ({', '.join(changed)})",
    )
    return locked


@transaction.atomic
def update_delete(*, actor, update: Update) -> None:
    """Delete an update: it leaves the letter page and the feeds. The audit
    log keeps its title."""
    _require_update_change(actor=actor, update=update)
    deleted, _rows = Update.objects.filter(pk=update.pk).delete()
    if deleted:
        audit_record(
            campaign=update.letter.campaign,
            actor=actor,
            action="update.delete",
            obj=update,
            summary=f"{update.letter.title}: {update.title}",
        )

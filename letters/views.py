"""Letter pages: the public page, and the organizers' drafting pages.

Thin: parse input, call letters.services, render. Organizer pages live under
/c/<campaign>/letters/<pk>/ so organizers reach every letter, unlisted or not.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from letters import feeds, selectors, services
from letters.diff import has_changes, revision_diff
from letters.forms import (
    CommentForm,
    LetterCreateForm,
    LetterEditForm,
    UpdateForm,
    VisibilityForm,
)
from letters.markdown import render_markdown
from letters.models import Comment, Letter, LetterState, Revision, Update, Visibility
from organizing.decorators import organizer_required, staff_of_campaign_required
from organizing.models import Campaign, Role

# --- the public page ----------------------------------------------------------


@require_GET
def public(request, slug):
    letter = selectors.published_letter(slug)
    if letter is None:
        raise Http404
    return render(
        request,
        "letters/public.html",
        {
            "letter": letter,
            "body_html": render_markdown(letter.body),
            "updates": list(selectors.letter_updates(letter)),
            "og_url": request.build_absolute_uri(request.path),
            "og_image": request.build_absolute_uri(static("img/og-letter.png")),
        },
    )


# --- organizer pages -------------------------------------------------------------


def _letter(campaign, pk) -> Letter:
    return get_object_or_404(
        Letter.objects.select_related("current_revision", "campaign"), pk=pk, campaign=campaign
    )


def _refused(request, campaign, letter, error, status, *, back_url=None):
    return render(
        request,
        "letters/refused.html",
        {"campaign": campaign, "letter": letter, "errors": error.messages, "back_url": back_url},
        status=status,
    )


def _names(campaign) -> dict[int, str]:
    """Display names of the campaign's people (never their emails)."""
    return dict(campaign.memberships.values_list("user_id", "display_name"))


@require_GET
@organizer_required
def manage_list(request, *, campaign, membership):
    return render(
        request,
        "letters/manage_list.html",
        {"campaign": campaign, "letters": selectors.campaign_letters(campaign)},
    )


@require_http_methods(["GET", "POST"])
@organizer_required
def create(request, *, campaign, membership):
    form = LetterCreateForm(request.POST or None)
    preview = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            if "preview" in request.POST:
                preview = _preview(data)
            else:
                try:
                    letter = services.letter_create(actor=request.user, campaign=campaign, **data)
                except ValidationError as exc:
                    form.add_error(None, exc)
                else:
                    messages.success(request, _("Draft created."))
                    return redirect("letters:manage_detail", campaign.slug, letter.pk)
        if not form.is_valid():
            status = 400
    return render(
        request,
        "letters/edit.html",
        {"campaign": campaign, "form": form, "preview": preview, "creating": True},
        status=status,
    )


def _preview(data) -> dict:
    return {
        "title": data["title"],
        "summary": data["summary"],
        "body_html": render_markdown(data["body"]),
        "demands": data["demands"],
    }


@require_GET
@organizer_required
def detail(request, pk, *, campaign, membership):
    letter = _letter(campaign, pk)
    approvals = list(selectors.letter_approvals(letter))
    live = [
        a for a in approvals if a.voided_at is None and a.revision_id == letter.current_revision_id
    ]
    return render(
        request,
        "letters/manage_detail.html",
        {
            "campaign": campaign,
            "letter": letter,
            "body_html": render_markdown(letter.body),
            "approvals": approvals,
            "live_approvals": live,
            "approval_count": services.approval_count(letter),
            "i_approved": any(a.approver_id == request.user.pk for a in live),
            "threads": selectors.letter_comment_threads(letter),
            "comment_form": CommentForm(),
            "visibility_form": VisibilityForm(initial={"visibility": letter.visibility}),
        },
    )


@require_http_methods(["GET", "POST"])
@organizer_required
def edit(request, pk, *, campaign, membership):
    letter = _letter(campaign, pk)
    if letter.state != LetterState.DRAFT:
        return _refused(
            request,
            campaign,
            letter,
            ValidationError(_("Only drafts can be edited. Return the letter to draft first.")),
            409,
        )
    initial = {
        "title": letter.title,
        "summary": letter.summary,
        "body": letter.body,
        "demands": "\n".join(letter.demands),
        "language": letter.language,
        "goal": letter.goal,
        "deadline": letter.deadline,
        "base_revision": letter.current_revision_id,
    }
    form = LetterEditForm(request.POST or None, initial=initial)
    context = {"campaign": campaign, "letter": letter, "form": form, "preview": None}
    if request.method == "GET":
        return render(request, "letters/edit.html", context)
    if not form.is_valid():
        return render(request, "letters/edit.html", context, status=400)
    data = dict(form.cleaned_data)
    base = data.pop("base_revision")
    if "preview" in request.POST:
        context["preview"] = _preview(data)
        return render(request, "letters/edit.html", context)
    try:
        services.letter_save(actor=request.user, letter=letter, base_revision=base, **data)
    except services.RevisionConflict as conflict:
        return _conflict(request, campaign, letter, conflict, data)
    except services.LetterStateError as exc:
        return _refused(request, campaign, letter, exc, 409)
    except ValidationError as exc:
        form.add_error(None, exc)
        return render(request, "letters/edit.html", context, status=400)
    messages.success(
        request, _("Saved as revision %(number)d.") % {"number": letter.current_revision.number}
    )
    return redirect("letters:manage_detail", campaign.slug, letter.pk)


class _Text:
    def __init__(self, data):
        self.title = data["title"]
        self.summary = data["summary"]
        self.body = data["body"]
        self.demands = data["demands"]


def _conflict(request, campaign, letter, conflict, data):
    """Show their version, what changed since the author's base, and the author's
    text in a form based on the current revision, to merge by hand."""
    current = conflict.current
    mine = _Text(data)
    form = LetterEditForm(
        initial={
            **data,
            "demands": "\n".join(data["demands"]),
            "base_revision": current.pk if current else None,
        }
    )
    names = _names(campaign)
    return render(
        request,
        "letters/conflict.html",
        {
            "campaign": campaign,
            "letter": letter,
            "form": form,
            "current": current,
            "current_author": names.get(current.author_id, "") if current else "",
            "base": conflict.base,
            "theirs_diff": revision_diff(conflict.base, current) if conflict.base else None,
            "mine_diff": revision_diff(current, mine) if current else None,
            "mine_differs": has_changes(current, mine) if current else True,
            "errors": conflict.messages,
        },
        status=409,
    )


@require_GET
@organizer_required
def history(request, pk, *, campaign, membership):
    letter = _letter(campaign, pk)
    revisions = list(selectors.letter_revisions(letter))
    names = _names(campaign)
    for revision in revisions:
        revision.author_name = names.get(revision.author_id, _("former member"))
    return render(
        request,
        "letters/history.html",
        {"campaign": campaign, "letter": letter, "revisions": revisions},
    )


@require_GET
@organizer_required
def diff(request, pk, *, campaign, membership):
    letter = _letter(campaign, pk)
    current = letter.current_revision.number if letter.current_revision else 1
    try:
        a = int(request.GET.get("from", max(current - 1, 1)))
        b = int(request.GET.get("to", current))
    except ValueError:
        return _refused(
            request, campaign, letter, ValidationError(_("Revision numbers are numbers.")), 400
        )
    found = {r.number: r for r in Revision.objects.filter(letter=letter, number__in=[a, b])}
    if a not in found or b not in found:
        return _refused(
            request,
            campaign,
            letter,
            ValidationError(_("This letter has no such revision.")),
            404,
        )
    numbers = list(Revision.objects.filter(letter=letter).values_list("number", flat=True))
    return render(
        request,
        "letters/diff.html",
        {
            "campaign": campaign,
            "letter": letter,
            "old": found[a],
            "new": found[b],
            "diff": revision_diff(found[a], found[b]),
            "numbers": sorted(numbers),
        },
    )


@require_POST
@organizer_required
def comment_add(request, pk, *, campaign, membership):
    letter = _letter(campaign, pk)
    form = CommentForm(request.POST)
    if not form.is_valid():
        errors = [e for errs in form.errors.values() for e in errs]
        return _refused(request, campaign, letter, ValidationError(errors), 400)
    parent = None
    if form.cleaned_data["parent"]:
        parent = Comment.objects.filter(pk=form.cleaned_data["parent"], letter=letter).first()
        if parent is None:
            return _refused(
                request, campaign, letter, ValidationError(_("That comment does not exist.")), 404
            )
    try:
        comment = services.comment_add(
            actor=request.user, letter=letter, body=form.cleaned_data["body"], parent=parent
        )
    except ValidationError as exc:
        return _refused(request, campaign, letter, exc, 400)
    messages.success(request, _("Comment added."))
    anchor = comment.parent_id or comment.pk
    return redirect(f"{_detail_url(campaign, letter)}#comment-{anchor}")


@require_POST
@organizer_required
def comment_resolve(request, pk, comment_id, *, campaign, membership):
    letter = _letter(campaign, pk)
    comment = get_object_or_404(Comment, pk=comment_id, letter=letter)
    resolved = request.POST.get("resolved", "1") != "0"
    services.comment_resolve(actor=request.user, comment=comment, resolved=resolved)
    messages.success(request, _("Thread resolved.") if resolved else _("Thread reopened."))
    return redirect(f"{_detail_url(campaign, letter)}#comment-{comment.parent_id or comment.pk}")


def _detail_url(campaign, letter) -> str:
    return reverse("letters:manage_detail", args=[campaign.slug, letter.pk])


TRANSITIONS = {
    "submit": (
        services.letter_submit_for_review,
        gettext_lazy("The text is frozen and ready for review."),
    ),
    "return": (
        services.letter_return_to_draft,
        gettext_lazy("Back to draft; approvals were voided."),
    ),
    "approve": (services.letter_approve, gettext_lazy("You approved this text.")),
    "open": (services.letter_open, gettext_lazy("The letter is open for signatures.")),
    "close": (services.letter_close, gettext_lazy("The letter is closed.")),
}


@require_POST
@organizer_required
def transition(request, pk, action, *, campaign, membership):
    letter = _letter(campaign, pk)
    if action not in TRANSITIONS:
        raise Http404
    function, success = TRANSITIONS[action]
    kwargs = {"actor": request.user, "letter": letter}
    if action == "approve":
        kwargs["revision"] = request.POST.get("revision") or None
    try:
        function(**kwargs)
    except services.RevisionConflict:
        return _refused(
            request,
            campaign,
            letter,
            ValidationError(
                _("The text changed since you read it. Read the current text, then approve.")
            ),
            409,
        )
    except services.LetterStateError as exc:
        return _refused(request, campaign, letter, exc, 409)
    messages.success(request, str(success))
    return redirect(_return_to(request) or _detail_url(campaign, letter))


def _return_to(request) -> str:
    """The page a transition was asked from (`next`, e.g. the export page
    closing its letter): a path of this site only, never another host."""
    target = request.POST.get("next", "")
    if target.startswith("/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return ""


@require_POST
@organizer_required
def visibility(request, pk, *, campaign, membership):
    letter = _letter(campaign, pk)
    form = VisibilityForm(request.POST)
    if not form.is_valid():
        return _refused(request, campaign, letter, ValidationError(_("Unknown visibility.")), 400)
    try:
        services.letter_set_visibility(
            actor=request.user, letter=letter, visibility=form.cleaned_data["visibility"]
        )
    except ValidationError as exc:
        return _refused(request, campaign, letter, exc, 409)
    messages.success(request, _("Visibility changed. The letter's address is now shown below."))
    return redirect("letters:manage_detail", campaign.slug, letter.pk)


# --- updates -----------------------------------------------------------------------
#
# Organizers and delegates post them (a delegate reports the delivery and the
# answer); letters.services decides who may change which.


def _updates_url(campaign, letter) -> str:
    return reverse("letters:updates", args=[campaign.slug, letter.pk])


def _letter_for_updates(campaign, pk, membership) -> Letter:
    """The letter, for its updates pages: delegates reach only published
    letters (drafts are the organizers' own)."""
    letter = _letter(campaign, pk)
    if membership.role != Role.ORGANIZER and letter.state not in selectors.PUBLISHED_STATES:
        raise Http404
    return letter


def _update(letter, update_id) -> Update:
    return get_object_or_404(
        Update.objects.select_related("letter__campaign"), pk=update_id, letter=letter
    )


def _update_preview(data) -> dict:
    return {"title": data["title"], "body_html": render_markdown(data["body"])}


@require_http_methods(["GET", "POST"])
@staff_of_campaign_required
def updates(request, pk, *, campaign, membership):
    """The letter's updates, and the form to post one."""
    letter = _letter_for_updates(campaign, pk, membership)
    form = UpdateForm(request.POST or None)
    preview = None
    status = 200
    if request.method == "POST":
        if not form.is_valid():
            status = 400
        elif "preview" in request.POST:
            preview = _update_preview(form.cleaned_data)
        else:
            try:
                services.update_post(actor=request.user, letter=letter, **form.cleaned_data)
            except services.LetterStateError as exc:
                return _refused(
                    request, campaign, letter, exc, 409, back_url=_updates_url(campaign, letter)
                )
            except ValidationError as exc:
                form.add_error(None, exc)
                status = 400
            else:
                messages.success(request, _("The update is posted: it is public now."))
                return redirect("letters:updates", campaign.slug, letter.pk)
    rows = [
        (update, services.update_may_change(membership=membership, update=update))
        for update in selectors.letter_updates(letter)
    ]
    return render(
        request,
        "letters/updates.html",
        {
            "campaign": campaign,
            "membership": membership,
            "letter": letter,
            "form": form,
            "preview": preview,
            "rows": rows,
            "can_post": letter.state in services.UPDATE_STATES,
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
@staff_of_campaign_required
def update_edit(request, pk, update_id, *, campaign, membership):
    letter = _letter_for_updates(campaign, pk, membership)
    update = _update(letter, update_id)
    back = _updates_url(campaign, letter)
    if not services.update_may_change(membership=membership, update=update):
        return _refused(
            request,
            campaign,
            letter,
            ValidationError(_("Only organizers and its author can change this update.")),
            403,
            back_url=back,
        )
    form = UpdateForm(request.POST or None, initial={"title": update.title, "body": update.body})
    preview = None
    status = 200
    if request.method == "POST":
        if not form.is_valid():
            status = 400
        elif "preview" in request.POST:
            preview = _update_preview(form.cleaned_data)
        else:
            try:
                services.update_edit(actor=request.user, update=update, **form.cleaned_data)
            except ValidationError as exc:
                form.add_error(None, exc)
                status = 400
            else:
                messages.success(request, _("The update is saved."))
                return redirect(back)
    return render(
        request,
        "letters/update_edit.html",
        {
            "campaign": campaign,
            "letter": letter,
            "update": update,
            "form": form,
            "preview": preview,
        },
        status=status,
    )


@require_POST
@staff_of_campaign_required
def update_delete(request, pk, update_id, *, campaign, membership):
    letter = _letter_for_updates(campaign, pk, membership)
    update = _update(letter, update_id)
    back = _updates_url(campaign, letter)
    if not services.update_may_change(membership=membership, update=update):
        return _refused(
            request,
            campaign,
            letter,
            ValidationError(_("Only organizers and its author can delete this update.")),
            403,
            back_url=back,
        )
    services.update_delete(actor=request.user, update=update)
    messages.success(request, _("The update is deleted."))
    return redirect(back)


# --- Atom feeds ------------------------------------------------------------------------


def _atom(feed, *, noindex: bool = False) -> HttpResponse:
    """The feed, kept by no cache: the same for everyone, but a copy on a work
    laptop's disk would tell who follows the letter."""
    response = HttpResponse(content_type=feed.content_type)
    feed.write(response, "utf-8")
    response["Cache-Control"] = "no-store"
    if noindex:
        response["X-Robots-Tag"] = "noindex"
    return response


@require_GET
def letter_feed(request, slug):
    """/letters/<slug>/updates.atom: any letter with a public page (an
    unlisted letter's slug carries its secret, as its page's does)."""
    letter = selectors.published_letter(slug)
    if letter is None:
        raise Http404
    feed = feeds.letter_feed(
        letter, selectors.letter_updates(letter), absolute=request.build_absolute_uri
    )
    return _atom(feed, noindex=letter.visibility != Visibility.PUBLIC)


@require_GET
def campaign_feed(request, slug):
    """/c/<slug>/updates.atom: the updates of the campaign's public letters."""
    campaign = get_object_or_404(Campaign, slug=slug)
    feed = feeds.campaign_feed(
        campaign,
        selectors.campaign_public_updates(campaign),
        absolute=request.build_absolute_uri,
    )
    return _atom(feed)

from django import forms
from django.utils.functional import lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from letters.models import (
    MAX_BODY_CHARS,
    MAX_COMMENT_CHARS,
    MAX_DEMAND_CHARS,
    MAX_DEMANDS,
    MAX_UPDATE_BODY_CHARS,
    MAX_UPDATE_TITLE_CHARS,
    Visibility,
)
from letters.services import (
    MAX_BASE_SLUG_CHARS,
    MAX_GOAL,
    MAX_NOTE_CHARS,
    MAX_SUMMARY_CHARS,
    MAX_TITLE_CHARS,
    normalize_demands,
)


def _too_long(what):
    """A lazily translated max_length message naming the field."""

    def message():
        return gettext(
            "%(what)s is too long: %%(show_value)d characters, at most %%(limit_value)d."
        ) % {"what": str(what)}

    return lazy(message, str)()


class LetterForm(forms.Form):
    title = forms.CharField(
        label=_("Title"),
        max_length=MAX_TITLE_CHARS,
        error_messages={"max_length": _too_long(_("The title"))},
    )
    summary = forms.CharField(
        label=_("Summary"),
        max_length=MAX_SUMMARY_CHARS,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("One or two sentences, shown in previews and link cards."),
        error_messages={"max_length": _too_long(_("The summary"))},
    )
    body = forms.CharField(
        label=_("Text (Markdown)"),
        max_length=MAX_BODY_CHARS,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 16}),
        help_text=_(
            "Markdown: *emphasis*, **strong**, [links](https://…), lists, quotes. "
            "HTML and images are not shown."
        ),
        error_messages={"max_length": _too_long(_("The text"))},
    )
    demands = forms.CharField(
        label=_("Demands (one per line)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=lazy(
            lambda: (
                gettext("At most %(count)d demands of %(chars)d characters each.")
                % {"count": MAX_DEMANDS, "chars": MAX_DEMAND_CHARS}
            ),
            str,
        )(),
    )
    language = forms.CharField(
        label=_("Language of the letter"),
        max_length=12,
        initial="en",
        help_text=_("A language code such as en, de or pt-BR."),
    )
    goal = forms.IntegerField(
        label=_("Signature goal"), min_value=1, max_value=MAX_GOAL, initial=100
    )
    deadline = forms.DateTimeField(
        label=_("Deadline (UTC, optional)"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=_("Signatures close automatically at this time."),
    )
    note = forms.CharField(
        label=_("Note about this change (optional)"),
        max_length=MAX_NOTE_CHARS,
        required=False,
    )

    def clean_demands(self):
        demands = normalize_demands(self.cleaned_data.get("demands") or "")
        if len(demands) > MAX_DEMANDS:
            raise forms.ValidationError(
                _("Too many demands: %(count)d, at most %(max)d.")
                % {"count": len(demands), "max": MAX_DEMANDS}
            )
        if any(len(d) > MAX_DEMAND_CHARS for d in demands):
            raise forms.ValidationError(
                _("Each demand has at most %(max)d characters.") % {"max": MAX_DEMAND_CHARS}
            )
        return demands


class LetterCreateForm(LetterForm):
    slug = forms.SlugField(
        label=_("Short name for the address (optional)"),
        max_length=MAX_BASE_SLUG_CHARS,
        required=False,
        help_text=_("Letters, digits and hyphens, e.g. stop-keystroke-logging."),
        error_messages={
            "invalid": _(
                "Use only letters, digits, hyphens and underscores in the short name, "
                "e.g. stop-keystroke-logging."
            )
        },
    )
    visibility = forms.ChoiceField(
        label=_("Visibility"), choices=Visibility.choices, initial=Visibility.PUBLIC
    )

    field_order = ["title", "slug", "visibility"]


class LetterEditForm(LetterForm):
    base_revision = forms.IntegerField(widget=forms.HiddenInput)


class CommentForm(forms.Form):
    body = forms.CharField(
        label=_("Comment"),
        max_length=MAX_COMMENT_CHARS,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"max_length": _too_long(_("The comment"))},
    )
    parent = forms.IntegerField(required=False, widget=forms.HiddenInput)


class VisibilityForm(forms.Form):
    visibility = forms.ChoiceField(label=_("Visibility"), choices=Visibility.choices)


class UpdateForm(forms.Form):
    title = forms.CharField(
        label=_("Title of the update"),
        max_length=MAX_UPDATE_TITLE_CHARS,
        help_text=_("For example “Delivered to leadership” or “Leadership answered”."),
        error_messages={"max_length": _too_long(_("The title"))},
    )
    body = forms.CharField(
        label=_("What happened (Markdown)"),
        max_length=MAX_UPDATE_BODY_CHARS,
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_(
            "Public at once: on the letter's page, in its feed and with signers' receipts. "
            "Markdown as in the letter; HTML and images are not shown."
        ),
        error_messages={"max_length": _too_long(_("The text"))},
    )

from django import forms
from django.utils.translation import gettext_lazy as _

from core.text import CleanTextField
from signatures.models import (
    HOLD_TERM_MAX,
    HOLD_TERMS_MAX,
    MODERATED_FIELD_LABELS,
    MODERATION_NOTE_MAX,
    ModerationReason,
)
from signatures.services.common import INVITE_CODES_MAX_BATCH


class InviteCodesForm(forms.Form):
    count = forms.IntegerField(
        label=_("How many codes"),
        min_value=1,
        max_value=INVITE_CODES_MAX_BATCH,
        initial=20,
        help_text=_("One code per person. Each is good for one signature on each letter."),
    )
    batch = forms.CharField(
        label=_("Batch label (optional)"),
        max_length=80,
        required=False,
        help_text=_("For your own bookkeeping, e.g. “night shift”. Never a person's name."),
    )


class RevokeCodeForm(forms.Form):
    code = forms.CharField(label=_("Invite code to revoke"), max_length=64)


class AttestationForm(forms.Form):
    text = forms.CharField(
        label=_("Statement signers must affirm"),
        max_length=200,
        help_text=_("For example: “I am a current employee.”"),
    )


class ReportForm(forms.Form):
    """Anyone's report of a signature's public text."""

    reason = forms.ChoiceField(
        label=_("What is wrong with it?"),
        choices=ModerationReason.choices,
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Choose what is wrong with it."),
            "invalid_choice": _("Choose what is wrong with it from the list."),
        },
    )
    note = CleanTextField(
        label=_("Anything the organizers should know (optional)"),
        max_length=MODERATION_NOTE_MAX,
        required=False,
        multiline=True,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "Only the organizers read it. The report keeps no account, address or name: "
            "do not write your own."
        ),
    )


class HideForm(forms.Form):
    """An organizer hides some or all of a signature's public text."""

    hide = forms.MultipleChoiceField(
        label=_("Hide"),
        choices=list(MODERATED_FIELD_LABELS.items()),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    reason = forms.ChoiceField(
        label=_("Reason"),
        choices=ModerationReason.choices,
        error_messages={"invalid_choice": _("Choose a reason from the list.")},
    )
    note = CleanTextField(
        label=_("Note to the signer (optional)"),
        max_length=MODERATION_NOTE_MAX,
        required=False,
        multiline=True,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "Shown to the signer on their receipt page, with the reason, and to the "
            "organizers. Never on the public list."
        ),
    )

    def __init__(self, *args, hide_all: bool = False, **kwargs):
        self.hide_all = hide_all
        super().__init__(*args, **kwargs)

    def clean_hide(self):
        if self.hide_all:
            return list(MODERATED_FIELD_LABELS)
        chosen = self.cleaned_data["hide"]
        if not chosen:
            raise forms.ValidationError(_("Choose what to hide, or hide all of it."))
        return chosen


class HoldListForm(forms.Form):
    terms = forms.CharField(
        label=_("Names and words, one a line"),
        required=False,
        max_length=HOLD_TERMS_MAX * (HOLD_TERM_MAX + 2),
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=_(
            "For example your executives' names. Case, accents, spaces, punctuation and "
            "look-alike characters (0 for o, a Cyrillic а for a) are ignored, and a "
            "name also matches inside longer words."
        ),
    )

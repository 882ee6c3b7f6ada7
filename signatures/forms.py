from django import forms
from django.utils.translation import gettext_lazy as _

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

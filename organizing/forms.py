from django import forms
from django.utils.translation import gettext_lazy as _

from core.text import CleanTextField
from organizing.models import Campaign, Role
from organizing.services import normalize_domains


class CampaignForm(forms.ModelForm):
    allowed_domains = forms.CharField(
        label=_("Allowed work-email domains"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "One per line, e.g. example.com. Employees prove they work there with a code "
            "sent to an address in one of these domains."
        ),
    )

    def clean_batch_interval(self):
        value = self.cleaned_data.get("batch_interval")
        return value if value is not None else self.instance.batch_interval

    class Meta:
        model = Campaign
        fields = [
            "name",
            "slug",
            "employer_name",
            "description",
            "allowed_domains",
            "k_threshold",
            "approval_quorum",
            "batch_min",
            "batch_interval",
        ]
        widgets = {"description": forms.Textarea(attrs={"rows": 4})}
        # Shown to everyone: the rule for names (core.text).
        field_classes = {"name": CleanTextField, "employer_name": CleanTextField}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Most campaigns keep the default; a form that leaves it out keeps it.
        self.fields["batch_interval"].required = False
        if self.instance.pk:
            self.fields["slug"].disabled = True
            self.initial["allowed_domains"] = "\n".join(self.instance.allowed_domains)

    def clean_allowed_domains(self):
        return normalize_domains(self.cleaned_data["allowed_domains"] or "")


class InvitationForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.MEMBER)
    max_uses = forms.IntegerField(
        label=_("How many people may use it"), min_value=1, max_value=10000, initial=1
    )
    valid_days = forms.IntegerField(
        label=_("Valid for (days)"), min_value=1, max_value=90, initial=7
    )
    label = forms.CharField(
        label=_("Note for organizers (optional)"), max_length=80, required=False
    )


class JoinForm(forms.Form):
    display_name = CleanTextField(
        label=_("Display name"),
        max_length=60,
        required=False,
        help_text=_(
            "How other members see you. Leave empty for a random name. "
            "Do not use your email address."
        ),
    )


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)

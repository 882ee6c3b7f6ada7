from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from core.text import CleanTextField
from organizing.models import Campaign, Role
from organizing.services import (
    DISPLAY_NAME_MAX,
    normalize_domains,
    public_mail_domain_message,
    public_mail_domains_added,
)

DISPLAY_NAME_HELP = _(
    "How the other members see you: in approvals, the letter's history and discussions. "
    "A pseudonym is fine. Do not use your email address."
)


class CampaignForm(forms.ModelForm):
    """Creating (with the creator's display name) or changing a campaign.

    A public mail provider among the allowed domains shows a checkbox to
    confirm it (organizing.services refuses it otherwise)."""

    allowed_domains = forms.CharField(
        label=_("Allowed work-email domains"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "One per line, e.g. example.com. Employees prove they work there with a code "
            "sent to an address in one of these domains."
        ),
    )
    confirm_public_domains = forms.BooleanField(
        label=_(
            "Allow these public mail providers anyway: I understand that anyone with an "
            "address there can sign as an employee."
        ),
        required=False,
    )
    display_name = CleanTextField(
        label=_("Your display name in this campaign"),
        max_length=DISPLAY_NAME_MAX,
        help_text=DISPLAY_NAME_HELP,
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
        labels = {"slug": _("Short name for web addresses")}
        help_texts = {
            "slug": _(
                "Letters, digits and hyphens, e.g. fair-pay: the campaign's pages are then at "
                "/c/fair-pay/. It cannot be changed later."
            )
        }
        error_messages = {
            "slug": {
                "invalid": _(
                    "Use only letters, digits, hyphens and underscores (no spaces or "
                    "accents), e.g. fair-pay."
                ),
                "unique": _("Another campaign already uses this short name: choose another."),
            }
        }

    field_order = [
        "name",
        "slug",
        "employer_name",
        "description",
        "allowed_domains",
        "confirm_public_domains",
        "k_threshold",
        "approval_quorum",
        "display_name",
    ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Most campaigns keep the default; a form that leaves it out keeps it.
        self.fields["batch_interval"].required = False
        self.domains_before = list(self.instance.allowed_domains) if self.instance.pk else []
        if self.instance.pk:
            self.fields["slug"].disabled = True
            self.initial["allowed_domains"] = "\n".join(self.instance.allowed_domains)
            # The creator named themselves when creating; members rename on the campaign page.
            del self.fields["display_name"]
        if not self._public_domains_submitted():
            del self.fields["confirm_public_domains"]

    def _public_domains_submitted(self) -> list[str]:
        if not self.is_bound:
            return []
        try:
            domains = normalize_domains(self.data.get("allowed_domains") or "")
        except ValidationError:
            return []
        return public_mail_domains_added(domains, before=self.domains_before)

    def clean_slug(self):
        slug = self.cleaned_data.get("slug") or ""
        if self.instance.pk:
            return slug  # cannot change (the field is disabled)
        # Folded, so that the address is the same for everyone who types it.
        return slug.strip().lower()

    def clean_allowed_domains(self):
        return normalize_domains(self.cleaned_data["allowed_domains"] or "")

    def clean(self):
        cleaned = super().clean()
        added = public_mail_domains_added(
            cleaned.get("allowed_domains") or [], before=self.domains_before
        )
        if added and not cleaned.get("confirm_public_domains"):
            self.add_error("allowed_domains", public_mail_domain_message(added))
        return cleaned


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
        label=_("Your display name in this campaign"),
        max_length=DISPLAY_NAME_MAX,
        help_text=DISPLAY_NAME_HELP,
    )


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)

from django import forms
from django.utils.translation import gettext_lazy as _

from petitions.models import DeliveryMethod, PaperSize
from petitions.services import INVITE_SHEET_MAX


class ExportForm(forms.Form):
    paper = forms.ChoiceField(label=_("Paper size"), choices=PaperSize.choices, initial="A4")
    encrypt = forms.BooleanField(
        label=_("Also encrypt the PDF to the delegates' public keys (recipients hidden)"),
        required=False,
    )


class KeyImportForm(forms.Form):
    armored = forms.CharField(
        label=_("ASCII-armored secret signing (sub)key"),
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false", "autocomplete": "off"}),
        max_length=200_000,
        help_text=_("Export only a signing subkey: gpg --armor --export-secret-subkeys FPR!"),
    )
    passphrase = forms.CharField(
        label=_("Its passphrase (if any)"),
        required=False,
        strip=False,
        max_length=1000,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
    )


class PublicKeyForm(forms.Form):
    armored = forms.CharField(
        label=_("Your ASCII-armored public key"),
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false", "autocomplete": "off"}),
        max_length=200_000,
        help_text=_("gpg --armor --export YOUR-FINGERPRINT"),
    )


class VerifyForm(forms.Form):
    pdf = forms.FileField(label=_("The PDF"), required=False)
    sha256 = forms.CharField(
        label=_("…or its SHA-256"),
        required=False,
        max_length=100,
        help_text=_("64 hexadecimal characters, e.g. what “sha256sum” prints for the file."),
    )

    def clean(self):
        data = super().clean()
        if not data.get("pdf") and not (data.get("sha256") or "").strip():
            raise forms.ValidationError(_("Upload the PDF or paste its SHA-256."))
        return data


class ReceiptForm(forms.Form):
    receipt = forms.CharField(
        label=_("Your receipt"),
        max_length=128,
        min_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )


class DeliveryForm(forms.Form):
    delivered_at = forms.DateTimeField(
        label=_("Delivered at (UTC)"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
    )
    recipient = forms.CharField(label=_("Delivered to"), max_length=200)
    method = forms.ChoiceField(label=_("How"), choices=DeliveryMethod.choices)
    notes = forms.CharField(
        label=_("Notes"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )


class ResponseForm(forms.Form):
    response = forms.CharField(
        label=_("Their response"), max_length=5000, widget=forms.Textarea(attrs={"rows": 4})
    )
    response_at = forms.DateTimeField(
        label=_("Received at (UTC)"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
    )


class InviteSheetForm(forms.Form):
    letter = forms.ChoiceField(label=_("Letter the codes are for"))
    count = forms.IntegerField(
        label=_("How many codes"), min_value=1, max_value=INVITE_SHEET_MAX, initial=24
    )
    batch = forms.CharField(label=_("Batch label (optional)"), max_length=80, required=False)
    paper = forms.ChoiceField(label=_("Paper size"), choices=PaperSize.choices, initial="A4")

    def __init__(self, *args, letters=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["letter"].choices = [(letter.slug, letter.title) for letter in letters]

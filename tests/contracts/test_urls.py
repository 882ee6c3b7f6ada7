"""Golden map of every URL name (with its namespace) to its path pattern.

Paths are what users bookmark, what the JavaScript and the signing clients
call and what docs/ print; names are what templates and `reverse` use. The
map was generated on commit 1d16306 by walking the resolver; a change to it
must be deliberate (and, for a path, announced in docs/operations.md).
"""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings
from django.urls import URLResolver, get_resolver

# Generated on commit 1d16306; must never change. (REDESIGN.md plans one
# change of names, not paths: the namespace "export:" becoming "petitions:".)
APP_URLS = {
    "account_change_password": "accounts/password/change/",
    "account_complete_password_reset": "accounts/password/reset/complete/",
    "account_confirm_login_code": "accounts/login/code/confirm/",
    "account_confirm_password_reset_code": "accounts/password/reset/confirm/",
    "account_confirm_reauthentication_code": "accounts/reauthenticate/code/confirm/",
    "account_email": "accounts/email/",
    "account_email_verification_sent": "accounts/confirm-email/",
    "account_inactive": "accounts/inactive/",
    "account_login": "accounts/login/",
    "account_logout": "accounts/logout/",
    "account_password_reset_completed": "accounts/password/reset/done/",
    "account_reauthenticate": "accounts/reauthenticate/",
    "account_request_reauthentication_code": "accounts/reauthenticate/code/",
    "account_reset_password": "accounts/password/reset/",
    "account_set_password": "accounts/password/set/",
    "account_signup": "accounts/signup/",
    "petitions:cancel": "c/<slug:slug>/exports/<uuid:export_id>/cancel/",
    "petitions:deliver": "c/<slug:slug>/exports/<uuid:export_id>/deliver/",
    "petitions:detail": "c/<slug:slug>/exports/<uuid:export_id>/",
    "petitions:download": "c/<slug:slug>/exports/<uuid:export_id>/files/<str:name>",
    "petitions:invite_sheet": "c/<slug:slug>/invite-sheet/",
    "petitions:keys": "c/<slug:slug>/exports/keys/",
    "petitions:list": "c/<slug:slug>/exports/",
    "petitions:public_download": "c/<slug:slug>/verify/<uuid:export_id>/<str:name>",
    "petitions:public_key": "c/<slug:slug>/openpgp-key.asc",
    "petitions:response": "c/<slug:slug>/exports/<uuid:export_id>/response/",
    "petitions:status": "c/<slug:slug>/exports/<uuid:export_id>/status.json",
    "petitions:verify": "c/<slug:slug>/verify/",
    "petitions:verify_export": "c/<slug:slug>/verify/<uuid:export_id>/",
    "letters:comment_add": "c/<slug:slug>/letters/<int:pk>/comments/",
    "letters:comment_resolve": "c/<slug:slug>/letters/<int:pk>/comments/<int:comment_id>/resolve/",
    "letters:manage_create": "c/<slug:slug>/letters/new/",
    "letters:manage_detail": "c/<slug:slug>/letters/<int:pk>/",
    "letters:manage_diff": "c/<slug:slug>/letters/<int:pk>/diff/",
    "letters:manage_edit": "c/<slug:slug>/letters/<int:pk>/edit/",
    "letters:manage_history": "c/<slug:slug>/letters/<int:pk>/history/",
    "letters:manage_list": "c/<slug:slug>/letters/",
    "letters:manage_transition": "c/<slug:slug>/letters/<int:pk>/<str:action>/",
    "letters:manage_visibility": "c/<slug:slug>/letters/<int:pk>/visibility/",
    "letters:public": "letters/<slug:slug>/",
    # Added with updates, feeds and the timeline (issue 17); nothing older changed.
    "letters:campaign_feed": "c/<slug:slug>/updates.atom",
    "letters:feed": "letters/<slug:slug>/updates.atom",
    "letters:update_delete": "c/<slug:slug>/letters/<int:pk>/updates/<uuid:update_id>/delete/",
    "letters:update_edit": "c/<slug:slug>/letters/<int:pk>/updates/<uuid:update_id>/",
    "letters:updates": "c/<slug:slug>/letters/<int:pk>/updates/",
    "signatures:api_timeline": "api/v1/letters/<slug:slug>/timeline",
    "signatures:timeline_csv": "letters/<slug:slug>/timeline.csv",
    "mfa_activate_totp": "accounts/2fa/totp/activate/",
    "mfa_add_webauthn": "accounts/2fa/webauthn/add/",
    "mfa_authenticate": "accounts/2fa/authenticate/",
    "mfa_deactivate_totp": "accounts/2fa/totp/deactivate/",
    "mfa_download_recovery_codes": "accounts/2fa/recovery-codes/download/",
    "mfa_edit_webauthn": "accounts/2fa/webauthn/keys/<int:pk>/edit/",
    "mfa_generate_recovery_codes": "accounts/2fa/recovery-codes/generate/",
    "mfa_index": "accounts/2fa/",
    "mfa_list_webauthn": "accounts/2fa/webauthn/",
    "mfa_reauthenticate": "accounts/2fa/reauthenticate/",
    "mfa_reauthenticate_webauthn": "accounts/2fa/webauthn/reauthenticate/",
    "mfa_remove_webauthn": "accounts/2fa/webauthn/keys/<int:pk>/remove/",
    "mfa_view_recovery_codes": "accounts/2fa/recovery-codes/",
    "organizing:audit": "c/<slug:slug>/audit/",
    "organizing:campaign": "c/<slug:slug>/",
    "organizing:campaign_create": "organize/new/",
    "organizing:channel_archive": "c/<slug:slug>/channels/<int:channel_id>/archive/",
    "organizing:channel_create": "c/<slug:slug>/channels/new/",
    "organizing:channel_list": "c/<slug:slug>/channels/",
    "organizing:channel_room": "c/<slug:slug>/channels/<int:channel_id>/",
    "organizing:channel_settings": "c/<slug:slug>/channels/<int:channel_id>/settings/",
    "organizing:dashboard": "organize/",
    "organizing:healthz": "healthz",
    "organizing:home": "",
    "organizing:invitation_create": "c/<slug:slug>/invitations/",
    "organizing:invitation_revoke": "c/<slug:slug>/invitations/<int:invitation_id>/revoke/",
    "organizing:join": "join/<str:token>/",
    "organizing:manage": "c/<slug:slug>/manage/",
    "organizing:member_remove": "c/<slug:slug>/members/<int:membership_id>/remove/",
    "organizing:member_rename": "c/<slug:slug>/me/name/",
    "organizing:member_role": "c/<slug:slug>/members/<int:membership_id>/role/",
    "organizing:settings": "c/<slug:slug>/settings/",
    "signatures:api_email_codes": "api/v1/letters/<slug:slug>/email-codes",
    "signatures:api_letter": "api/v1/letters/<slug:slug>",
    "signatures:api_letters": "api/v1/letters/",
    "signatures:api_receipt_status": "api/v1/receipts/status",
    "signatures:api_receipt_withdraw": "api/v1/receipts/withdraw",
    "signatures:api_signatures": "api/v1/letters/<slug:slug>/signatures",
    "signatures:api_tokens": "api/v1/letters/<slug:slug>/tokens",
    "signatures:attestation_toggle": "c/<slug:slug>/attestations/<int:attestation_id>/toggle/",
    "signatures:attestations": "c/<slug:slug>/attestations/",
    "signatures:invite_batch_revoke": "c/<slug:slug>/invite-codes/revoke-batch/",
    "signatures:invite_code_revoke": "c/<slug:slug>/invite-codes/revoke/",
    "signatures:invite_codes": "c/<slug:slug>/invite-codes/",
    "signatures:list": "letters/<slug:slug>/signatures/",
    # Added with the letter's transparency log (issue 15).
    "signatures:log_checkpoint": "log/<slug:slug>/checkpoint",
    "signatures:log_checkpoints": "log/<slug:slug>/checkpoints",
    "signatures:log_tile": "log/<slug:slug>/tile/<path:path>",
    "signatures:receipt": "receipts/",
    "signatures:sign": "letters/<slug:slug>/sign/",
    # Added with moderation (issue 17).
    "signatures:api_signature_report": (
        "api/v1/letters/<slug:slug>/signatures/<uuid:signature_id>/reports"
    ),
    "signatures:moderation": "c/<slug:slug>/manage/moderation/",
    "signatures:moderation_dismiss": "c/<slug:slug>/manage/moderation/<uuid:signature_id>/dismiss/",
    "signatures:moderation_hold_list": "c/<slug:slug>/manage/moderation/hold-list/",
    "signatures:moderation_show": "c/<slug:slug>/manage/moderation/<uuid:signature_id>/show/",
    "signatures:moderation_signature": "c/<slug:slug>/manage/moderation/<uuid:signature_id>/",
    "signatures:report": "letters/<slug:slug>/signatures/<uuid:signature_id>/report/",
}

# The operator's admin. Its paths and names carry each model's app label, so
# a model moved to another app (with a state-only migration) moves here too:
# update only those entries, deliberately, and say so in docs/operations.md.
ADMIN_PAGES = {
    "admin:app_list": "operator/^(?P<app_label>auth|account|mfa|organizing|letters)/$",
    "admin:auth_user_password_change": "operator/organizing/user/<id>/password/",
    "admin:autocomplete": "operator/autocomplete/",
    "admin:index": "operator/",
    "admin:jsi18n": "operator/jsi18n/",
    "admin:login": "operator/login/",
    "admin:logout": "operator/logout/",
    "admin:password_change": "operator/password_change/",
    "admin:password_change_done": "operator/password_change/done/",
    "admin:view_on_site": "operator/r/<path:content_type_id>/<path:object_id>/",
}
# Each model the admin lists has the same five pages under operator/<app label>/<model>/.
ADMIN_MODELS = [
    "account/emailaddress",
    "auth/group",
    "letters/approval",
    "letters/comment",
    "letters/letter",
    "letters/revision",
    "mfa/authenticator",
    "organizing/auditentry",
    "organizing/campaign",
    "organizing/invitation",
    "organizing/user",
]


def url_map(patterns=None, prefix: str = "", namespaces: tuple[str, ...] = ()) -> dict:
    """{"namespace:name": "path pattern"} of every named URL, walking includes."""
    found: dict[str, str] = {}
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            inner = namespaces + ((pattern.namespace,) if pattern.namespace else ())
            nested = url_map(pattern.url_patterns, prefix + str(pattern.pattern), inner)
            for name, route in nested.items():
                found.setdefault(name, route)
        elif pattern.name:
            found.setdefault(":".join(namespaces + (pattern.name,)), prefix + str(pattern.pattern))
    return found


def test_every_url_name_maps_to_its_frozen_path():
    routes = url_map()
    project = {name: route for name, route in routes.items() if not name.startswith("admin:")}
    assert project == APP_URLS


def test_admin_urls():
    expected = dict(ADMIN_PAGES)
    for model in ADMIN_MODELS:
        base = f"operator/{model}/"
        name = "admin:" + model.replace("/", "_")
        expected[f"{name}_changelist"] = base
        expected[f"{name}_add"] = f"{base}add/"
        for page in ("change", "delete", "history"):
            expected[f"{name}_{page}"] = f"{base}<path:object_id>/{page}/"
    routes = url_map()
    assert {name: route for name, route in routes.items() if name.startswith("admin:")} == expected


def test_templates_use_only_frozen_url_names():
    template_dirs = [Path(d) for engine in settings.TEMPLATES for d in engine.get("DIRS", [])]
    used = set()
    for directory in template_dirs:
        for template in directory.rglob("*.html"):
            used |= set(re.findall(r"{%\s*url\s+['\"]([^'\"]+)['\"]", template.read_text()))
    assert used, "no {% url %} found: is the template folder still in TEMPLATES DIRS?"
    assert used <= set(APP_URLS), sorted(used - set(APP_URLS))

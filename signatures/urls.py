from django.urls import path

from signatures import api, log_views, moderation_views, views

app_name = "signatures"

urlpatterns = [
    # JSON API (docs/signing-protocol.md)
    path("api/v1/letters/", api.letters, name="api_letters"),
    path("api/v1/letters/<slug:slug>", api.letter, name="api_letter"),
    path("api/v1/letters/<slug:slug>/email-codes", api.email_codes, name="api_email_codes"),
    path("api/v1/letters/<slug:slug>/tokens", api.tokens, name="api_tokens"),
    path("api/v1/letters/<slug:slug>/signatures", api.signatures, name="api_signatures"),
    path("api/v1/letters/<slug:slug>/timeline", api.timeline, name="api_timeline"),
    path(
        "api/v1/letters/<slug:slug>/signatures/<uuid:signature_id>/reports",
        api.signature_report,
        name="api_signature_report",
    ),
    path("api/v1/receipts/status", api.receipt_status, name="api_receipt_status"),
    path("api/v1/receipts/withdraw", api.receipt_withdraw, name="api_receipt_withdraw"),
    # The letter's transparency log (C2SP tlog-tiles; docs/signing-protocol.md)
    path("log/<slug:slug>/checkpoint", log_views.checkpoint, name="log_checkpoint"),
    path("log/<slug:slug>/checkpoints", log_views.checkpoints, name="log_checkpoints"),
    path("log/<slug:slug>/tile/<path:path>", log_views.tile, name="log_tile"),
    # Pages
    path("letters/<slug:slug>/sign/", views.sign, name="sign"),
    path("letters/<slug:slug>/signatures/", views.signature_list, name="list"),
    path("letters/<slug:slug>/timeline.csv", views.timeline_csv, name="timeline_csv"),
    path(
        "letters/<slug:slug>/signatures/<uuid:signature_id>/report/",
        views.report,
        name="report",
    ),
    path("receipts/", views.receipt, name="receipt"),
    path("c/<slug:slug>/invite-codes/", views.invite_codes, name="invite_codes"),
    path("c/<slug:slug>/invite-codes/revoke/", views.invite_code_revoke, name="invite_code_revoke"),
    path(
        "c/<slug:slug>/invite-codes/revoke-batch/",
        views.invite_batch_revoke,
        name="invite_batch_revoke",
    ),
    path("c/<slug:slug>/attestations/", views.attestations, name="attestations"),
    path(
        "c/<slug:slug>/attestations/<int:attestation_id>/toggle/",
        views.attestation_toggle,
        name="attestation_toggle",
    ),
    # Moderation (docs/organizers-guide.md, "Moderation")
    path("c/<slug:slug>/manage/moderation/", moderation_views.queue, name="moderation"),
    path(
        "c/<slug:slug>/manage/moderation/hold-list/",
        moderation_views.hold_list,
        name="moderation_hold_list",
    ),
    path(
        "c/<slug:slug>/manage/moderation/<uuid:signature_id>/",
        moderation_views.signature,
        name="moderation_signature",
    ),
    path(
        "c/<slug:slug>/manage/moderation/<uuid:signature_id>/show/",
        moderation_views.show,
        name="moderation_show",
    ),
    path(
        "c/<slug:slug>/manage/moderation/<uuid:signature_id>/dismiss/",
        moderation_views.dismiss,
        name="moderation_dismiss",
    ),
]

"""Golden database layout of the project's models: tables, columns, and the
names of indexes and constraints, plus the app labels.

Moving a model to another app must not touch the database: the model keeps
its `db_table` and its index and constraint names, through a state-only
migration (`SeparateDatabaseAndState`). Only the model's app label may change
(MODEL_OF_TABLE), and only for the models the redesign moves. Frozen on
commit 1d16306.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection

# Computed on commit 1d16306; must never change.
TABLES = {
    "letters_approval": {
        "columns": [
            "approver_id",
            "approver_name",
            "created_at",
            "id",
            "letter_id",
            "revision_id",
            "voided_at",
        ],
        "indexes": [],
        "constraints": ["one_live_approval_per_approver"],
    },
    "letters_comment": {
        "columns": [
            "author_id",
            "author_name",
            "body",
            "created_at",
            "id",
            "letter_id",
            "parent_id",
            "resolved_at",
            "resolved_by_id",
            "revision_id",
        ],
        "indexes": [],
        "constraints": [],
    },
    "letters_letter": {
        "columns": [
            "body",
            "campaign_id",
            "closed_at",
            "created_at",
            "current_revision_id",
            "deadline",
            "delivered_at",
            "demands",
            "goal",
            "id",
            "language",
            "opened_at",
            "slug",
            "state",
            "summary",
            "text_hash",
            "title",
            "unlisted_token",
            "visibility",
        ],
        "indexes": [],
        "constraints": [],
    },
    "letters_revision": {
        "columns": [
            "author_id",
            "body",
            "created_at",
            "demands",
            "id",
            "letter_id",
            "note",
            "number",
            "summary",
            "title",
        ],
        "indexes": [],
        "constraints": ["unique_revision_number"],
    },
    # Added with the letters' updates (issue 17): a new table, nothing older changed.
    "letters_update": {
        "columns": [
            "author_id",
            "body",
            "edited_at",
            "id",
            "letter_id",
            "published_at",
            "title",
        ],
        "indexes": ["update_letter_newest"],
        "constraints": [],
    },
    "organizing_auditentry": {
        "columns": [
            "action",
            "actor_id",
            "actor_label",
            "campaign_id",
            "created_at",
            "id",
            "object_id",
            "object_type",
            "summary",
        ],
        "indexes": [],
        "constraints": [],
    },
    "organizing_campaign": {
        "columns": [
            "allowed_domains",
            "approval_quorum",
            "batch_interval",  # added with batches (issue 15)
            "batch_min",  # added with batches (issue 15)
            "created_at",
            "description",
            "employer_name",
            "id",
            "k_threshold",
            "name",
            "slug",
        ],
        "indexes": [],
        "constraints": [],
    },
    "organizing_channelkeyepoch": {
        "columns": ["channel_id", "created_at", "established_at", "id", "keyholder_id", "number"],
        "indexes": [],
        "constraints": ["one_epoch_number"],
    },
    "organizing_discussionchannel": {
        "columns": [
            "allowed_roles",
            "archived_at",
            "campaign_id",
            "created_at",
            "current_epoch",
            "id",
            "last_seq",
            "name",
            "retention_days",
        ],
        "indexes": [],
        "constraints": ["channel_name_per_campaign"],
    },
    "organizing_invitation": {
        "columns": [
            "campaign_id",
            "created_at",
            "created_by_id",
            "expires_at",
            "id",
            "label",
            "max_uses",
            "revoked_at",
            "role",
            "token_hash",
            "uses",
        ],
        "indexes": [],
        "constraints": ["invitation_uses_within_max"],
    },
    "organizing_memberdevicekey": {
        "columns": ["created_at", "fingerprint", "id", "membership_id", "public_key"],
        "indexes": [],
        "constraints": ["one_device_key_row_per_key"],
    },
    "organizing_membership": {
        "columns": ["campaign_id", "display_name", "id", "joined_at", "role", "user_id"],
        "indexes": [],
        "constraints": ["one_membership_per_campaign"],
    },
    "organizing_message": {
        "columns": [
            "channel_id",
            "ciphertext",
            "created_hour",
            "deleted",
            "edited",
            "epoch",
            "id",
            "iv",
            "sender_id",
            "seq",
        ],
        "indexes": ["message_channel_id"],
        "constraints": ["one_message_per_seq"],
    },
    "organizing_user": {
        "columns": [
            "date_joined",
            "email",
            "first_name",
            "id",
            "is_active",
            "is_staff",
            "is_superuser",
            "last_login",
            "last_name",
            "password",
        ],
        "indexes": [],
        "constraints": [],
    },
    "organizing_user_groups": {
        "columns": ["group_id", "id", "user_id"],
        "indexes": [],
        "constraints": [],
    },
    "organizing_user_user_permissions": {
        "columns": ["id", "permission_id", "user_id"],
        "indexes": [],
        "constraints": [],
    },
    "organizing_wrappedkey": {
        "columns": [
            "channel_id",
            "created_at",
            "epoch",
            "id",
            "recipient_id",
            "salt",
            "wrapped",
            "wrapper_fingerprint",
            "wrapper_public_key",
        ],
        "indexes": [],
        "constraints": ["one_wrap_per_device_and_epoch"],
    },
    "signatures_attestation": {
        "columns": ["active", "campaign_id", "id", "position", "text"],
        "indexes": [],
        "constraints": [],
    },
    "signatures_campaignkey": {
        "columns": [
            "active",
            "campaign_id",
            "created_at",
            "created_by_id",
            "fingerprint",
            "id",
            "passphrase_encrypted",
            "public_key",
            "source",
        ],
        "indexes": [],
        "constraints": ["one_active_openpgp_key_per_campaign"],
    },
    "signatures_delegatekey": {
        "columns": ["created_at", "fingerprint", "id", "membership_id", "public_key"],
        "indexes": [],
        "constraints": [],
    },
    "signatures_delivery": {
        "columns": [
            "delivered_at",
            "export_id",
            "id",
            "letter_id",
            "method",
            "notes",
            "recipient",
            "recorded_at",
            "recorded_by_id",
            "response",
            "response_at",
        ],
        "indexes": [],
        "constraints": [],
    },
    "signatures_emailcode": {
        "columns": ["attempts", "code_hmac", "email_hmac", "expires_at", "id", "letter_id"],
        "indexes": [],
        "constraints": ["one_email_code_per_letter"],
    },
    "signatures_export": {
        "columns": [
            "attempts",
            "count",
            "created_at",
            "created_by_id",
            "delivered_at",
            "encrypt",
            "error",
            "finished_at",
            "id",
            "issuer_key_id",
            "letter_id",
            # Added when exports bound the letter's log (issue 15), not renames.
            "log_checkpoint",
            "log_tree_size",
            "log_verifier_key",
            "manifest_format",
            "manifest_sha256",
            "manifest_signature",
            "openpgp_fingerprint",
            "pages",
            "paper",
            "pdf_sha256",
            "pdf_signature",
            "progress",
            # Added by the export heartbeat (issue 13), not a rename.
            "progress_at",
            "run_id",
            "started_at",
            "state_key",
            "status",
        ],
        "indexes": [],
        "constraints": ["one_live_export_per_state"],
    },
    "signatures_invitecode": {
        "columns": ["batch", "campaign_id", "code_hmac", "created_on", "id", "revoked"],
        "indexes": [],
        "constraints": ["invite_code_unique"],
    },
    "signatures_issuance": {
        "columns": ["id", "identity_hmac", "is_alias", "issued_on", "letter_id"],
        "indexes": [],
        "constraints": ["one_token_per_identity_per_letter"],
    },
    "signatures_issuerkey": {
        "columns": [
            "created_on",
            "id",
            "key_id",
            "letter_id",
            "private_key_encrypted",
            "public_key_pem",
        ],
        "indexes": [],
        "constraints": [],
    },
    # Added with the letter's transparency log (issue 15).
    "signatures_letterlog": {
        "columns": [
            "created_on",
            "letter_id",
            "origin",
            "private_key_encrypted",
            "public_key",
            "size",
        ],
        "indexes": [],
        "constraints": [],
    },
    "signatures_logcheckpoint": {
        "columns": [
            "id",
            "letter_id",
            "note",
            "published_hour",
            "root_hash",
            "signature_count",
            "tree_size",
            "withdrawal_count",
        ],
        "indexes": [],
        "constraints": ["log_checkpoint_once"],
    },
    "signatures_logentry": {
        "columns": ["data", "id", "index", "letter_id"],
        "indexes": [],
        "constraints": ["log_entry_once"],
    },
    "signatures_logtile": {
        "columns": ["hashes", "id", "index", "letter_id", "level"],
        "indexes": [],
        "constraints": ["log_tile_once"],
    },
    # Added with batches (issue 15).
    "signatures_pendingsignature": {
        "columns": [
            "attestations",
            "comment",
            "department",
            "id",
            "letter_id",
            "location",
            "pseudonym",
            "public_name",
            "receipt_hash",
            "reveal_at",
            "signature",
            "token",
            "token_hash",
        ],
        "indexes": [],
        "constraints": ["pending_receipt_unique", "pending_token_once"],
    },
    "signatures_pendingwithdrawal": {
        "columns": ["id", "letter_id", "token_hash"],
        "indexes": [],
        "constraints": ["withdrawal_once"],
    },
    "signatures_signaturebatch": {
        "columns": ["id", "letter_id", "sealed_at", "signatures", "tree_size", "withdrawals"],
        "indexes": ["batch_letter_sealed"],
        "constraints": [],
    },
    "signatures_signature": {
        "columns": [
            "attestations",
            "comment",
            "department",
            "id",
            "letter_id",
            "location",
            "log_index",  # added with the log (issue 15)
            "pseudonym",
            "public_name",
            "receipt_hash",
            "reveal_at",
            "salt",  # added with the log (issue 15)
            "signed_hour",
            "token_hash",
            "withdrawn",
        ],
        "indexes": ["sig_letter_counted"],
        "constraints": ["receipt_unique", "token_spent_once"],
    },
    # Added with moderation (issue 17).
    "signatures_holdlist": {"columns": ["campaign_id", "terms"], "indexes": [], "constraints": []},
    "signatures_signaturemoderation": {
        "columns": [
            "decided_on",
            "held",
            "hide_comment",
            "hide_department",
            "hide_location",
            "hide_pseudonym",
            "hide_public_name",
            "note",
            "reason",
            "signature_id",
        ],
        "indexes": [],
        "constraints": [],
    },
    "signatures_signaturereport": {
        "columns": ["id", "note", "reason", "reported_on", "signature_id", "status"],
        "indexes": ["report_status_signature"],
        "constraints": [],
    },
}

# Computed on commit 1d16306. A model moved to another app changes its app
# label here, deliberately; its table stays.
MODEL_OF_TABLE = {
    "letters_approval": "letters.Approval",
    "letters_comment": "letters.Comment",
    "letters_letter": "letters.Letter",
    "letters_revision": "letters.Revision",
    "letters_update": "letters.Update",
    "organizing_auditentry": "organizing.AuditEntry",
    "organizing_campaign": "organizing.Campaign",
    "organizing_channelkeyepoch": "discussions.ChannelKeyEpoch",
    "organizing_discussionchannel": "discussions.DiscussionChannel",
    "organizing_invitation": "organizing.Invitation",
    "organizing_memberdevicekey": "discussions.MemberDeviceKey",
    "organizing_membership": "organizing.Membership",
    "organizing_message": "discussions.Message",
    "organizing_user": "organizing.User",
    "organizing_user_groups": "organizing.User_groups",
    "organizing_user_user_permissions": "organizing.User_user_permissions",
    "organizing_wrappedkey": "discussions.WrappedKey",
    "signatures_attestation": "signatures.Attestation",
    "signatures_campaignkey": "petitions.CampaignKey",
    "signatures_delegatekey": "petitions.DelegateKey",
    "signatures_delivery": "petitions.Delivery",
    "signatures_emailcode": "signatures.EmailCode",
    "signatures_export": "petitions.Export",
    "signatures_invitecode": "signatures.InviteCode",
    "signatures_issuance": "signatures.Issuance",
    "signatures_issuerkey": "signatures.IssuerKey",
    "signatures_letterlog": "signatures.LetterLog",
    "signatures_logcheckpoint": "signatures.LogCheckpoint",
    "signatures_logentry": "signatures.LogEntry",
    "signatures_logtile": "signatures.LogTile",
    "signatures_pendingsignature": "signatures.PendingSignature",
    "signatures_pendingwithdrawal": "signatures.PendingWithdrawal",
    "signatures_signaturebatch": "signatures.SignatureBatch",
    "signatures_signature": "signatures.Signature",
    # Added with moderation (issue 17).
    "signatures_holdlist": "signatures.HoldList",
    "signatures_signaturemoderation": "signatures.SignatureModeration",
    "signatures_signaturereport": "signatures.SignatureReport",
}

APP_LABELS = {"organizing", "letters", "signatures"}


def project_models():
    """Models of the apps in this repository (not of installed packages)."""
    base = Path(settings.BASE_DIR).resolve()
    for config in apps.get_app_configs():
        path = Path(config.path).resolve()
        if path.is_relative_to(base) and "site-packages" not in path.parts:
            yield from config.get_models(include_auto_created=True)


def test_tables_columns_indexes_and_constraints():
    found = {}
    for model in project_models():
        meta = model._meta
        assert meta.db_table not in found, f"two models share {meta.db_table}"
        found[meta.db_table] = {
            "columns": sorted(field.column for field in meta.local_fields),
            "indexes": sorted(index.name for index in meta.indexes),
            "constraints": sorted(constraint.name for constraint in meta.constraints),
        }
    assert found == TABLES


def test_model_of_each_table():
    assert {model._meta.db_table: model._meta.label for model in project_models()} == (
        MODEL_OF_TABLE
    )


def test_app_labels():
    assert APP_LABELS <= {config.label for config in apps.get_app_configs()}


@pytest.mark.django_db
def test_migrations_build_the_frozen_layout():
    """The test database is built by running every migration: it must hold
    each frozen table with exactly its columns and its named indexes and
    constraints (what a state-only migration leaves alone)."""
    with connection.cursor() as cursor:
        existing = set(connection.introspection.table_names(cursor))
        assert set(TABLES) <= existing, sorted(set(TABLES) - existing)
        for table, expected in TABLES.items():
            columns = {
                column.name
                for column in connection.introspection.get_table_description(cursor, table)
            }
            assert columns == set(expected["columns"]), table
            names = set(connection.introspection.get_constraints(cursor, table))
            wanted = set(expected["indexes"]) | set(expected["constraints"])
            assert wanted <= names, (table, sorted(wanted - names))

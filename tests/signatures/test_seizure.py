"""The seizure test: someone copies the whole database and the logs.

Three people sign, one through each eligibility route (work-email code,
invite code, signed-in account), while the organizers post, edit and delete
updates on the letter. Moderation is in the data too: the campaign's hold
list holds one signature's text for review at its seal, two anonymous
visitors report signatures (page and API), an organizer hides one's
pseudonym and dismisses a report. Then every table is dumped through the
connection's introspection (all models, all columns) together with every
log record, and we check that nothing ties a signature to a person or to an
issuance, that nothing keeps who reported, and that stored times are coarse.

Runs on SQLite and, with DATABASE_URL set, on PostgreSQL.
"""

from __future__ import annotations

import datetime
import logging
import uuid

import pytest
from django.db import connection
from django.test import Client

from core.crypto import client_key_for
from letters import services as letter_services
from letters.models import Update
from organizing.models import AuditEntry, Role
from signatures.models import (
    EmailCode,
    HoldList,
    InviteCode,
    Issuance,
    Signature,
    SignatureModeration,
    SignatureReport,
)
from signatures.services.eligibility import invite_code_normalize, invite_codes_create
from tests.signatures.conftest import last_code
from tests.signatures.helpers import SigningClient, post_json
from tests.support.factories import MembershipFactory
from tests.support.sessions import login_with_mfa
from tests.support.users import make_user

pytestmark = pytest.mark.django_db(transaction=True)

SIGNATURE_TABLE = Signature._meta.db_table
IDENTITY_TABLES = {
    Issuance._meta.db_table,
    EmailCode._meta.db_table,
    InviteCode._meta.db_table,
}
MODERATION_TABLES = {SignatureModeration._meta.db_table, SignatureReport._meta.db_table}
# The reporters' addresses (and so their client keys, the rate limit's name).
REPORTER_ADDRESSES = ("203.0.113.7", "198.51.100.23")


def dump_database() -> dict[str, list[dict]]:
    tables = {}
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            columns = [col[0] for col in cursor.description]
            tables[table] = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    return tables


def as_text(value) -> str:
    if isinstance(value, (bytes, memoryview)):
        return bytes(value).hex()
    return str(value)


def check_seizure(letter, attestation_ids, caplog, *, organizer):
    campaign = letter.campaign
    # Test set-up (factory_boy logs what it creates) happens before capture.
    account = make_user(email="carl.k@example.com")
    MembershipFactory(campaign=campaign, user=account, display_name="Carl")
    organizer = make_user(mfa=True, email="olga@personal.test")
    MembershipFactory(campaign=campaign, user=organizer, role=Role.ORGANIZER, display_name="Olga")
    moderator = Client()
    login_with_mfa(moderator, organizer)
    caplog.set_level(logging.DEBUG)
    caplog.clear()

    # Updates, before and between the signatures (posting one logs nothing
    # about signers, nor can it: it knows none).
    opened = letter_services.update_post(
        actor=organizer, letter=letter, title="We are open", body="Sign *now*."
    )

    # The organizers hold text with "Wren" in it for review.
    response = moderator.post(f"/c/{campaign.slug}/manage/moderation/hold-list/", {"terms": "Wren"})
    assert response.status_code == 302

    # 1. Work-email code.
    email = "alice.w@example.com"
    api = SigningClient(Client(), letter.slug)
    post_json(api.client, f"/api/v1/letters/{letter.slug}/email-codes", {"email": email})
    email_code = last_code(email)
    token = api.token({"type": "email_code", "email": email, "code": email_code})
    status, alice = api.sign(token, pseudonym="Heron", attestations=attestation_ids)
    assert status == 201

    # 2. Invite code.
    (invite,) = invite_codes_create(actor=None, campaign=campaign, count=1)
    api = SigningClient(Client(), letter.slug)
    token = api.token({"type": "invite_code", "code": invite})
    status, bea = api.sign(
        token,
        pseudonym="Finch",
        attestations=attestation_ids,
        department="Legal",
        location="Oslo",
        public_name="B.",
    )
    assert status == 201
    dropped = letter_services.update_post(actor=organizer, letter=letter, title="Typo")
    letter_services.update_delete(actor=organizer, update=dropped)

    # 3. Signed-in account with a verified work address.
    browser = Client()
    browser.force_login(account)
    api = SigningClient(browser, letter.slug)
    token = api.token({"type": "account"})
    status, carl = SigningClient(Client(), letter.slug).sign(
        token, pseudonym="Wren", attestations=attestation_ids, comment="Stop it."
    )
    assert status == 201

    letter_services.update_edit(
        actor=organizer, update=opened, title="We are open", body="Three of us signed."
    )
    letter_services.update_post(actor=organizer, letter=letter, title="Thank you", body="Go on.")

    receipts = [alice["receipt"], bea["receipt"], carl["receipt"]]

    # Moderation: Carl's text waits for review (sealed at once here), two
    # anonymous visitors report Alice's and Bea's signatures, an organizer
    # hides Alice's pseudonym and dismisses the report of Bea's.
    assert SignatureModeration.objects.get(held=True).signature_id == uuid.UUID(carl["id"])
    reporter = Client(REMOTE_ADDR=REPORTER_ADDRESSES[0])
    response = reporter.post(
        f"/letters/{letter.slug}/signatures/{alice['id']}/report/",
        {"reason": "abuse", "note": "Rude."},
    )
    assert response.status_code == 302
    status, _body = post_json(
        Client(REMOTE_ADDR=REPORTER_ADDRESSES[1]),
        f"/api/v1/letters/{letter.slug}/signatures/{bea['id']}/reports",
        {"reason": "impersonation"},
    )
    assert status == 201
    response = moderator.post(
        f"/c/{campaign.slug}/manage/moderation/{alice['id']}/",
        {"hide": ["pseudonym"], "reason": "abuse", "note": "Please choose another."},
    )
    assert response.status_code == 302
    response = moderator.post(f"/c/{campaign.slug}/manage/moderation/{bea['id']}/dismiss/")
    assert response.status_code == 302
    issuances = list(Issuance.objects.all())
    assert len([i for i in issuances if not i.is_alias]) == 3
    identity_values = {
        email,
        email_code,
        invite,
        invite_code_normalize(invite),
        account.email,
        f"account:{account.pk}",
    }
    for issuance in issuances:
        identity_values |= {str(issuance.pk), issuance.pk.hex, issuance.identity_hmac}
    identity_values |= set(EmailCode.objects.values_list("email_hmac", flat=True))
    identity_values |= set(EmailCode.objects.values_list("code_hmac", flat=True))
    identity_values |= set(InviteCode.objects.values_list("code_hmac", flat=True))

    tables = dump_database()
    assert SIGNATURE_TABLE in tables and len(tables[SIGNATURE_TABLE]) == 3
    assert len(tables[SignatureModeration._meta.db_table]) == 2  # Carl held, Alice hidden
    assert len(tables[SignatureReport._meta.db_table]) == 2
    assert len(tables[HoldList._meta.db_table]) == 1
    everything = "\n".join(
        as_text(value) for rows in tables.values() for row in rows for value in row.values()
    ).lower()

    # The email-route address and the invite code are stored nowhere at all.
    for secret in (email, email_code, invite, invite_code_normalize(invite)):
        assert secret.lower() not in everything, secret

    # No signature row holds, or contains, any identity value.
    signature_columns = set()
    for row in tables[SIGNATURE_TABLE]:
        signature_columns |= set(row)
        for column, value in row.items():
            if column == "letter_id":
                continue
            text = as_text(value).lower()
            for secret in identity_values:
                assert secret.lower() != text, (column, secret)
                if len(secret) >= 8:
                    assert secret.lower() not in text, (column, secret)
        assert row["letter_id"] == letter.pk

    # The signature table's only reference is its letter (a column without a
    # database foreign key: models.HOT_LETTER_ROW); no table refers to both a
    # signature and anything that identifies a person.
    assert {c for c in signature_columns if c.endswith("_id")} == {"letter_id"}
    with connection.cursor() as cursor:
        relations = connection.introspection.get_relations(cursor, SIGNATURE_TABLE)
        assert {column for column, (_f, target) in relations.items()} <= {"letter_id"}
        identity_targets = IDENTITY_TABLES | {"organizing_user", "account_emailaddress"}
        for table in tables:
            targets = {
                t for _c, (_f, t) in connection.introspection.get_relations(cursor, table).items()
            }
            if SIGNATURE_TABLE in targets:
                assert not targets & identity_targets, table
    assert not {"user_id", "issuance_id", "email", "ip", "created_at"} & signature_columns

    # The updates are in the data, and they hold nothing of a signature or
    # a signer, nor point at one: their only references are their letter and
    # the organizer's account.
    update_table = Update._meta.db_table
    assert sorted(row["title"] for row in tables[update_table]) == ["Thank you", "We are open"]
    with connection.cursor() as cursor:
        update_targets = {
            t
            for _c, (_f, t) in connection.introspection.get_relations(cursor, update_table).items()
        }
    assert update_targets == {"letters_letter", "organizing_user"}
    audit_rows = [
        row for row in tables["organizing_auditentry"] if row["action"].startswith("update.")
    ]
    assert sorted(row["action"] for row in audit_rows) == [
        "update.delete",
        "update.edit",
        "update.post",
        "update.post",
        "update.post",
    ]

    # Moderation rows and reports: they name a signature (its public id) and
    # nothing else; no identity, nothing of who reported (not their address,
    # not the client key their rate limit counted under), no time finer than
    # a day, no sequence that numbers them in the order they came.
    reporter_values = set(REPORTER_ADDRESSES) | {client_key_for(a) for a in REPORTER_ADDRESSES}
    for secret in reporter_values:
        assert secret.lower() not in everything, secret
    for model in (SignatureModeration, SignatureReport):
        table = model._meta.db_table
        for row in tables[table]:
            for column, value in row.items():
                text = as_text(value).lower()
                for secret in identity_values:
                    assert secret.lower() != text, (table, column, secret)
                    if len(secret) >= 8:
                        assert secret.lower() not in text, (table, column, secret)
        kinds = {type(field).__name__ for field in model._meta.fields}
        assert not kinds & {"DateTimeField", "TimeField", "AutoField", "BigAutoField"}, table
        assert not {"user_id", "ip", "client_key", "created_at", "account_id"} & {
            field.column for field in model._meta.fields
        }
        with connection.cursor() as cursor:
            targets = {
                t for _c, (_f, t) in connection.introspection.get_relations(cursor, table).items()
            }
        assert targets == {SIGNATURE_TABLE}, table
    for row in tables[SignatureReport._meta.db_table]:
        reported_on = row["reported_on"]
        if isinstance(reported_on, str):
            reported_on = datetime.date.fromisoformat(reported_on)
        assert type(reported_on) is datetime.date
    # The audit log has the organizers' actions (their time is theirs) and
    # names the signature, never the text it hid.
    moderation_entries = AuditEntry.objects.filter(
        action__in=["signature.hide", "report.dismiss", "hold_list.update"]
    )
    assert moderation_entries.count() == 3
    for entry in moderation_entries:
        assert entry.actor_id == organizer.pk
        assert "Heron" not in entry.summary and "Wren" not in entry.summary
        for secret in identity_values:
            assert secret.lower() not in entry.summary.lower(), secret

    # Identity-side rows hold nothing from the signatures either.
    signature_values = set(receipts)
    for row in tables[SIGNATURE_TABLE]:
        signature_values |= {
            as_text(row["id"]),
            as_text(row["token_hash"]),
            as_text(row["receipt_hash"]),
        }
        signature_values.add(uuid.UUID(as_text(row["id"])).hex)
    for table in IDENTITY_TABLES:
        for row in tables[table]:
            for value in row.values():
                assert as_text(value).lower() not in {v.lower() for v in signature_values}
    # Nor do the updates and the audit log hold anything of a signature or
    # of a signer's identity. Moderation entries name the signature they
    # acted on by its public id (the public list shows it; the action's time
    # is the organizer's), never its receipt, its token or a signer.
    public_ids = set()
    for row in tables[SIGNATURE_TABLE]:
        public_ids |= {as_text(row["id"]).lower(), uuid.UUID(as_text(row["id"])).hex}
    moderation_actions = ("signature.", "report.", "hold_list.")
    for table in (update_table, "organizing_auditentry"):
        for row in tables[table]:
            named = str(row.get("action", "")).startswith(moderation_actions)
            forbidden = (signature_values | identity_values) - (public_ids if named else set())
            for value in row.values():
                text = as_text(value).lower()
                for secret in forbidden:
                    assert secret.lower() != text, (table, secret)
                    if len(secret) >= 8:
                        assert secret.lower() not in text, (table, secret)

    # Coarse times: signatures to the hour, issuances to the day.
    for signature in Signature.objects.all():
        hour = signature.signed_hour
        assert (hour.minute, hour.second, hour.microsecond) == (0, 0, 0)
    for row in tables[Issuance._meta.db_table]:
        issued_on = row["issued_on"]
        if isinstance(issued_on, str):  # SQLite returns text
            issued_on = datetime.date.fromisoformat(issued_on)
        assert type(issued_on) is datetime.date
    assert {f.name for f in Issuance._meta.fields} == {
        "id",
        "letter",
        "identity_hmac",
        "issued_on",
        "is_alias",
    }

    # The logs hold no identity, no issuance, no receipt and no token.
    logged = "\n".join(
        f"{record.getMessage()} {record.args!r} {getattr(record, 'request', '')!r}"
        for record in caplog.records
    ).lower()
    for secret in identity_values | set(receipts) | reporter_values:
        assert secret.lower() not in logged, secret


def test_nothing_links_a_signature_to_a_person(roles, letter, attestation_ids, caplog):
    check_seizure(letter, attestation_ids, caplog, organizer=roles.organizer)


@pytest.mark.postgres
def test_nothing_links_a_signature_to_a_person_in_postgresql(
    roles, letter, attestation_ids, caplog
):
    """The same, required to run on PostgreSQL in CI (REQUIRE_SERVICES=1)."""
    assert connection.vendor == "postgresql"
    check_seizure(letter, attestation_ids, caplog, organizer=roles.organizer)

"""Golden values of every secret and hash derived from SECRET_KEY or stored
as a lookup key: byte for byte, with a fixed SECRET_KEY and fixed inputs.

If one of these changes, nothing fails loudly in production: the
one-person-one-signature rule stops recognizing people who already took a
token, invite codes already handed out stop working, stored issuer keys and
OpenPGP passphrases no longer decrypt, rate limits and channel groups split.
So the values are literals, computed on commit 1d16306, and must never change.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.test import Client

from tests.contracts import paths
from tests.contracts.conftest import (
    GOLDEN_ISSUER_KEY_ENCRYPTED,
    GOLDEN_ISSUER_KEY_ID,
    GOLDEN_LETTER_ID,
    GOLDEN_LETTER_SLUG,
)

pytestmark = pytest.mark.django_db

# Computed on commit 1d16306 with GOLDEN_SECRET_KEY; must never change.
IDENTITY_EMAIL = "19cc14839c78839c31d647a3868b27bcc3bb84e4ccea933adf509bdf25495640"
IDENTITY_ACCOUNT_77 = "cda736fc77ff32b20b76edb0b23d73c8beebbf7116450d9a83c88f3129903327"
INVITE_CODE = "ABCD-EFGH-JKMN-PQRS"
INVITE_CODE_HMAC = "431addab7744b0cec6a90bc870d33ee3c42e8bec62f68b58df7e7a57772db18d"
IDENTITY_INVITE = "d55739c40c1fbceaf8627404f7bdff5cd044ec93bf2252921fc1f13749625c15"
EMAIL_CODE_HMAC = "6537f0b75d1c7728cbc029aa5cffd231d0d1751c6efabb980d13e7bfc7938a87"
CLIENT_KEYS = {
    "203.0.113.7": "cf7aaec582437d94933d1dc3c69f70ed",
    "2001:db8::1": "cb8f62320b878eae80cb6883878a59e8",
    "": "1ad728a6ce4f54219a24dafb912773bd",
}
CHANNEL_GROUP_7 = "c.b5efcb5f0c11e17b6961ea997682854b2a24af84"
MEMBERSHIP_GROUP_7 = "m.41c2268a7a8428d3b0be77260b631ffb9ddf49dc"
# A Fernet token as signatures_campaignkey.passphrase_encrypted holds it.
OPENPGP_PASSPHRASE = "correct horse battery staple"
OPENPGP_PASSPHRASE_ENCRYPTED = (
    b"gAAAAABrDzVzJ4_UMN-PBynE3iGxG3vhBk3RmFYQBQiYOzzgw4ARW_9LXTHBsQS4EvbU2iTG6QpCAdIVraoOd_Jo_"
    b"bYz1ww5mYb1QgdO1tOZAqWN7X2sLK0="
)
# Unkeyed, but published or stored as lookup keys.
TEXT_HASH = "9d3a3650a946dad959390d1fab955a8e4138f9bd1df8a0d8eac18779bab3142e"
DEVICE_FINGERPRINT = "4bfd2c8b6f1eec7a2afeb48b934ee4b2694182027e6d0fc075074f2fabb31781"
EXPORT_MANIFEST_SHA256 = "6f16b6a679035e1ed7432acb2eecbd6680b75faf1776b76828beb365358d5604"
EXPORT_STATE_KEY = "38cf418590886771680b352daea16bd0c76bf453c1a799c9c337f3f3a9b54bac"


# --- the functions, with fixed inputs -------------------------------------------------


def test_identity_hmac(golden_secret):
    assert paths.identity_hmac(GOLDEN_LETTER_ID, "email:ann.lee@example.com") == IDENTITY_EMAIL
    assert paths.identity_hmac(GOLDEN_LETTER_ID, "account:77") == IDENTITY_ACCOUNT_77
    assert paths.identity_hmac(GOLDEN_LETTER_ID + 1, "account:77") != IDENTITY_ACCOUNT_77


@pytest.mark.parametrize(
    "raw",
    [
        "ann.lee@example.com",
        "Ann.Lee@EXAMPLE.com",
        "  ANN.LEE@example.COM \n",
        "ann.lee@Example.Com.",
    ],
)
def test_email_normalization_feeds_one_identity(golden_secret, raw):
    address, domain = paths.email_normalize(raw)
    assert (address, domain) == ("ann.lee@example.com", "example.com")
    assert paths.identity_hmac(GOLDEN_LETTER_ID, f"email:{address}") == IDENTITY_EMAIL


def test_email_normalization_encodes_international_domains():
    assert paths.email_normalize("Jo@Bücher.Example") == (
        "jo@xn--bcher-kva.example",
        "xn--bcher-kva.example",
    )


@pytest.mark.parametrize(
    "raw", [INVITE_CODE, "abcd efgh jkmn pqrs", "ABCDEFGHJKMNPQRS", " abcd-efgh-jkmn-pqrs "]
)
def test_invite_code_hmac(golden_secret, raw):
    normalized = paths.invite_code_normalize(raw)
    assert normalized == "ABCDEFGHJKMNPQRS"
    assert paths.invite_code_hmac(normalized) == INVITE_CODE_HMAC
    assert paths.identity_hmac(GOLDEN_LETTER_ID, f"invite:{INVITE_CODE_HMAC}") == IDENTITY_INVITE


def test_invite_code_normalization_reads_look_alikes():
    assert paths.invite_code_normalize("oil0 u123 4567 89ab") == "0110V123456789AB"


def test_email_code_hmac(golden_secret):
    assert paths.email_code_hmac(GOLDEN_LETTER_ID, IDENTITY_EMAIL, "12345678") == EMAIL_CODE_HMAC


def test_client_key(golden_secret):
    for address, key in CLIENT_KEYS.items():
        assert paths.client_key_for(address) == key


def test_channel_and_membership_group_names(golden_secret):
    assert paths.channel_group(7) == CHANNEL_GROUP_7
    assert paths.membership_group(7) == MEMBERSHIP_GROUP_7


def test_every_value_depends_on_the_secret(settings):
    settings.SECRET_KEY = "another-secret-key-of-at-least-32-characters"
    assert paths.identity_hmac(GOLDEN_LETTER_ID, "account:77") != IDENTITY_ACCOUNT_77
    assert paths.invite_code_hmac("ABCDEFGHJKMNPQRS") != INVITE_CODE_HMAC
    assert paths.client_key_for("203.0.113.7") != CLIENT_KEYS["203.0.113.7"]
    assert paths.channel_group(7) != CHANNEL_GROUP_7


def test_letter_text_hash():
    text_hash = paths.compute_text_hash(
        title="Stop logging",
        body="Dear leadership,\n\nstop **now**.",
        demands=["Switch it off", "Délete the logs"],
    )
    assert text_hash == TEXT_HASH


def test_device_key_fingerprint():
    assert paths.fingerprint_of(bytes(range(65))) == DEVICE_FINGERPRINT


# --- stored secrets still decrypt ---------------------------------------------------


def test_existing_issuer_key_decrypts(golden_secret):
    key = paths.decrypt_private_key(
        GOLDEN_ISSUER_KEY_ENCRYPTED, letter_id=GOLDEN_LETTER_ID, key_id=GOLDEN_ISSUER_KEY_ID
    )
    # The key id is the SHA-256 of the public key: the right key came out.
    assert key.key_id == GOLDEN_ISSUER_KEY_ID
    # Bound to its letter: the ciphertext cannot be moved to another one.
    with pytest.raises(InvalidTag):
        paths.decrypt_private_key(
            GOLDEN_ISSUER_KEY_ENCRYPTED,
            letter_id=GOLDEN_LETTER_ID + 1,
            key_id=GOLDEN_ISSUER_KEY_ID,
        )


def test_existing_openpgp_passphrase_decrypts(golden_secret):
    key = paths.CampaignKey(passphrase_encrypted=OPENPGP_PASSPHRASE_ENCRYPTED)
    assert paths.openpgp_passphrase(key) == OPENPGP_PASSPHRASE


def test_openpgp_passphrase_key_derivation(golden_secret):
    """The derivation itself, spelled out: HKDF-SHA256 of SECRET_KEY, no salt,
    info "organizing.openpgp-passphrase", as a Fernet key."""
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"organizing.openpgp-passphrase"
    ).derive(golden_secret.encode())
    box = Fernet(base64.urlsafe_b64encode(derived))
    assert box.decrypt(OPENPGP_PASSPHRASE_ENCRYPTED).decode() == OPENPGP_PASSPHRASE


# --- what the database stores, through the public API ---------------------------------


def test_email_route_stores_the_frozen_hmacs(golden_letter):
    client = Client()
    status, body = paths.post_json(
        client,
        f"/api/v1/letters/{GOLDEN_LETTER_SLUG}/email-codes",
        {"email": "  Ann.Lee@EXAMPLE.com "},
    )
    assert status == 202, body
    row = paths.EmailCode.objects.get(letter=golden_letter)
    assert row.email_hmac == IDENTITY_EMAIL
    code = paths.last_code("ann.lee@example.com")
    assert row.code_hmac == paths.email_code_hmac(GOLDEN_LETTER_ID, IDENTITY_EMAIL, code)
    api = paths.SigningClient(client, GOLDEN_LETTER_SLUG)
    status, body, _token = api.request_token(
        {"type": "email_code", "email": "ann.lee@example.com", "code": code}
    )
    assert status == 200, body
    assert list(paths.Issuance.objects.values_list("identity_hmac", flat=True)) == [IDENTITY_EMAIL]


def test_invite_route_finds_a_stored_code_and_stores_the_frozen_identity(golden_letter):
    """An invite code handed out before the change (stored as its HMAC) still
    works, and its holder's identity is the frozen one."""
    paths.InviteCode.objects.create(campaign=golden_letter.campaign, code_hmac=INVITE_CODE_HMAC)
    api = paths.SigningClient(Client(), GOLDEN_LETTER_SLUG)
    status, body, token = api.request_token({"type": "invite_code", "code": "abcd efgh jkmn pqrs"})
    assert status == 200, body
    assert list(paths.Issuance.objects.values_list("identity_hmac", flat=True)) == [IDENTITY_INVITE]
    # The same person again (another spelling of the code): refused.
    status, body, _ = api.request_token({"type": "invite_code", "code": INVITE_CODE})
    assert (status, body["error"]) == (409, "already_issued")


def test_signature_stores_sha256_of_token_and_receipt(golden_letter):
    """The stored issuer key signs, and a signature keeps only SHA-256 hex
    digests of the spent token and of the receipt, which finds it again."""
    paths.InviteCode.objects.create(campaign=golden_letter.campaign, code_hmac=INVITE_CODE_HMAC)
    api = paths.SigningClient(Client(), GOLDEN_LETTER_SLUG)
    token = api.token({"type": "invite_code", "code": INVITE_CODE})
    attestations = list(
        paths.Attestation.objects.filter(campaign=golden_letter.campaign).values_list(
            "id", flat=True
        )
    )
    status, body = api.sign(token, attestations=attestations)
    assert status == 201, body
    signature = paths.Signature.objects.get(pk=body["id"])
    assert signature.token_hash == hashlib.sha256(token.prepared).hexdigest()
    assert signature.receipt_hash == hashlib.sha256(body["receipt"].encode()).hexdigest()
    status, found = paths.post_json(
        Client(), "/api/v1/receipts/status", {"receipt": f"  {body['receipt']}\n"}
    )
    assert (status, found["pseudonym"]) == (200, "Quiet Heron")


def test_invitation_link_is_found_by_sha256_of_its_token(roles):
    paths.Invitation.objects.create(
        campaign=roles.campaign,
        role=paths.Role.MEMBER,
        token_hash=hashlib.sha256(b"golden-invitation-token").hexdigest(),
        max_uses=1,
        expires_at=dt.datetime(2999, 1, 1, tzinfo=dt.UTC),
    )
    assert Client().get("/join/golden-invitation-token/").status_code == 200
    assert Client().get("/join/another-token/").status_code == 404


def test_export_state_key_and_manifest_hash(golden_letter):
    """An export's state key is how a finished export is recognized as still
    current (delivery refuses a stale one): existing exports must keep theirs."""
    hour = dt.datetime(2024, 5, 6, 7, tzinfo=dt.UTC)
    for i in range(6):
        paths.Signature.objects.create(
            id=uuid.UUID(int=i + 1),
            letter=golden_letter,
            token_hash=f"{i:064x}",
            receipt_hash=f"{i + 100:064x}",
            pseudonym=f"Golden {i}",
            public_name="Ann Lee" if i == 0 else "",
            department="Legal",
            location="Oslo" if i < 2 else "",
            signed_hour=hour + dt.timedelta(hours=i),
            attestations=[],
        )
    paths.Issuance.objects.create(
        id=uuid.UUID(int=99), letter=golden_letter, identity_hmac=IDENTITY_EMAIL
    )
    snapshot = paths.export_snapshot(golden_letter, paper="a4", encrypt=False)
    assert snapshot.manifest.sha256 == EXPORT_MANIFEST_SHA256
    assert snapshot.key == EXPORT_STATE_KEY

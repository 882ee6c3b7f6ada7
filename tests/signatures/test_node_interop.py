"""Cloudflare's blindrsa-ts client (the shipped bundle, run in Node) against
the Python server, through the HTTP API."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from django.test import Client

from signatures.models import Signature
from signatures.services.common import b64url_encode
from signatures.services.eligibility import invite_codes_create
from tests.signatures.helpers import post_json, token_message

NODE = shutil.which("node")
CLIENT = Path(__file__).parent / "node" / "client.mjs"

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(NODE is None, reason="needs node (apt-get install nodejs)"),
]


def node(request: dict) -> dict:
    result = subprocess.run(
        [NODE, str(CLIENT), "--impl=bundle"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_bundle_client_signs_through_the_api(letter, attestation_ids):
    (code,) = invite_codes_create(actor=None, campaign=letter.campaign, count=1)
    detail = Client().get(f"/api/v1/letters/{letter.slug}").json()
    pem = detail["issuer"]["public_key_pem"]
    blinded = node(
        {
            "mode": "blind",
            "spki_pem": pem,
            "msg_b64url": b64url_encode(token_message(detail["text_sha256"])),
        }
    )
    status, body = post_json(
        Client(),
        f"/api/v1/letters/{letter.slug}/tokens",
        {"blinded_msg": blinded["blinded_msg"], "proof": {"type": "invite_code", "code": code}},
    )
    assert status == 200, body
    finalized = node(
        {
            "mode": "finalize",
            "spki_pem": pem,
            "prepared_msg": blinded["prepared_msg"],
            "blind_sig": body["blind_sig"],
            "inv": blinded["inv"],
        }
    )
    status, body = post_json(
        Client(),
        f"/api/v1/letters/{letter.slug}/signatures",
        {
            "token": blinded["prepared_msg"],
            "signature": finalized["sig"],
            "pseudonym": "Node Signer",
            "attestations": attestation_ids,
        },
    )
    assert status == 201, body
    assert Signature.objects.get(pk=body["id"]).pseudonym == "Node Signer"


def test_bundle_client_rejects_a_wrong_blind_signature(letter):
    detail = Client().get(f"/api/v1/letters/{letter.slug}").json()
    pem = detail["issuer"]["public_key_pem"]
    blinded = node(
        {
            "mode": "blind",
            "spki_pem": pem,
            "msg_b64url": b64url_encode(token_message(detail["text_sha256"])),
        }
    )
    result = subprocess.run(
        [NODE, str(CLIENT), "--impl=bundle"],
        input=json.dumps(
            {
                "mode": "finalize",
                "spki_pem": pem,
                "prepared_msg": blinded["prepared_msg"],
                "blind_sig": b64url_encode(b"\x01" * 256),
                "inv": blinded["inv"],
            }
        ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1 and "invalid signature" in result.stderr

"""A Python signing client driving the HTTP API through Django's test client
(or anything with the same post/get interface)."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from django.test import Client

from signatures import blindrsa
from signatures.services.common import TOKEN_CONTEXT, b64url_decode, b64url_encode
from signatures.services.eligibility import invite_codes_create


def token_message(text_hash_hex: str) -> bytes:
    return TOKEN_CONTEXT + bytes.fromhex(text_hash_hex) + secrets.token_bytes(32)


def post_json(client, path: str, data) -> tuple[int, dict]:
    body = data if isinstance(data, (str, bytes)) else json.dumps(data)
    response = client.post(path, data=body, content_type="application/json")
    return response.status_code, response.json()


@dataclass
class Token:
    prepared: bytes
    signature: bytes

    def payload(self, **fields) -> dict:
        data = {
            "token": b64url_encode(self.prepared),
            "signature": b64url_encode(self.signature),
            "pseudonym": "Quiet Heron",
            "attestations": [],
        }
        data.update(fields)
        return data


class SigningClient:
    def __init__(self, client, slug: str):
        self.client = client
        self.slug = slug
        response = client.get(f"/api/v1/letters/{slug}")
        assert response.status_code == 200, response.content
        self.letter = response.json()
        self.public_key = serialization.load_pem_public_key(
            self.letter["issuer"]["public_key_pem"].encode()
        )

    def blind(self) -> tuple[bytes, bytes, bytes]:
        prepared = blindrsa.prepare(token_message(self.letter["text_sha256"]))
        blinded, inv = blindrsa.blind(self.public_key, prepared)
        return prepared, blinded, inv

    def request_token(self, proof: dict) -> tuple[int, dict, Token | None]:
        prepared, blinded, inv = self.blind()
        status, body = post_json(
            self.client,
            f"/api/v1/letters/{self.slug}/tokens",
            {"blinded_msg": b64url_encode(blinded), "proof": proof},
        )
        if status != 200:
            return status, body, None
        sig = blindrsa.finalize(
            self.public_key, prepared, b64url_decode(body["blind_sig"], field="blind_sig"), inv
        )
        return status, body, Token(prepared, sig)

    def token(self, proof: dict) -> Token:
        status, body, token = self.request_token(proof)
        assert status == 200, body
        return token

    def sign(self, tok: Token, /, **fields) -> tuple[int, dict]:
        return post_json(
            self.client, f"/api/v1/letters/{self.slug}/signatures", tok.payload(**fields)
        )


def sign_with_invites(letter, attestation_ids, n, **fields) -> list[tuple[Token, dict]]:
    """n signatures through the API, each with its own invite code and
    client: [(token, the 201 answer)]."""
    codes = invite_codes_create(actor=None, campaign=letter.campaign, count=n)
    signed = []
    for i, code in enumerate(codes):
        api = SigningClient(Client(), letter.slug)
        token = api.token({"type": "invite_code", "code": code})
        status, body = api.sign(
            token, pseudonym=f"Signer {i}", attestations=attestation_ids, **fields
        )
        assert status == 201, body
        signed.append((token, body))
    return signed

"""One person, one signature under real concurrency, against PostgreSQL.

Each thread has its own database connection (Django's are per thread) and
closes it at the end. PostgreSQL allows 100 connections, shared with other
test runs, so the requests are spread over a few dozen threads, all released
at once by a barrier.
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connections
from django.test import Client

from signatures.models import Issuance, Signature
from signatures.services.common import b64url_encode
from signatures.services.eligibility import invite_codes_create
from tests.signatures.conftest import last_code
from tests.signatures.helpers import SigningClient, post_json

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def race(threads: int, per_thread: int, request) -> Counter:
    """Run threads * per_thread calls of request() -> status, all starting
    together; returns the count of each status."""
    barrier = threading.Barrier(threads)
    statuses: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker():
        try:
            client = Client()
            barrier.wait(timeout=60)
            for _ in range(per_thread):
                status = request(client)
                with lock:
                    statuses.append(status)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=300)
    assert not errors, errors
    return Counter(statuses)


@pytest.fixture
def no_rate_limits(settings):
    settings.SIGNATURES_RATE_LIMITS = dict.fromkeys(
        ["token", "invite_code", "signature", "email_code"]
    )


def test_200_concurrent_redemptions_of_one_token_make_one_signature(
    letter, attestation_ids, no_rate_limits
):
    (code,) = invite_codes_create(actor=None, campaign=letter.campaign, count=1)
    api = SigningClient(Client(), letter.slug)
    token = api.token({"type": "invite_code", "code": code})
    path = f"/api/v1/letters/{letter.slug}/signatures"

    def redeem(client):
        return post_json(client, path, token.payload(attestations=attestation_ids))[0]

    statuses = race(threads=40, per_thread=5, request=redeem)
    assert statuses == Counter({201: 1, 409: 199})
    assert Signature.objects.filter(letter=letter).count() == 1


def test_50_concurrent_issuances_for_one_invite_code_make_one_token(letter, no_rate_limits):
    (code,) = invite_codes_create(actor=None, campaign=letter.campaign, count=1)
    api = SigningClient(Client(), letter.slug)
    _prepared, blinded, _inv = api.blind()
    path = f"/api/v1/letters/{letter.slug}/tokens"
    payload = {
        "blinded_msg": b64url_encode(blinded),
        "proof": {"type": "invite_code", "code": code},
    }

    statuses = race(threads=25, per_thread=2, request=lambda c: post_json(c, path, payload)[0])
    assert statuses == Counter({200: 1, 409: 49})
    assert Issuance.objects.filter(letter=letter).count() == 1


def test_50_concurrent_issuances_for_one_email_code_make_one_token(letter, no_rate_limits):
    post_json(Client(), f"/api/v1/letters/{letter.slug}/email-codes", {"email": "ann@example.com"})
    code = last_code("ann@example.com")
    api = SigningClient(Client(), letter.slug)
    _prepared, blinded, _inv = api.blind()
    path = f"/api/v1/letters/{letter.slug}/tokens"
    proof = {"type": "email_code", "email": "ann@example.com", "code": code}
    payload = {"blinded_msg": b64url_encode(blinded), "proof": proof}

    statuses = race(threads=25, per_thread=2, request=lambda c: post_json(c, path, payload)[0])
    # One token. The winner's transaction holds the code row (its attempt
    # claim) until it commits, and deletes the used code with it: every other
    # request then finds no valid code (403), none reaches the issuance.
    assert statuses == {200: 1, 403: 49}
    assert Issuance.objects.filter(letter=letter).count() == 1

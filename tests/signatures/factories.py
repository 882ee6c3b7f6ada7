"""Open letters with issuer keys and logs, independent of the letters services.

Generating a 2048-bit RSA key takes ~0.1 s, so keys come from a small
process-wide pool: a letter gets a pooled key that no letter in the current
database uses (key ids are unique), and a new one is generated only when the
pool runs dry.
"""

from __future__ import annotations

import hashlib
import itertools
import secrets

from cryptography.hazmat.primitives.asymmetric import rsa

from letters.models import Letter, LetterState
from signatures.models import IssuerKey, PendingSignature, PendingWithdrawal, Signature
from signatures.services.batches import batch_seal
from signatures.services.issuance import issuer_key_create
from signatures.services.log import log_open
from tests.support.factories import CampaignFactory

_pool: list[rsa.RSAPrivateKey] = []
_counter = itertools.count(1)


def pooled_private_key() -> rsa.RSAPrivateKey:
    from signatures.blindrsa import IssuerKey as ParsedKey

    used = set(IssuerKey.objects.values_list("key_id", flat=True))
    for key in _pool:
        if ParsedKey.from_private_key(key).key_id not in used:
            return key
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _pool.append(key)
    return key


def open_letter(campaign=None, *, with_key: bool = True, **fields) -> Letter:
    n = next(_counter)
    campaign = campaign or CampaignFactory()
    body = fields.pop("body", f"We, the employees, ask for change number {n}.")
    defaults = {
        "slug": f"letter-{n}",
        "title": f"Open letter {n}",
        "state": LetterState.OPEN,
        "goal": 100,
    }
    defaults.update(fields)
    letter = Letter.objects.create(
        campaign=campaign,
        body=body,
        text_hash=hashlib.sha256(body.encode()).hexdigest(),
        **defaults,
    )
    if with_key:
        # As letters.services.letter_open does (through letter_opened).
        issuer_key_create(letter=letter, private_key=pooled_private_key())
        log_open(letter=letter)
    return letter


def sealed_signature(letter, pseudonym: str, **fields) -> Signature:
    """A signature sealed into the letter's log as a batch of one, through
    the batch service (so it is counted: the count is the log's), without
    the cost of a real token: the token and its signature are random bytes,
    which the log stores as they are."""
    token = secrets.token_bytes(115)
    PendingSignature.objects.create(
        letter_id=letter.pk,
        token_hash=hashlib.sha256(token).hexdigest(),
        token=token,
        signature=secrets.token_bytes(256),
        receipt_hash=secrets.token_hex(32),
        pseudonym=pseudonym,
        **fields,
    )
    batch_seal(letter=letter, force=True)
    return Signature.objects.get(letter_id=letter.pk, token_hash=hashlib.sha256(token).hexdigest())


def sealed_batch(letter, rows: list[dict], *, now=None) -> list[Signature]:
    """Signatures sealed into the letter's log as one batch (at `now`: their
    signed hour), one per dict of fields, through the batch service, with
    random tokens as in sealed_signature. Returns them in the order given."""
    tokens = [secrets.token_bytes(115) for _ in rows]
    PendingSignature.objects.bulk_create(
        PendingSignature(
            letter_id=letter.pk,
            token_hash=hashlib.sha256(token).hexdigest(),
            token=token,
            signature=secrets.token_bytes(256),
            receipt_hash=fields.pop("receipt_hash", secrets.token_hex(32)),
            **{"pseudonym": f"Signer {secrets.token_hex(3)}", **fields},
        )
        for token, fields in zip(tokens, [dict(r) for r in rows], strict=True)
    )
    batch_seal(letter=letter, force=True, now=now)
    by_hash = {
        s.token_hash: s
        for s in Signature.objects.filter(
            letter_id=letter.pk, token_hash__in=[hashlib.sha256(t).hexdigest() for t in tokens]
        )
    }
    return [by_hash[hashlib.sha256(t).hexdigest()] for t in tokens]


def sealed_withdrawal(signature: Signature) -> None:
    """Withdraw a sealed signature in a batch of its own."""
    PendingWithdrawal.objects.create(letter_id=signature.letter_id, token_hash=signature.token_hash)
    batch_seal(letter=signature.letter, force=True)


def sealed_signatures(letter, *rows: dict) -> list[tuple[Signature, str]]:
    """Signatures accepted and sealed as redemption and a batch do (real
    tokens, log entries and salts, the hold list checked), without the HTTP
    round trips: one per dict of fields (pseudonym, comment, ...). Returns
    (signature, receipt) pairs in the order given."""
    from tests.signatures.log_entries import signed_token

    made = []
    for fields in rows:
        prepared, signature = signed_token(letter)
        receipt = secrets.token_urlsafe(32)
        pending = PendingSignature.objects.create(
            letter_id=letter.pk,
            token_hash=hashlib.sha256(prepared).hexdigest(),
            token=prepared,
            signature=signature,
            receipt_hash=hashlib.sha256(receipt.encode()).hexdigest(),
            **{"pseudonym": f"Signer {secrets.token_hex(3)}", **fields},
        )
        made.append((pending.pk, receipt))
    batch_seal(letter=letter, force=True)
    return [(Signature.objects.get(pk=pk), receipt) for pk, receipt in made]

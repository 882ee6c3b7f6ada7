"""Where the contracts live today: the redesign updates only these import lines.

The golden tests of tests/contracts/ reach the code through public surfaces
(URLs, the resolver, the Celery registry, `apps.get_models()`, the ASGI
application) wherever they can. What they cannot reach that way they import
from here, and only from here, so that moving a module changes this file and
no test. Never change a frozen value in a test to make a move pass.
"""

from __future__ import annotations

from config.celery import app as celery_app
from config.routing import websocket_urlpatterns
from core.crypto import client_key_for
from discussions import consumers as channel_consumers
from discussions.events import channel_group, membership_group
from discussions.services import fingerprint_of
from letters.models import LetterState, Update
from letters.services import compute_text_hash
from organizing.models import Invitation, Role
from petitions.models import CampaignKey, Export
from petitions.services import _passphrase as openpgp_passphrase
from petitions.services import snapshot as export_snapshot
from signatures.keys import decrypt_private_key
from signatures.models import Attestation, EmailCode, InviteCode, Issuance, IssuerKey, Signature
from signatures.services.eligibility import _code_hmac as email_code_hmac
from signatures.services.eligibility import (
    email_normalize,
    identity_hmac,
    invite_code_hmac,
    invite_code_normalize,
)
from signatures.services.log import log_open
from tests.signatures.conftest import last_code
from tests.signatures.factories import open_letter
from tests.signatures.helpers import SigningClient, post_json
from tests.support.users import make_user

__all__ = [
    "Attestation",
    "CampaignKey",
    "EmailCode",
    "Export",
    "Invitation",
    "InviteCode",
    "Issuance",
    "IssuerKey",
    "LetterState",
    "Role",
    "Signature",
    "SigningClient",
    "Update",
    "celery_app",
    "channel_consumers",
    "channel_group",
    "client_key_for",
    "compute_text_hash",
    "decrypt_private_key",
    "email_code_hmac",
    "email_normalize",
    "export_snapshot",
    "fingerprint_of",
    "identity_hmac",
    "invite_code_hmac",
    "invite_code_normalize",
    "log_open",
    "last_code",
    "make_user",
    "membership_group",
    "open_letter",
    "openpgp_passphrase",
    "post_json",
    "websocket_urlpatterns",
]

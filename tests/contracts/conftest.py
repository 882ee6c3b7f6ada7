"""Fixtures of the golden contract tests: a fixed server secret and a letter
whose every derived value is known in advance.

The literals below were computed on commit 1d16306 and must never change: a
stored issuer key encrypted under them must still decrypt after any refactor.
"""

from __future__ import annotations

import base64

import pytest

from tests.contracts import paths

# A fixed SECRET_KEY for every derived value these tests freeze (never a real one).
GOLDEN_SECRET_KEY = "golden-contracts-secret-key-do-not-use-0123456789"

# The letter every golden value is bound to (ids are part of HMAC inputs).
GOLDEN_LETTER_ID = 900001
GOLDEN_LETTER_SLUG = "golden-letter"

# A 2048-bit issuer key of letter GOLDEN_LETTER_ID as the database holds it:
# nonce + AES-256-GCM ciphertext of the PKCS#8 DER, under the key derived from
# GOLDEN_SECRET_KEY, with "issuer-key:<letter id>:<key id>" as associated data.
GOLDEN_ISSUER_KEY_ID = "08e7e9efbde4a7edb1e248cf1dd6d2a4cb858cd7e12420e3b1ee20f54f62cda7"
GOLDEN_ISSUER_PUBLIC_KEY_PEM = (
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEApfbQGFEH0EYMZs5w3vJW\n"
    "lYix7gIaXuI5wJtQsGexyQcK94xPxXw4VK7kFBzbXCNotUAqzdOhgcl8ZK9BXm7W\n"
    "UgZNSGuuvQ6s6VjzvfbNTml9lPm75y7Bzb2uh6kZk1g+OyUz53v0x4zZkoSMCavm\n"
    "ymMzuT8sbpq2I7yuPzF61f/zkN5bsjEegmAdxc8kDu1nD6Ut2WSnQEkBm5twMpVa\n"
    "krJHbJbNAL37V96lfk7XTgzfq2zFQrR/N40mWcsgSCFIDa0lPeIwKWhBCB40VDPD\n"
    "WiDI7NSjsfOhiunxyABwRMJnAnqEkQrsL/D2y9s7zJpe6TVGGVllm1mCaLqpURog\n"
    "eQIDAQAB\n"
    "-----END PUBLIC KEY-----\n"
)
GOLDEN_ISSUER_KEY_ENCRYPTED = base64.b64decode(
    "KxBcJgx+w/oARn/tvVbTK4UKlE7eC+3W3OSsNVPVuzhZozgrLOirsVhVuuVlfceK9RKJWNS5u+T+"
    "Jw5ZFxExZs2RBBxm/1+I0qNA0RujaerH3/ZkNT8YVD1uNo09B/pxGqnNRoHLwL9BsBKejeyeGl7+"
    "iVMXoRvhALGo5qH0GbFgs5jtCs6Jy+mQ40ZJDcE64OVKizo2K+WYw9K2mob4Fh9m7iZ7pjBSP18j"
    "iWsCdbtRqWPVU4Rb862189QxM2GyTg/k35YZdpAv1j5VJDZFVTmqud1EPpbhuIzWUz3HZZxeb0Nk"
    "j6LAoxD6N7CCdmmS1KkeLapc+gLBdJ0w/L0YFIHxWypHe55Zc1Jyt0q8QBk6rmPiihUOyo0lDhu/"
    "oPcTISlw+BDY893eheLop+MbrMguEq0FvI0rCLmvYFkTD/KDW7hSFaVjjI9PfpJCbW023RQP+eb5"
    "hbQ/rDVdKyLQ2T/Evs17HYs1RKjLUKFEVu8JmAeupDkFVFs0eqcLQomrbN7UWWjUAIRDq3kYIds2"
    "wkjSqYpl5hloNPlP3FFpAeJ7CoQCvi094YDCBE+IjdVnvSIkY1mRqNGc07sxSijyIi7R04s9bTF6"
    "mi4tpqQls+T8UA1L9le9894QLnelOLgcB+WREg7u8EL76C49WgtRo9SKPtrjxt/zlKchXwQgAJkp"
    "bDoVBzc1iOW19QkPS74tlu/sPuS/XKquYoOwYsCtNh8KZ1TE3iX7gYjoMPrxIVrIKomt1Cz8tFKe"
    "2i6ph5RdJdf5Mn/iubWUK3Rupx4rrFZh6TYVkX9YvOuwPbFOhXU9HdR1d4cVmAsg4pXYWK+UT6WX"
    "gT/eSaE0abMtsdgCV8Mzdqlli3zY3DSZlEIb0EOrzSB37dEgjK5XEzVDbwqmguFMAEBCe+sznjMS"
    "S935ijQBI/inEEuPY8imPk8paZYlJRkPSpF/TtjDU24mw4eCdV8ucBMErjFTTIS+YpgkNt8Xfi9o"
    "ckEJRFRkwAB8vvjEsAk0tXaX0n4SP1WZF4+1ItMHkZ2f37FE8T0D1k6E1laVG+4HjRRqdUbTQ//K"
    "PvQ05UcP5MzVadVxCZVSAcsVA78QExv6/8j4S76Ci5RrBG+9asyE4kkSCLiEoLuRVYl/XKVCMgGj"
    "Jd9S4V7MsVXX0VLcGruPlLlYYuUcwsCkF3hkc/tmlXWtPrut7+IxbnnbvbwFBjLeCtqrRoS4V4Om"
    "tl7adpe/SridBipmS7P9P4QvKm3XY3Y/Uw6P0AO4BgtNO8NYuVRL9YWcbB4bzQwLGIHXxxRnbp5n"
    "5xuzlVGgyXeGncxOhiK1MHvfLebeTchdznzl2ruOIrjhJwLruKBTmr5B5IA0P6r4nPH9IUROPTfl"
    "Jnv9R7MHHvDXO89E0H0mJ1Ek0e7PuTPB735ha67oKf1BWKQF4z645TFlTabwpZWv8JxYgufbXhrC"
    "drGUpF/evRmHo6Z7U2aNuCL6oKiNhU0BGuCJXSXgzKwsYOgt0zPx2zy+Of07Z4zn3aU+bXFPaVVd"
    "hq+Smhn5fbX0ScxLuBGjYWjIAIi1Qv6VGqmen+JKzcTMP/jVcWaynTHnQDZP7OqCMYPjmMQmhvRK"
    "TQjxLpVQ80848nKhhyrRLmH4ZtbGpafNO1ukfod6DxUN0Eba/1C+0ozm6K1W0PSZ"
)


@pytest.fixture
def golden_secret(settings):
    settings.SECRET_KEY = GOLDEN_SECRET_KEY
    return GOLDEN_SECRET_KEY


@pytest.fixture
def golden_letter(golden_secret, roles):
    """An open letter of campaign `acme` (work email domain example.com, two
    statements to affirm) with id GOLDEN_LETTER_ID and the golden issuer key
    stored as an existing database holds it."""
    roles.campaign.allowed_domains = ["example.com"]
    roles.campaign.save()
    paths.Attestation.objects.create(campaign=roles.campaign, text="I work here", position=0)
    paths.Attestation.objects.create(campaign=roles.campaign, text="I am not a manager", position=1)
    letter = paths.open_letter(
        roles.campaign,
        id=GOLDEN_LETTER_ID,
        slug=GOLDEN_LETTER_SLUG,
        title="Stop logging our keystrokes",
        body="We, the employees, ask leadership to stop logging our keystrokes.",
        with_key=False,
    )
    paths.IssuerKey.objects.create(
        letter=letter,
        key_id=GOLDEN_ISSUER_KEY_ID,
        public_key_pem=GOLDEN_ISSUER_PUBLIC_KEY_PEM,
        private_key_encrypted=GOLDEN_ISSUER_KEY_ENCRYPTED,
    )
    return letter

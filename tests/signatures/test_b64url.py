"""signatures.services.b64url_decode: what the API accepts as base64url.

Unpadded and padded base64url (RFC 4648, section 5) decodes; anything else
(standard base64's "+" and "/", whitespace, misplaced or excess padding,
an impossible length, non-ASCII) is a BadRequest, never a partial decode.
"""

from __future__ import annotations

import base64
import secrets

import pytest

from signatures.errors import BadRequest
from signatures.services.common import b64url_decode, b64url_encode


@pytest.mark.parametrize("length", range(1, 40))
def test_round_trip_unpadded_and_padded(length):
    data = secrets.token_bytes(length)
    unpadded = b64url_encode(data)
    padded = base64.urlsafe_b64encode(data).decode()
    assert "=" not in unpadded
    assert b64url_decode(unpadded, field="f") == data
    assert b64url_decode(padded, field="f") == data


def test_every_alphabet_character():
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    assert b64url_encode(b64url_decode(alphabet, field="f")) == alphabet


@pytest.mark.parametrize(
    "value",
    [
        "A",  # one character more than a multiple of four
        "AQID" + "A",
        "AQ===",  # three padding characters
        "====",
        "A=Q",  # padding inside
        "AQ==AQ",
        "+/8A",  # standard base64, not base64url
        "AQ+A",
        "AQ/A",
        " AQID",
        "AQID ",
        "AQID\n",  # a regular expression's $ would let this one through
        "AQI\n",
        "AQ\nID",
        "AQ\tID",
        "AQ.D",
        "AQ%D",
        "AQé",
        "AQ\x00D",
        "",
    ],
)
def test_malformed_is_a_bad_request(value):
    with pytest.raises(BadRequest) as raised:
        b64url_decode(value, field="token")
    assert "token" in raised.value.message


@pytest.mark.parametrize("value", [None, 123, ["AQID"], {"a": 1}, b"AQID"])
def test_not_a_string_is_a_bad_request(value):
    with pytest.raises(BadRequest):
        b64url_decode(value, field="token")


def test_too_long_is_a_bad_request():
    with pytest.raises(BadRequest, match="too long"):
        b64url_decode("A" * 2052, field="token")
    assert len(b64url_decode("A" * 2048, field="token")) == 1536

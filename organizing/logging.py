"""Logging filter that removes anything shaped like an IP address.

The middleware already hides client addresses from application code; this is
the second line of defence for third-party libraries that log on their own.
"""

from __future__ import annotations

import logging
import re

IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")
# IPv6: eight full groups, or a compressed form with "::" (clock times such as
# 12:30:05 do not match either).
IPV6 = re.compile(
    r"\b(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}\b"
    r"|(?:[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{1,4})*)?::(?:[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{1,4})*)?"
)


def scrub(text: str) -> str:
    return IPV6.sub("[address]", IPV4.sub("[address]", text))


class ScrubIPAddressesFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True

"""Logging filter that removes anything shaped like an IP address.

The middleware already hides client addresses from application code; this is
the second line of defence for the servers and libraries that log on their
own. Every process we run puts it on its handlers: Django's (settings.LOGGING,
which uvicorn's logger also goes through), gunicorn's (gunicorn.conf.py) and
Celery's (config/celery.py).
"""

from __future__ import annotations

import logging
import re

# An address with the port after it ("203.0.113.7:51234" as uvicorn writes a
# client): the port goes too.
IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b(?::\d{1,5}\b)?")
# IPv6: eight full groups, or a compressed form with "::" (clock times such as
# 12:30:05 do not match either); in brackets, with a port after them.
_IPV6 = (
    r"(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}\b"
    r"|(?:[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{1,4})*)?::(?:[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{1,4})*)?"
)
IPV6 = re.compile(rf"\[(?:{_IPV6})\](?::\d{{1,5}}\b)?|\b{_IPV6}")

# Formats exceptions as the standard formatters do, so that their text can be
# scrubbed before any handler writes it.
_formatter = logging.Formatter()


def scrub(text: str) -> str:
    return IPV6.sub("[address]", IPV4.sub("[address]", text))


class ScrubIPAddressesFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        # A traceback repeats the exception's message (an invalid Host header,
        # a path): formatters print `exc_text` when it is set, so set it, scrubbed.
        if record.exc_info and not record.exc_text:
            record.exc_text = _formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        return True

"""No IP addresses in the database, the sessions, the cache or the logs.

A person with a distinctive address (and a proxy header naming another one)
signs up, verifies, logs in, fails a login, resets the password, enables
TOTP and joins with an invitation. Then every column of every table, every
decoded session, every cache entry and all log output is searched for the
addresses.
"""

from __future__ import annotations

import io
import logging
import re

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.core import mail
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.urls import reverse

from core.logging import ScrubIPAddressesFilter, scrub
from organizing import services
from organizing.mfa import totp_current_code
from organizing.models import AuditEntry
from tests.support.cache_contents import cache_entries

ADDRESS = "203.0.113.77"
FORWARDED = "198.51.100.23"
IPV6 = "2001:db8::7777"
ADDRESSES = (ADDRESS, FORWARDED, IPV6)
CODE = re.compile(r"^\s*([A-Z0-9]{4}-[A-Z0-9]{4})\s*$", re.M)
PASSWORD = "a long pass phrase 9"


def last_code() -> str:
    return CODE.search(mail.outbox[-1].body).group(1)


def database_dump() -> list[tuple[str, str]]:
    """(table, text) for every row of every table, all columns."""
    rows = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                text = " | ".join(
                    v.decode("latin-1") if isinstance(v, bytes | memoryview) else str(v)
                    for v in (bytes(x) if isinstance(x, memoryview) else x for x in row)
                )
                rows.append((table, text))
    return rows


def session_dump() -> list[str]:
    from django.contrib.sessions.models import Session

    return [str(SessionStore().decode(s.session_data)) for s in Session.objects.all()]


def cache_dump() -> list[str]:
    return [f"{key} = {value}" for key, value in cache_entries()]


def where_is(address: str, *, logs: str) -> list[str]:
    places = [f"table {table}: {text[:200]}" for table, text in database_dump() if address in text]
    places += [f"session: {s[:200]}" for s in session_dump() if address in s]
    places += [f"cache: {c[:200]}" for c in cache_dump() if address in c]
    places += [f"log: {line}" for line in logs.splitlines() if address in line]
    return places


@pytest.fixture
def log_output(caplog):
    """Everything logged at DEBUG: the records pytest captures, plus what the
    project's own root handler (the one with the IP filter) writes."""
    caplog.set_level(logging.DEBUG)
    handlers = [
        h
        for h in logging.getLogger().handlers
        if any(isinstance(f, ScrubIPAddressesFilter) for f in h.filters)
    ]
    assert handlers, "the root logger has no handler with the IP filter"
    stream = io.StringIO()
    previous = [(h, h.setStream(stream), h.level) for h in handlers]
    for handler in handlers:
        handler.setLevel(logging.DEBUG)

    def collect() -> str:
        records = "\n".join(
            f"{r.name} {r.getMessage()} {r.args!r} {getattr(r, 'request', '')!r}"
            for r in caplog.records
        )
        return records + "\n" + caplog.text + "\n" + stream.getvalue()

    yield collect
    for handler, old_stream, level in previous:
        handler.setStream(old_stream)
        handler.setLevel(level)


def journey(roles) -> None:
    """Everything a person does, from one distinctive address."""
    headers = {
        "REMOTE_ADDR": ADDRESS,
        "HTTP_X_FORWARDED_FOR": f"{FORWARDED}, {ADDRESS}",
        "HTTP_X_REAL_IP": FORWARDED,
        "HTTP_FORWARDED": f'for="[{IPV6}]"',
    }
    client = Client(**headers)
    invitation = services.invitation_create(
        actor=roles.organizer, campaign=roles.campaign, role="delegate"
    )

    # Sign up and verify by code.
    response = client.post(
        reverse("account_signup"),
        {"email": "ip-test@personal.test", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302
    response = client.post(reverse("account_email_verification_sent"), {"code": last_code()})
    assert response["Location"] == reverse("organizing:dashboard")

    # Use the invitation.
    response = client.post(
        reverse("organizing:join", args=[invitation.token]), {"display_name": "Careful"}
    )
    assert response.status_code == 302

    # Enable TOTP (reauthentication first).
    client.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    secret = client.get(reverse("mfa_activate_totp")).context["form"].secret
    response = client.post(reverse("mfa_activate_totp"), {"code": totp_current_code(secret)})
    assert response.status_code == 302
    assert client.get(reverse("organizing:campaign_create")).status_code == 200

    # Log out, fail a login, log in with both factors.
    client.post(reverse("account_logout"))
    response = client.post(
        reverse("account_login"), {"login": "ip-test@personal.test", "password": "wrong one"}
    )
    assert "not correct" in str(response.context["form"].errors)
    client.post(reverse("account_login"), {"login": "ip-test@personal.test", "password": PASSWORD})
    response = client.post(reverse("mfa_authenticate"), {"code": totp_current_code(secret)})
    assert response.status_code == 302
    assert client.get(reverse("organizing:dashboard")).status_code == 200

    # A password reset, a 404, a 403 and a CSRF failure on the way.
    other = Client(enforce_csrf_checks=True, **headers)
    assert other.post(reverse("account_login"), {"login": "x"}).status_code == 403
    Client(**headers).post(reverse("account_reset_password"), {"email": "ip-test@personal.test"})
    assert client.get("/no-such-page/").status_code == 404
    assert client.get(reverse("organizing:manage", args=["other"])).status_code == 403


# Transactional: allauth announces a new authenticator on commit, and that is
# what completes the second factor for the session that set it up.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("address", ADDRESSES)
def test_no_ip_address_is_stored_or_logged(roles, log_output, address):
    journey(roles)
    assert where_is(address, logs=log_output()) == []


def test_the_search_would_find_an_address(roles, log_output):
    """Control: the same search finds an address planted in each place."""
    planted = "192.0.2.200"
    services.audit_record(campaign=roles.campaign, actor=None, action="x", summary=planted)
    session = SessionStore()
    session["planted"] = planted
    session.save()
    cache.set("planted", planted)
    # Without the project's filter, a logged address would be found.
    root_handlers = logging.getLogger().handlers
    removed = [
        (h, f) for h in root_handlers for f in h.filters if isinstance(f, ScrubIPAddressesFilter)
    ]
    for handler, log_filter in removed:
        handler.removeFilter(log_filter)
    try:
        logging.getLogger("tests.control").debug("planted %s", planted)
    finally:
        for handler, log_filter in removed:
            handler.addFilter(log_filter)
    places = where_is(planted, logs=log_output())
    assert any(p.startswith("table organizing_auditentry") for p in places), places
    assert any(p.startswith("session") for p in places), places
    assert any(p.startswith("cache") for p in places), places
    assert any(p.startswith("log") for p in places), places


def test_the_root_handler_scrubs_addresses_that_libraries_log(log_output):
    logging.getLogger("some.library").warning("connection from %s and [%s]", ADDRESS, IPV6)
    stream_text = log_output().split("\n")
    handler_lines = [line for line in stream_text if "connection from" in line]
    # caplog keeps the raw record; the project's handler wrote it scrubbed.
    assert any("[address]" in line and ADDRESS not in line for line in handler_lines)


def test_the_filter_scrubs_tracebacks_too():
    """A traceback repeats its exception's message, e.g. Django's
    DisallowedHost with the Host header the client sent."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ScrubIPAddressesFilter())
    logger = logging.getLogger("tests.traceback")
    logger.addHandler(handler)
    try:
        try:
            raise ValueError(f"Invalid HTTP_HOST header: '{ADDRESS}' from [{IPV6}]:443")
        except ValueError:
            logger.exception("refused %s", ADDRESS)
    finally:
        logger.removeHandler(handler)
    written = stream.getvalue()
    assert "ValueError: Invalid HTTP_HOST header: '[address]' from [address]" in written
    assert not any(address in written for address in ADDRESSES), written


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # The port goes with the address: uvicorn writes clients as address:port.
        ("from 203.0.113.77:5000", "from [address]"),
        ("v6 2001:db8::1 and ::1", "v6 [address] and [address]"),
        ("from [2001:db8::1]:443 and [::1]", "from [address] and [address]"),
        ("full 2001:0db8:0000:0000:0000:ff00:0042:8329 x", "full [address] x"),
        ("at 12:30:05 on 2024-01-02", "at 12:30:05 on 2024-01-02"),
        ("version 1.2.3 is fine", "version 1.2.3 is fine"),
    ],
)
def test_scrub(text, expected):
    assert scrub(text) == expected


def test_views_see_only_a_placeholder_and_a_keyed_hash(rf, settings):
    from core.middleware import PLACEHOLDER_ADDRESS, ForgetClientAddressMiddleware

    seen = {}

    def view(request):
        seen.update(request.META)
        seen["client_key"] = request.client_key
        from django.http import HttpResponse

        return HttpResponse()

    middleware = ForgetClientAddressMiddleware(view)
    request = rf.get("/", REMOTE_ADDR=ADDRESS, HTTP_X_FORWARDED_FOR=FORWARDED)
    middleware(request)
    assert seen["REMOTE_ADDR"] == PLACEHOLDER_ADDRESS
    assert not any(a in str(seen) for a in ADDRESSES)
    assert re.fullmatch(r"[0-9a-f]{32}", seen["client_key"])
    # Keyed: another server secret gives another hash, so the small IPv4
    # space cannot be enumerated without the key.
    first = seen["client_key"]
    settings.SECRET_KEY = "another-secret-key-of-enough-length-0123456789"
    middleware(rf.get("/", REMOTE_ADDR=ADDRESS))
    assert seen["client_key"] != first


def test_behind_a_proxy_the_configured_header_keys_the_client(rf, settings):
    """CLIENT_ADDRESS_HEADER: clients behind one proxy get separate rate-limit
    keys, and the header is gone before any view sees it."""
    from django.http import HttpResponse

    from core.crypto import client_key_for
    from core.middleware import ForgetClientAddressMiddleware

    settings.CLIENT_ADDRESS_HEADER = "X-Real-IP"
    seen = []

    def view(request):
        seen.append((request.client_key, str(request.META)))
        return HttpResponse()

    middleware = ForgetClientAddressMiddleware(view)
    middleware(rf.get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_REAL_IP=ADDRESS))
    middleware(rf.get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_REAL_IP=FORWARDED))
    middleware(rf.get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_REAL_IP=f"{FORWARDED}, {ADDRESS}"))
    assert [key for key, _meta in seen] == [
        client_key_for(ADDRESS),
        client_key_for(FORWARDED),
        client_key_for(ADDRESS),  # the proxy's entry, not the client's claim
    ]
    assert not any(a in meta for _key, meta in seen for a in ADDRESSES)

    settings.CLIENT_ADDRESS_HEADER = ""
    seen.clear()
    ForgetClientAddressMiddleware(view)(
        rf.get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_REAL_IP=ADDRESS)
    )
    assert seen[0][0] == client_key_for("127.0.0.1")  # not configured: not trusted


@pytest.mark.django_db(transaction=True)
def test_audit_entries_carry_no_address(roles):
    journey(roles)
    for entry in AuditEntry.objects.all():
        assert not any(a in f"{entry.actor_label} {entry.summary}" for a in ADDRESSES)

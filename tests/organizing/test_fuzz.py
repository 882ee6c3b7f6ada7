"""Bad requests to every URL pattern and to the websocket: never a 5xx (audit
issue 13, item 4).

Every pattern of get_resolver() gets requests generated from one seeded
random.Random (hypothesis is not among the project's packages): every HTTP
method, junk and truncated bodies (JSON, form, multipart), bad
percent-encodings, NUL and lone surrogates in the path, the query and the
body, huge values, odd headers; path converters filled with the ids of seeded
objects and with junk; anonymously and as an organizer (as an operator on
the admin), with and without the CSRF check. A 5xx, or an exception out of
the handler, fails the test, which prints each request ready to paste. API
errors must be JSON. The websocket endpoint gets junk handshakes and frames
through the real ASGI application; a server_error frame or an error logged
fails it.

Each request runs in a savepoint rolled back afterwards: every request sees
the seeded objects as they were, and a database error cannot spill into the
next request. FUZZ_SEED=<n> replays another sequence; FUZZ_REQUESTS=<n>
sends more (or fewer) HTTP requests than 3,100.
"""

from __future__ import annotations

import json
import os
import random
import re
import traceback
import uuid
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import quote

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django import forms
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern

from core.ratelimit import DEFAULT_RATE_LIMITS
from discussions import services as channel_services
from discussions.consumers import ChannelConsumer
from letters import services as letter_services
from organizing.models import Membership, Role
from organizing.services import invitation_create
from petitions.models import Export
from signatures.models import Attestation, SignatureModeration, SignatureReport
from signatures.services.eligibility import invite_codes_create
from tests.petitions.factories import make_signatures
from tests.signatures.factories import open_letter
from tests.support.users import make_user

SEED = int(os.environ.get("FUZZ_SEED", "13"))
HTTP_REQUESTS = int(os.environ.get("FUZZ_REQUESTS", "3100"))
WEBSOCKET_FRAMES = 300

METHODS = ["GET"] * 4 + ["POST"] * 5 + "HEAD PUT PATCH DELETE OPTIONS TRACE PROPFIND get".split()

# Strings that have broken parsers somewhere: NUL, lone surrogates, controls,
# bidirectional overrides, numbers too big for a database column, huge text.
JUNK_TEXT = (
    ["", "\x00", "a\x00b", "\ud800", "\udfff" * 40, "\ud83d", "\u202egnp.exe", "\u2066x"]
    + ["\x1b[31m", "\n", "\r\n", "\t", "\x7f", "\u0085", "\ufeff", "\U0010ffff", "\ue000"]
    + ["-1", "0", "1", "99999999999999999999999", "9" * 5000, "1e309", "-0", "NaN", "Infinity"]
    + ["true", "null", "[]", "{}", "x" * 100_000, "é" * 5000, "%00", "%", "../../etc/passwd"]
    + ["<script>alert(1)</script>", "' OR 1=1 --", "2024-13-45T25:61", "0000-00-00", "acme"]
    + ["member", "organizer", "a@example.com", "@example.com", "a@\udc80.com", "a@xn--.com"]
    + ["ABCD-EFGH-JKMN-PQRS"]
)
# Path segments, percent-encoded as a client would send them.
JUNK_SEGMENTS = (
    "0 -1 99999999999999999999999 %00 a%00b %ED%A0%80 %C0%AF %FF % %2 %zz .. %2E%2E %2F"
    " %E2%80%AE null 1e9 %20 ~ %F0%9F%98%80 00000000-0000-0000-0000-00000000000g"
).split() + ["9" * 400, "x" * 3000, str(uuid.UUID(int=0))]
JUNK_QUERIES = (
    "page=%00 page=-1 page=0 page=99999999999999999999999999 page=1e3 key=%00 key=%ED%A0%80"
    " fingerprint=%00 q=%00 o=%00 o=-1.99 p=%00 e=1 role__exact=%00 state__exact=%00"
    " action__exact=%FF _changelist_filters=%00 _to_field=password _popup=1 next=//evil.example"
    " next=%00 next=javascript:alert(1) % %zz=1 a=%E0%A4 &&&== a[]=1&a[]=2 ;; q=%2500 ="
).split() + [
    "page=" + "9" * 5000,
    "fingerprint=" + "A" * 5000,
    "x=" + "y" * 50_000,
    "&".join(f"f{i}=1" for i in range(1200)),
]
CONTENT_TYPES = [
    *("application/json", "application/x-www-form-urlencoded", "text/plain", ""),
    *("multipart/form-data; boundary=BOUND", "multipart/form-data", "multipart/mixed; boundary=B"),
    *("multipart/form-data; boundary=", "multipart/form-data; boundary=\x00"),
    *("application/x-www-form-urlencoded; charset=latin-1", "application/json; charset=utf-16"),
    "application/octet-stream",
]
# Fields the JSON API reads (docs/signing-protocol.md).
JSON_FIELDS = (
    "email proof blinded_msg token signature pseudonym attestations public_name reveal_at"
    " department location comment receipt type code"
).split()
# Fields views read from request.POST without a form.
RAW_POST_FIELDS = (
    "batch action letter revision archived resolved preview display_name csrfmiddlewaretoken"
).split()


BODY_KINDS = "none json json json_junk form form multipart multipart bytes huge".split()
JUNK_JSON = [
    *(b"[" * 100_000, b'{"a":' * 3000, b'"text"', b"null", b"1e999999", b"9" * 5000),
    *(b'{"receipt": "\\ud800\\ud800"}', b'{"\\u0000": 1}', b"\xff\xfe{", b'{"a": NaN}'),
    b'{"email": "a@exam',
]
ODD_HEADERS = [
    *(("HTTP_HOST", "evil.example"), ("HTTP_HOST", "\x00"), ("HTTP_ACCEPT_LANGUAGE", "\x00")),
    *(("HTTP_ACCEPT_LANGUAGE", "zz-ZZ;q=abc"), ("HTTP_ACCEPT_LANGUAGE", "x" * 500)),
    *(("HTTP_X_CSRFTOKEN", "\x00"), ("HTTP_X_CSRFTOKEN", "a" * 64), ("HTTP_COOKIE", "=;;=")),
    *(("HTTP_COOKIE", "sessionid=\x00"), ("HTTP_COOKIE", "sessionid=" + "a" * 5000)),
    *(("HTTP_X_FORWARDED_FOR", "\x00"), ("HTTP_ORIGIN", "null"), ("HTTP_REFERER", "\x00")),
    *(("HTTP_SEC_FETCH_SITE", "same-origin"), ("HTTP_RANGE", "bytes=99999999999999999999-")),
    ("HTTP_IF_MODIFIED_SINCE", "\x00"),
]
# Websocket frames (docs/channels-protocol.md): whole junk frames, and junk
# values for the fields the consumer reads.
JUNK_FRAMES = [
    *("[" * 100_000, '{"type": "send", "epoch": ' + "[" * 20_000, "{", "null", "[]", "1e999"),
    *('{"type": "ping"' + ', "a": 1' * 5000 + "}", "\x00", '{"type": "\\ud800"}', "9" * 5000),
    '{"type": "hello", "device_key": ' + '{"a":' * 900 + "1" + "}" * 900 + "}",
]
FRAME_FIELDS = "ref epoch ciphertext iv id before after_seq wraps claim device_key device".split()
FRAME_VALUES = [
    *(0, -1, 10**30, 1.5, None, True, [], {}, [{"device": "x"}], "A" * 20_000),
    [{"device": 1, "wrapped": "\x00", "iv": "\ud800"}],
]


def form_field_names() -> list[str]:
    """The field names of every form class loaded (ours, allauth's, the admin's)."""
    names = set(RAW_POST_FIELDS)
    pending = [forms.Form, forms.ModelForm]
    seen = set()
    while pending:
        cls = pending.pop()
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.add(sub)
                pending.append(sub)
                names.update(getattr(sub, "base_fields", {}))
    return sorted(names)


# --- URL patterns ----------------------------------------------------------------------


@dataclass
class Pattern:
    route: str  # "c/<slug:slug>/letters/<int:pk>/" or a regular expression
    regex: bool
    view: str


def url_patterns(resolver=None, prefix: str = "") -> list[Pattern]:
    resolver = resolver or get_resolver()
    found = []
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            found += url_patterns(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            found.append(
                Pattern(
                    prefix + str(entry.pattern),
                    isinstance(entry.pattern, RegexPattern),
                    entry.lookup_str,
                )
            )
    return found


ROUTE_PARAMETER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")
REGEX_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>[^()]*\)")


def fill(pattern: Pattern, value_for) -> str:
    """The pattern's path with each parameter replaced by value_for(name)."""
    if pattern.regex:
        path = REGEX_GROUP.sub(lambda m: value_for(m["name"]), pattern.route)
        return "/" + path.replace("^", "").replace("$", "")
    return "/" + ROUTE_PARAMETER.sub(lambda m: value_for(m["name"]), pattern.route)


# --- generated requests ------------------------------------------------------------------


def encode(text: str) -> str:
    """Percent-encoded UTF-8, lone surrogates included (as an attacker's client
    would send them: invalid UTF-8)."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


@dataclass
class Request:
    role: str
    csrf: bool
    method: str
    path: str
    query: str = ""
    body: bytes = b""
    content_type: str = ""
    headers: dict = field(default_factory=dict)

    def url(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path

    def reproducer(self) -> str:
        client = f"client_for({self.role})"
        if self.csrf:
            client += " with handler.enforce_csrf_checks = True"
        body = self.body if len(self.body) <= 400 else self.body[:400] + b"...(truncated)"
        return (
            f"{client}.generic({self.method!r}, {self.url()[:600]!r}, {body!r}, "
            f"content_type={self.content_type!r}, **{self.headers!r})"
        )


class Generator:
    def __init__(self, rng: random.Random, seeds: dict[str, list[str]], field_names: list[str]):
        self.rng = rng
        self.seeds = seeds
        self.field_names = field_names

    def junk_text(self) -> str:
        return self.rng.choice(JUNK_TEXT)

    def segment(self, name: str) -> str:
        if name in self.seeds and self.rng.random() < 0.7:
            return encode(self.rng.choice(self.seeds[name]))
        return self.rng.choice(JUNK_SEGMENTS)

    def query(self) -> str:
        roll = self.rng.random()
        if roll < 0.3:
            return ""
        if roll < 0.7:
            return self.rng.choice(JUNK_QUERIES)
        names = self.rng.sample(self.field_names + ["page", "key", "q", "o", "next"], 3)
        return "&".join(f"{encode(n)}={encode(self.junk_text())}" for n in names)

    def json_value(self, depth: int = 0):
        roll = self.rng.random()
        if roll < 0.5 or depth > 2:
            return self.rng.choice(
                [self.junk_text(), 0, -1, 10**30, 1.5, True, None, float("1e308"), "A" * 3000]
            )
        if roll < 0.75:
            return [self.json_value(depth + 1) for _ in range(self.rng.randrange(4))]
        return {
            self.rng.choice(JSON_FIELDS): self.json_value(depth + 1)
            for _ in range(self.rng.randrange(4))
        }

    def fields(self) -> list[tuple[str, str]]:
        count = self.rng.choice([1, 2, 4, 8])
        return [(self.rng.choice(self.field_names), self.junk_text()) for _ in range(count)]

    def body(self) -> tuple[bytes, str]:
        """(body, content type), usually matching, sometimes not."""
        kind = self.rng.choice(BODY_KINDS)
        if kind == "none":
            return b"", self.rng.choice(["", "application/json", "multipart/form-data"])
        if kind == "json":
            data = {name: self.json_value() for name in self.rng.sample(JSON_FIELDS, 4)}
            raw = json.dumps(data).encode()
            content_type = "application/json"
        elif kind == "json_junk":
            raw = self.rng.choice(JUNK_JSON)
            content_type = "application/json"
        elif kind == "form":
            raw = "&".join(f"{encode(k)}={encode(v)}" for k, v in self.fields()).encode()
            if self.rng.random() < 0.2:
                raw += self.rng.choice([b"&%", b"=%zz", b"&a=%ED%A0", b"&" * 2000])
            content_type = "application/x-www-form-urlencoded"
        elif kind == "multipart":
            raw = self.multipart()
            content_type = "multipart/form-data; boundary=BOUND"
        elif kind == "bytes":
            raw = self.rng.randbytes(self.rng.choice([1, 17, 600]))
            content_type = self.rng.choice(CONTENT_TYPES)
        else:  # more than DATA_UPLOAD_MAX_MEMORY_SIZE, or more fields than allowed
            raw = self.rng.choice(
                [b"a=" + b"x" * 3_000_000, b"&".join(b"f%d=1" % i for i in range(1500))]
            )
            content_type = "application/x-www-form-urlencoded"
        if self.rng.random() < 0.25 and raw:  # cut short
            raw = raw[: self.rng.randrange(len(raw))]
        if self.rng.random() < 0.15:
            content_type = self.rng.choice(CONTENT_TYPES)
        return raw, content_type

    def multipart(self) -> bytes:
        parts = []
        for name, value in self.fields():
            disposition = f'form-data; name="{name}"'
            if self.rng.random() < 0.2:
                filename = self.rng.choice(["a.pdf", "\x00.pdf", "../../x", "\ud800", "x" * 500])
                disposition += f'; filename="{filename}"'
            if self.rng.random() < 0.1:
                disposition = self.rng.choice(["form-data", "attachment", 'form-data; name="a'])
            part = f"--BOUND\r\nContent-Disposition: {disposition}\r\n"
            if self.rng.random() < 0.1:
                part += "Content-Transfer-Encoding: base64\r\n"
            parts.append(
                part.encode("utf-8", "surrogatepass")
                + b"\r\n"
                + value.encode("utf-8", "surrogatepass")
                + b"\r\n"
            )
        end = self.rng.choice([b"--BOUND--\r\n", b"--BOUND--\r\n", b"--BOUN", b"", b"--OTHER--"])
        return b"".join(parts) + end

    def headers(self) -> dict:
        if self.rng.random() < 0.75:
            return {}
        return dict([self.rng.choice(ODD_HEADERS)])

    def request(self, pattern: Pattern, role: str, *, baseline: bool) -> Request:
        if baseline:  # the valid path, a plain GET
            path = fill(pattern, lambda name: encode(self.seeds.get(name, ["1"])[0]))
            return Request(role, False, "GET", path)
        path = fill(pattern, self.segment)
        if self.rng.random() < 0.05:
            path += self.rng.choice(["%00", "x" * 4000, "/%ED%A0%80/", "//", "/.."])
        method = self.rng.choice(METHODS)
        body, content_type = (b"", "") if method in ("GET", "HEAD") else self.body()
        return Request(
            role,
            self.rng.random() < 0.3,
            method,
            path,
            self.query(),
            body,
            content_type,
            self.headers(),
        )


# --- the HTTP fuzz ---------------------------------------------------------------------------


@pytest.fixture
def seeded(roles, settings):
    """(values for path parameters, from seeded objects; the users to send as)."""
    settings.SIGNATURES_RATE_LIMITS = {scope: None for scope in DEFAULT_RATE_LIMITS}
    settings.ACCOUNT_RATE_LIMITS = False
    letter = open_letter(roles.campaign, slug="open-letter")
    signatures = make_signatures(letter, 3)
    # Moderation pages with something to show: a report, a hidden comment.
    SignatureReport.objects.create(signature=signatures[0], reason="abuse", note="A note")
    SignatureModeration.objects.create(signature=signatures[1], hide_comment=True, reason="spam")
    draft = letter_services.letter_create(
        actor=roles.organizer,
        campaign=roles.campaign,
        title="Draft",
        summary="",
        body="Text",
        demands=["One"],
    )
    comment = letter_services.comment_add(actor=roles.organizer, letter=draft, body="A comment")
    invitation = invitation_create(actor=roles.organizer, campaign=roles.campaign)
    channel = channel_services.channel_create(
        actor=roles.organizer, campaign=roles.campaign, name="general"
    )
    attestation = Attestation.objects.create(campaign=roles.campaign, text="I work here")
    invite_codes_create(actor=roles.organizer, campaign=roles.campaign, count=2, batch="b1")
    export = Export.objects.create(letter=letter, state_key="k", created_by=roles.delegate)
    update = letter_services.update_post(actor=roles.organizer, letter=letter, title="News")
    operator = make_user(mfa=True, is_staff=True, is_superuser=True)
    memberships = Membership.objects.filter(campaign=roles.campaign)
    seeds = {
        "slug": ["acme", letter.slug, draft.slug],
        "pk": [str(draft.pk), str(letter.pk), str(operator.pk)],
        "invitation_id": [str(invitation.invitation.pk)],
        "membership_id": [str(m.pk) for m in memberships if m.role == Role.MEMBER]
        + [str(m.pk) for m in memberships],
        "channel_id": [str(channel.pk)],
        "comment_id": [str(comment.pk)],
        "attestation_id": [str(attestation.pk)],
        "export_id": [str(export.pk)],
        "update_id": [str(update.pk)],
        "signature_id": [str(signature.pk) for signature in signatures],
        "name": ["petition.pdf", "manifest.json", "petition.pdf.asc", "..", "x"],
        "token": [invitation.token],
        "action": ["submit", "approve", "open", "close", "return", "explode"],
        "object_id": [str(operator.pk), str(roles.campaign.pk), str(letter.pk), "1"],
        "content_type_id": [str(ContentType.objects.get_for_model(Membership).pk)],
        "id": [str(operator.pk)],
        "app_label": ["organizing", "letters"],
        "url": ["nothing/", ""],
        # Tile paths of the letter's log (C2SP tlog-tiles).
        "path": ["0/000.p/1", "entries/000.p/1", "0/000", "1/x001/000.p/3", "0/000.p/0"],
    }
    users = {"anonymous": None, "organizer": roles.organizer, "operator": operator}
    return seeds, users


def roles_for(pattern: Pattern) -> tuple[str, ...]:
    """The admin is the operator's; everything else the organizer's."""
    if pattern.route.startswith("operator/"):
        return ("anonymous", "operator")
    return ("anonymous", "organizer")


def send(client, request: Request):
    extra = dict(request.headers)
    return client.generic(
        request.method, request.url(), request.body, content_type=request.content_type, **extra
    )


def test_no_request_gets_a_server_error(seeded, client_for):
    seeds, users = seeded
    rng = random.Random(SEED)
    generator = Generator(rng, seeds, form_field_names())
    clients = {}
    for role, user in users.items():
        for csrf in (False, True):
            client = client_for(user)
            if csrf:
                # As in production: the test client skips the CSRF check by default.
                client.handler.enforce_csrf_checks = True
                client.cookies["csrftoken"] = "a" * 32
            clients[role, csrf] = (client, {k: m.value for k, m in client.cookies.items()})
    patterns = url_patterns()
    pairs = [(pattern, role) for pattern in patterns for role in roles_for(pattern)]
    failures, sent = [], 0
    for index, (pattern, role) in enumerate(pairs):
        rounds = HTTP_REQUESTS // len(pairs) + (index < HTTP_REQUESTS % len(pairs))
        for round_ in range(rounds):
            request = generator.request(pattern, role, baseline=round_ == 0)
            client, cookies = clients[role, request.csrf]
            client.cookies = SimpleCookie(cookies)  # what the last response set is gone
            problem = None
            try:
                with transaction.atomic():
                    response = send(client, request)
                    transaction.set_rollback(True)
            except Exception:
                problem = "raised " + "".join(traceback.format_exc().splitlines(True)[-4:])
            else:
                if response.status_code >= 500:
                    problem = f"answered {response.status_code}"
                elif request.path.startswith("/api/") and response.status_code >= 400:
                    if response.get("Content-Type") != "application/json":
                        problem = f"answered {response.status_code} without JSON"
            sent += 1
            if problem:
                failures.append(f"{pattern.view} {problem}\n    {request.reproducer()}")
    print(f"fuzz: {sent} requests to {len(patterns)} URL patterns, seed {SEED}")
    assert sent == HTTP_REQUESTS
    assert not failures, f"{len(failures)} of {sent} requests failed (FUZZ_SEED={SEED}):\n" + (
        "\n".join(failures[:60])
    )


# --- the websocket ---------------------------------------------------------------------------


def junk_frame(rng: random.Random) -> str:
    if rng.random() < 0.15:
        return rng.choice(JUNK_FRAMES)
    frame = {"type": rng.choice([*ChannelConsumer.HANDLERS, "shout", "", "HELLO"])}
    for name in rng.sample(FRAME_FIELDS, 3):
        frame[name] = rng.choice(FRAME_VALUES) if rng.random() < 0.4 else rng.choice(JUNK_TEXT)
    return json.dumps(frame)


@pytest.mark.django_db(transaction=True)
def test_no_websocket_handshake_or_frame_gets_a_server_error(roles, client_for, caplog):
    from config.asgi import application

    channel = channel_services.channel_create(
        actor=roles.organizer, campaign=roles.campaign, name="general"
    )
    session = client_for(roles.organizer).cookies["sessionid"].value
    rng = random.Random(SEED)
    good = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]
    cookie = [(b"cookie", f"sessionid={session}".encode())]
    paths = [
        f"/ws/channels/{channel.pk}/",
        "/ws/channels/abc/",
        "/ws/channels/0/",
        "/ws/channels/99999999999999999999/",
        "/ws/",
        "/ws/channels/1/x/",
        "/ws/%00/",
        "/",
        "/ws/channels/" + "9" * 5000 + "/",
    ]
    headers = [
        good,
        good + cookie,
        good + [(b"cookie", b"sessionid=\x00junk")],
        [(b"origin", b"https://evil.example"), (b"host", b"127.0.0.1")] + cookie,
        [(b"host", b"\x00")],
    ]
    failures = []

    async def handshakes():
        for path in paths:
            for header in headers:
                communicator = WebsocketCommunicator(application, path, headers=header)
                try:
                    await communicator.connect()
                    # As a server does after a refused handshake too.
                    await communicator.disconnect()
                except Exception:
                    failures.append(f"handshake {path[:80]} {header}: {traceback.format_exc()}")

    async def frames():
        sent = 0
        while sent < WEBSOCKET_FRAMES:
            communicator = WebsocketCommunicator(
                application, f"/ws/channels/{channel.pk}/", headers=good + cookie
            )
            connected, _ = await communicator.connect()
            assert connected
            if rng.random() < 0.7:
                await communicator.send_json_to({"type": "hello"})
            closed = False
            for _ in range(40):
                text = junk_frame(rng)
                sent += 1
                try:
                    if rng.random() < 0.05:
                        await communicator.send_to(bytes_data=rng.randbytes(20))
                    else:
                        await communicator.send_to(text_data=text)
                    # receive_output's timeout would cancel the consumer: wait
                    # with receive_nothing, and read whatever came.
                    while not closed and not await communicator.receive_nothing(0.01, 0.002):
                        output = await communicator.receive_output()
                        if output["type"] == "websocket.close":
                            closed = True
                        elif '"server_error"' in output.get("text", ""):
                            failures.append(f"frame {text[:300]!r} got {output['text']}")
                except Exception:
                    failures.append(f"frame {text[:300]!r}: {traceback.format_exc()}")
                    closed = True
                if closed:
                    break
            # Also after the server closed: the consumer runs until it is told
            # the client went away.
            await communicator.disconnect()
        return sent

    async_to_sync(handshakes)()
    sent = async_to_sync(frames)()
    errors = [r.getMessage() for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    print(f"fuzz: {len(paths) * len(headers)} websocket handshakes, {sent} frames, seed {SEED}")
    assert not failures, "\n".join(failures[:20])
    assert errors == []

"""Authorization of every export page and download, for every role; the
invite-code sheet; key management pages."""

from __future__ import annotations

import datetime as dt
import getpass
import re
import socket
import subprocess
import tempfile

import pytest
from django.urls import reverse
from django.utils import timezone

from letters.models import LetterState
from organizing.models import AuditEntry
from petitions import services
from petitions.models import CampaignKey, Export, ExportStatus
from signatures.models import InviteCode
from tests.petitions.conftest import pdftotext
from tests.petitions.factories import make_letter

STAFF_OK = {"organizer", "delegate"}
ROLES = ["anonymous", "member", "delegate", "organizer", "other_organizer"]


def _expect(role: str, response, ok_status: int, *, organizer_only=False):
    allowed = {"organizer"} if organizer_only else STAFF_OK
    if role == "anonymous":
        assert response.status_code == 302
        assert "/accounts/login/" in response["Location"]
    elif role in allowed:
        assert response.status_code == ok_status, (role, response.status_code)
    else:
        assert response.status_code == 403, (role, response.status_code)


@pytest.mark.parametrize("role", ROLES)
def test_staff_pages_and_downloads(role, roles, exported, client_for):
    client = client_for(roles.users()[role])
    slug, pk = roles.campaign.slug, exported.pk
    _expect(role, client.get(reverse("petitions:list", args=[slug])), 200)
    _expect(role, client.get(reverse("petitions:keys", args=[slug])), 200)
    _expect(role, client.get(reverse("petitions:detail", args=[slug, pk])), 200)
    status = client.get(reverse("petitions:status", args=[slug, pk]))
    _expect(role, status, 200)
    if role in STAFF_OK:
        assert status.json()["status"] == "done" and status.json()["progress"] == 100
    for name in (
        "petition.pdf",
        "petition.pdf.asc",
        "manifest.json",
        "manifest.json.asc",
        "checkpoint.txt",
    ):
        response = client.get(reverse("petitions:download", args=[slug, pk, name]))
        _expect(role, response, 200)
        if role in STAFF_OK:
            assert response["Content-Disposition"].startswith("attachment")
            assert b"".join(response.streaming_content)
    _expect(role, client.get(reverse("petitions:download", args=[slug, pk, "nope.txt"])), 404)
    # Writes: a finished export cannot be cancelled (409); an empty delivery
    # form is a 400; no delivery yet, so no response (404).
    _expect(role, client.post(reverse("petitions:cancel", args=[slug, pk])), 409)
    _expect(role, client.post(reverse("petitions:deliver", args=[slug, pk]), {}), 400)
    _expect(role, client.post(reverse("petitions:response", args=[slug, pk]), {}), 404)
    _expect(role, client.post(reverse("petitions:list", args=[slug]), {"letter": "nope"}), 400)
    _expect(
        role, client.get(reverse("petitions:invite_sheet", args=[slug])), 200, organizer_only=True
    )
    if role == "anonymous":
        assert AuditEntry.objects.filter(action="export.cancel").count() == 0


@pytest.mark.parametrize("role", ROLES)
def test_public_pages_for_everyone(role, roles, exported, client_for):
    client = client_for(roles.users()[role])
    slug, pk = roles.campaign.slug, exported.pk
    assert client.get(reverse("petitions:verify", args=[slug])).status_code == 200
    assert client.get(reverse("petitions:verify_export", args=[slug, pk])).status_code == 200
    assert client.get(reverse("petitions:public_key", args=[slug])).status_code == 200
    for name, (_type, public) in services.FILES.items():
        response = client.get(reverse("petitions:public_download", args=[slug, pk, name]))
        if public:
            assert response.status_code == 200, name
            assert b"".join(response.streaming_content)
        else:
            assert response.status_code == 404
    # An export of campaign acme is unknown under campaign other.
    other = roles.other_campaign.slug
    assert client.get(reverse("petitions:verify_export", args=[other, pk])).status_code == 404


@pytest.mark.parametrize("role", ROLES)
def test_generating_the_campaign_key(role, roles, client_for):
    client = client_for(roles.users()[role])
    response = client.post(
        reverse("petitions:keys", args=[roles.campaign.slug]), {"action": "generate"}
    )
    _expect(role, response, 302, organizer_only=True)
    exists = CampaignKey.objects.filter(campaign=roles.campaign, active=True).exists()
    assert exists == (role == "organizer")


def user_ids(armored: str) -> list[str]:
    """The user ids of an OpenPGP key, as `gpg --list-packets` shows them."""
    with tempfile.TemporaryDirectory(prefix="uid-") as home:
        listed = subprocess.run(
            ["gpg", "--homedir", home, "--batch", "--list-packets"],
            input=armored.encode(),
            capture_output=True,
            check=True,
        ).stdout.decode()
    return re.findall(r'^:user ID packet: "(.*)"$', listed, re.M)


def test_the_published_key_names_no_server_account_or_host(roles, client_for, monkeypatch):
    """python-gnupg's default user id is $LOGNAME@hostname, which told anyone
    who fetched the key which account and machine the campaign runs on."""
    monkeypatch.setenv("LOGNAME", getpass.getuser())  # as systemd sets it for a service
    organizer = client_for(roles.organizer)
    organizer.post(reverse("petitions:keys", args=[roles.campaign.slug]), {"action": "generate"})
    response = client_for(None).get(reverse("petitions:public_key", args=[roles.campaign.slug]))
    assert response.status_code == 200
    uids = user_ids(response.content.decode())
    assert uids == ["Acme workers (acme) petitions (petition signing key)"]
    for uid in uids:
        assert "@" not in uid
        assert getpass.getuser() not in uid and socket.gethostname() not in uid


@pytest.mark.parametrize("role", ROLES)
def test_starting_an_export(role, roles, campaign_key, letter, client_for):
    client = client_for(roles.users()[role])
    response = client.post(
        reverse("petitions:list", args=[roles.campaign.slug]),
        {"letter": letter.slug, "paper": "A4"},
    )
    _expect(role, response, 302)
    started = letter.exports.count()
    assert started == (1 if role in STAFF_OK else 0)
    if role in STAFF_OK:
        export = letter.exports.get()
        assert response["Location"] == reverse(
            "petitions:detail", args=[roles.campaign.slug, export.pk]
        )


def test_an_export_whose_worker_died_says_when_it_resumes(roles, client_for, settings):
    """After a whole-worker crash the page showed "Rendering 22 %" for the
    broker's visibility timeout (22 minutes) with no hint."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 1320}
    export = Export.objects.create(
        letter=make_letter(roles.campaign),
        state_key="0" * 64,
        status=ExportStatus.RUNNING,
        progress=22,
    )
    client = client_for(roles.delegate)
    slug = roles.campaign.slug

    def notice(*, silent_for: int, started_ago: int) -> str:
        now = timezone.now()
        Export.objects.filter(pk=export.pk).update(
            progress_at=now - dt.timedelta(seconds=silent_for),
            started_at=now - dt.timedelta(seconds=started_ago),
        )
        page = client.get(reverse("petitions:detail", args=[slug, export.pk])).content.decode()
        status = client.get(reverse("petitions:status", args=[slug, export.pk])).json()
        if status["stall_notice"]:
            assert status["stall_notice"] in page
        else:
            assert "The worker stopped" not in page and "The render stopped" not in page
        return status["stall_notice"]

    assert notice(silent_for=20, started_ago=60) == ""  # still rendering
    # Silent for 3 minutes: Redis hands the task out again 1,320 s (plus
    # kombu's sweep, 100 s) after the worker took it.
    stalled = notice(silent_for=180, started_ago=180)
    assert "resume automatically within about 21 minutes" in stalled
    assert "visibility timeout of 22 minutes" in stalled
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
    stalled = notice(silent_for=180, started_ago=180)
    assert "within about 59 minutes" in stalled and "timeout of 60 minutes" in stalled
    # Past that time it should have resumed: someone has to look.
    assert "check that a Celery worker is running" in notice(silent_for=4000, started_ago=4000)
    # Rendered inside a web process (no broker), nothing retries it.
    settings.CELERY_TASK_ALWAYS_EAGER = True
    assert "will not resume by itself" in notice(silent_for=180, started_ago=180)
    Export.objects.filter(pk=export.pk).update(status=ExportStatus.FAILED)
    assert notice(silent_for=180, started_ago=180) == ""


def test_export_form_errors_are_400(roles, letter, client_for):
    client = client_for(roles.delegate)
    url = reverse("petitions:list", args=[roles.campaign.slug])
    response = client.post(url, {"letter": letter.slug, "paper": "A4"})
    assert response.status_code == 400
    assert "no OpenPGP key" in response.content.decode()
    response = client.post(url, {"letter": letter.slug, "paper": "A0"})
    assert response.status_code == 400


def test_key_pages_refuse_bad_keys_with_400(roles, client_for):
    url = reverse("petitions:keys", args=[roles.campaign.slug])
    organizer = client_for(roles.organizer)
    response = organizer.post(url, {"action": "import", "armored": "not a key"})
    assert response.status_code == 400
    assert "ASCII-armored secret key" in response.content.decode()
    response = organizer.post(
        url,
        {
            "action": "import",
            "armored": "-----BEGIN PGP PRIVATE KEY BLOCK-----",
            "passphrase": "a\nb",
        },
    )
    assert response.status_code == 400
    assert "line breaks" in response.content.decode()
    delegate = client_for(roles.delegate)
    response = delegate.post(url, {"action": "delegate_key", "armored": "hello"})
    assert response.status_code == 400
    response = delegate.post(url, {"action": "import", "armored": "x"})
    assert response.status_code == 403
    assert delegate.post(url, {"action": "what"}).status_code == 400


@pytest.mark.parametrize("role", ROLES)
def test_invite_sheet(role, roles, client_for):
    from signatures.services.eligibility import invite_code_hmac, invite_code_normalize

    letter = make_letter(roles.campaign, slug="sign-me", state=LetterState.OPEN)
    client = client_for(roles.users()[role])
    url = reverse("petitions:invite_sheet", args=[roles.campaign.slug])
    response = client.post(
        url, {"letter": letter.slug, "count": 3, "batch": "night shift", "paper": "A4"}
    )
    _expect(role, response, 200, organizer_only=True)
    if role != "organizer":
        assert InviteCode.objects.count() == 0
        return
    assert response["Content-Type"] == "application/pdf"
    text = pdftotext(response.content, layout=False)
    codes = set(re.findall(r"\b[0-9A-Z]{4}(?:-[0-9A-Z]{4}){3}\b", text))
    assert len(codes) == 3
    flat = "".join(text.split())
    sign_url = reverse("signatures:sign", args=[letter.slug])
    for code in codes:
        assert f"{sign_url}#invite={code}" in flat
    stored = set(
        InviteCode.objects.filter(campaign=roles.campaign, batch="night shift").values_list(
            "code_hmac", flat=True
        )
    )
    assert {invite_code_hmac(invite_code_normalize(c)) for c in codes} == stored
    assert AuditEntry.objects.filter(action="invite_sheet.print").count() == 1
    # Bad input is a 400 and creates nothing.
    assert client.post(url, {"letter": letter.slug, "count": 0}).status_code == 400
    assert client.post(url, {"letter": "nope", "count": 2}).status_code == 400
    assert InviteCode.objects.count() == 3


def test_qr_code_is_inline_svg():
    from petitions.render import qr_svg

    svg = qr_svg("https://example.org/letters/x/sign/#invite=ABCD-EFGH")
    assert svg.startswith("<svg") and "<path" in svg


def test_public_verification_posts_are_rate_limited(roles, client):
    """Anyone may check a PDF, but not without limit: each check hashes an
    upload and runs gpg. The 21st post within a minute gets a 429."""
    url = f"/c/{roles.campaign.slug}/verify/"
    statuses = [client.post(url, {"sha256": "not a hash"}).status_code for _ in range(21)]
    assert statuses[:20] == [400] * 20
    assert statuses[20] == 429
    assert "Too many requests" in client.post(url, {"sha256": "x"}).content.decode()


@pytest.fixture
def unbound_export(roles, campaign_key, django_capture_on_commit_callbacks):
    """A format 1 export: its letter's signatures predate the site's logs."""
    from tests.petitions.conftest import run_export
    from tests.petitions.factories import make_signatures

    letter = make_letter(roles.campaign, slug="before-logs", logged=False)
    make_signatures(letter, 3, start_index=1000)  # receipts unlike the `letter` fixture's
    export, _ = run_export(django_capture_on_commit_callbacks, actor=roles.delegate, letter=letter)
    assert export.status == "done" and export.manifest_format == 1, export.error
    return export


@pytest.mark.parametrize("role", ROLES)
def test_the_checkpoint_download_for_every_role(role, roles, exported, unbound_export, client_for):
    """checkpoint.txt: public for a log-bound export (its page links it), to
    staff on the export page; an export of format 1 has none (404)."""
    client = client_for(roles.users()[role])
    slug = roles.campaign.slug
    public = client.get(
        reverse("petitions:public_download", args=[slug, exported.pk, "checkpoint.txt"])
    )
    assert public.status_code == 200
    assert b"".join(public.streaming_content).decode() == exported.log_checkpoint
    staff = client.get(reverse("petitions:download", args=[slug, exported.pk, "checkpoint.txt"]))
    _expect(role, staff, 200)
    if role in STAFF_OK:
        assert b"".join(staff.streaming_content).decode() == exported.log_checkpoint
    for view in ("petitions:public_download", "petitions:download"):
        url = reverse(view, args=[slug, unbound_export.pk, "checkpoint.txt"])
        response = client.get(url)
        if view == "petitions:public_download":
            assert response.status_code == 404
        else:
            _expect(role, response, 404)
    page = client.get(reverse("petitions:verify_export", args=[slug, unbound_export.pk]))
    assert page.status_code == 200 and "binds no transparency log" in page.content.decode()
    # The other campaign's pages know neither export.
    other = roles.other_campaign.slug
    for export in (exported, unbound_export):
        url = reverse("petitions:public_download", args=[other, export.pk, "checkpoint.txt"])
        assert client.get(url).status_code == 404

"""clients/sign.py, run as a program (isolated Python, outside the project),
against the live server: invite and email codes, the refusals, and the
per-person key attack through a site that lies to it.

Every request goes through `site` (tests/clients/support.Site), which
forwards to the live server and records what the client sent."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import stat
import subprocess
import time

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.core import mail
from django.db import transaction
from django.test import Client

from letters.models import LetterState, Visibility
from signatures import keys, tlog
from signatures.models import Attestation, EmailCode, Issuance, LogCheckpoint, Signature
from signatures.services.eligibility import invite_codes_create
from signatures.services.log import log_append
from tests.clients.support import (
    Site,
    client_command,
    client_env,
    go_signer_key,
    letter_entry,
    publish,
    run_client,
    spki_der,
)
from tests.signatures.factories import open_letter
from tests.support.factories import CampaignFactory

pytestmark = pytest.mark.django_db(transaction=True)

SLUG = "stop-logging"
RECEIPT = f"receipt-{SLUG}.json"


@pytest.fixture
def campaign():
    campaign = CampaignFactory(slug="acme", allowed_domains=["example.com"])
    Attestation.objects.create(campaign=campaign, text="I work here", position=0)
    Attestation.objects.create(campaign=campaign, text="I am not a manager", position=1)
    return campaign


@pytest.fixture
def site(live_server):
    site = Site(upstream=live_server.url).start()
    yield site
    site.stop()


@pytest.fixture
def letter(campaign):
    """An open letter, with its issuer key and its log (entry 0 and the
    first checkpoint), as opening a letter makes them."""
    return open_letter(campaign, slug=SLUG, title="Stop keystroke logging")


def issuer_public_key(letter):
    return serialization.load_pem_public_key(letter.issuer_key.public_key_pem.encode())


def latest_checkpoint(home, name="seen-elsewhere.txt"):
    """The log's checkpoint now, saved as someone else (a colleague, a
    journalist) would."""
    response = Client().get(f"/log/{SLUG}/checkpoint")
    assert response.status_code == 200
    path = home / name
    path.write_bytes(response.content)
    return path


def grow_log(letter, count: int) -> None:
    """Append `count` signature entries to the letter's log, as a batch seal
    does (the tokens are random: only the tree matters here)."""
    entries = [
        tlog.signature_entry(
            token=secrets.token_bytes(115),
            signature=secrets.token_bytes(256),
            fields_sha256=hashlib.sha256(str(i).encode()).hexdigest(),
        )
        for i in range(count)
    ]
    with transaction.atomic():
        log_append(letter=letter, entries=sorted(entries))


def key_of_your_own():
    """A fresh issuer key, and an edit of the letter API's answer that hands
    it out in place of the letter's."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()

    def edit(answer):
        issuer = {**answer["issuer"], "public_key_pem": pem}
        issuer["key_id"] = hashlib.sha256(spki_der(key)).hexdigest()
        return {**answer, "issuer": issuer}

    return key, edit


@pytest.fixture
def home(tmp_path):
    """The signer's current directory, outside the project."""
    path = tmp_path / "home"
    path.mkdir()
    return path


def invite_code(campaign) -> str:
    (code,) = invite_codes_create(actor=None, campaign=campaign, count=1)
    return code


def sign(site, *args, cwd, stdin=""):
    return run_client(
        site.url, SLUG, "--affirm", "--pseudonym", "Quiet Heron 7", *args, cwd=cwd, stdin=stdin
    )


def posts(site) -> list[str]:
    return [seen.path.split("?")[0] for seen in site.seen if seen.method == "POST"]


def test_signs_with_an_invite_code_and_keeps_the_receipt(site, letter, campaign, home):
    result = sign(site, "--invite", invite_code(campaign), "--department", "Legal", cwd=home)
    assert result.returncode == 0, result.stderr
    assert "is entry 0 of the letter's log" in result.stderr

    signature = Signature.objects.get()
    assert (signature.pseudonym, signature.department) == ("Quiet Heron 7", "Legal")
    assert Issuance.objects.count() == 1

    # The receipt, readable by the signer only, and good for the receipt API.
    path = home / RECEIPT
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    record = json.loads(path.read_text())
    status = Client().post(
        "/api/v1/receipts/status", {"receipt": record["receipt"]}, content_type="application/json"
    )
    assert status.status_code == 200 and status.json()["status"] == "counted"
    # The checkpoint the client verified before signing: the log held only
    # entry 0 then (the signature was sealed into it afterwards).
    checked = LogCheckpoint.objects.get(letter__slug=SLUG, tree_size=1)
    assert record["checkpoint"] == checked.note
    assert record["checkpoint"].startswith(f"{letter.log.origin}\n1\n")

    # Interop: the token the client blinded and unblinded is the one the
    # server spent, and its signature verifies with cryptography's RSA-PSS
    # under the letter's key.
    token = base64.urlsafe_b64decode(record["token"] + "==")
    token_signature = base64.urlsafe_b64decode(record["signature"] + "==")
    assert hashlib.sha256(token).hexdigest() == signature.token_hash
    issuer_public_key(letter).verify(
        token_signature,
        token,
        padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48),
        hashes.SHA384(),
    )

    # No request carried a cookie; the token and the signature went to
    # their own endpoints.
    assert all("Cookie" not in seen.headers for seen in site.seen)
    assert posts(site) == [f"/api/v1/letters/{SLUG}/tokens", f"/api/v1/letters/{SLUG}/signatures"]


def test_signs_with_an_email_code_typed_on_standard_input(site, letter, home):
    process = subprocess.Popen(
        client_command(
            site.url, SLUG, "--email", "Ann@Example.com", "--affirm", "--pseudonym", "Ann"
        ),
        cwd=home,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=client_env(),
    )
    try:
        deadline = time.monotonic() + 60
        while not mail.outbox and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        assert mail.outbox, "no code was mailed"
        (message,) = mail.outbox
        assert message.to == ["ann@example.com"]
        code = "".join(re.search(r"Your code: (\d{4}) (\d{4})", message.body).groups())
        _, stderr = process.communicate(code + "\n", timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert "The code from the email:" in stderr
    assert Signature.objects.get().pseudonym == "Ann"
    assert not EmailCode.objects.exists()  # used, so deleted
    assert json.loads((home / RECEIPT).read_text())["receipt"]


def test_the_same_person_cannot_sign_twice(site, letter, campaign, home):
    code = invite_code(campaign)
    assert sign(site, "--invite", code, cwd=home).returncode == 0
    again = sign(site, "--invite", code, "--receipt-file", "second.json", cwd=home)
    assert again.returncode == 1
    assert "409" in again.stderr and "Each person signs once" in again.stderr
    assert Signature.objects.count() == 1
    assert not (home / "second.json").exists()  # nothing spent, nothing kept


def test_a_wrong_invite_code_is_refused(site, letter, campaign, home):
    invite_code(campaign)
    result = sign(site, "--invite", "AAAA-BBBB-CCCC-DDDD", cwd=home)
    assert result.returncode == 1
    assert "403" in result.stderr and "invite code is not valid" in result.stderr
    assert not Issuance.objects.exists() and not Signature.objects.exists()
    assert not (home / RECEIPT).exists()


def test_a_wrong_email_code_is_refused(site, letter, home):
    result = sign(site, "--email", "bob@example.com", cwd=home, stdin="00000000\n")
    assert len(mail.outbox) == 1
    assert result.returncode == 1 and "403" in result.stderr, result.stderr
    assert not Issuance.objects.exists() and not Signature.objects.exists()
    assert not (home / RECEIPT).exists()


def test_an_address_outside_the_campaigns_domains_gets_no_code(site, letter, home):
    result = sign(site, "--email", "bob@personal.test", cwd=home, stdin="12345678\n")
    assert result.returncode == 1 and "400" in result.stderr
    assert mail.outbox == [] and not Issuance.objects.exists()


@pytest.mark.parametrize("state", [LetterState.CLOSED, LetterState.DELIVERED])
def test_a_letter_that_is_not_open_is_refused(site, letter, campaign, home, state):
    letter.state = state
    letter.save()
    result = sign(site, "--invite", invite_code(campaign), cwd=home)
    assert result.returncode == 1
    assert "is not open for signatures" in result.stderr
    assert posts(site) == [] and not Issuance.objects.exists()


def test_a_draft_is_not_found(site, letter, home):
    letter.state = LetterState.DRAFT
    letter.save()
    result = sign(site, "--invite", "X", cwd=home)
    assert result.returncode == 1 and "404" in result.stderr


def test_a_key_of_your_own_is_refused_before_anything_is_sent(site, letter, campaign, home):
    """The per-person key attack: the site hands this signer an issuer key of
    its own (which would let it recognise the signature later), while the
    log's entry 0 names the letter's key. The client refuses before it asks
    for a code or a token; the same invite code then signs honestly."""
    mine, edit = key_of_your_own()
    der = spki_der(mine)
    site.letter_edits.append(edit)
    code = invite_code(campaign)
    for proof in (["--invite", code], ["--email", "ann@example.com"]):
        result = sign(site, *proof, cwd=home)
        assert result.returncode == 3, result.stderr
        assert "REFUSING TO SIGN" in result.stderr
        assert "entry 0 names another issuer key" in result.stderr
        assert f"given to you:         key id {hashlib.sha256(der).hexdigest()}" in result.stderr
        assert f"key id {letter.issuer_key.key_id}" in result.stderr
    assert posts(site) == [] and mail.outbox == []
    assert not Issuance.objects.exists() and not (home / RECEIPT).exists()

    site.letter_edits.remove(edit)
    assert sign(site, "--invite", code, cwd=home).returncode == 0


def test_signs_against_a_log_of_many_entries_and_an_older_checkpoint(site, letter, campaign, home):
    """Entry 0 found in the server's own tiles (three levels, partial tiles)
    and in the tree of a checkpoint someone saw when the log was younger."""
    older = latest_checkpoint(home)
    grow_log(letter, 600)
    grow_log(letter, 70)
    result = sign(site, "--invite", invite_code(campaign), "--checkpoint", str(older), cwd=home)
    assert result.returncode == 0, result.stderr
    fetched = {seen.path for seen in site.seen if seen.path.startswith(f"/log/{SLUG}/")}
    assert f"/log/{SLUG}/tile/0/000" in fetched  # 671 = 2 * 256 + 159 entries
    assert f"/log/{SLUG}/tile/0/002.p/159" in fetched
    assert f"/log/{SLUG}/tile/1/000.p/2" in fetched
    assert f"/log/{SLUG}/tile/entries/000" in fetched
    assert json.loads((home / RECEIPT).read_text())["checkpoint"].split("\n")[1] == "671"


def test_a_log_of_your_own_under_the_logs_key_is_refused_with_someone_elses_checkpoint(
    site, letter, campaign, home, golog, tmp_path
):
    """The operator holds the log's key: for one signer it hands out a key of
    its own AND a whole log of its own, whose entry 0 names that key, signed
    with the log's real key (published here by Go's sumdb packages). A
    checkpoint of the real log that someone else saved exposes it."""
    grow_log(letter, 30)
    elsewhere = latest_checkpoint(home)
    mine, edit = key_of_your_own()
    log = letter.log
    log_key = keys.decrypt_log_key(
        log.private_key_encrypted, letter_id=letter.pk, public_key=bytes(log.public_key)
    )
    fork = publish(
        golog,
        tmp_path / "fork",
        origin=log.origin,
        entries=[letter_entry(text_sha256=letter.text_hash, public_key=mine)]
        + [
            tlog.signature_entry(token=b"t%d" % i, signature=b"s", fields_sha256="0" * 64)
            for i in range(40)
        ],
        signer_key=go_signer_key(log.origin, log_key),
        verifier_key=log.verifier_key,
    )
    assert fork.checkpoint().endswith("\n") and "\n41\n" in fork.checkpoint()
    site.log_dirs[SLUG] = fork.directory
    site.letter_edits.append(edit)

    result = sign(
        site,
        "--invite",
        invite_code(campaign),
        "--log-key",
        log.verifier_key,
        "--checkpoint",
        str(elsewhere),
        cwd=home,
    )
    assert result.returncode == 3, result.stderr
    assert "not the one in the checkpoint you gave" in result.stderr
    assert posts(site) == [] and not Issuance.objects.exists()
    # The fork's own checkpoint does verify with the real log key: the
    # refusal came from the checkpoint seen elsewhere, nothing else.
    assert tlog.open_note(fork.checkpoint(), log.verifier_key)


def test_a_log_key_other_than_the_pinned_one_is_refused(site, letter, campaign, home):
    pinned = "someone.example/letters/stop-logging+00000000+AQ" + "A" * 42
    result = sign(site, "--invite", invite_code(campaign), "--log-key", pinned, cwd=home)
    assert result.returncode == 3 and "not the one you pinned" in result.stderr
    assert posts(site) == []


def test_a_letter_without_a_log_is_refused(site, letter, campaign, home):
    site.letter_edits.append(lambda answer: {k: v for k, v in answer.items() if k != "log"})
    result = sign(site, "--invite", invite_code(campaign), cwd=home)
    assert result.returncode == 3 and "publishes no transparency log" in result.stderr
    assert posts(site) == []


def test_an_unlisted_letter_is_signed_with_its_link_key(site, letter, campaign, home):
    letter.visibility = Visibility.UNLISTED
    letter.save()
    without = sign(site, "--invite", invite_code(campaign), cwd=home)
    assert without.returncode == 1 and "404" in without.stderr
    site.seen.clear()
    result = sign(site, "--invite", invite_code(campaign), "--key", letter.unlisted_token, cwd=home)
    assert result.returncode == 0, result.stderr
    assert all(f"key={letter.unlisted_token}" in seen.path for seen in site.seen)
    assert any(seen.path.startswith(f"/log/{SLUG}/tile/") for seen in site.seen)


def test_a_random_delay_then_a_stop_then_resume(site, letter, campaign, home):
    """With --delay the token waits in the receipt file; a client stopped
    meanwhile loses nothing: --resume sends the kept token."""
    process = subprocess.Popen(
        client_command(
            site.url,
            SLUG,
            "--invite",
            invite_code(campaign),
            "--affirm",
            "--pseudonym",
            "Patient Owl",
            "--delay",
            "600",
        ),
        cwd=home,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=client_env(),
    )
    try:
        lines = []
        for line in process.stderr:
            lines.append(line)
            if line.startswith("Waiting"):
                break
        assert any(line.startswith("Waiting") for line in lines), "".join(lines)
    finally:
        process.kill()
        process.wait(timeout=30)
        process.stderr.close()
    pending = json.loads((home / RECEIPT).read_text())
    assert pending["token"] and "receipt" not in pending
    assert Issuance.objects.count() == 1 and not Signature.objects.exists()

    result = run_client(site.url, SLUG, "--resume", cwd=home)
    assert result.returncode == 0, result.stderr
    assert Signature.objects.get().pseudonym == "Patient Owl"
    record = json.loads((home / RECEIPT).read_text())
    assert record["receipt"] and record["token"] == pending["token"]
    again = run_client(site.url, SLUG, "--resume", cwd=home)
    assert again.returncode == 1 and "nothing to resume" in again.stderr
    # A spent token sent again (the receipt removed from the file) is
    # refused by the server.
    (home / RECEIPT).write_text(json.dumps({**pending, "checkpoint": record["checkpoint"]}))
    spent = run_client(site.url, SLUG, "--resume", cwd=home)
    assert spent.returncode == 1 and "409" in spent.stderr, spent.stderr
    assert Signature.objects.count() == 1


def test_a_short_delay_is_waited(site, letter, campaign, home):
    result = sign(site, "--invite", invite_code(campaign), "--delay", "1", cwd=home)
    assert result.returncode == 0, result.stderr
    assert re.search(r"Waiting [01] seconds", result.stderr)


def test_a_refused_signature_keeps_the_token_for_resume(site, letter, campaign, home):
    result = sign(site, "--invite", invite_code(campaign), "--comment", "x" * 1001, cwd=home)
    assert result.returncode == 1 and "400" in result.stderr and "--resume" in result.stderr
    assert not Signature.objects.exists()
    fixed = run_client(site.url, SLUG, "--resume", "--comment", "Enough.", cwd=home)
    assert fixed.returncode == 0, fixed.stderr
    assert Signature.objects.get().comment == "Enough."


def test_plain_http_to_another_host_is_refused(home):
    result = run_client("http://organizing.example", SLUG, cwd=home)
    assert result.returncode == 2 and "https://" in result.stderr


def test_a_letter_name_that_is_not_a_slug_is_refused(home):
    result = run_client("https://organizing.example", "../receipts/status", cwd=home)
    assert result.returncode == 2 and "letter's name" in result.stderr

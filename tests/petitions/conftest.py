"""Fixtures of the petition export tests."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from django.conf import settings

from petitions import openpgp, services
from tests.petitions.factories import make_issuances, make_letter, make_signatures


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _stop_gpg_agents():
    """Each test has its own DATA_DIR keyring; stop its gpg-agent afterwards."""
    yield
    path = Path(settings.DATA_DIR) / "gnupg"
    if path.exists():
        home = Path(openpgp.short_home(path))
        openpgp.kill_agent(home)
        if home.is_symlink():  # the private /tmp/og-* link made for a long DATA_DIR
            home.unlink()
            home.parent.rmdir()


@pytest.fixture
def campaign_key(roles):
    return services.campaign_key_generate(actor=roles.organizer, campaign=roles.campaign)


@pytest.fixture
def letter(roles):
    """A closed letter with 40 signatures: 12 in a department below k, 3 named
    with their threshold met, 2 named whose threshold is not met."""
    letter = make_letter(roles.campaign)
    make_signatures(letter, 25)
    make_signatures(letter, 12, start_index=25, department="Tiny team", location="Lisbon")
    make_signatures(letter, 1, start_index=37, department="Secret lab", location="Attic")
    make_signatures(letter, 1, start_index=38, public_name="Alice Shown", reveal_at=None)
    make_signatures(letter, 1, start_index=39, public_name="Bob Shown", reveal_at=10)
    make_signatures(letter, 1, start_index=40, public_name="Carol Hidden", reveal_at=1000)
    make_signatures(letter, 1, start_index=41, public_name="Dave Hidden", reveal_at=43)
    make_signatures(letter, 1, start_index=42, pseudonym="withdrawn-one", withdrawn=True)
    make_issuances(letter, 50)
    return letter


def run_export(django_capture_on_commit_callbacks, *, actor, letter, **kwargs):
    with django_capture_on_commit_callbacks(execute=True):
        export, created = services.export_start(actor=actor, letter=letter, **kwargs)
    export.refresh_from_db()
    return export, created


@pytest.fixture
def exported(roles, campaign_key, letter, django_capture_on_commit_callbacks):
    export, _created = run_export(
        django_capture_on_commit_callbacks, actor=roles.delegate, letter=letter
    )
    assert export.status == "done", export.error
    return export


@pytest.fixture
def gpg_verify():
    """gpg_verify(public_key, signature, data) -> (ok, output), with the real
    gpg in a fresh GNUPGHOME that holds only the exported public key."""
    homes = []

    def verify(public_key: str, signature: bytes | str, data: bytes):
        home = tempfile.mkdtemp(prefix="gv-")
        homes.append(home)
        subprocess.run(
            ["gpg", "--homedir", home, "--batch", "--import"],
            input=public_key.encode(),
            check=True,
            capture_output=True,
        )
        sig = Path(home) / "data.asc"
        sig.write_bytes(signature.encode() if isinstance(signature, str) else signature)
        dat = Path(home) / "data"
        dat.write_bytes(data)
        result = subprocess.run(
            ["gpg", "--homedir", home, "--batch", "--status-fd", "1", "--verify", sig, dat],
            capture_output=True,
            text=True,
        )
        return result.returncode == 0, result.stdout + result.stderr

    yield verify
    for home in homes:
        openpgp.kill_agent(home)
        shutil.rmtree(home, ignore_errors=True)


def pdftotext(data: bytes, *, layout: bool = True) -> str:
    with tempfile.NamedTemporaryFile(suffix=".pdf") as handle:
        handle.write(data)
        handle.flush()
        args = ["pdftotext", *(["-layout"] if layout else []), handle.name, "-"]
        out = subprocess.run(args, check=True, capture_output=True)
    return out.stdout.decode()

"""The python-gnupg wrapper against the real gpg binary."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest

from petitions import openpgp


@pytest.fixture
def keyring(tmp_path):
    # A deliberately long path: the agent socket must still work.
    ring = openpgp.Keyring(tmp_path / ("long-directory-name-" * 5) / "gnupg")
    yield ring
    ring.kill_agent()
    home = Path(ring.home)
    if home.is_symlink():
        home.unlink()
        home.parent.rmdir()


def test_agent_never_caches_and_trust_is_pinned(keyring):
    agent_conf = (keyring.path / "gpg-agent.conf").read_text()
    assert "default-cache-ttl 0" in agent_conf
    assert "max-cache-ttl 0" in agent_conf
    gpg_conf = (keyring.path / "gpg.conf").read_text()
    assert "trust-model direct" in gpg_conf
    assert "always" not in gpg_conf
    assert len(keyring.home) + len("/S.gpg-agent.browser") <= 107
    assert len(str(keyring.path)) > 107  # the symlink was needed


def test_sign_and_verify_with_real_gpg(keyring, gpg_verify):
    fingerprint = keyring.generate(name="Acme workers")
    assert len(fingerprint) == 40
    signature = keyring.sign_detached(b"the petition", fingerprint=fingerprint)
    public = keyring.export_public(fingerprint)
    ok, output = gpg_verify(public, signature, b"the petition")
    assert ok, output
    assert f"VALIDSIG {fingerprint}" in output
    ok, output = gpg_verify(public, signature, b"the petition!")
    assert not ok
    assert "BADSIG" in output


def test_a_name_cannot_add_key_parameters(keyring):
    """The name goes into gpg's parameter file: a line break in it must not
    start a parameter of its own (here, an email address)."""
    fingerprint = keyring.generate(name="Acme\nName-Email: boss@employer.test\r\n%commit")
    (key,) = keyring.gpg.list_keys(keys=[fingerprint])
    assert key["uids"] == ["Acme Name-Email: boss@employer.test %commit (petition signing key)"]


def test_verification_is_pinned_to_the_expected_fingerprint(keyring):
    first = keyring.generate(name="Campaign one")
    second = keyring.generate(name="Campaign two")
    signature = keyring.sign_detached(b"data", fingerprint=first)
    assert keyring.verify_detached(b"data", signature, fingerprint=first).valid
    # A perfectly valid signature by another key of the keyring does not count.
    check = keyring.verify_detached(b"data", signature, fingerprint=second)
    assert not check.valid
    assert check.fingerprint == first
    assert not keyring.verify_detached(b"data", "garbage", fingerprint=first).valid


@pytest.mark.parametrize("bad", ["one\ntwo", "one\rtwo", "nul\x00byte"])
def test_passphrases_with_line_breaks_are_refused(keyring, bad):
    with pytest.raises(openpgp.KeyRejected):
        keyring.sign_detached(b"x", fingerprint="0" * 40, passphrase=bad)
    with pytest.raises(openpgp.KeyRejected):
        keyring.import_signing_key("-----BEGIN PGP PRIVATE KEY BLOCK-----", passphrase=bad)


def _subkey_export(passphrase: str) -> tuple[str, str, str]:
    """An offline primary key with a signing subkey; returns (fpr, armored
    secret subkey export, home)."""
    home = tempfile.mkdtemp(prefix="org-")
    base = [
        "gpg",
        "--homedir",
        home,
        "--batch",
        "--pinentry-mode",
        "loopback",
        "--passphrase",
        passphrase,
    ]
    subprocess.run(
        [*base, "--quick-gen-key", "Organizer <org@example.org>", "ed25519", "cert", "never"],
        check=True,
        capture_output=True,
    )
    listing = subprocess.run(
        ["gpg", "--homedir", home, "--batch", "--with-colons", "--list-keys"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    fpr = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr"))
    subprocess.run(
        [*base, "--quick-add-key", fpr, "ed25519", "sign", "never"], check=True, capture_output=True
    )
    armored = subprocess.run(
        [*base, "--armor", "--export-secret-subkeys", fpr],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return fpr, armored, home


def test_import_signing_subkey_with_passphrase(keyring, gpg_verify):
    fpr, armored, home = _subkey_export("correct horse")
    try:
        with pytest.raises(openpgp.KeyRejected):
            keyring.import_signing_key(armored, passphrase="wrong")
        assert keyring.import_signing_key(armored, passphrase="correct horse") == fpr
        signature = keyring.sign_detached(b"x", fingerprint=fpr, passphrase="correct horse")
        assert keyring.verify_detached(b"x", signature, fingerprint=fpr).valid
        ok, output = gpg_verify(keyring.export_public(fpr), signature, b"x")
        assert ok, output
        # No passphrase is cached by the agent: signing without it fails.
        with pytest.raises(openpgp.OpenPGPError):
            keyring.sign_detached(b"x", fingerprint=fpr, passphrase="")
    finally:
        openpgp.kill_agent(home)


def test_import_refuses_public_keys_and_garbage(keyring):
    with pytest.raises(openpgp.KeyRejected):
        keyring.import_signing_key("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nxx\n")
    with pytest.raises(openpgp.KeyRejected):
        keyring.import_signing_key(
            "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nnot a key\n"
            "-----END PGP PRIVATE KEY BLOCK-----"
        )


def test_public_key_info_and_hidden_recipient_encryption(tmp_path):
    home = tempfile.mkdtemp(prefix="dk-")
    try:
        subprocess.run(
            [
                "gpg",
                "--homedir",
                home,
                "--batch",
                "--passphrase",
                "",
                "--quick-gen-key",
                "Delegate <d@example.org>",
                "ed25519",
                "default",
                "never",
            ],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [
                "gpg",
                "--homedir",
                home,
                "--batch",
                "--passphrase",
                "",
                "--quick-add-key",
                subprocess.run(
                    ["gpg", "--homedir", home, "--with-colons", "--list-keys"],
                    capture_output=True,
                    text=True,
                ).stdout.split("fpr:::::::::")[1][:40],
                "cv25519",
                "encr",
                "never",
            ],
            check=True,
            capture_output=True,
        )
        public = subprocess.run(
            ["gpg", "--homedir", home, "--armor", "--export"], capture_output=True, text=True
        ).stdout
        info = openpgp.public_key_info(public)
        assert len(info["fingerprint"]) == 40
        ciphertext = openpgp.encrypt_to(b"%PDF-secret", [(info["fingerprint"], public)])
        listing = subprocess.run(
            ["gpg", "--homedir", home, "--batch", "--list-packets"],
            input=ciphertext,
            capture_output=True,
        )
        assert b"keyid 0000000000000000" in listing.stdout + listing.stderr  # hidden recipient
        plain = subprocess.run(
            [
                "gpg",
                "--homedir",
                home,
                "--batch",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
                "--try-all-secrets",
                "--decrypt",
            ],
            input=ciphertext,
            capture_output=True,
        )
        assert plain.stdout == b"%PDF-secret", plain.stderr
        with pytest.raises(openpgp.KeyRejected):
            openpgp.public_key_info("-----BEGIN PGP PRIVATE KEY BLOCK-----\n")
        with pytest.raises(openpgp.KeyRejected):
            openpgp.public_key_info("hello")
    finally:
        openpgp.kill_agent(home)
        Path(home).exists()

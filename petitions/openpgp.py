"""A small, strict wrapper around python-gnupg and the real `gpg` binary.

One dedicated keyring directory (``DATA_DIR/gnupg``) holds the campaigns'
signing keys. Rules enforced here, because python-gnupg happily returns an
empty result without raising:

- every result's status, validity and fingerprint is checked;
- trust is pinned by fingerprint: ``trust-model direct`` and an ownertrust set
  only for campaign keys we generated or imported; verification additionally
  demands the *expected* primary fingerprint, so no other key in the keyring
  can stand in for a campaign's key;
- gpg-agent caches no passphrase (``default-cache-ttl 0``, ``max-cache-ttl 0``);
- passphrases containing line breaks or NUL are refused (python-gnupg writes
  the passphrase followed by a newline to gpg's stdin);
- the agent socket lives in the home directory and Unix socket paths are
  limited to ~108 bytes, so a long ``DATA_DIR`` is reached through a short
  private symlink under ``/tmp``.

A generated campaign key is ed25519 without a passphrase: the server must sign
unattended, and a passphrase stored next to the keyring would add nothing.
Protect the data folder (file permissions, encrypted volume) instead.
Organizers who want their primary key offline import a signing subkey only
(``gpg --export-secret-subkeys FPR!``); its passphrase, if any, is kept
encrypted with a key derived from SECRET_KEY.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import gnupg
from django.conf import settings
from django.utils.translation import gettext as _

from core.errors import AppError

GPG_BINARY = "/usr/bin/gpg"
GPGCONF_BINARY = "/usr/bin/gpgconf"
# Longest socket name gpg-agent creates in its home directory, plus the slash.
_SOCKET_SUFFIX = len("/S.gpg-agent.browser")
_UNIX_PATH_MAX = 107

GPG_CONF = """\
# Written by the organizing platform; do not edit.
trust-model direct
no-auto-key-retrieve
no-auto-key-locate
no-greeting
no-emit-version
personal-digest-preferences SHA512 SHA384 SHA256
cert-digest-algo SHA512
"""
AGENT_CONF = """\
# Written by the organizing platform: never cache a passphrase.
default-cache-ttl 0
max-cache-ttl 0
allow-loopback-pinentry
"""

MAX_PASSPHRASE = 1000
MAX_KEY_BYTES = 200_000


class OpenPGPError(AppError):
    """A gpg operation failed or returned something we did not expect."""

    status, code = 500, "openpgp_failed"


class KeyRejected(OpenPGPError):
    """Key material a user supplied is not acceptable (message is for them)."""

    status, code = 400, "key_rejected"


def check_passphrase(passphrase: str | None) -> None:
    if passphrase is None or passphrase == "":
        return
    if any(ch in passphrase for ch in "\r\n\x00"):
        raise KeyRejected(_("A passphrase cannot contain line breaks."))
    if len(passphrase) > MAX_PASSPHRASE:
        raise KeyRejected(_("This passphrase is too long."))


def _batch_value(text: str) -> str:
    """A value for one line of gpg's batch key-generation parameters: a line
    break or other control character would start a parameter of its own."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


def normalize_fingerprint(value: str) -> str:
    return "".join(value.split()).upper()


def keyring_dir() -> Path:
    return Path(settings.DATA_DIR) / "gnupg"


def _prepare_home(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    for name, text in (("gpg.conf", GPG_CONF), ("gpg-agent.conf", AGENT_CONF)):
        conf = path / name
        if not conf.exists() or conf.read_text() != text:
            conf.write_text(text)
            os.chmod(conf, 0o600)


def short_home(path: Path) -> str:
    """A path to `path` short enough for gpg-agent's sockets.

    Long paths get a symlink inside a private (0700, owned by us) directory
    under /tmp whose name is derived from the real path.
    """
    path = path.resolve()
    if len(str(path)) + _SOCKET_SUFFIX <= _UNIX_PATH_MAX:
        return str(path)
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:16]
    parent = Path(tempfile.gettempdir()) / f"og-{os.getuid()}-{digest}"
    try:
        parent.mkdir(mode=0o700)
    except FileExistsError:
        info = parent.lstat()
        if parent.is_symlink() or info.st_uid != os.getuid() or info.st_mode & 0o077:
            raise OpenPGPError(f"{parent} is not a private directory of ours")
    link = parent / "h"
    if link.is_symlink() and Path(os.readlink(link)) != path:
        link.unlink()
    if not link.is_symlink():
        link.symlink_to(path)
    short = str(link)
    if len(short) + _SOCKET_SUFFIX > _UNIX_PATH_MAX:
        raise OpenPGPError("The temporary directory path is too long for gpg-agent sockets")
    return short


def kill_agent(home: str | Path) -> None:
    """Stop the gpg-agent of a home directory (after tests, or an ephemeral home)."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(  # noqa: S603 - fixed binary, no shell
            [GPGCONF_BINARY, "--homedir", str(home), "--kill", "gpg-agent"],
            capture_output=True,
            timeout=20,
            check=False,
        )


def _gpg(home: str) -> gnupg.GPG:
    gpg = gnupg.GPG(gpgbinary=GPG_BINARY, gnupghome=home)
    gpg.encoding = "utf-8"
    return gpg


@dataclass(frozen=True)
class SignatureCheck:
    valid: bool
    fingerprint: str  # primary key fingerprint of the signer ("" if unknown)
    created: str  # signature creation, seconds since the epoch ("" if invalid)
    status: str


class Keyring:
    """The campaign keyring (DATA_DIR/gnupg)."""

    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path is not None else keyring_dir()
        _prepare_home(self.path)
        self.home = short_home(self.path)
        self.gpg = _gpg(self.home)

    def kill_agent(self) -> None:
        kill_agent(self.home)

    # --- keys ---------------------------------------------------------------

    def generate(self, *, name: str, email: str = "", expire: str = "0") -> str:
        """An ed25519 signing key without passphrase; returns its fingerprint.

        The user id is "<name> (petition signing key)", with `<email>` only
        if one is given. The parameters are written here rather than by
        python-gnupg's gen_key_input, which adds `$LOGNAME@<hostname>` when no
        email is given: the published key would name the server's account
        and host.
        """
        lines = [
            "Key-Type: EDDSA",
            "Key-Curve: ed25519",
            "Key-Usage: sign",
            f"Name-Real: {_batch_value(name)[:100] or 'Campaign'}",
            "Name-Comment: petition signing key",
            f"Expire-Date: {_batch_value(expire)}",
        ]
        if email:
            lines.append(f"Name-Email: {_batch_value(email)}")
        lines += ["%no-protection", "%commit"]
        result = self.gpg.gen_key("\n".join(lines) + "\n")
        fingerprint = normalize_fingerprint(str(result.fingerprint or ""))
        if len(fingerprint) != 40 or result.status not in ("ok", "key created"):
            raise OpenPGPError(f"gpg could not create a key: {result.status or result.stderr}")
        self._pin(fingerprint)
        return fingerprint

    def scan(self, armored: str | bytes) -> list[dict]:
        data = armored.encode() if isinstance(armored, str) else armored
        if len(data) > MAX_KEY_BYTES:
            raise KeyRejected(_("This key file is too large."))
        return list(self.gpg.scan_keys_mem(data))

    def import_signing_key(self, armored: str, *, passphrase: str = "") -> str:
        """Import a secret (sub)key able to sign; returns the primary fingerprint.

        The key must be the only key in the data. It is test-signed with the
        passphrase and removed again if that fails.
        """
        check_passphrase(passphrase)
        if "PRIVATE KEY BLOCK" not in armored:
            raise KeyRejected(
                _("Paste an ASCII-armored secret key (gpg --armor --export-secret-subkeys).")
            )
        keys = [k for k in self.scan(armored) if k.get("type") in ("sec", "pub")]
        if len(keys) != 1:
            raise KeyRejected(_("The key data must contain exactly one key."))
        fingerprint = normalize_fingerprint(keys[0].get("fingerprint", ""))
        if len(fingerprint) != 40:
            raise KeyRejected(_("This key has no version 4 fingerprint."))
        existed = bool(self.gpg.list_keys(secret=True, keys=[fingerprint]))
        result = self.gpg.import_keys(armored)
        imported = {normalize_fingerprint(f) for f in result.fingerprints if f}
        if fingerprint not in imported or not (result.sec_imported or result.sec_read):
            raise KeyRejected(_("gpg did not accept this secret key."))
        self._pin(fingerprint)
        try:
            self.sign_detached(b"test", fingerprint=fingerprint, passphrase=passphrase)
        except OpenPGPError:
            if not existed:
                self.delete(fingerprint, passphrase=passphrase)
            raise KeyRejected(
                _(
                    "This key cannot sign here: it may be expired or revoked, have no "
                    "signing subkey, or the passphrase is wrong."
                )
            ) from None
        return fingerprint

    def delete(self, fingerprint: str, *, passphrase: str = "") -> None:
        self.gpg.delete_keys(
            fingerprint, secret=True, passphrase=passphrase or None, expect_passphrase=False
        )
        self.gpg.delete_keys(fingerprint)

    def _pin(self, fingerprint: str) -> None:
        result = self.gpg.trust_keys([fingerprint], "TRUST_ULTIMATE")
        if result.status and "ok" not in str(result.status).lower():
            raise OpenPGPError(f"gpg could not set the owner trust: {result.status}")

    def export_public(self, fingerprint: str) -> str:
        armored = self.gpg.export_keys(fingerprint, armor=True, minimal=True)
        if not armored or "PUBLIC KEY BLOCK" not in armored:
            raise OpenPGPError("gpg could not export the public key")
        scanned = self.scan(armored)
        fprs = {normalize_fingerprint(k.get("fingerprint", "")) for k in scanned}
        if fprs != {fingerprint}:
            raise OpenPGPError("The exported public key has an unexpected fingerprint")
        return armored

    # --- signatures -----------------------------------------------------------

    def sign_detached(self, data: bytes, *, fingerprint: str, passphrase: str = "") -> str:
        """An armored detached signature of `data`, checked before it is returned."""
        check_passphrase(passphrase)
        result = self.gpg.sign(
            data,
            keyid=fingerprint,
            detach=True,
            clearsign=False,
            binary=False,
            passphrase=passphrase or None,
            extra_args=["--pinentry-mode", "loopback"] if not passphrase else None,
        )
        armored = str(result)
        if (
            not armored.startswith("-----BEGIN PGP SIGNATURE-----")
            or result.status != "signature created"
        ):
            raise OpenPGPError(f"gpg could not sign: {result.status or result.stderr}")
        check = self.verify_detached(data, armored, fingerprint=fingerprint)
        if not check.valid:
            raise OpenPGPError(f"gpg made a signature that does not verify: {check.status}")
        return armored

    def verify_detached(self, data: bytes, signature: str, *, fingerprint: str) -> SignatureCheck:
        """Check a detached signature against the *expected* key only."""
        expected = normalize_fingerprint(fingerprint)
        if not signature or "BEGIN PGP SIGNATURE" not in signature:
            return SignatureCheck(False, "", "", "no signature")
        with tempfile.NamedTemporaryFile("w", suffix=".asc", encoding="ascii") as handle:
            handle.write(signature)
            handle.flush()
            result = self.gpg.verify_data(handle.name, data)
        signer = normalize_fingerprint(result.pubkey_fingerprint or result.fingerprint or "")
        valid = bool(
            result.valid
            and result.status == "signature valid"
            and signer == expected
            and result.trust_level is not None
            and result.trust_level >= result.TRUST_FULLY
        )
        return SignatureCheck(
            valid=valid,
            fingerprint=signer,
            created=str(result.sig_timestamp or "") if valid else "",
            status=str(result.status or "no result"),
        )


def encrypt_to(data: bytes, public_keys: list[tuple[str, str]]) -> bytes:
    """Encrypt `data` to several public keys, hiding who the recipients are.

    `public_keys` is a list of (fingerprint, armored key). They are imported
    into a throw-away home whose only trusted keys are exactly these
    fingerprints (pinned), so the campaign keyring never holds them.
    """
    if not public_keys:
        raise OpenPGPError("No recipient keys")
    home = tempfile.mkdtemp(prefix="og-enc-")
    try:
        _prepare_home(Path(home))
        gpg = _gpg(home)
        fingerprints = []
        for fingerprint, armored in public_keys:
            fingerprint = normalize_fingerprint(fingerprint)
            result = gpg.import_keys(armored)
            if fingerprint not in {normalize_fingerprint(f) for f in result.fingerprints if f}:
                raise OpenPGPError(f"Recipient key {fingerprint} did not import")
            fingerprints.append(fingerprint)
        trust = gpg.trust_keys(fingerprints, "TRUST_FULLY")
        if trust.status and "ok" not in str(trust.status).lower():
            raise OpenPGPError(f"gpg could not set the owner trust: {trust.status}")
        result = gpg.encrypt(data, None, hidden_recipients=fingerprints, armor=False)
        if not result.ok or not result.data:
            raise OpenPGPError(f"gpg could not encrypt: {result.status or result.stderr}")
        return result.data
    finally:
        kill_agent(home)
        shutil.rmtree(home, ignore_errors=True)


def public_key_info(armored: str) -> dict:
    """Fingerprint and capabilities of exactly one public key, or KeyRejected."""
    if "PRIVATE KEY BLOCK" in armored:
        raise KeyRejected(_("This is a secret key: upload your public key only."))
    if "BEGIN PGP PUBLIC KEY BLOCK" not in armored:
        raise KeyRejected(_("Paste an ASCII-armored public key (gpg --armor --export)."))
    home = tempfile.mkdtemp(prefix="og-scan-")
    try:
        _prepare_home(Path(home))
        gpg = _gpg(home)
        data = armored.encode()
        if len(data) > MAX_KEY_BYTES:
            raise KeyRejected(_("This key file is too large."))
        keys = [k for k in gpg.scan_keys_mem(data) if k.get("type") == "pub"]
        if len(keys) != 1:
            raise KeyRejected(_("The key data must contain exactly one public key."))
        key = keys[0]
        fingerprint = normalize_fingerprint(key.get("fingerprint", ""))
        if len(fingerprint) != 40:
            raise KeyRejected(_("This key has no version 4 fingerprint."))
        if key.get("trust") in ("r", "e") or "E" not in str(key.get("cap", "")):
            raise KeyRejected(_("This key is revoked, expired, or cannot encrypt."))
        # Prove it encrypts (catches expired or unusable subkeys).
        try:
            encrypt_to(b"test", [(fingerprint, armored)])
        except OpenPGPError:
            raise KeyRejected(_("This key cannot be used to encrypt.")) from None
        return {"fingerprint": fingerprint, "uids": key.get("uids", [])}
    finally:
        kill_agent(home)
        shutil.rmtree(home, ignore_errors=True)

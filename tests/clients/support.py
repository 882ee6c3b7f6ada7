"""What the tests of clients/sign.py share: the client as a module and as a
program, logs published by Go's sumdb packages, and a site in between the
client and the live server that can lie to it."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography.hazmat.primitives import serialization

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "sign.py"
GOLOG = Path(__file__).resolve().parent / "golog"
GO = shutil.which("go")
GO_MODULES = Path("/usr/share/gocode")  # Debian's golang-golang-x-mod-dev


def load_client():
    """clients/sign.py as a module (it is a program, not a package)."""
    spec = importlib.util.spec_from_file_location("standalone_sign", CLIENT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def canonical(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def spki_der(public_key) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def letter_entry(*, text_sha256: str, public_key) -> bytes:
    """Entry 0 as LOG_CONTRACT.md and docs/signing-protocol.md write it."""
    return canonical(
        {
            "issuer_key": b64url(spki_der(public_key)),
            "kind": "letter",
            "text_sha256": text_sha256,
            "variant": "RSABSSA-SHA384-PSS-Randomized",
        }
    )


# --- logs published by Go's golang.org/x/mod/sumdb ------------------------------------


def build_golog(directory: Path) -> Path:
    binary = directory / "golog"
    env = {
        **os.environ,
        "GOPATH": str(GO_MODULES),
        "GO111MODULE": "off",
        "GOCACHE": str(directory / "cache"),
        "GOFLAGS": "",
    }
    subprocess.run([GO, "build", "-o", str(binary), "."], cwd=GOLOG, env=env, check=True)
    return binary


@dataclass
class GoLog:
    """A log published by tests/clients/golog in `directory`."""

    directory: Path
    origin: str

    @property
    def verifier_key(self) -> str:
        return (self.directory / "verifier_key").read_text()

    @property
    def signer_key(self) -> str:
        return (self.directory / "signer_key").read_text()

    def checkpoint(self, size: int | None = None) -> str:
        name = "checkpoint" if size is None else f"checkpoint.{size}"
        return (self.directory / name).read_text()


def publish(
    golog: Path,
    directory: Path,
    *,
    origin: str,
    entries: list[bytes],
    checkpoints=(),
    signer_key: str = "",
    verifier_key: str = "",
) -> GoLog:
    request = {
        "origin": origin,
        "entries": [base64.b64encode(e).decode() for e in entries],
        "checkpoints": list(checkpoints),
        "signer_key": signer_key,
    }
    directory.mkdir(parents=True)
    subprocess.run(
        [str(golog), str(directory)], input=json.dumps(request).encode(), check=True, timeout=120
    )
    if verifier_key:
        (directory / "verifier_key").write_text(verifier_key)
    return GoLog(directory, origin)


# --- a site between the client and the server --------------------------------------------


@dataclass
class Seen:
    method: str
    path: str
    headers: dict


@dataclass
class Site:
    """An HTTP server on 127.0.0.1 that forwards to `upstream` (the live
    server), except what the test sets: `log_dirs[slug]` serves
    /log/<slug>/... from a GoLog directory, `letter_edits` change the letter
    API's answer (a dict to merge, or a function of the answer). Every
    request is recorded in `seen`."""

    upstream: str
    log_dirs: dict = field(default_factory=dict)
    letter_edits: list = field(default_factory=list)
    seen: list = field(default_factory=list)

    def start(self) -> Site:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                site.answer(self)

            def do_POST(self):
                site.answer(self)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        self.seen.append(Seen(handler.command, handler.path, dict(handler.headers)))
        path = handler.path.split("?", 1)[0]
        parts = path.strip("/").split("/")
        if parts[0] == "log" and len(parts) > 2 and parts[1] in self.log_dirs:
            file = self.log_dirs[parts[1]].joinpath(*parts[2:])
            if file.is_file():
                return self.reply(handler, 200, file.read_bytes(), "text/plain; charset=utf-8")
            return self.reply(handler, 404, b"not found\n", "text/plain")
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else None
        request = urllib.request.Request(
            self.upstream + handler.path, data=body, method=handler.command
        )
        if handler.headers.get("Content-Type"):
            request.add_header("Content-Type", handler.headers["Content-Type"])
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, data = response.status, response.read()
                kind = response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as error:
            status, data, kind = error.code, error.read(), error.headers.get("Content-Type", "")
        if handler.command == "GET" and path.startswith("/api/v1/letters/") and status == 200:
            letter = json.loads(data)
            for edit in self.letter_edits:
                letter = edit(letter) if callable(edit) else {**letter, **edit}
            data = json.dumps(letter).encode()
        self.reply(handler, status, data, kind)

    def reply(self, handler, status: int, data: bytes, kind: str) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", kind)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)


# --- the client as a program ---------------------------------------------------------------


def client_command(*args: str) -> list[str]:
    """Isolated mode (-I): no PYTHONPATH, no user site, no script directory
    on the path; run from a directory outside the project, nothing of the
    project can be imported."""
    return [sys.executable, "-I", str(CLIENT), *args]


def client_env() -> dict:
    return {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}


def run_client(*args: str, cwd: Path, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        client_command(*args),
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=client_env(),
        check=False,
    )


def go_signer_key(name: str, private_key) -> str:
    """An Ed25519 private key in golang.org/x/mod/sumdb/note's signer-key
    form: PRIVATE+KEY+<name>+<key hash>+<base64 of 0x01 || seed>."""
    seed = private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public = private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    key_hash = hashlib.sha256(name.encode() + b"\n\x01" + public).digest()[:4].hex()
    key_data = base64.b64encode(b"\x01" + seed).decode()
    return f"PRIVATE+KEY+{name}+{key_hash}+{key_data}"

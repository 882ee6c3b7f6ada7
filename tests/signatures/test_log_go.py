"""The letter's log checked by an implementation nobody here wrote: Go's
checksum-database packages golang.org/x/mod/sumdb/note and
golang.org/x/mod/sumdb/tlog (Debian: golang-go, golang-golang-x-mod-dev),
driven by tests/signatures/go/tlogcheck against the live endpoints of a test
server. See that program's comment for what it checks.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from signatures import log_selectors, tlog
from signatures.models import LetterLog, LogEntry, LogTile
from signatures.services.log import log_append
from tests.signatures.factories import open_letter
from tests.signatures.log_entries import batch, signature_entries, withdrawal_of
from tests.support.services import skip_or_fail

SOURCE = Path(__file__).parent / "go" / "tlogcheck"
GOPATH = "/usr/share/gocode"  # where golang-golang-x-mod-dev installs its source
SUMDB = Path(GOPATH) / "src" / "golang.org" / "x" / "mod" / "sumdb"


@pytest.fixture(scope="session")
def tlogcheck() -> Path:
    """The Go program, built once per version of its source (cached in the
    temporary directory)."""
    go = shutil.which("go") or "/usr/lib/go/bin/go"
    if not os.path.exists(go) or not (SUMDB / "tlog").is_dir():
        skip_or_fail(
            "needs Go and golang.org/x/mod (apt-get install golang-go golang-golang-x-mod-dev)"
        )
    source = (SOURCE / "main.go").read_bytes()
    cache = Path(tempfile.gettempdir()) / "organizing-tlogcheck"
    binary = cache / f"tlogcheck-{hashlib.sha256(source).hexdigest()[:16]}"
    if not binary.exists():
        cache.mkdir(exist_ok=True)
        env = {
            **os.environ,
            "GO111MODULE": "off",
            "GOPATH": GOPATH,
            "GOCACHE": str(cache / "go-build"),
            "GOFLAGS": "",
        }
        partial = binary.with_suffix(f".{os.getpid()}.partial")  # runs may build at once
        subprocess.run(
            [go, "build", "-o", str(partial), "."],
            cwd=SOURCE,
            env=env,
            check=True,
            capture_output=True,
            timeout=300,
        )
        partial.replace(binary)
    return binary


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@pytest.fixture
def served_log(transactional_db, roles, live_server):
    """A letter whose log has 560 entries in four batches: two full tiles
    and a partial one at level 0, a partial tile at level 1, and checkpoints
    at sizes 1, 121, 301 and 560 to check consistency between."""
    letter = open_letter(roles.campaign, slug="audited-by-go")
    first = signature_entries(letter, 120)
    log_append(letter=letter, entries=first)
    log_append(letter=letter, entries=signature_entries(letter, 180))
    log_append(
        letter=letter,
        entries=batch([*signature_entries(letter, 250), *map(withdrawal_of, first[:9])]),
    )
    assert LetterLog.objects.get(letter=letter).size == 560
    return letter, f"{live_server.url}/log/{letter.slug}"


def claims(letter) -> dict:
    """Proofs computed by signatures.log_selectors, for Go to check."""
    inclusion = [
        {
            "index": index,
            "tree_size": size,
            "proof": [
                b64(p)
                for p in log_selectors.log_inclusion_proof(
                    letter=letter, index=index, tree_size=size
                )
            ],
        }
        for index, size in [(0, 1), (0, 560), (5, 121), (255, 256), (256, 301), (559, 560)]
    ]
    consistency = [
        {
            "old_size": old,
            "old_root": b64(log_selectors.log_root(letter=letter, tree_size=old)),
            "new_size": new,
            "proof": [
                b64(p)
                for p in log_selectors.log_consistency_proof(
                    letter=letter, old_size=old, new_size=new
                )
            ],
        }
        for old, new in [(1, 560), (121, 301), (121, 560), (256, 560), (301, 560), (560, 560)]
    ]
    return {"inclusion": inclusion, "consistency": consistency}


def run_go(binary: Path, base: str, key: str, claimed: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(binary), "-log", base, "-key", key],
        input=json.dumps(claimed),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_go_verifies_the_checkpoint_tiles_entries_and_proofs(tlogcheck, served_log):
    letter, base = served_log
    key = LetterLog.objects.get(letter=letter).verifier_key
    result = run_go(tlogcheck, base, key, claims(letter))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    hashes = [tlog.leaf_hash(entry) for entry in log_selectors.log_entries(letter)]
    assert summary == {
        "origin": LetterLog.objects.get(letter=letter).origin,
        "tree_size": 560,
        "root": b64(tlog.root_from_leaves(hashes)),
        "entries": 560,
        # 0/000, 0/001, 0/002.p/1 to 0/002.p/48, 1/000.p/1 and 1/000.p/2
        "tiles_compared": 2 + 48 + 2,
        "partial_tiles": 2,
        "levels": 2,
        "records_proved": 560,
        "checkpoints_checked": 4,
        "claimed_inclusions": 6,
        "claimed_consistencies": 6,
        "proofs_as_go_proves": True,
    }


def test_go_refuses_a_tampered_log(tlogcheck, served_log):
    letter, base = served_log
    key = LetterLog.objects.get(letter=letter).verifier_key
    claimed = {"inclusion": [], "consistency": []}

    other = tlog.verifier_key(LetterLog.objects.get(letter=letter).origin, bytes(32))
    result = run_go(tlogcheck, base, other, claimed)
    assert result.returncode == 1 and "checkpoint" in result.stderr

    tile = LogTile.objects.get(letter=letter, level=0, index=1)
    original = bytes(tile.hashes)
    tile.hashes = original[:100] + bytes([original[100] ^ 1]) + original[101:]
    tile.save()
    result = run_go(tlogcheck, base, key, claimed)
    assert result.returncode == 1, result.stdout
    tile.hashes = original
    tile.save()
    assert run_go(tlogcheck, base, key, claimed).returncode == 0

    entry = LogEntry.objects.get(letter=letter, index=7)
    original = bytes(entry.data)
    entry.data = original.replace(b'"kind":"signature"', b'"kind":"signaturE"')
    entry.save()
    result = run_go(tlogcheck, base, key, claimed)
    assert result.returncode == 1 and "entries do not hash" in result.stderr
    entry.data = original
    entry.save()

    # A proof the server side would hand out, altered, is refused too.
    claimed = claims(letter)
    claimed["inclusion"][1]["proof"][0] = b64(bytes(32))
    result = run_go(tlogcheck, base, key, claimed)
    assert result.returncode == 1

"""What an auditor does with a format 2 export: fetch the letter's log over
its public C2SP endpoints, and check the manifest against it with
signatures.tlog (the checkpoint note's signature, the root of the entries,
and that the manifest's log indexes are exactly the log's counted
signatures at the checkpoint's size)."""

from __future__ import annotations

import base64
import hashlib
import json

from signatures import tlog


class Unverified(Exception):
    """The manifest does not verify against the log; the reason is its text."""


def fetch_entries(client, slug: str, size: int) -> list[bytes]:
    """Entries [0, size) through GET /log/<slug>/tile/entries/..."""
    entries: list[bytes] = []
    for index in range((size + tlog.TILE_WIDTH - 1) // tlog.TILE_WIDTH):
        width = min(tlog.TILE_WIDTH, size - index * tlog.TILE_WIDTH)
        response = client.get(f"/log/{slug}/" + tlog.tile_path("entries", index, width))
        assert response.status_code == 200, response.content
        entries += tlog.parse_entry_bundle(response.content)
    return entries


def token_sha256(entry: dict) -> str:
    token = entry["token"]
    return hashlib.sha256(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))).hexdigest()


def check_manifest(data: bytes, *, verifier_key: str, entries: list[bytes]) -> dict:
    """Check a format 2 manifest against the log's `entries` (at least the
    checkpoint's size of them), trusting nothing but `verifier_key`.
    Returns {log index: manifest object}; Unverified with the reason."""
    manifest = json.loads(data)
    if not isinstance(manifest, dict) or manifest.get("format") != 2:
        raise Unverified("not a format 2 manifest")
    if manifest["verifier_key"] != verifier_key:
        raise Unverified("the manifest names another verifier key")
    try:
        text = tlog.open_note(manifest["checkpoint"], verifier_key)
        _origin, size, root = tlog.parse_checkpoint(text)
    except (tlog.NoteVerificationFailed, tlog.LogFormatError) as exc:
        raise Unverified(f"the checkpoint does not verify: {exc}") from None
    if len(entries) < size:
        raise Unverified("the log is shorter than the checkpoint")
    logged = entries[:size]
    if tlog.root_from_leaves([tlog.leaf_hash(e) for e in logged]) != root:
        raise Unverified("the log's entries do not hash to the checkpoint's root")
    signed: dict[str, int] = {}
    withdrawn: set[str] = set()
    for index, raw in enumerate(logged):
        entry = json.loads(raw)
        if entry["kind"] == "signature":
            signed[token_sha256(entry)] = index
        elif entry["kind"] == "withdrawal":
            withdrawn.add(entry["token_sha256"])
    counted = {index for token, index in signed.items() if token not in withdrawn}
    by_index = {e["log_index"]: e for e in manifest["signatures"]}
    if len(by_index) != len(manifest["signatures"]):
        raise Unverified("two manifest entries name one log entry")
    if set(by_index) != counted:
        raise Unverified(
            f"the manifest lists {len(by_index)} log entries, the log counts {len(counted)}: "
            f"{len(set(by_index) - counted)} not counted in the log, "
            f"{len(counted - set(by_index))} missing from the manifest"
        )
    return by_index

"""The manifest: the canonical list of exported signatures, and its hash.

Two formats. Both are canonical JSON: keys sorted, no whitespace
(``separators=(",", ":")``), UTF-8 without escaping non-ASCII
(``ensure_ascii=False``), no trailing newline. The manifest hash, printed in
the PDF and stored with the export, is the SHA-256 (hex) of those bytes:
``sha256sum manifest.json``. Stored manifests never change: a reader tells
the formats apart by the top-level value (an array is format 1, an object
has ``"format": 2``), and an export keeps the format it was made in.

A signature's object (both formats):

Text the organizers hid, or that waits for their review
(signatures.models.SignatureModeration), is ``""`` in ``pseudonym``,
``name``, ``department`` and ``location`` alike, and is not counted in its
group; ``Manifest.hidden_text`` says how many signatures have such text
(the PDF prints it).

- ``id``: the signature's random UUID, lower-case, with hyphens;
- ``pseudonym``: as signed;
- ``name``: the public name if its reveal threshold is met by the exported
  count (or it has none), else ``""``;
- ``department`` / ``location``: the group's spelling if its group holds
  at least k counted signatures, else ``""`` (merged into "other" in the
  PDF). A group is every spelling equal up to case and spacing
  ("Warehouse", "warehouse"); its spelling is the most used one (ties: the
  first in code-point order) with each run of spaces as one space;
- ``hour``: the coarsened signing time, ``YYYY-MM-DDTHH:00Z`` (UTC);
- format 2 only: ``log_index``, the index (a JSON integer) of the
  signature's entry in the letter's transparency log.

Format 1 (exports made before exports bound the log, and exports of a
letter that has no log): a JSON array of one object per counted (not
withdrawn) signature, with exactly the keys ``department``, ``hour``,
``id``, ``location``, ``name``, ``pseudonym``, sorted by ``id``.

Format 2 (every export of a letter that has a log): a JSON object with
exactly the keys

- ``checkpoint``: the whole signed checkpoint note the export binds, as
  ``GET /log/<slug>/checkpoint`` served it (C2SP tlog-checkpoint and
  signed-note: origin, tree size and base64 root on three lines, a blank
  line, the signature line);
- ``format``: ``2``;
- ``signatures``: an array of one object per counted signature, with
  exactly the keys ``department``, ``hour``, ``id``, ``location``,
  ``log_index``, ``name``, ``pseudonym``, sorted by ``id``. Their
  ``log_index`` values are exactly the indexes of the signature entries
  among the checkpoint's first tree-size entries that no withdrawal among
  those entries names (petitions.binding checks it before an export);
- ``verifier_key``: the log's signed-note verifier key
  (``<origin>+<key id>+<base64 key>``), which the checkpoint verifies with.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field

from signatures.models import MODERATED_FIELDS, Signature, SignatureModeration
from signatures.selectors import canonical_groups, group_key

FORMAT_UNBOUND = 1  # a JSON array; binds no log
FORMAT_LOG_BOUND = 2  # a JSON object with the checkpoint it binds
FORMATS = (FORMAT_UNBOUND, FORMAT_LOG_BOUND)
V2_TOP_KEYS = frozenset({"checkpoint", "format", "signatures", "verifier_key"})


class ManifestFormatError(ValueError):
    """Bytes that are not a manifest of either format."""


@dataclass
class ManifestEntry:
    id: str
    pseudonym: str
    name: str
    department: str
    location: str
    hour: str
    log_index: int | None = None  # format 2 only


@dataclass
class Manifest:
    entries: list[ManifestEntry]
    data: bytes
    sha256: str
    count: int
    k: int
    departments: list[tuple[str, int]] = field(default_factory=list)  # >= k, plus "other"
    locations: list[tuple[str, int]] = field(default_factory=list)
    hours: list[tuple[dt.datetime, int]] = field(default_factory=list)  # per hour, sorted
    format: int = FORMAT_UNBOUND
    # Format 2: the bound checkpoint (the whole signed note) and the log's key.
    checkpoint: str = ""
    verifier_key: str = ""
    tree_size: int | None = None
    hidden_text: int = 0  # signatures with text hidden by the organizers or held for review


def format_hour(value: dt.datetime) -> str:
    value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:00Z")


def _canonical(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def canonical_bytes(entries: list[dict], *, log=None) -> bytes:
    """The manifest's bytes: format 1 without `log`, format 2 with it (a
    petitions.binding.LogBinding, or anything with its checkpoint and
    verifier_key)."""
    ordered = sorted(entries, key=lambda e: e["id"])
    if log is None:
        return _canonical(ordered)
    return _canonical(
        {
            "checkpoint": log.checkpoint,
            "format": FORMAT_LOG_BOUND,
            "signatures": ordered,
            "verifier_key": log.verifier_key,
        }
    )


def _groups(counter: Counter, k: int) -> tuple[dict[str, str], list[tuple[str, int]]]:
    """({group key: spelling shown} of groups of at least k, the table rows).
    Groups as the public pages do (signatures.selectors.canonical_groups)."""
    groups = canonical_groups(counter)
    shown = {key: name for key, (name, n) in groups.items() if n >= k}
    rows = sorted(
        ((name, n) for key, (name, n) in groups.items() if key in shown),
        key=lambda r: (-r[1], r[0]),
    )
    other = sum(counter.values()) - sum(n for _name, n in rows)
    if other:
        rows.append(("", other))  # "" is rendered as "other / not given"
    return shown, rows


def held_back_fields(letter) -> dict[str, tuple[str, ...]]:
    """{signature id: fields the organizers hid or hold for review}."""
    return {
        str(moderation.signature_id): moderation.hidden_fields
        for moderation in SignatureModeration.objects.filter(
            signature__letter=letter, signature__withdrawn=False
        )
        if moderation.hidden_fields
    }


def build_manifest(letter, *, rows=None, log=None, held_back=None) -> Manifest:
    """Build the manifest of a letter's counted signatures: format 2, bound
    to `log` (a petitions.binding.LogBinding, checked against these rows in
    the same transaction), or format 1 without it.

    `rows` (tuples of id, pseudonym, public_name, reveal_at, department,
    location, signed_hour, log_index) and `held_back` (held_back_fields) may
    be given by benchmarks; otherwise they are read from the database.
    """
    if held_back is None:
        held_back = held_back_fields(letter) if rows is None else {}
    if rows is None:
        rows = list(
            Signature.objects.counted()
            .filter(letter=letter)
            .order_by()
            .values_list(
                "id",
                "pseudonym",
                "public_name",
                "reveal_at",
                "department",
                "location",
                "signed_hour",
                "log_index",
            )
        )
    hidden_text = sum(1 for row in rows if str(row[0]) in held_back)
    if held_back:
        rows = [_without_held_back(row, held_back.get(str(row[0]), ())) for row in rows]
    k = letter.campaign.k_threshold
    count = len(rows)
    departments = Counter(r[4] for r in rows)
    locations = Counter(r[5] for r in rows)
    shown_departments, department_rows = _groups(departments, k)
    shown_locations, location_rows = _groups(locations, k)
    hours = Counter()
    dicts = []
    for sig_id, pseudonym, public_name, reveal_at, department, location, hour, index in rows:
        hour_text = format_hour(hour)
        revealed = public_name and (reveal_at is None or count >= reveal_at)
        hours[hour.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)] += 1
        dicts.append(
            {
                "id": str(sig_id),
                "pseudonym": pseudonym,
                "name": public_name if revealed else "",
                "department": shown_departments.get(group_key(department), ""),
                "location": shown_locations.get(group_key(location), ""),
                "hour": hour_text,
            }
        )
        if log is not None:
            if index is None:
                raise ValueError("a log-bound manifest lists logged signatures only")
            dicts[-1]["log_index"] = index
    data = canonical_bytes(dicts, log=log)
    dicts.sort(key=lambda e: e["id"])
    return Manifest(
        entries=[ManifestEntry(**d) for d in dicts],
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        count=count,
        k=k,
        departments=department_rows,
        locations=location_rows,
        hours=sorted(hours.items()),
        format=FORMAT_UNBOUND if log is None else FORMAT_LOG_BOUND,
        checkpoint=log.checkpoint if log is not None else "",
        verifier_key=log.verifier_key if log is not None else "",
        tree_size=log.tree_size if log is not None else None,
        hidden_text=hidden_text,
    )


def _without_held_back(row: tuple, hidden: tuple[str, ...]) -> tuple:
    """The row with the fields in `hidden` blanked (MODERATED_FIELDS names;
    the comment is not in the manifest)."""
    if not hidden:
        return row
    sig_id, pseudonym, public_name, reveal_at, department, location, hour, index = row
    assert set(hidden) <= set(MODERATED_FIELDS)
    return (
        sig_id,
        "" if "pseudonym" in hidden else pseudonym,
        "" if "public_name" in hidden else public_name,
        reveal_at,
        "" if "department" in hidden else department,
        "" if "location" in hidden else location,
        hour,
        index,
    )


@dataclass(frozen=True)
class ParsedManifest:
    """A stored manifest read back: its format, its signature objects, and
    (format 2) the checkpoint and verifier key it carries."""

    format: int
    signatures: list[dict]
    checkpoint: str = ""
    verifier_key: str = ""


def parse_manifest(data: bytes) -> ParsedManifest:
    """Read a stored manifest of either format. Checks its shape, as far as
    finding its signatures' ids needs (not its checkpoint: petitions.binding
    and the auditors' tools check that); ManifestFormatError otherwise."""
    try:
        value = json.loads(data)
    except ValueError:
        raise ManifestFormatError("the manifest is not JSON") from None
    if isinstance(value, list):
        parsed = ParsedManifest(format=FORMAT_UNBOUND, signatures=value)
    elif isinstance(value, dict) and value.get("format") == FORMAT_LOG_BOUND:
        if set(value) != V2_TOP_KEYS:
            raise ManifestFormatError(
                "a format 2 manifest has exactly the keys " + ", ".join(sorted(V2_TOP_KEYS))
            )
        if not isinstance(value["checkpoint"], str) or not isinstance(value["verifier_key"], str):
            raise ManifestFormatError("the checkpoint and the verifier key are strings")
        if not isinstance(value["signatures"], list):
            raise ManifestFormatError("a manifest's signatures are an array")
        parsed = ParsedManifest(
            format=FORMAT_LOG_BOUND,
            signatures=value["signatures"],
            checkpoint=value["checkpoint"],
            verifier_key=value["verifier_key"],
        )
    else:
        raise ManifestFormatError("not a manifest of format 1 or 2")
    for entry in parsed.signatures:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise ManifestFormatError("each signature of a manifest is an object with an id")
    return parsed


def manifest_ids(data: bytes) -> set[str]:
    """The signature ids a stored manifest (either format) lists."""
    return {entry["id"] for entry in parse_manifest(data).signatures}

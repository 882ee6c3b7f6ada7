"""The manifest: the canonical list of exported signatures, and its hash.

Canonical form (what anyone can recompute from the downloaded manifest):

- a JSON array with one object per counted (not withdrawn) signature;
- each object has exactly the keys ``department``, ``hour``, ``id``,
  ``location``, ``name``, ``pseudonym``:
  - ``id``: the signature's random UUID, lower-case, with hyphens;
  - ``pseudonym``: as signed;
  - ``name``: the public name if its reveal threshold is met by the exported
    count (or it has none), else ``""``;
  - ``department`` / ``location``: the value if its group holds at least k
    counted signatures, else ``""`` (merged into "other" in the PDF);
  - ``hour``: the coarsened signing time, ``YYYY-MM-DDTHH:00Z`` (UTC);
  - text the organizers hid, or that waits for their review
    (signatures.models.SignatureModeration), is ``""`` in ``pseudonym``,
    ``name``, ``department`` and ``location`` alike, and is not counted in
    its group; ``Manifest.hidden_text`` says how many signatures have such
    text (the PDF prints it);
- objects sorted by ``id``; keys sorted; no whitespace
  (``separators=(",", ":")``); UTF-8 without escaping non-ASCII
  (``ensure_ascii=False``); no trailing newline.

The manifest hash is the SHA-256 (hex) of those bytes:
``sha256sum manifest.json``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field

from signatures.models import MODERATED_FIELDS, Signature, SignatureModeration


@dataclass
class ManifestEntry:
    id: str
    pseudonym: str
    name: str
    department: str
    location: str
    hour: str


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
    hidden_text: int = 0  # signatures with text hidden by the organizers or held for review


def format_hour(value: dt.datetime) -> str:
    value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:00Z")


def canonical_bytes(entries: list[dict]) -> bytes:
    ordered = sorted(entries, key=lambda e: e["id"])
    return json.dumps(ordered, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _groups(counter: Counter, k: int) -> tuple[set[str], list[tuple[str, int]]]:
    shown = {name for name, n in counter.items() if name and n >= k}
    rows = sorted(((name, counter[name]) for name in shown), key=lambda r: (-r[1], r[0]))
    other = sum(n for name, n in counter.items() if name not in shown)
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


def build_manifest(letter, *, rows=None, held_back=None) -> Manifest:
    """Build the manifest of a letter's counted signatures.

    `rows` (tuples of id, pseudonym, public_name, reveal_at, department,
    location, signed_hour) and `held_back` (held_back_fields) may be given by
    benchmarks; otherwise they are read from the database.
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
    for sig_id, pseudonym, public_name, reveal_at, department, location, hour in rows:
        hour_text = format_hour(hour)
        revealed = public_name and (reveal_at is None or count >= reveal_at)
        hours[hour.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)] += 1
        dicts.append(
            {
                "id": str(sig_id),
                "pseudonym": pseudonym,
                "name": public_name if revealed else "",
                "department": department if department in shown_departments else "",
                "location": location if location in shown_locations else "",
                "hour": hour_text,
            }
        )
    data = canonical_bytes(dicts)
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
        hidden_text=hidden_text,
    )


def _without_held_back(row: tuple, hidden: tuple[str, ...]) -> tuple:
    """The row with the fields in `hidden` blanked (MODERATED_FIELDS names;
    the comment is not in the manifest)."""
    if not hidden:
        return row
    sig_id, pseudonym, public_name, reveal_at, department, location, hour = row
    assert set(hidden) <= set(MODERATED_FIELDS)
    return (
        sig_id,
        "" if "pseudonym" in hidden else pseudonym,
        "" if "public_name" in hidden else public_name,
        reveal_at,
        "" if "department" in hidden else department,
        "" if "location" in hidden else location,
        hour,
    )


def manifest_ids(data: bytes) -> set[str]:
    return {entry["id"] for entry in json.loads(data)}

"""The manifest: the canonical list of exported signatures, and its hash.

Canonical form (what anyone can recompute from the downloaded manifest):

- a JSON array with one object per counted (not withdrawn) signature;
- each object has exactly the keys ``department``, ``hour``, ``id``,
  ``location``, ``name``, ``pseudonym``:
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

from signatures.models import Signature
from signatures.selectors import canonical_groups, group_key


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


def format_hour(value: dt.datetime) -> str:
    value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:00Z")


def canonical_bytes(entries: list[dict]) -> bytes:
    ordered = sorted(entries, key=lambda e: e["id"])
    return json.dumps(ordered, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


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


def build_manifest(letter, *, rows=None) -> Manifest:
    """Build the manifest of a letter's counted signatures.

    `rows` (tuples of id, pseudonym, public_name, reveal_at, department,
    location, signed_hour) may be given by benchmarks; otherwise they are read
    from the database in one query.
    """
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
                "department": shown_departments.get(group_key(department), ""),
                "location": shown_locations.get(group_key(location), ""),
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
    )


def manifest_ids(data: bytes) -> set[str]:
    return {entry["id"] for entry in json.loads(data)}

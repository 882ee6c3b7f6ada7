"""Helpers of scripts/check-migrate-copy.sh (see docs/development.md).

    migrate_copy.py recreate URL       drop and create the scratch database URL
    migrate_copy.py drop URL           drop it
    migrate_copy.py fingerprint URL [OLD]  print the database's fingerprint (JSON)
    migrate_copy.py compare OLD NEW    compare two fingerprints; exit 1 if data was lost

A fingerprint holds, per table of the public schema: the row count, an MD5 of
every row (as PostgreSQL prints it) in primary-key order, the columns, and
the definitions of the indexes and constraints. Only psycopg is used for it,
not Django, so the old and the new code are measured by the same ruler.

A migration may add columns, indexes and constraints (a new feature), never
drop or change one, nor change a row. Given the fingerprint OLD taken before
the migration, the rows of a table that gained columns are hashed over the
old columns only, so that the old data is compared as it was.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import psycopg
from psycopg import sql

# Django's bookkeeping: a migration adds rows here (applied migrations, and
# content types and permissions of a model that changed app). Rows may be
# added, never lost; content types may be relabelled, so only counted.
GROWS = {"django_migrations"}
COUNTED = {"django_content_type", "auth_permission"}


def _connect(url: str, *, maintenance: bool = False) -> psycopg.Connection:
    parsed = urlparse(url)
    dbname = "postgres" if maintenance else parsed.path.lstrip("/")
    return psycopg.connect(
        dbname=dbname,
        user=parsed.username or "postgres",
        password=unquote(parsed.password) if parsed.password else None,
        host=parsed.hostname or "127.0.0.1",
        port=parsed.port or 5432,
        autocommit=True,
    )


def _scratch_name(url: str) -> str:
    name = urlparse(url).path.lstrip("/")
    if not name.endswith("_copy"):
        sys.exit(f"refusing to drop {name!r}: the scratch database's name must end in _copy")
    return name


def drop(url: str) -> None:
    name = _scratch_name(url)
    with _connect(url, maintenance=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def recreate(url: str) -> None:
    drop(url)
    with _connect(url, maintenance=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(_scratch_name(url))))


def fingerprint(url: str, old: dict | None = None) -> dict:
    tables = {}
    with _connect(url) as conn:
        names = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            )
        ]
        for name in names:
            table = sql.Identifier(name)
            key = [
                row[0]
                for row in conn.execute(
                    "SELECT a.attname FROM pg_index i JOIN pg_attribute a"
                    " ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
                    " WHERE i.indrelid = %s::regclass AND i.indisprimary ORDER BY a.attnum",
                    [name],
                )
            ]
            order = (
                sql.SQL(", ").join(sql.Identifier(column) for column in key)
                if key
                else sql.SQL("t::text")
            )
            # The row as PostgreSQL prints it, or only its columns of before.
            row = sql.SQL("t::text")
            if old is not None and name in old:
                columns = [column[0] for column in old[name]["columns"]]
                row = sql.SQL("ROW({})::text").format(
                    sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(c)) for c in columns)
                )
            count, digest = conn.execute(
                sql.SQL(
                    "SELECT count(*), md5(coalesce(string_agg(md5({}), '' ORDER BY {}), ''))"
                    " FROM {} t"
                ).format(row, order, table)
            ).fetchone()
            entry = {
                "rows": count,
                "md5": digest,
                "columns": [
                    list(row)
                    for row in conn.execute(
                        "SELECT column_name, data_type, is_nullable, coalesce(column_default, '')"
                        " FROM information_schema.columns"
                        " WHERE table_schema = 'public' AND table_name = %s"
                        " ORDER BY ordinal_position",
                        [name],
                    )
                ],
                "indexes": dict(
                    conn.execute(
                        "SELECT indexname, indexdef FROM pg_indexes"
                        " WHERE schemaname = 'public' AND tablename = %s",
                        [name],
                    ).fetchall()
                ),
                "constraints": dict(
                    conn.execute(
                        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
                        " WHERE conrelid = %s::regclass",
                        [name],
                    ).fetchall()
                ),
            }
            if name in GROWS:
                entry["row_md5s"] = sorted(
                    row[0]
                    for row in conn.execute(sql.SQL("SELECT md5(t::text) FROM {} t").format(table))
                )
            tables[name] = entry
    return tables


def compare(old: dict, new: dict) -> list[str]:
    """What the migration lost or changed; [] when nothing."""
    problems = []
    for name, before in sorted(old.items()):
        after = new.get(name)
        if after is None:
            problems.append(f"{name}: the table is gone")
            continue
        if name in GROWS:
            lost = set(before["row_md5s"]) - set(after["row_md5s"])
            if lost:
                problems.append(f"{name}: {len(lost)} row(s) lost")
            continue
        if name in COUNTED:
            if after["rows"] < before["rows"]:
                problems.append(f"{name}: {before['rows']} rows before, {after['rows']} after")
            continue
        for part in ("rows", "md5"):
            if before[part] != after[part]:
                problems.append(f"{name}: {part} changed: {before[part]} -> {after[part]}")
        # Columns may be added after the old ones, never dropped or changed.
        if after["columns"][: len(before["columns"])] != before["columns"]:
            problems.append(f"{name}: columns changed: {before['columns']} -> {after['columns']}")
        for part in ("indexes", "constraints"):
            changed = {
                key: value for key, value in before[part].items() if after[part].get(key) != value
            }
            if changed:
                problems.append(f"{name}: {part} dropped or changed: {sorted(changed)}")
    return problems


def main(argv: list[str]) -> None:
    command, *args = argv
    if command == "recreate":
        recreate(*args)
    elif command == "drop":
        drop(*args)
    elif command == "fingerprint":
        url, *old_path = args
        old = json.loads(Path(old_path[0]).read_text()) if old_path else None
        json.dump(fingerprint(url, old), sys.stdout, indent=1, sort_keys=True)
    elif command == "compare":
        old, new = (json.loads(Path(path).read_text()) for path in args)
        problems = compare(old, new)
        for line in problems:
            print(f"LOST OR CHANGED: {line}")
        added = sorted(set(new) - set(old))
        rows = sum(table["rows"] for table in old.values())
        print(f"{len(old)} tables, {rows} rows compared; new tables: {', '.join(added) or 'none'}")
        sys.exit(1 if problems else 0)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])

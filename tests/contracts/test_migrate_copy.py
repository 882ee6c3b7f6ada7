"""`migrate` on a copy of a populated database loses nothing:
scripts/check-migrate-copy.sh (docs/development.md) populates a scratch
database with the code of OLD_REF, migrates it with this tree's code and
compares every table's rows and layout.

OLD_REF is the commit before the first model move of the redesign (the
discussion channels to the discussions app; the petition export's models
to the petitions app moved from the same commit), found in git's history rather
than written down, so that it stays right when that move is rebased: from
then on scripts/populate_copy.py, written against the old models, no longer
runs on HEAD. (1d16306, before the redesign, is too old: signatures 0006
added a column since, which the comparison reports as a change.)
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

SCRIPTS = Path(settings.BASE_DIR) / "scripts"


def commit_before_the_channels_moved() -> str:
    """The parent of the commit that added discussions/migrations/0001_initial.py."""
    first_migration = "discussions/migrations/0001_initial.py"
    command = ["git", "log", "--format=%H", "--diff-filter=A", "--", first_migration]
    added = subprocess.run(
        command, cwd=settings.BASE_DIR, capture_output=True, text=True, check=True
    ).stdout.split()
    return f"{added[-1]}^"


def load_migrate_copy():
    spec = importlib.util.spec_from_file_location("migrate_copy", SCRIPTS / "migrate_copy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def table(rows=1, md5="a", indexes=None, row_md5s=None, columns=None) -> dict:
    entry = {"rows": rows, "md5": md5, "columns": columns or [["id", "integer", "NO", ""]]}
    entry["indexes"] = indexes if indexes is not None else {"t_pkey": "CREATE UNIQUE INDEX ..."}
    entry["constraints"] = {"t_pkey": "PRIMARY KEY (id)"}
    if row_md5s is not None:
        entry["row_md5s"] = row_md5s
    return entry


def test_compare_reports_every_loss():
    compare = load_migrate_copy().compare
    old = {
        "kept": table(),
        "gone": table(),
        "fewer": table(rows=2, md5="b"),
        "unindexed": table(),
        "grown": table(),
        "retyped": table(),
        "django_migrations": table(rows=2, row_md5s=["m1", "m2"]),
        "django_content_type": table(rows=3),
    }
    new = {
        "kept": table(),
        "fewer": table(rows=1, md5="c"),
        "unindexed": table(indexes={}),
        # A column added after the old ones, with a new index: a feature.
        "grown": table(
            columns=[["id", "integer", "NO", ""], ["salt", "text", "NO", ""]],
            indexes={"t_pkey": "CREATE UNIQUE INDEX ...", "t_salt": "CREATE INDEX ..."},
        ),
        "retyped": table(columns=[["id", "bigint", "NO", ""]]),
        "django_migrations": table(rows=2, row_md5s=["m1", "m3"]),
        "django_content_type": table(rows=4, md5="changed"),
        "discussions_new": table(),
    }
    assert compare(old, new) == [
        "django_migrations: 1 row(s) lost",
        "fewer: rows changed: 2 -> 1",
        "fewer: md5 changed: b -> c",
        "gone: the table is gone",
        "retyped: columns changed: [['id', 'integer', 'NO', '']] -> [['id', 'bigint', 'NO', '']]",
        "unindexed: indexes dropped or changed: ['t_pkey']",
    ]
    assert compare(old, old) == []


@pytest.mark.postgres
@pytest.mark.django_db
def test_migrate_on_a_populated_copy_loses_nothing():
    db = connection.settings_dict
    login = db["USER"] + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
    url = f"postgresql://{login}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}_copy"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    result = subprocess.run(
        [str(SCRIPTS / "check-migrate-copy.sh"), url, commit_before_the_channels_moved()],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "rows compared" in result.stdout, result.stdout

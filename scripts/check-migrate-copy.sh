#!/usr/bin/env bash
# Does `migrate` keep every row and the database layout of a database that
# an older version of the code populated? (docs/development.md)
#
#   scripts/check-migrate-copy.sh COPY_DATABASE_URL [OLD_REF]
#
# COPY_DATABASE_URL names a scratch database on a PostgreSQL server; its
# name must end in _copy: it is dropped and created again. OLD_REF (default:
# main) is the commit whose code populates it. The script
#   1. extracts OLD_REF into a temporary folder (git archive) and, with that
#      code, runs `migrate`, `seed_demo` and scripts/populate_copy.py (a row
#      in every table seed_demo leaves empty);
#   2. fingerprints the database: per table, the row count, an MD5 of its
#      rows in primary-key order, its columns, indexes and constraints;
#   3. runs `migrate` with the code of this working tree, fingerprints again
#      and compares: exit 1 if a table, a row, a column, an index or a
#      constraint was lost or changed.
# Set KEEP_COPY=1 to keep the database afterwards. Uses no Redis.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
copy_url=$1
old_ref=${2:-main}
here=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$here/.venv/bin/python}
work=$(mktemp -d /tmp/migrate-copy.XXXXXX)
cleanup() {
  rm -rf "$work"
  if [ "${KEEP_COPY:-}" != 1 ]; then "$python" "$here/scripts/migrate_copy.py" drop "$copy_url"; fi
}
trap cleanup EXIT

mkdir "$work/old" "$work/data"
git -C "$here" archive "$old_ref" | tar -x -C "$work/old"

export DATABASE_URL=$copy_url DATA_DIR=$work/data
export SECRET_KEY=check-migrate-copy-not-a-real-secret-0123456789
unset REDIS_URL BENCHMARK_ROUTES DJANGO_SETTINGS_MODULE

"$python" "$here/scripts/migrate_copy.py" recreate "$copy_url"
echo "== $old_ref: migrate, seed_demo, populate_copy.py"
(
  cd "$work/old"
  "$python" manage.py migrate --noinput -v0
  "$python" manage.py seed_demo >/dev/null
  PYTHONPATH=$work/old "$python" "$here/scripts/populate_copy.py"
)
"$python" "$here/scripts/migrate_copy.py" fingerprint "$copy_url" >"$work/old.json"

echo "== this tree: migrate"
(cd "$here" && "$python" manage.py migrate --noinput -v1)
"$python" "$here/scripts/migrate_copy.py" fingerprint "$copy_url" "$work/old.json" >"$work/new.json"

echo "== compare"
"$python" "$here/scripts/migrate_copy.py" compare "$work/old.json" "$work/new.json"

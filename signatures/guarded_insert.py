"""The signing endpoints' writes: one INSERT each, guarded by conditions.

Issuance by invite code and redemption each record their row with a single
statement, `INSERT ... SELECT <values> WHERE <conditions>`, whose conditions
(the letter still open at this address, the invite code valid, every
statement affirmed) hold at the instant the row is written. So the request
needs no read beforehand, nothing can change between the checks and the
write, and in autocommit mode the statement is its own transaction.

A second token for one identity or a second spend of one token is an expected
conflict: the statement skips it (`ON CONFLICT (...) DO NOTHING`) instead of
raising a unique violation, which PostgreSQL would write to its own log with
the conflicting key and a time to the millisecond (docs/operations.md, "Log
hygiene"). The caller learns that nothing was inserted and finds out why.

bench/signing.py measures these endpoints (docs/benchmarks.md, "Signing"):
the SQL is built once per process instead of by the ORM on every request,
and on PostgreSQL it runs as a prepared statement (parsed and planned once
per connection).
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import cache, partial

from django.db import transaction
from django.utils import timezone

from letters.models import Letter, LetterState, Visibility
from signatures.models import Attestation, InviteCode


@dataclass(frozen=True)
class Condition:
    """A boolean SQL expression and its parameters, for insert_row(only_if=)."""

    sql: str
    params: list


@dataclass(frozen=True)
class _InsertPlan:
    sql: str  # "INSERT INTO t (columns) SELECT %s, ..."
    fields: list
    # Per field, what turns a value into a database parameter; None where the
    # driver takes the value as it is (Django's own preparation would return
    # it unchanged), which saves most of the per-request Python work.
    prepare: list


_plans: dict[tuple[type, str], _InsertPlan] = {}

# On PostgreSQL these fields' get_db_prep_save returns a value of the right
# Python type unchanged (psycopg adapts str, int, bool, UUID, date and aware
# datetime itself); JSONField and the rest go through Django.
_AS_IS_ON_POSTGRESQL = {
    "BigIntegerField",
    "BooleanField",
    "CharField",
    "DateField",
    "DateTimeField",
    "ForeignKey",
    "IntegerField",
    "PositiveIntegerField",
    "PositiveSmallIntegerField",
    "SmallIntegerField",
    "TextField",
    "UUIDField",
}


def _insert_plan(model, connection) -> _InsertPlan:
    plan = _plans.get((model, connection.vendor))
    if plan is None:
        quote = connection.ops.quote_name
        fields = list(model._meta.concrete_fields)
        postgresql = connection.vendor == "postgresql"
        prepare = []
        for f in fields:
            if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                raise ValueError(f"insert_row() does not set {f.name} (auto_now)")
            if postgresql and f.get_internal_type() in _AS_IS_ON_POSTGRESQL:
                prepare.append(None)
            else:
                prepare.append(partial(f.get_db_prep_save, connection=connection))
        if postgresql:
            # Typed placeholders: a prepared INSERT ... SELECT cannot infer
            # the type of a bare parameter (or of a NULL) from its column.
            values = [f"%s::{f.db_type(connection)}" for f in fields]
        else:
            values = ["%s"] * len(fields)
        sql = "INSERT INTO {} ({}) SELECT {}".format(  # noqa: S608 - model names only
            quote(model._meta.db_table),
            ", ".join(quote(f.column) for f in fields),
            ", ".join(values),
        )
        plan = _plans[(model, connection.vendor)] = _InsertPlan(sql, fields, prepare)
    return plan


def insert_row(
    model,
    values: dict,
    *,
    only_if: list[Condition] = (),
    unless_exists: tuple[str, ...] = (),
    connection=None,
) -> bool:
    """INSERT one row of `model`; with `only_if`, only when every condition
    holds as the statement runs; with `unless_exists` (the columns of a unique
    constraint), not when a row with the same values in those columns exists
    or is being inserted by a transaction that then commits. Returns whether
    the row was inserted.

    `values` maps field attnames (`letter_id`, not `letter`) to values of the
    field's Python type, already validated (datetimes aware); fields left out
    get their default. No model instance is built and no signals are sent (nothing
    listens to Signature or Issuance saves): what is stored is what
    Model.save() would store, without its per-call work.

    `connection` is the default database's (transaction.get_connection());
    a caller that has it passes it, here and to the functions below: each
    lookup goes through a thread- and task-local and costs more than 10,000
    instructions (bench/signing_instructions.py).
    """
    if connection is None:
        connection = transaction.get_connection()
    plan = _insert_plan(model, connection)
    params = []
    for f, prepare in zip(plan.fields, plan.prepare, strict=True):
        value = values[f.attname] if f.attname in values else f.get_default()
        params.append(value if prepare is None else prepare(value))
    sql = plan.sql
    if only_if:
        sql += " WHERE " + " AND ".join(condition.sql for condition in only_if)
        for condition in only_if:
            params.extend(condition.params)
    if unless_exists:
        if not only_if:
            # SQLite needs a WHERE before ON CONFLICT in INSERT ... SELECT.
            sql += " WHERE true"
        sql += _on_conflict_sql(unless_exists)
    with prepared_cursor(connection) as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount == 1


@cache
def _on_conflict_sql(columns: tuple[str, ...]) -> str:
    # Double quotes name a column in both PostgreSQL and SQLite.
    return " ON CONFLICT ({}) DO NOTHING".format(", ".join(f'"{c}"' for c in columns))


@contextmanager
def prepared_cursor(connection):
    """A cursor whose statements PostgreSQL prepares (once per connection and
    statement text); elsewhere an ordinary cursor.

    Django binds parameters on the client and never prepares (it keeps
    transaction-mode connection poolers working, docs/operations.md); for the
    hot INSERTs, parsing and planning cost the database more than executing.
    """
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            yield cursor
        return
    # What connection.cursor() does (health check, connecting, the query log
    # wrapper for tests and DEBUG), around a preparing cursor.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    if connection.queries_logged:
        # The query log (tests, DEBUG) reads the statement text back from the
        # cursor, which psycopg does not keep for a prepared statement.
        wrapped = connection.make_debug_cursor(
            _preparing_cursor_class(prepare=False)(connection.connection)
        )
    else:
        wrapped = connection.make_cursor(_preparing_cursor_class()(connection.connection))
    with wrapped:
        yield wrapped


@cache
def _preparing_cursor_class(prepare: bool = True):
    """Django's server-binding psycopg cursor, preparing every statement it
    runs (none with prepare=False). Built on first use: psycopg is only
    imported where PostgreSQL is configured."""
    from django.db.backends.postgresql.base import ServerBindingCursor

    class PreparingCursor(ServerBindingCursor):
        prepare_statements = prepare

        def execute(self, query, params=None, *, prepare=None, binary=None):
            return super().execute(query, params, prepare=self.prepare_statements, binary=binary)

    return PreparingCursor


def single_statement_atomic(connection=None):
    """atomic() for a block of one statement: in autocommit mode the statement
    is its own transaction, so BEGIN and COMMIT would only add two round
    trips; inside a caller's transaction, a savepoint keeps it usable after an
    unexpected error."""
    if connection is None:
        connection = transaction.get_connection()
    if connection.in_atomic_block:
        return transaction.atomic()
    return nullcontext()


# --- conditions --------------------------------------------------------------------


def open_letter_condition(
    letter: Letter, *, visibility_key: str | None, connection=None
) -> Condition:
    """The letter is still open at this address (and, given a key, visible)."""
    if connection is None:
        connection = transaction.get_connection()
    params: list = [letter.pk, letter.slug]
    if connection.vendor != "postgresql":
        params.append(connection.ops.adapt_datetimefield_value(timezone.now()))
    if visibility_key is not None:
        params.append(visibility_key)
    return Condition(_open_letter_sql(connection.vendor, visibility_key is not None), params)


# The SQL texts of the conditions are built once per process and shape: a
# signing request only gathers their parameters. Building them on every
# request cost about 20,000 instructions, 1% of a whole baseline request
# (bench/signing_instructions.py --parts).


@cache
def _open_letter_sql(vendor: str, with_visibility_key: bool) -> str:
    # The states are constants of our own: written into the SQL text, so the
    # prepared statement has fewer parameters to bind.
    sql = (
        f"EXISTS (SELECT 1 FROM {Letter._meta.db_table} l "  # noqa: S608
        f"WHERE l.id = %s AND l.slug = %s AND l.state = '{LetterState.OPEN}' "
    )
    if vendor == "postgresql":
        sql += "AND (l.deadline IS NULL OR l.deadline > statement_timestamp())"
    else:
        sql += "AND (l.deadline IS NULL OR l.deadline > %s)"
    if with_visibility_key:
        sql += f" AND (l.visibility = '{Visibility.PUBLIC}' OR l.unlisted_token = %s)"
    return sql + ")"


def statements_condition(letter: Letter, affirmed: list[int]) -> Condition:
    """No active statement of the campaign is missing from `affirmed`."""
    return Condition(_statements_sql(len(affirmed)), [letter.campaign_id, *affirmed])


@cache
def _statements_sql(affirmed_count: int) -> str:
    table = Attestation._meta.db_table
    sql = f"NOT EXISTS (SELECT 1 FROM {table} a WHERE a.campaign_id = %s AND a.active"  # noqa: S608
    if affirmed_count:
        sql += " AND a.id NOT IN ({})".format(", ".join(["%s"] * affirmed_count))
    return sql + ")"


def invite_code_condition(letter: Letter, code_hmac: str) -> Condition:
    """The campaign has this invite code, unrevoked."""
    table = InviteCode._meta.db_table
    return Condition(
        f"EXISTS (SELECT 1 FROM {table} i WHERE i.campaign_id = %s "  # noqa: S608
        "AND i.code_hmac = %s AND NOT i.revoked)",
        [letter.campaign_id, code_hmac],
    )

"""The signing endpoints' writes: one INSERT each, guarded by conditions.

Issuance by invite code and redemption each record their row with a single
statement, `INSERT ... SELECT <values> WHERE <conditions>`, whose conditions
(the letter still open at this address, the invite code valid, every
statement affirmed) hold at the instant the row is written. So nothing can
change between the checks and the write, whatever the request read before,
and in autocommit mode the statement is its own transaction.

A second token for one identity or a second spend of one token is an expected
conflict: the statement skips it (`ON CONFLICT (...) DO NOTHING`) instead of
raising a unique violation, which PostgreSQL would write to its own log with
the conflicting key and a time to the millisecond (docs/operations.md, "Log
hygiene"). The caller learns that nothing was inserted and finds out why.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from letters.models import Letter, LetterState, Visibility
from signatures.models import Attestation, InviteCode, Signature


@dataclass(frozen=True)
class Condition:
    """A boolean SQL expression and its parameters, for insert_row(only_if=)."""

    sql: str
    params: list


def insert_row(
    model, values: dict, *, only_if: list[Condition] = (), unless_exists: tuple[str, ...] = ()
) -> bool:
    """INSERT one row of `model`; with `only_if`, only when every condition
    holds as the statement runs; with `unless_exists` (the columns of a unique
    constraint), not when a row with the same values in those columns exists
    or is being inserted by a transaction that then commits. Returns whether
    the row was inserted.

    `values` maps field attnames (`letter_id`, not `letter`) to values of the
    field's Python type, already validated (datetimes aware); fields left out
    get their default. Each value goes through the field's get_db_prep_save,
    as in Model.save(); no model instance is built and no signals are sent
    (nothing listens to Signature or Issuance saves).
    """
    quote = connection.ops.quote_name
    fields = model._meta.concrete_fields
    params = []
    for field in fields:
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            raise ValueError(f"insert_row() does not set {field.name} (auto_now)")
        value = values[field.attname] if field.attname in values else field.get_default()
        params.append(field.get_db_prep_save(value, connection))
    sql = "INSERT INTO {} ({}) SELECT {}".format(  # noqa: S608 - model names only
        quote(model._meta.db_table),
        ", ".join(quote(field.column) for field in fields),
        ", ".join(["%s"] * len(fields)),
    )
    if only_if:
        sql += " WHERE " + " AND ".join(condition.sql for condition in only_if)
        for condition in only_if:
            params.extend(condition.params)
    if unless_exists:
        if not only_if:
            # SQLite needs a WHERE before ON CONFLICT in INSERT ... SELECT.
            sql += " WHERE true"
        # Double quotes name a column in both PostgreSQL and SQLite.
        sql += " ON CONFLICT ({}) DO NOTHING".format(", ".join(f'"{c}"' for c in unless_exists))
    # As QuerySet.update() does: an error marks the caller's atomic block,
    # if there is one, for rollback.
    with transaction.mark_for_rollback_on_error(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount == 1


# --- conditions --------------------------------------------------------------------


def open_letter_condition(letter: Letter, *, visibility_key: str | None) -> Condition:
    """The letter is still open at this address (and, given a key, visible)."""
    sql = (
        f"EXISTS (SELECT 1 FROM {Letter._meta.db_table} l "  # noqa: S608 - model names only
        "WHERE l.id = %s AND l.slug = %s AND l.state = %s "
    )
    params: list = [letter.pk, letter.slug, LetterState.OPEN]
    if connection.vendor == "postgresql":
        # The database's clock, as the row is written.
        sql += "AND (l.deadline IS NULL OR l.deadline > statement_timestamp())"
    else:
        sql += "AND (l.deadline IS NULL OR l.deadline > %s)"
        params.append(connection.ops.adapt_datetimefield_value(timezone.now()))
    if visibility_key is not None:
        sql += " AND (l.visibility = %s OR l.unlisted_token = %s)"
        params += [Visibility.PUBLIC, visibility_key]
    return Condition(sql + ")", params)


def statements_condition(letter: Letter, affirmed: list[int]) -> Condition:
    """No active statement of the campaign is missing from `affirmed`."""
    table = Attestation._meta.db_table
    sql = f"NOT EXISTS (SELECT 1 FROM {table} a WHERE a.campaign_id = %s AND a.active"  # noqa: S608
    if affirmed:
        sql += " AND a.id NOT IN ({})".format(", ".join(["%s"] * len(affirmed)))
    return Condition(sql + ")", [letter.campaign_id, *affirmed])


def invite_code_condition(letter: Letter, code_hmac: str) -> Condition:
    """The campaign has this invite code, unrevoked."""
    table = InviteCode._meta.db_table
    return Condition(
        f"EXISTS (SELECT 1 FROM {table} i WHERE i.campaign_id = %s "  # noqa: S608
        "AND i.code_hmac = %s AND NOT i.revoked)",
        [letter.campaign_id, code_hmac],
    )


def token_unsealed_condition(letter: Letter, token_hash: str) -> Condition:
    """No sealed signature of the letter spent this token (a waiting one is
    the pending row's own unique key)."""
    table = Signature._meta.db_table
    return Condition(
        f"NOT EXISTS (SELECT 1 FROM {table} s WHERE s.letter_id = %s "  # noqa: S608
        "AND s.token_hash = %s)",
        [letter.pk, token_hash],
    )

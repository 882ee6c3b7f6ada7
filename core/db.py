"""Inserting a row whose unique key another request may have taken.

PostgreSQL writes every unique violation it raises to its own log, with the
conflicting key (`DETAIL: Key (campaign_id, user_id)=(3, 17) already exists`)
and a time to the millisecond, whether or not the application catches the
IntegrityError. Expected conflicts (two requests racing to create the same
row) therefore insert nothing instead of raising (docs/operations.md, "Log
hygiene").
"""

from __future__ import annotations

from django.db import connections, models, router


def insert_unless_conflicting(obj: models.Model) -> bool:
    """INSERT the new `obj`, or nothing if that would violate a unique
    constraint (a row with its key exists, or is being inserted by a
    transaction that then commits). Returns whether it was inserted; if it
    was, `obj` is saved (its primary key set) as after save().

    `INSERT ... ON CONFLICT DO NOTHING RETURNING pk`, on PostgreSQL and
    SQLite alike. Like bulk_create(), it sends no signals and does not call
    save().
    """
    meta = obj._meta
    connection = connections[router.db_for_write(type(obj), instance=obj)]
    fields = [
        field
        for field in meta.local_concrete_fields
        if not (field.primary_key and getattr(obj, field.attname) is None)
    ]
    values = [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields]
    quote = connection.ops.quote_name
    sql = "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT DO NOTHING RETURNING {}".format(  # noqa: S608 - names from the model
        quote(meta.db_table),
        ", ".join(quote(field.column) for field in fields),
        ", ".join(["%s"] * len(fields)),
        quote(meta.pk.column),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    if row is None:
        return False
    if obj.pk is None:
        obj.pk = meta.pk.to_python(row[0])
    obj._state.adding = False
    obj._state.db = connection.alias
    return True

"""core.db.insert_unless_conflicting, on SQLite and PostgreSQL."""

from __future__ import annotations

from django.db import transaction

from core.db import insert_unless_conflicting
from organizing.models import Membership
from tests.support.users import make_user


def test_a_conflicting_row_is_skipped_without_an_error(roles):
    user = make_user(email="x@personal.test")
    first = Membership(campaign=roles.campaign, user=user, display_name="First")
    with transaction.atomic():
        assert insert_unless_conflicting(first)
        second = Membership(campaign=roles.campaign, user=user, display_name="Second")
        assert not insert_unless_conflicting(second)
        # Nothing was raised: on PostgreSQL an error would have aborted the
        # transaction, and this query would fail.
        stored = Membership.objects.get(campaign=roles.campaign, user=user)
    assert stored.pk == first.pk and stored.display_name == "First"
    assert not first._state.adding and first._state.db == "default"
    assert second.pk is None and second._state.adding
    # Saved as by save(): later saves update the row.
    first.display_name = "Renamed"
    first.save()
    assert Membership.objects.get(pk=first.pk).display_name == "Renamed"

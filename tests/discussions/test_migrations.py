"""The move of the channel models from organizing to discussions (issue 14)
keeps their tables (tests/contracts/test_database.py) and the content types
that permissions and the admin log point at."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection

from organizing.models import User
from tests.support.users import make_user

move_content_types = importlib.import_module("discussions.migrations.0002_move_content_types")


@pytest.mark.django_db
def test_a_permission_granted_before_the_move_still_holds_after_it():
    # A database migrated before the move: the content type is organizing's.
    message_type = ContentType.objects.get(app_label="discussions", model="message")
    ContentType.objects.filter(pk=message_type.pk).update(app_label="organizing")
    ContentType.objects.clear_cache()
    user = make_user()
    user.user_permissions.add(Permission.objects.get(codename="view_message"))
    assert User.objects.get(pk=user.pk).has_perm("organizing.view_message")

    move_content_types.forwards(apps, SimpleNamespace(connection=connection))

    ContentType.objects.clear_cache()
    assert ContentType.objects.get(pk=message_type.pk).app_label == "discussions"
    assert not ContentType.objects.filter(app_label="organizing", model="message").exists()
    assert User.objects.get(pk=user.pk).has_perm("discussions.view_message")


@pytest.mark.django_db
def test_content_types_made_without_the_step_are_left_alone():
    # Both exist (e.g. post_migrate ran between the two migrations): relabelling
    # would break the unique (app_label, model); nothing changes.
    stale = ContentType.objects.create(app_label="organizing", model="wrappedkey")
    move_content_types.forwards(apps, SimpleNamespace(connection=connection))
    assert ContentType.objects.get(pk=stale.pk).app_label == "organizing"
    assert ContentType.objects.filter(app_label="discussions", model="wrappedkey").count() == 1

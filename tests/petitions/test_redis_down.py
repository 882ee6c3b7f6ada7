"""Exports and the public verification page with Redis unreachable
(docs/operations.md, "When Redis is down").

An export whose render cannot be queued (the broker is Redis) answers 503
and leaves no export stuck in "queued" that no worker will ever render: a
new try starts a new export.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from config.celery import app
from petitions.models import Export, ExportStatus
from tests.support.services import assert_unavailable_page

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def broker_down(redis_down):
    """Celery sends tasks to the unreachable Redis instead of running them.

    The app keeps its broker connections in pools made on first use, so
    they are set aside for the test and put back afterwards.
    """
    saved = app.conf.broker_url, app._pool, app.amqp._producer_pool
    app.conf.broker_url = redis_down
    app._pool = app.amqp._producer_pool = None
    app.conf.task_always_eager = False
    yield
    for pool in (app._pool, app.amqp._producer_pool):
        if pool is not None:
            pool.force_close_all()
    app.conf.broker_url, app._pool, app.amqp._producer_pool = saved
    app.conf.task_always_eager = True


def test_an_export_that_cannot_be_queued_answers_503_and_can_be_started_again(
    roles, campaign_key, letter, client_for, broker_down
):
    client = client_for(roles.delegate)
    url = reverse("petitions:list", args=[roles.campaign.slug])
    response = client.post(url, {"letter": letter.slug, "paper": "A4"})
    assert_unavailable_page(response)
    assert "could not be queued" in response.content.decode()
    failed = Export.objects.get()
    assert failed.status == ExportStatus.FAILED
    assert "Start the export again" in failed.error

    # The broker is back (tasks run in-process here): the same request
    # starts a new export instead of pointing at the one never queued.
    app.conf.task_always_eager = True
    response = client.post(url, {"letter": letter.slug, "paper": "A4"})
    assert response.status_code == 302
    fresh = Export.objects.exclude(pk=failed.pk).get()
    assert response["Location"] == reverse("petitions:detail", args=[roles.campaign.slug, fresh.pk])
    assert fresh.status == ExportStatus.DONE


def test_the_verification_page_pauses_its_checks(roles, redis_down, client):
    """Fails closed: its limit bounds how many uploads (up to 200 MB each) a
    client makes the server hash and check."""
    url = reverse("petitions:verify", args=[roles.campaign.slug])
    assert client.get(url).status_code == 200
    response = client.post(url, {"sha256": "0" * 64})
    assert_unavailable_page(response)

"""A real Celery worker on Redis and PostgreSQL: SIGKILL it in the middle of
a render; once a new worker starts, the export completes, exactly once.

The worker is a separate process, so it cannot see an in-memory SQLite test
database: this test runs against PostgreSQL (transactional test, committed
rows) and Redis, with the test process's DATA_DIR (keyring, export files).
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from organizing.models import AuditEntry
from petitions import services
from petitions.models import Export, ExportStatus
from tests.petitions.factories import make_issuances, make_letter, make_signatures

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

REPO = Path(__file__).resolve().parents[2]
SOFT_LIMIT, HARD_LIMIT = 50, 60
# Redis hands an unacknowledged task to another worker only once its
# visibility timeout has passed (production: 2 x the hard time limit) and
# kombu scans for such tasks every 10th poll of 10 s. The test workers use a
# 10 s timeout and scan every second, so the test takes seconds, not minutes.
# (A shorter timeout than the task's hard limit is safe here: the solo pool
# does not poll while it renders, and a duplicate run could not complete the
# export twice anyway.)
WORKER = (
    "import sys; from config.celery import app; "
    "app.conf.broker_transport_options = {'visibility_timeout': 10, "
    "'unacked_restore_interval': 1, 'unacked_restore_throttle': 1}; "
    "app.worker_main(sys.argv[1:])"
)


@pytest.fixture
def not_eager():
    from config.celery import app

    app.conf.task_always_eager = False
    yield app
    app.conf.task_always_eager = True


@pytest.fixture
def worker_env():
    db = connection.settings_dict
    url = f"postgresql://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": settings.REDIS_URL,
        "DATA_DIR": str(settings.DATA_DIR),
        "SECRET_KEY": settings.SECRET_KEY,
        "CELERY_TASK_SOFT_TIME_LIMIT": str(SOFT_LIMIT),
        "CELERY_TASK_TIME_LIMIT": str(HARD_LIMIT),
        "LOG_LEVEL": "WARNING",
    }


def start_worker(env, name):
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            WORKER,
            "worker",
            "--pool=solo",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"{name}@%h",
            "--loglevel=WARNING",
        ],
        cwd=REPO,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(process):
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def wait_for(predicate, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None


def test_worker_killed_mid_render_then_export_completes_once(
    roles, not_eager, worker_env, client_for
):
    import redis

    redis.Redis.from_url(settings.REDIS_URL).flushdb()  # our own Redis db: no stale tasks
    services.campaign_key_generate(actor=roles.organizer, campaign=roles.campaign)
    letter = make_letter(roles.campaign)
    make_signatures(letter, 2500)
    make_issuances(letter, 2600)

    first = start_worker(worker_env, "first")
    second = None
    try:
        export, created = services.export_start(actor=roles.delegate, letter=letter)
        assert created  # committed and queued to Redis (not eager)

        def rendering():
            row = Export.objects.filter(pk=export.pk).values("status", "progress").get()
            return row["status"] == ExportStatus.RUNNING and 20 <= row["progress"] <= 80

        assert wait_for(rendering, timeout=120), "the first worker never started rendering"
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
        export.refresh_from_db()
        assert export.status == ExportStatus.RUNNING and export.progress < 100
        assert export.attempts == 1
        assert not export.directory.exists()
        # The render's heartbeat was moving until the kill; once it has been
        # silent for a while (simulated), the page says what happens next.
        assert timezone.now() - export.progress_at < dt.timedelta(seconds=30)
        status_url = reverse("petitions:status", args=[roles.campaign.slug, export.pk])
        delegate = client_for(roles.delegate)
        assert delegate.get(status_url).json()["stall_notice"] == ""
        Export.objects.filter(pk=export.pk).update(
            progress_at=export.progress_at - services.EXPORT_STALLED_AFTER
        )
        minutes = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] // 60
        notice = delegate.get(status_url).json()["stall_notice"]
        assert "will resume automatically" in notice, notice
        assert f"visibility timeout of {minutes} minutes" in notice

        second = start_worker(worker_env, "second")

        def finished():
            export.refresh_from_db()
            return export.is_finished

        assert wait_for(finished, timeout=2 * HARD_LIMIT + 90, interval=0.5), (
            "the redelivered export never finished"
        )
        assert export.status == ExportStatus.DONE, export.error
        assert export.attempts == 2  # restarted cleanly by the redelivered task
        assert delegate.get(status_url).json()["stall_notice"] == ""
        assert export.count == 2500
        assert (
            AuditEntry.objects.filter(action="export.done", object_id=str(export.pk)).count() == 1
        )
        assert Export.objects.filter(letter=letter).count() == 1
        assert sorted(p.name for p in export.directory.iterdir()) == [
            "checkpoint.txt",
            "manifest.json",
            "manifest.json.asc",
            "petition.pdf",
            "petition.pdf.asc",
        ]
        assert not list(export.directory.parent.glob("*.partial"))
        pdf = services.export_file(export, "petition.pdf").read_bytes()
        assert services.verify_pdf(
            campaign=roles.campaign, sha256=export.pdf_sha256, pdf=pdf
        ).signature_valid
    finally:
        stop(first)
        if second is not None:
            stop(second)

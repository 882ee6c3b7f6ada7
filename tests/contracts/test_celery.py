"""Golden Celery task names, their arguments, and the beat schedule.

Task names are what the broker carries: a task queued by the old code and
run by the new one (during an upgrade, or a redelivery after a crash) must
find its function under the same name, with the same arguments; the beat
schedule names the tasks by these strings. Frozen on commit 1d16306.
"""

from __future__ import annotations

import inspect

from tests.contracts import paths

# Computed on commit 1d16306; must never change.
TASKS = {
    # name: the parameters the worker calls it with
    "letters.tasks.close_expired_letters": [],
    "organizing.delete_expired_messages": [],
    "organizing.ping": ["nonce"],
    "signatures.export.render": ["export_id"],
    "signatures.purge_expired_email_codes": [],
    "signatures.seal_batches": [],  # added with batches (issue 15)
}
BEAT_SCHEDULE = {
    "letters-close-expired": {"task": "letters.tasks.close_expired_letters", "schedule": 60.0},
    "signatures-purge-expired-email-codes": {
        "task": "signatures.purge_expired_email_codes",
        "schedule": 300.0,
    },
    "channels-delete-expired": {"task": "organizing.delete_expired_messages", "schedule": 600.0},
    # Added with batches (issue 15).
    "signatures-seal-batches": {"task": "signatures.seal_batches", "schedule": 60.0},
}


def project_tasks() -> dict:
    app = paths.celery_app
    # What a worker does at start: import every installed app's tasks module.
    app.loader.import_default_modules()
    return {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}


def test_registered_task_names_and_arguments():
    tasks = project_tasks()
    assert sorted(tasks) == sorted(TASKS)
    for name, task in tasks.items():
        assert list(inspect.signature(task.run).parameters) == TASKS[name], name


def test_the_export_task_survives_a_worker_crash():
    """A render is acknowledged only once done and redelivered if its worker
    dies (the run_id protocol in the export service makes that safe)."""
    render = project_tasks()["signatures.export.render"]
    assert render.acks_late is True
    assert render.reject_on_worker_lost is True


def test_beat_schedule():
    schedule = paths.celery_app.conf.beat_schedule
    assert schedule == BEAT_SCHEDULE
    assert {entry["task"] for entry in schedule.values()} <= set(project_tasks())

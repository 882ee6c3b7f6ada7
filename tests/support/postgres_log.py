"""PostgreSQL's own server log, read by tests; and races staged against it.

The server log is not ours: PostgreSQL writes it, and by default it records
every error with its DETAIL (a unique violation shows the conflicting key) and
the statement, each line with the time to the millisecond.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from pathlib import Path

from django.db import connection, connections, transaction

from tests.support.services import skip_or_fail

WAIT = 30  # seconds: an upper bound on a slow machine, not a measurement


def server_log_path() -> Path | None:
    """Where the server writes its log, found from the server itself.

    With the logging collector on, pg_current_logfile() says. Without it the
    server writes to the stderr it was started with: on Debian, the file that
    pg_ctlcluster gave it (`<config dir>/log` if that symlink exists, else
    /var/log/postgresql/postgresql-<version>-<cluster>.log).
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_logfile(), current_setting('data_directory')")
        current, data_directory = cursor.fetchone()
        if current:
            return Path(data_directory) / current  # an absolute `current` wins the join
        cursor.execute("SELECT current_setting('config_file')")
        (config_file,) = cursor.fetchone()
    config_dir = Path(config_file).parent
    link = config_dir / "log"
    if link.is_symlink():
        return config_dir / os.readlink(link)
    version, cluster = config_dir.parts[-2:]
    debian = Path("/var/log/postgresql") / f"postgresql-{version}-{cluster}.log"
    return debian if debian.exists() else None


class ServerLog:
    """What the server appends to its log from now on."""

    def __init__(self):
        path = server_log_path()
        if path is None or not os.access(path, os.R_OK):
            skip_or_fail(f"cannot read the PostgreSQL server log ({path or 'not found'})")
        self.path = path
        self.start = path.stat().st_size
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_database(), current_setting('log_line_prefix')")
            self.database, prefix = cursor.fetchone()
        # With %d in the prefix each line names its database: other test runs
        # share the server, and their lines are not this test's.
        self.own_marker = f"@{self.database} " if "%u@%d" in prefix else ""

    def new_text(self) -> str:
        """The log since this object was made, once the server has written it
        all: a marker logged last must appear (it also proves this is the live
        log of the server the tests use)."""
        marker = f"organizing-log-marker-{uuid.uuid4().hex}"
        with connection.cursor() as cursor:
            cursor.execute(f"DO $$ BEGIN RAISE LOG '{marker}'; END $$")  # noqa: S608 - our uuid
        deadline = time.monotonic() + WAIT
        while True:
            with self.path.open("rb") as handle:
                handle.seek(self.start)
                text = handle.read().decode("utf-8", errors="replace")
            if marker in text:
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"the marker never reached {self.path}")
            time.sleep(0.05)

    def own_lines(self, text: str) -> list[str]:
        return [line for line in text.splitlines() if self.own_marker in line]

    def assert_no_conflict_logged(self, *secrets: str) -> None:
        """No unique violation of this database and none of `secrets` (hex
        values the test produced) in the log since this object was made."""
        text = self.new_text()
        lowered = text.lower()
        for secret in secrets:
            assert secret.lower() not in lowered, secret
        conflicts = [
            line
            for line in self.own_lines(text)
            if "duplicate key" in line or "unique constraint" in line
        ]
        assert not conflicts, conflicts


def lock_waiters() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def race_with_uncommitted_row(create_row, action):
    """Run action() while another transaction holds the row it will conflict
    with, inserted but not yet committed: the race between a read and a write,
    staged so it happens every time.

    action() cannot see the row, so it goes on to insert its own, which waits
    on the other transaction's unique-index entry; the other transaction then
    commits. Returns what action() returned (or raises what it raised).
    """
    holding, release = threading.Event(), threading.Event()
    outcome: dict = {}

    def holder():
        try:
            with transaction.atomic():
                create_row()
                holding.set()
                release.wait(WAIT)
        except BaseException as exc:  # surfaced below
            outcome["holder_error"] = exc
            holding.set()
        finally:
            connections.close_all()

    def actor():
        try:
            outcome["value"] = action()
        except BaseException as exc:  # surfaced below
            outcome["error"] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=holder), threading.Thread(target=actor)]
    threads[0].start()
    assert holding.wait(WAIT)
    threads[1].start()
    deadline = time.monotonic() + WAIT
    waited = False
    while not waited and threads[1].is_alive() and time.monotonic() < deadline:
        waited = lock_waiters() > 0
        time.sleep(0.01)
    release.set()
    for thread in threads:
        thread.join(WAIT)
    if "holder_error" in outcome:
        raise outcome["holder_error"]
    if "error" in outcome:
        raise outcome["error"]
    assert waited, "the action never waited on the uncommitted row: no race was staged"
    return outcome["value"]

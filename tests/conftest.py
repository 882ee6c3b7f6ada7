"""Fixtures shared by all tests.

Roles: `roles` gives one campaign with an organizer, a delegate and a member
(organizer and delegate with TOTP enabled), plus an organizer of *another*
campaign, so every authorization test can walk through all of them and the
anonymous visitor.
"""

from __future__ import annotations

import pytest

from organizing.models import Role
from tests.support.factories import CampaignFactory, MembershipFactory
from tests.support.services import REQUIRE_SERVICES, skip_or_fail, unreachable_redis
from tests.support.sessions import login_with_mfa
from tests.support.users import Roles, make_user

# The `stack` fixture: the production processes (tests/support/production.py).
pytest_plugins = ["tests.support.production"]


def pytest_runtest_setup(item):
    from django.conf import settings

    if item.get_closest_marker("postgres"):
        engine = settings.DATABASES["default"]["ENGINE"]
        if "postgresql" not in engine:
            skip_or_fail("needs PostgreSQL: set DATABASE_URL")
    if item.get_closest_marker("redis") and not settings.REDIS_URL:
        skip_or_fail("needs Redis: set REDIS_URL")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if REQUIRE_SERVICES and terminalreporter.stats.get("skipped"):
        terminalreporter.write_line("REQUIRE_SERVICES=1: skipped tests are not allowed", red=True)


def pytest_sessionfinish(session, exitstatus):
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if REQUIRE_SERVICES and reporter is not None and reporter.stats.get("skipped"):
        session.exitstatus = 1


@pytest.fixture(autouse=True)
def _isolated_settings(settings, tmp_path):
    """Keep tests away from the real data folder and mail."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    # PBKDF2's million rounds cost ~0.5 s per user made; tests make thousands.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Each signature sealed as it is accepted, as in the embedded default,
    # also when DATABASE_URL selects PostgreSQL; the tests of batches
    # (tests/signatures/test_batches.py, test_linkage.py) switch to
    # "scheduled", the production default.
    settings.SIGNATURE_BATCHES = "at-once"


@pytest.fixture(autouse=True, scope="session")
def _eager_celery():
    """Tasks run in-process in tests, even when REDIS_URL configures a broker;
    the tests that need a real worker start one and switch this off."""
    from config.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    from signatures.api import signing_letters_forget

    cache.clear()
    # Letters kept by this process for signing outlive a test's rolled-back
    # rows (SQLite even reuses their ids).
    signing_letters_forget()
    yield


@pytest.fixture
def roles(db) -> Roles:
    campaign = CampaignFactory(slug="acme", name="Acme workers")
    other = CampaignFactory(slug="other", name="Other workers")
    organizer = make_user(mfa=True, email="org@personal.test")
    delegate = make_user(mfa=True, email="del@personal.test")
    member = make_user(email="mem@personal.test")
    other_organizer = make_user(mfa=True, email="other-org@personal.test")
    MembershipFactory(campaign=campaign, user=organizer, role=Role.ORGANIZER, display_name="Org")
    MembershipFactory(campaign=campaign, user=delegate, role=Role.DELEGATE, display_name="Del")
    MembershipFactory(campaign=campaign, user=member, role=Role.MEMBER, display_name="Mem")
    MembershipFactory(
        campaign=other, user=other_organizer, role=Role.ORGANIZER, display_name="Other"
    )
    return Roles(campaign, organizer, delegate, member, other_organizer, other)


@pytest.fixture
def client_for(client):
    """client_for(user) -> a test client logged in as user (None: anonymous),
    with the second factor when the account has one."""
    from django.test import Client

    def make(user):
        c = Client()
        if user is not None:
            login_with_mfa(c, user)
        return c

    return make


@pytest.fixture
def redis_down(settings) -> str:
    """Redis is unreachable for this test (see unreachable_redis)."""
    return unreachable_redis(settings)


def pytest_collection_modifyitems(session, config, items):
    """Run the browser tests last: Playwright's sync API keeps an event loop in
    the main thread for the rest of the session, and async_to_sync (used by
    the websocket consumer tests) refuses to run beside one."""
    items.sort(key=lambda item: "tests/e2e/" in str(item.fspath).replace("\\", "/"))

"""Real-browser tests: Playwright driving the system's headless Chromium.

`page` opens a fresh browser context per test and records every request that
leaves the live server's origin in `page.foreign_requests` (tests assert it
stays empty: no third-party requests, ever).
"""

from __future__ import annotations

import os
import shutil
from urllib.parse import urlparse

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]

# Playwright's sync API runs an event loop in this thread; Django's ORM calls
# made by the test itself (fixtures, assertions) are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("REQUIRE_SERVICES") == "1" or os.environ.get("CI"):
            pytest.fail(f"Chromium not found at {CHROMIUM}: install the Debian package chromium")
        pytest.skip("Chromium not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser, live_server):
    """new_page(**context_options) -> a page in a fresh context (separate
    cookies/storage); options go to Playwright's new_context (viewport=...)."""
    contexts = []
    origin = urlparse(live_server.url)

    def make(**options):
        context = browser.new_context(base_url=live_server.url, locale="en-US", **options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.foreign_requests = []
        page.console_errors = []

        def on_request(request):
            url = urlparse(request.url)
            if url.scheme in ("data", "blob"):
                return
            if (url.hostname, url.port) != (origin.hostname, origin.port):
                page.foreign_requests.append(request.url)

        page.on("request", on_request)
        page.on(
            "console",
            lambda msg: page.console_errors.append(msg.text) if msg.type == "error" else None,
        )
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    return new_page()

"""`make run` on another port: every link the site prints carries that port.

A person runs `make run PORT=<p>` (README), signs in as the demo organizer
and follows what the site gives them: the letter's address on its manage
page, the QR codes and URLs of a printed invite sheet (read the way a phone
reads them), the verification address printed in the signed petition, and
seed_demo's "Log in at" line. Before SITE_URL followed HOST and PORT, all of
them said :8000.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from organizing.management.commands.seed_demo import DEMO_ACCOUNTS
from tests.e2e.journeys import (
    DESKTOP,
    PHONE,
    pdf_qr_codes,
    pdf_text,
    screenshot,
    sign_in,
)
from tests.organizing.test_production_run import free_port

BASE_DIR = Path(__file__).resolve().parents[2]
WAIT = 180  # seconds: migrate, collectstatic and seed on a slow machine, not a measurement


@pytest.fixture
def make_run(tmp_path):
    """`make run` with its own data folder on a free port; (url, its output file)."""
    port = free_port()
    log = tmp_path / "make-run.log"
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "SITE_URL", "ALLOWED_HOSTS", "HOST", "PORT"}
        and not key.startswith("DJANGO_")
    }
    env["DATA_DIR"] = str(tmp_path / "data")
    with open(log, "wb") as output:
        # -o: the suite's virtualenv is installed; everything else is the recipe.
        process = subprocess.Popen(
            ["make", "-o", ".venv/.installed", "run", f"PORT={port}"],
            cwd=BASE_DIR,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + WAIT
        while True:
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("make run did not serve:\n" + log.read_text()[-3000:])
            time.sleep(1)
        yield url, log
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_links_carry_the_port_make_run_serves_on(browser, make_run):
    url, log = make_run
    port = url.rsplit(":", 1)[1]
    assert f"Log in at {url}/accounts/login/ with:" in log.read_text()
    email, password, _role, _name, secret = DEMO_ACCOUNTS[0]

    context = browser.new_context(base_url=url, viewport=PHONE, accept_downloads=True)
    context.set_default_timeout(60_000)
    page = context.new_page()
    sign_in(page, email, password, totp_secret=secret)

    # The letter's address on its manage page, on a phone and a desktop.
    page.goto("/c/demo/letters/")
    page.get_by_role("link", name="Stop logging our keystrokes").first.click()
    page.wait_for_url("**/c/demo/letters/*/")
    for name, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(viewport)
        address = page.locator("dl.facts code").first
        assert address.inner_text() == f"{url}/letters/stop-keystroke-logging/"
        box = address.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"]  # read in full
        screenshot(page, f"make-run-letter-manage-{name}")

    # The invite sheet: the URL printed on each card and what its QR code says.
    page.goto("/c/demo/invite-sheet/")
    page.fill("#id_count", "2")
    with page.expect_download() as download:
        page.click("main form button[type=submit]")
    sheet = Path(download.value.path()).read_bytes()
    text = "".join(pdf_text(sheet).split())
    sign_page = f"{url}/letters/stop-keystroke-logging/sign/#invite="
    assert text.count(sign_page) == 2, text
    scanned = pdf_qr_codes(sheet)
    assert len(scanned) == 2 and all(code.startswith(sign_page) for code in scanned), scanned
    # The scanned link opens the signing page on this very server.
    page.goto(scanned[0])
    assert page.url.startswith(f"{url}/letters/stop-keystroke-logging/sign/")

    # The signed petition: its verification address.
    page.goto("/c/demo/exports/keys/")
    page.click("form:has(input[name=action][value=generate]) button")
    page.wait_for_url("**/c/demo/exports/keys/")
    page.goto("/c/demo/exports/")
    page.locator("section", has_text="Stop logging our keystrokes").get_by_role(
        "button", name="Export as signed PDF"
    ).click()
    page.wait_for_url("**/c/demo/exports/*/")
    page.get_by_role("link", name="-petition.pdf", exact=False).first.wait_for()
    with page.expect_download() as download:
        page.get_by_role("link", name="-petition.pdf", exact=False).first.click()
    petition = pdf_text(Path(download.value.path()).read_bytes())
    flat = "".join(petition.split())
    assert f"{url}/c/demo/verify/" in flat
    assert ":8000" not in flat and f":{port}/" in flat
    screenshot(page, "make-run-export-desktop")
    context.close()

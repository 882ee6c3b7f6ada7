"""What the journey tests do as a person would: sign in with a second factor,
read a downloaded PDF, scan its QR codes, keep screenshots.

Screenshots go to the folder named by E2E_SCREENSHOTS (nothing is kept
without it), so that a person can look at each journey's main pages.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path

from organizing.mfa import totp_current_code

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}
VIEWPORTS = {"phone": PHONE, "desktop": DESKTOP}


def sign_in(page, email: str, password: str, *, totp_secret: str | None = None) -> None:
    """The login form, then the authenticator code when the account has one."""
    page.goto("/accounts/login/")
    page.fill("#id_login", email)
    page.fill("#id_password", password)
    page.click("main form button[type=submit]")
    if totp_secret:
        page.wait_for_url("**/accounts/2fa/authenticate/**")
        page.fill("#id_code", totp_current_code(totp_secret))
        page.click("main form button[type=submit]")
    page.wait_for_url(re.compile(r".*/(organize|join/[^/]+)/$"))


def screenshot(page, name: str) -> None:
    folder = os.environ.get("E2E_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def no_horizontal_scroll(page) -> bool:
    """Nothing is wider than the screen (a phone would scroll sideways)."""
    return page.evaluate(
        "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )


def pdf_text(data: bytes) -> str:
    with tempfile.NamedTemporaryFile(suffix=".pdf") as handle:
        handle.write(data)
        handle.flush()
        out = subprocess.run(
            ["pdftotext", "-raw", handle.name, "-"], check=True, capture_output=True
        )
    return out.stdout.decode()


def pdf_qr_codes(data: bytes) -> list[str]:
    """What a phone reads from the QR codes of a PDF: its pages rendered
    (pdftoppm) and scanned (zbarimg, Debian's zbar-tools)."""
    with tempfile.TemporaryDirectory(prefix="qr-") as folder:
        pdf = Path(folder) / "sheet.pdf"
        pdf.write_bytes(data)
        subprocess.run(
            ["pdftoppm", "-r", "150", "-png", str(pdf), str(Path(folder) / "page")], check=True
        )
        found = []
        for png in sorted(Path(folder).glob("page*.png")):
            out = subprocess.run(
                ["zbarimg", "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", str(png)],
                capture_output=True,
                text=True,
            )
            found += [line for line in out.stdout.splitlines() if line]
    return found


def signed_in_page(new_page, live_server, user, *, viewport=DESKTOP):
    """A page whose browser holds a session of `user` as allauth leaves it
    after the password and the second factor (for journeys that start
    signed in; sign_in above is the login itself)."""
    from django.conf import settings
    from django.test import Client

    from tests.support.sessions import login_with_mfa

    client = Client()
    login_with_mfa(client, user)
    page = new_page()
    page.set_viewport_size(viewport)
    page.context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    return page

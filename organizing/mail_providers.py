"""Public mail providers: domains where anyone can get an address.

Allowing one as a campaign's work-email domain lets anyone sign as an
employee, so organizers must confirm it (organizing.services). The list holds
the large free providers; it cannot be complete, and an employer that really
uses one of them (a small firm on gmail.com) is the case the confirmation is
for.
"""

from __future__ import annotations

from collections.abc import Iterable

PUBLIC_MAIL_DOMAINS = frozenset(
    {
        # Google, Microsoft, Apple, Yahoo, AOL
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "outlook.de",
        "outlook.fr",
        "hotmail.com",
        "hotmail.co.uk",
        "hotmail.de",
        "hotmail.fr",
        "hotmail.it",
        "hotmail.es",
        "live.com",
        "live.co.uk",
        "live.de",
        "live.fr",
        "msn.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "yahoo.com",
        "yahoo.co.uk",
        "yahoo.de",
        "yahoo.fr",
        "yahoo.es",
        "yahoo.it",
        "yahoo.co.jp",
        "yahoo.com.br",
        "ymail.com",
        "rocketmail.com",
        "aol.com",
        "aim.com",
        # Privacy-minded and paid providers anyone can sign up for
        "proton.me",
        "protonmail.com",
        "protonmail.ch",
        "pm.me",
        "tutanota.com",
        "tutanota.de",
        "tuta.io",
        "tuta.com",
        "fastmail.com",
        "fastmail.fm",
        "posteo.de",
        "posteo.net",
        "mailbox.org",
        "hey.com",
        "zoho.com",
        "zohomail.com",
        "riseup.net",
        "disroot.org",
        # National providers
        "gmx.com",
        "gmx.de",
        "gmx.net",
        "gmx.at",
        "gmx.ch",
        "web.de",
        "t-online.de",
        "freenet.de",
        "mail.com",
        "email.com",
        "orange.fr",
        "wanadoo.fr",
        "free.fr",
        "laposte.net",
        "sfr.fr",
        "libero.it",
        "virgilio.it",
        "tiscali.it",
        "seznam.cz",
        "wp.pl",
        "o2.pl",
        "interia.pl",
        "onet.pl",
        "mail.ru",
        "yandex.ru",
        "yandex.com",
        "rambler.ru",
        "qq.com",
        "163.com",
        "126.com",
        "sina.com",
        "naver.com",
        "daum.net",
        "rediffmail.com",
        "uol.com.br",
        "bol.com.br",
        "terra.com.br",
        "comcast.net",
        "verizon.net",
        "att.net",
        "sbcglobal.net",
        "btinternet.com",
        "sky.com",
        "bigpond.com",
        "shaw.ca",
        "rogers.com",
    }
)


def public_mail_domains(domains: Iterable[str]) -> list[str]:
    """The public mail providers among `domains` (normalized, lower-case)."""
    return [domain for domain in domains if domain in PUBLIC_MAIL_DOMAINS]

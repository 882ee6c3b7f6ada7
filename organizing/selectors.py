"""Read-only queries used by organizing's pages."""

from letters.selectors import campaign_public_letters, public_open_letters


def home_open_letters():
    return public_open_letters()[:20]


__all__ = ["campaign_public_letters", "home_open_letters"]

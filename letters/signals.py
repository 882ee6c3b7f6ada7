"""Signals other apps listen to, so letters never imports them.

letter_opened is sent inside the opening transaction with `letter`; the
signatures app creates the letter's issuer key on it.
"""

from django.dispatch import Signal

letter_opened = Signal()

"""Signals other apps listen to, so letters never imports them.

letter_opened is sent inside the opening transaction with `letter`; the
signatures app creates the letter's issuer key on it.
"""

from django.dispatch import Signal

letter_opened = Signal()
# Sent inside the closing transaction (by an organizer or at the deadline) with
# `letter`: the signatures app seals every signature that waits for a batch.
letter_closed = Signal()

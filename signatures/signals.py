"""Signals that signatures sends, for the apps above it (petitions) to fill.

Signal.send is synchronous; receivers' return values are collected.
"""

from django.dispatch import Signal

# A receipt's status was asked for (signatures.services.receipt_status).
# Argument: signature. Each receiver returns a list of dicts describing the
# exports that include it ({"id", "created", "delivered_at", "url"};
# delivered_at None for an export that was not delivered), which the answer
# lists.
receipt_exports_requested = Signal()

"""Signals that organizing sends, for the apps above it to hook into.

organizing never imports the apps that build on it; they connect receivers
to these signals in their AppConfig.ready (with a dispatch_uid). Signal.send
is synchronous: receivers run in the sender's transaction.
"""

from django.dispatch import Signal

# `manage.py seed_demo`, once the demo campaign and its accounts exist (inside
# its transaction): receivers add their demo content (letters, signatures...).
# Arguments: campaign, accounts ({role: user}), stdout.
demo_seeded = Signal()

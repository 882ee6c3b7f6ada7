"""Signals that organizing sends, for the apps above it to hook into.

organizing never imports the apps that build on it; they connect receivers
to these signals in their AppConfig.ready (with a dispatch_uid). Signal.send
is synchronous: receivers run in the sender's transaction, what they write
commits or rolls back with it, and a receiver that raises aborts the change.
"""

from django.dispatch import Signal

# `manage.py seed_demo`, once the demo campaign and its accounts exist (inside
# its transaction): receivers add their demo content (letters, signatures...).
# Arguments: campaign, accounts ({role: user}), stdout.
demo_seeded = Signal()

# organizing.services.membership_remove, before the row is deleted (discussions
# rotates the keys of the member's channels). Arguments: membership, actor.
membership_removed = Signal()
# organizing.services.membership_change_role, after the new role is saved.
# Arguments: membership, old_role, actor.
membership_role_changed = Signal()

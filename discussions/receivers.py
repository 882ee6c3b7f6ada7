"""What the channels do when something happens elsewhere: the receivers of
organizing's and allauth's signals, connected in DiscussionsConfig.ready."""

from __future__ import annotations

from discussions import services


def on_membership_removed(sender, *, membership, actor, **kwargs) -> None:
    """organizing.signals.membership_removed: the member's channels get new
    keys and their sockets close."""
    services.channels_revoke_member(membership=membership)


def on_membership_role_changed(sender, *, membership, old_role, actor, **kwargs) -> None:
    """organizing.signals.membership_role_changed: channels the new role may
    not join get new keys, and the member's sockets close."""
    services.channels_revoke_role(membership=membership, old_role=old_role)


def on_authenticator_removed(sender, *, user, **kwargs) -> None:
    """allauth.mfa.signals.authenticator_removed: an organizer or delegate
    left without a second factor loses their open sockets."""
    services.sockets_close_without_second_factor(user=user)

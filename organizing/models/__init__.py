"""organizing's models, one module per area; import them from here."""

from organizing.models.campaigns import (
    PRIVILEGED_ROLES,
    AuditEntry,
    Campaign,
    Invitation,
    Membership,
    Role,
    User,
    UserManager,
)
from organizing.models.channels import (
    ChannelKeyEpoch,
    DiscussionChannel,
    MemberDeviceKey,
    Message,
    Retention,
    WrappedKey,
)

__all__ = [
    "PRIVILEGED_ROLES",
    "AuditEntry",
    "Campaign",
    "Invitation",
    "Membership",
    "Role",
    "User",
    "UserManager",
    "ChannelKeyEpoch",
    "DiscussionChannel",
    "MemberDeviceKey",
    "Message",
    "Retention",
    "WrappedKey",
]

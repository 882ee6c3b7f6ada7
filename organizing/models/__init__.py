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

__all__ = [
    "PRIVILEGED_ROLES",
    "AuditEntry",
    "Campaign",
    "Invitation",
    "Membership",
    "Role",
    "User",
    "UserManager",
]

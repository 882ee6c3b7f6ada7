"""What tests of several apps share: factories, users and roles, MFA sessions,
the PostgreSQL server log, the cache's contents, and unreachable services."""

# Kept for workers started as `celery -A organizing`; remove in the next release
# (docs/operations.md, "Upgrades").
from config.celery import app  # noqa: F401

# Kept for servers started as organizing.wsgi:application; remove in the next
# release (docs/operations.md, "Upgrades").
from config.wsgi import application  # noqa: F401

# Kept for servers started as organizing.asgi:application; remove in the next
# release (docs/operations.md, "Upgrades").
from config.asgi import application  # noqa: F401

"""Websocket routes (served by the ASGI server under /ws/)."""

websocket_urlpatterns: list = []

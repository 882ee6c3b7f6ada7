"""Websocket routes (served by the ASGI server under /ws/)."""

from django.urls import path

from organizing.consumers import ChannelConsumer

websocket_urlpatterns: list = [
    path("ws/channels/<int:channel_id>/", ChannelConsumer.as_asgi()),
]

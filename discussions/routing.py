"""The discussion channels' websocket route (config/routing.py serves it under /ws/)."""

from django.urls import path

from discussions.consumers import ChannelConsumer

websocket_urlpatterns: list = [
    path("ws/channels/<int:channel_id>/", ChannelConsumer.as_asgi()),
]

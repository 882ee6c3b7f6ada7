"""Websocket routes (served by the ASGI server under /ws/)."""

from django.urls import path, re_path

from organizing.consumers import ChannelConsumer, NoRouteConsumer

websocket_urlpatterns: list = [
    path("ws/channels/<int:channel_id>/", ChannelConsumer.as_asgi()),
]

# After the routes (config.asgi): any other path is refused at the handshake.
no_route = re_path(r"", NoRouteConsumer.as_asgi())

"""The project's websocket routes (served by the ASGI server under /ws/): every app's."""

from django.urls import re_path

from discussions import routing as discussions_routing
from discussions.consumers import NoRouteConsumer

websocket_urlpatterns: list = [
    *discussions_routing.websocket_urlpatterns,
]

# After the routes (config.asgi): any other path is refused at the handshake.
no_route = re_path(r"", NoRouteConsumer.as_asgi())

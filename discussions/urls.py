"""The pages of the discussion channels, under a campaign: /c/<slug>/channels/...

Their URL names stay in the `organizing` namespace (`organizing:channel_list`,
`organizing:channel_room`, ...), where they were before this app existed: the
project's URLconf includes these patterns there.
"""

from django.urls import include, path

from discussions import views

channel_patterns = [
    path("channels/", views.channel_list, name="channel_list"),
    path("channels/new/", views.channel_create, name="channel_create"),
    path("channels/<int:channel_id>/", views.channel_room, name="channel_room"),
    path(
        "channels/<int:channel_id>/settings/",
        views.channel_settings,
        name="channel_settings",
    ),
    path(
        "channels/<int:channel_id>/archive/",
        views.channel_archive,
        name="channel_archive",
    ),
]

urlpatterns = [
    path("c/<slug:slug>/", include(channel_patterns)),
]

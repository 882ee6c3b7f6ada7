"""The organizing app's pages: campaigns, memberships, invitations, the audit log."""

from django.urls import include, path

from organizing import channel_views, views

campaign_patterns = [
    path("", views.campaign_page, name="campaign"),
    path("manage/", views.campaign_manage, name="manage"),
    path("settings/", views.campaign_settings, name="settings"),
    path("audit/", views.audit_log, name="audit"),
    path("invitations/", views.invitation_create, name="invitation_create"),
    path(
        "invitations/<int:invitation_id>/revoke/",
        views.invitation_revoke,
        name="invitation_revoke",
    ),
    path("members/<int:membership_id>/remove/", views.membership_remove, name="member_remove"),
    path("members/<int:membership_id>/role/", views.membership_role, name="member_role"),
    path("me/name/", views.membership_rename, name="member_rename"),
    # encrypted discussion channels
    path("channels/", channel_views.channel_list, name="channel_list"),
    path("channels/new/", channel_views.channel_create, name="channel_create"),
    path("channels/<int:channel_id>/", channel_views.channel_room, name="channel_room"),
    path(
        "channels/<int:channel_id>/settings/",
        channel_views.channel_settings,
        name="channel_settings",
    ),
    path(
        "channels/<int:channel_id>/archive/",
        channel_views.channel_archive,
        name="channel_archive",
    ),
]

app_name = "organizing"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("organize/", views.dashboard, name="dashboard"),
    path("organize/new/", views.campaign_create, name="campaign_create"),
    path("join/<str:token>/", views.join, name="join"),
    path("c/<slug:slug>/", include(campaign_patterns)),
]

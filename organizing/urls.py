"""The organizing app's pages: campaigns, memberships, invitations, the audit log."""

from django.urls import include, path

from organizing import views

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

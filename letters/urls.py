from django.urls import path

from letters import views

app_name = "letters"

manage = "c/<slug:slug>/letters/"

urlpatterns = [
    path("letters/<slug:slug>/", views.public, name="public"),
    path("letters/<slug:slug>/updates.atom", views.letter_feed, name="feed"),
    path("c/<slug:slug>/updates.atom", views.campaign_feed, name="campaign_feed"),
    path(manage, views.manage_list, name="manage_list"),
    path(f"{manage}new/", views.create, name="manage_create"),
    path(f"{manage}<int:pk>/", views.detail, name="manage_detail"),
    path(f"{manage}<int:pk>/edit/", views.edit, name="manage_edit"),
    path(f"{manage}<int:pk>/history/", views.history, name="manage_history"),
    path(f"{manage}<int:pk>/diff/", views.diff, name="manage_diff"),
    path(f"{manage}<int:pk>/comments/", views.comment_add, name="comment_add"),
    path(
        f"{manage}<int:pk>/comments/<int:comment_id>/resolve/",
        views.comment_resolve,
        name="comment_resolve",
    ),
    path(f"{manage}<int:pk>/visibility/", views.visibility, name="manage_visibility"),
    path(f"{manage}<int:pk>/updates/", views.updates, name="updates"),
    path(
        f"{manage}<int:pk>/updates/<uuid:update_id>/",
        views.update_edit,
        name="update_edit",
    ),
    path(
        f"{manage}<int:pk>/updates/<uuid:update_id>/delete/",
        views.update_delete,
        name="update_delete",
    ),
    path(
        f"{manage}<int:pk>/<str:action>/",
        views.transition,
        name="manage_transition",
    ),
]

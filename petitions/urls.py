from django.urls import path

from petitions import views

app_name = "petitions"

urlpatterns = [
    path("c/<slug:slug>/exports/", views.export_list, name="list"),
    path("c/<slug:slug>/exports/keys/", views.keys, name="keys"),
    path("c/<slug:slug>/exports/<uuid:export_id>/", views.export_detail, name="detail"),
    path("c/<slug:slug>/exports/<uuid:export_id>/status.json", views.export_status, name="status"),
    path("c/<slug:slug>/exports/<uuid:export_id>/cancel/", views.export_cancel, name="cancel"),
    path("c/<slug:slug>/exports/<uuid:export_id>/deliver/", views.export_deliver, name="deliver"),
    path(
        "c/<slug:slug>/exports/<uuid:export_id>/response/", views.delivery_response, name="response"
    ),
    path(
        "c/<slug:slug>/exports/<uuid:export_id>/files/<str:name>",
        views.export_download,
        name="download",
    ),
    path("c/<slug:slug>/invite-sheet/", views.invite_sheet, name="invite_sheet"),
    # Public
    path("c/<slug:slug>/openpgp-key.asc", views.public_key, name="public_key"),
    path("c/<slug:slug>/verify/", views.verify, name="verify"),
    path("c/<slug:slug>/verify/<uuid:export_id>/", views.verify_export, name="verify_export"),
    path(
        "c/<slug:slug>/verify/<uuid:export_id>/<str:name>",
        views.public_download,
        name="public_download",
    ),
]

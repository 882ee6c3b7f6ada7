from django.urls import path

from letters import views

app_name = "letters"

urlpatterns = [
    path("letters/<slug:slug>/", views.public, name="public"),
]

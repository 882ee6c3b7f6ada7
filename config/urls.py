"""The project's URLs: every app's, the accounts pages and the operators' admin."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("organizing.urls")),
    path("", include("letters.urls")),
    path("", include("signatures.urls")),
    path("", include("petitions.urls")),
    path("accounts/", include("allauth.urls")),
    path("operator/", admin.site.urls),
]

# JSON under /api/, pages elsewhere; none of them reads the request body.
handler400 = "core.errors.bad_request"
handler403 = "core.errors.permission_denied"
handler404 = "core.errors.page_not_found"
handler500 = "core.errors.server_error"

if settings.BENCHMARK_ROUTES:
    # bench/signing.py's baseline; absent unless BENCHMARK_ROUTES=true.
    from bench import baseline

    urlpatterns += baseline.urlpatterns

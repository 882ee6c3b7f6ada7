"""The project's URLs: every app's, the accounts pages and the operators' admin."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from discussions import urls as discussions_urls
from organizing import urls as organizing_urls

urlpatterns = [
    # The discussion channels' pages keep the names they had when they were
    # organizing's (organizing:channel_list, ...): one namespace for both.
    path("", include((organizing_urls.urlpatterns + discussions_urls.urlpatterns, "organizing"))),
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

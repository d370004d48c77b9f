from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.contrib.staticfiles.views import serve
from django.urls import include, path, re_path

from demo import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("jobs/", include("jobs_ui.urls")),
    path("demo/count/", views.count_start, name="count_start"),
    path("demo/exports/<uuid:job_id>/customers.csv", views.export_download, name="export_download"),
    path("", views.home, name="home"),
]

if not settings.DEBUG:
    # The demo runs on runserver with DEBUG off (real 404 pages); it serves its
    # own static files. Never do this in production: use a web server or WhiteNoise.
    urlpatterns.append(re_path(r"^static/(?P<path>.*)$", serve, {"insecure": True}))

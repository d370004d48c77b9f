from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from demo import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("jobs/", include("jobs_ui.urls")),
    path("", views.home, name="home"),
]

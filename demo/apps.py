from __future__ import annotations

from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "demo"
    verbose_name = "jobs_ui demo"
    default_auto_field = "django.db.models.BigAutoField"

"""The app's configuration: ``ready()`` loads the system checks, the settings reset and the signal receivers."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class JobsUiConfig(AppConfig):
    name = "jobs_ui"
    verbose_name = _("Jobs")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from jobs_ui import checks, conf, signals  # noqa: F401

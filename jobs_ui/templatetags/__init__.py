"""The ``{% load jobs_ui %}`` library (``jobs_ui.templatetags.jobs_ui``)."""

from __future__ import annotations

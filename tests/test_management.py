"""Management hygiene: system checks pass and no migration is missing; the demo's commands work."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import TestCase

from demo.management.commands import demo_users

ROOT = Path(__file__).resolve().parent.parent


# On SQLite, field checks query the database (JSONField support).
class CheckTests(TestCase):
    def test_check_passes(self):
        out = StringIO()
        call_command("check", stdout=out)
        assert "no issues" in out.getvalue()

    def test_check_passes_demo_settings(self):
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "demo.settings"}
        completed = subprocess.run(
            [sys.executable, "manage.py", "check"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert completed.returncode == 0, completed.stdout + completed.stderr


class MakemigrationsTests(TestCase):
    def test_no_missing_migrations(self):
        out = StringIO()
        try:
            call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
        except SystemExit:
            pytest.fail(f"Model changes without a migration:\n{out.getvalue()}")


class DemoUsersTests(TestCase):
    def test_creates_users_and_prints_passwords(self):
        out = StringIO()
        call_command(demo_users.Command(), stdout=out)
        output = out.getvalue()
        for username, password, staff in demo_users.DEMO_USERS:
            assert f"{username} / {password}" in output
            user = User.objects.get(username=username)
            assert user.check_password(password)
            assert user.is_staff is staff
            assert user.is_superuser is staff

    def test_idempotent_resets_password(self):
        user = User.objects.create_user("alice", password="changed")
        call_command(demo_users.Command(), stdout=StringIO())
        call_command(demo_users.Command(), stdout=StringIO())
        assert User.objects.filter(username__in=["alice", "bob", "staff"]).count() == 3
        user.refresh_from_db()
        assert user.check_password("alice-demo-pass")

"""Create (or reset) the demo users and print how to sign in."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

# username, password, is_staff (staff users are superusers too)
DEMO_USERS = [
    ("alice", "alice-demo-pass", False),
    ("bob", "bob-demo-pass", False),
    ("staff", "staff-demo-pass", True),
]


class Command(BaseCommand):
    help = "Create or update the demo users (alice, bob, staff) and print their passwords."

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        self.stdout.write("Demo users (username / password):")
        for username, password, staff in DEMO_USERS:
            user, _ = User.objects.get_or_create(username=username)
            user.set_password(password)
            user.is_active = True
            user.is_staff = staff
            user.is_superuser = staff
            user.save()
            role = " (staff)" if staff else ""
            self.stdout.write(f"  {username} / {password}{role}")

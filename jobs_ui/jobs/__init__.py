"""A job row's lifecycle: create, claim, run, finish, recover, cancel and prune."""

from __future__ import annotations

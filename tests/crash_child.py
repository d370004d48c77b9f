"""A web process running a thread job, for tests that kill it: ``python -m tests.crash_child TASK ARG``."""

from __future__ import annotations

import os
import sys
import threading


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from jobs_ui.models import Job, JobStatus
    from tests import tasks
    from tests.waiting import wait_for_status

    task = getattr(tasks, sys.argv[1])
    result = task.enqueue(sys.argv[2])
    wait_for_status(result.id, JobStatus.RUNNING)
    assert Job.objects.get(pk=result.id).status == JobStatus.RUNNING
    sys.stdout.write(f"{result.id}\n")
    sys.stdout.flush()
    threading.Event().wait()  # until killed


if __name__ == "__main__":
    main()

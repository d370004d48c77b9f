"""A process that launches thread jobs and then exits, for tests of what its exit does with them.

``python -m tests.exit_child script|web TASK ARGS_JSON [TASK ARGS_JSON ...]`` launches each job
(``ARGS_JSON`` is a JSON array; ``TASK@SECONDS`` delays it by that ``run_after``), prints its id, waits until the first one is RUNNING, prints
"exiting" and returns. ``web`` serves one request through the test client first, as a web
server process would.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import timedelta


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from django.test import Client
    from django.utils import timezone

    from jobs_ui.models import JobStatus
    from tests import tasks
    from tests.waiting import wait_for_status

    mode, *specs = sys.argv[1:]
    if mode == "web":
        Client().get("/jobs/")
    ids = []
    for spec, args in zip(specs[::2], specs[1::2], strict=True):
        name, _, delay = spec.partition("@")
        task = getattr(tasks, name)
        if delay:
            task = task.using(run_after=timezone.now() + timedelta(seconds=float(delay)))
        ids.append(task.enqueue(*json.loads(args)).id)
    wait_for_status(ids[0], JobStatus.RUNNING)
    sys.stdout.write("".join(f"{job_id}\n" for job_id in ids) + "exiting\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()

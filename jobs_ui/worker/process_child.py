"""A child of the process pool: ``python -m jobs_ui.worker.process_child FD``.

It runs the jobs its worker writes on stdin and answers on file descriptor FD, until stdin
closes or its worker is gone.
"""

from __future__ import annotations

import os
import signal
import sys

import django

from jobs_ui.worker.supervisor import watch_parent


def main() -> None:
    answers = os.fdopen(int(sys.argv[1]), "w", buffering=1)
    # Ctrl-C reaches the whole process group: the worker decides when jobs stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A child must not outlive its worker: the job's lease has lapsed by then and
    # another attempt may already run it.
    watch_parent(os.getppid(), lambda: os._exit(1), "jobs_ui-watchdog")

    django.setup()
    # The jobs package needs the app registry, so it is imported once Django is set up.
    from jobs_ui.worker.pools.child import serve

    serve(answers)


if __name__ == "__main__":
    main()

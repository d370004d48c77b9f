"""Several worker processes under one command: ``jobs_ui_worker --processes N``.

Each child is a whole worker, so N of them use N CPUs where one process is bound by its interpreter lock.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType

logger = logging.getLogger(__name__)

# Set in a child's environment: the supervisor's pid.
SUPERVISOR_ENV = "JOBS_UI_SUPERVISOR_PID"
# Seconds before a child that died is replaced; doubled while children die young.
RESTART_DELAY = 1.0
RESTART_DELAY_MAX = 30.0
# A child that lived this long (seconds) was not dying young.
YOUNG = 10.0
# Seconds between two looks at the children.
POLL = 0.1


# Each child (python -m django jobs_ui_worker with the same options) registers,
# heartbeats, claims and runs jobs on its own. The supervisor only starts them, passes
# SIGINT/SIGTERM on (the first stops them gracefully, a second at once), replaces a child
# that died, and exits once every child has. A child whose supervisor is gone stops by
# itself (watch_supervisor()).
class Supervisor:
    """Runs ``processes`` copies of ``python -m django jobs_ui_worker *arguments`` until they end."""

    def __init__(self, arguments: list[str], processes: int) -> None:
        self.arguments = arguments
        self.processes = processes
        self._children: dict[int, tuple[subprocess.Popen[bytes], float]] = {}
        self._signals = 0
        self._stopping = False
        self._restart_delay = RESTART_DELAY

    def run(self) -> int:
        """Start the children and wait for them; the highest exit code of those that ended last."""
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._on_signal)
        for _ in range(self.processes):
            self._start()
        logger.info("Supervising %d worker processes: %s", self.processes, ", ".join(map(str, self._children)))
        code = 0
        restart_at: list[float] = []
        while self._children or (restart_at and not self._stopping):
            time.sleep(POLL)
            now = time.monotonic()
            for pid, (child, started) in list(self._children.items()):
                if child.poll() is None:
                    continue
                del self._children[pid]
                if child.returncode == 0 or self._stopping:
                    code = max(code, child.returncode)
                    continue
                lived = now - started
                self._restart_delay = (
                    min(self._restart_delay * 2, RESTART_DELAY_MAX) if lived < YOUNG else RESTART_DELAY
                )
                logger.warning(
                    "Worker process %d ended with code %s after %.1f s; replacing it in %g s",
                    pid,
                    child.returncode,
                    lived,
                    self._restart_delay,
                )
                restart_at.append(now + self._restart_delay)
            for due in [at for at in restart_at if at <= now]:
                restart_at.remove(due)
                if not self._stopping:
                    self._start()
        return code

    def _start(self) -> None:
        env = {
            **os.environ,
            SUPERVISOR_ENV: str(os.getpid()),
            # What this process imports, the child finds (``--pythonpath``, the project's folder).
            "PYTHONPATH": os.pathsep.join(path for path in sys.path if path),
        }
        # A session of its own: Ctrl-C in a terminal reaches the supervisor alone, which
        # passes it on once (the children would otherwise see it twice: stop at once).
        child = subprocess.Popen(
            [sys.executable, "-m", "django", "jobs_ui_worker", *self.arguments], env=env, start_new_session=True
        )
        self._children[child.pid] = (child, time.monotonic())

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signals += 1
        self._stopping = True
        name = signal.Signals(signum).name
        if self._signals == 1:
            logger.warning("%s: stopping %d worker processes gracefully", name, len(self._children))
        for child, _started in list(self._children.values()):
            if child.poll() is None:
                child.send_signal(signum)


def watch_supervisor(stop: Callable[[], None]) -> None:
    """In a child of ``Supervisor``: call ``stop()`` once the supervisor is gone (killed)."""
    supervisor = os.environ.get(SUPERVISOR_ENV)
    if not supervisor:
        return

    def gone() -> None:
        logging.getLogger("jobs_ui.worker").warning("The supervisor (pid %s) is gone: stopping", supervisor)
        stop()

    watch_parent(int(supervisor), gone, "jobs_ui-supervisor-watch")


def watch_parent(parent: int, on_gone: Callable[[], None], name: str) -> None:
    """Call ``on_gone()``, from a thread called ``name``, once ``parent`` is no longer this process's parent.

    Imports nothing of Django: a process pool's child starts it before ``django.setup()``.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        on_gone()

    threading.Thread(target=watch, name=name, daemon=True).start()

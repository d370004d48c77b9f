"""What an open progress panel costs the web server: requests/s of its poll against a one-SELECT view.

    .venv/bin/python bench/poll.py [--db sqlite,postgresql] [--rounds 3] [--seconds 5] [--connections 8]

The demo site is served by gunicorn (2 sync workers, ``CONN_MAX_AGE=60``) and loaded with wrk,
signed in as the owner of a RUNNING job of ``demo.tasks.count_to`` (with progress) and of a
SUCCESSFUL one. Each round loads, one after the other, every case below; the table shows the
median of the rounds and each figure over the one-SELECT view in the same middleware stack:

- one SELECT, no middleware: a view reading one job's status, on a server with ``MIDDLEWARE = []``;
- one SELECT: the same view inside the demo's stack (8 middleware, sessions in the database);
- poll, unchanged (304): the panel's poll with the token and ``If-None-Match`` of the running job;
- poll, full render (200): the same without ``If-None-Match``;
- poll, finished (286): the poll of the SUCCESSFUL job, which renders its result;
- status.json: the JSON status of the running job;
- the unchanged poll again, on a server that keeps sessions in signed cookies (no session query).

Needs wrk (``apt-get install wrk``) and gunicorn (installed into .venv on first use), and
PostgreSQL as the tests use it for ``--db postgresql``.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess

from web import (
    PYTHON,
    Figures,
    Target,
    add_load_options,
    database_env,
    fetch,
    load_rounds,
    migrated_bench_user,
    run,
    serve,
    signed_in_sessions,
    stop,
)

CASES = [
    ("bare", "one SELECT, no middleware"),
    ("select", "one SELECT, the demo's stack"),
    ("304", "poll, unchanged (304)"),
    ("200", "poll, full render (200)"),
    ("286", "poll, finished (286)"),
    ("status", "status.json"),
    ("cookie", "poll, unchanged (304), sessions in signed cookies"),
]


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_load_options(parser)
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def prepare() -> None:
    """In a process set up with bench.web_settings: migrate, make the user, the jobs and the session; print them."""
    user = migrated_bench_user()
    from datetime import timedelta

    from django.utils import timezone

    from jobs_ui.models import Job, JobStatus
    from jobs_ui.views.viewer import Viewer

    now = timezone.now()
    common = {"task_path": "demo.tasks.count_to", "kwargs": {"n": 20}, "owner": user, "executor": "thread"}
    running = Job.objects.create(
        **common,
        status=JobStatus.RUNNING,
        attempts=1,
        started_at=now - timedelta(seconds=3),
        progress_done=7,
        progress_total=20,
        progress_message="Counted to 7",
        progress_at=now,
    )
    finished = Job.objects.create(
        **common,
        status=JobStatus.SUCCESSFUL,
        attempts=1,
        started_at=now - timedelta(seconds=4),
        finished_at=now,
        progress_done=20,
        progress_total=20,
        result=20,
        result_store="database",
        result_expires_at=now + timedelta(days=1),
    )
    sessions = signed_in_sessions(user)
    token = Viewer(str(user.pk)).token()
    print(
        json.dumps(
            {
                **sessions,
                "running": str(running.pk),
                "finished": str(finished.pk),
                "token": token,
            }
        )
    )


def measure(db: str, args: argparse.Namespace, tmp: str) -> Figures:
    env = database_env(db, tmp)
    made = subprocess.run([PYTHON, __file__, "--prepare"], env=env, capture_output=True, text=True, check=True)
    state = json.loads(made.stdout)
    server, base = serve(env, args.workers)
    bare, bare_base = serve({**env, "BENCH_BARE": "1"}, args.workers)
    signed, signed_base = serve({**env, "BENCH_SESSIONS": "signed_cookies"}, args.workers)
    try:
        cookie = {"Cookie": f"sessionid={state['session']}", "HX-Request": "true"}
        poll = f"{base}/jobs/{state['running']}/progress/?v={state['token']}"
        status, headers = fetch(poll, cookie)
        if status != 200 or "ETag" not in headers:
            raise RuntimeError(f"The poll answered {status} without an ETag")
        # A browser sends back the CSRF cookie that the job's page set.
        page_headers = fetch(f"{base}/jobs/{state['running']}/", {"Cookie": cookie["Cookie"]})[1]
        csrf = re.search(r"csrftoken=([^;]+)", page_headers.get("Set-Cookie", ""))
        if csrf is None:
            raise RuntimeError("The job's page set no CSRF cookie")
        cookie["Cookie"] += f"; csrftoken={csrf.group(1)}"
        targets = {
            "bare": Target(f"{bare_base}/bench/one-select/{state['running']}/", {}),
            "select": Target(f"{base}/bench/one-select/{state['running']}/", cookie),
            "304": Target(poll, {**cookie, "If-None-Match": headers["ETag"]}, answer=304),
            "200": Target(poll, cookie),
            "286": Target(f"{base}/jobs/{state['finished']}/progress/?v={state['token']}", cookie, answer=286),
            "status": Target(f"{base}/jobs/{state['running']}/status.json", cookie),
            "cookie": Target(
                poll.replace(base, signed_base),
                {
                    "Cookie": f"sessionid={state['cookie_session']}",
                    "HX-Request": "true",
                    "If-None-Match": headers["ETag"],
                },
                answer=304,
            ),
        }
        return load_rounds(db, targets, CASES, args)
    finally:
        stop(server, bare, signed)


def main() -> None:
    args = options()
    if args.prepare:
        prepare()
        return
    run(args, measure, script="bench/poll.py", cases=CASES, reference="select")


if __name__ == "__main__":
    main()

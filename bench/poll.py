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
import sys
import tempfile

from web import (
    PYTHON,
    add_load_options,
    database_env,
    ensure_tools,
    fetch,
    migrated_bench_user,
    serve,
    signed_in_sessions,
    stop,
    table,
    wrk,
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


def measure(db: str, args: argparse.Namespace, tmp: str) -> dict[str, list[dict[str, float]]]:
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
            "bare": (f"{bare_base}/bench/one-select/{state['running']}/", {}),
            "select": (f"{base}/bench/one-select/{state['running']}/", cookie),
            "304": (poll, {**cookie, "If-None-Match": headers["ETag"]}),
            "200": (poll, cookie),
            "286": (f"{base}/jobs/{state['finished']}/progress/?v={state['token']}", cookie),
            "status": (f"{base}/jobs/{state['running']}/status.json", cookie),
            "cookie": (
                poll.replace(base, signed_base),
                {
                    "Cookie": f"sessionid={state['cookie_session']}",
                    "HX-Request": "true",
                    "If-None-Match": headers["ETag"],
                },
            ),
        }
        expected = {"bare": 200, "select": 200, "304": 304, "200": 200, "286": 286, "status": 200, "cookie": 304}
        for case, (url, case_headers) in targets.items():
            answered = fetch(url, case_headers)[0]
            if answered != expected[case]:
                raise RuntimeError(f"{case}: {url} answered {answered}, not {expected[case]}")
        figures: dict[str, list[dict[str, float]]] = {case: [] for case, _label in CASES}
        for round_number in range(args.rounds):
            for case, _label in CASES:
                url, case_headers = targets[case]
                figures[case].append(wrk(url, case_headers, args))
            print(f"  {db}: round {round_number + 1} of {args.rounds} done", file=sys.stderr)
        return figures
    finally:
        stop(server, bare, signed)


def main() -> None:
    args = options()
    if args.prepare:
        prepare()
        return
    ensure_tools("bench/poll.py")
    results = {}
    with tempfile.TemporaryDirectory(prefix="jobs_ui_poll_") as tmp:
        for db in args.db.split(","):
            results[db] = measure(db, args, tmp)
    print(
        f"\n{args.rounds} rounds of {args.seconds} s, wrk -c{args.connections}, gunicorn {args.workers} sync workers; "
        "medians; × = over one SELECT in the demo's stack\n"
    )
    print(table(results, CASES, "select"))


if __name__ == "__main__":
    main()

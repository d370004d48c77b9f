"""What a click on a launch button costs the web server: requests/s of the launch endpoint against a one-INSERT view.

    .venv/bin/python bench/launch.py [--db sqlite,postgresql] [--rounds 3] [--seconds 5] [--connections 8]

The demo site is served by gunicorn (2 sync workers, ``CONN_MAX_AGE=60``) and loaded with wrk,
signed in, each request a POST with the CSRF cookie and header a browser sends. Jobs go to
worker processes (none runs, so they wait, READY) with no per-user cap. Each round loads, one
after the other, every case below; the table shows the median of the rounds and each figure
over the one-INSERT view in the same middleware stack:

- one INSERT, no middleware: a view that writes a job's row with ``Job.objects.create()``, on
  a server with ``MIDDLEWARE = []``;
- one INSERT: the same view inside the demo's stack (8 middleware, sessions in the database);
- launch: what ``{% launch_button %}`` posts (its signed payload, HTMX): the job is created and
  its panel rendered;
- launch, RabbitMQ: the same on a server whose jobs are also published to RabbitMQ.

Needs wrk (``apt-get install wrk``) and gunicorn (installed into .venv on first use), RabbitMQ,
and PostgreSQL as the tests use it for ``--db postgresql``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from urllib.parse import urlencode

from web import (
    PYTHON,
    Figures,
    Target,
    add_load_options,
    database_env,
    load_rounds,
    migrated_bench_user,
    run,
    serve,
    signed_in_sessions,
    stop,
)

AMQP_URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@localhost:5672/%2F")
CASES = [
    ("bare", "one INSERT, no middleware"),
    ("insert", "one INSERT, the demo's stack"),
    ("launch", "launch"),
    ("rabbitmq", "launch, RabbitMQ"),
]


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_load_options(parser)
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--forget", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def prepare() -> None:
    """In a process set up with bench.web_settings: migrate, make the user, its session and a button's payload."""
    user = migrated_bench_user()
    from django.middleware.csrf import _get_new_csrf_string
    from django.urls import reverse

    from jobs_ui.views.launch_endpoint import sign_launch

    payload = sign_launch("bench.tasks.noop", ["/dev/null"], {}, public=None, user_id=user.pk)
    state = {
        **signed_in_sessions(user),
        "csrf": _get_new_csrf_string(),
        "payload": payload,
        "launch_url": reverse("jobs_ui:job_launch"),
    }
    print(json.dumps(state))


def forget() -> None:
    """In a process set up with bench.web_settings and RabbitMQ: delete the queues the launches filled."""
    import django

    django.setup()
    from jobs_ui.broker import amqp
    from jobs_ui.broker.messages import dead_letter_queue, job_queue

    for queue in (job_queue("default"), dead_letter_queue()):
        amqp.delete_queue(queue)


def measure(db: str, args: argparse.Namespace, tmp: str) -> Figures:
    env = database_env(db, tmp)
    made = subprocess.run([PYTHON, __file__, "--prepare"], env=env, capture_output=True, text=True, check=True)
    state = json.loads(made.stdout)
    rabbitmq_env = {**env, "BENCH_AMQP_URL": AMQP_URL}
    server, base = serve(env, args.workers)
    bare, bare_base = serve({**env, "BENCH_BARE": "1"}, args.workers)
    broker, broker_base = serve(rabbitmq_env, args.workers)
    try:
        # The CSRF cookie and the header htmx sends (hx-headers), as from a page of the site.
        signed_in = {
            "Cookie": f"sessionid={state['session']}; csrftoken={state['csrf']}",
            "X-CSRFToken": state["csrf"],
        }
        launch = {**signed_in, "HX-Request": "true"}
        body = urlencode({"payload": state["payload"]})
        targets = {
            "bare": Target(f"{bare_base}/bench/one-insert/", {}, body=""),
            "insert": Target(f"{base}/bench/one-insert/", signed_in, body=""),
            "launch": Target(base + state["launch_url"], launch, body=body),
            "rabbitmq": Target(broker_base + state["launch_url"], launch, body=body),
        }
        return load_rounds(db, targets, CASES, args)
    finally:
        stop(server, bare, broker)
        subprocess.run([PYTHON, __file__, "--forget"], env=rabbitmq_env, check=True)


def main() -> None:
    args = options()
    if args.prepare:
        prepare()
        return
    if args.forget:
        forget()
        return
    run(args, measure, script="bench/launch.py", cases=CASES, reference="insert")


if __name__ == "__main__":
    main()

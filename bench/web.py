"""What bench/poll.py and bench/launch.py share: the demo site under gunicorn, loaded with wrk.

The server runs ``bench.web_settings`` on the benchmark's database (``database_env``); each
wrk run gives requests/s and the p50 and p99 of a request.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PG_NAME = "jobs_ui_bench_web"


def add_load_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", default="sqlite,postgresql", help="sqlite, postgresql or both (comma-separated)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5, help="length of each wrk run")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")


def ensure_tools(script: str) -> None:
    """wrk must be installed; gunicorn is installed into the project's environment on first use."""
    if shutil.which("wrk") is None:
        sys.exit(f"{script} needs wrk: apt-get install -y wrk")
    if not (Path(PYTHON).parent / "gunicorn").exists():
        subprocess.run([PYTHON, "-m", "pip", "install", "-q", "gunicorn"], check=True)


def migrated_bench_user() -> Any:
    """In a process set up with bench.web_settings: Django set up, the database migrated, a new user "bench"."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    user_model = get_user_model()
    user_model.objects.filter(username="bench").delete()
    return user_model.objects.create_user("bench", password="bench-password")


def signed_in_sessions(user: object) -> dict[str, str]:
    """The session cookie of ``user`` signed in, with sessions in the database and in signed cookies."""
    from django.conf import settings
    from django.test import Client, override_settings

    sessions = {}
    for name, engine in (("session", "db"), ("cookie_session", "signed_cookies")):
        with override_settings(SESSION_ENGINE=f"django.contrib.sessions.backends.{engine}"):
            client = Client()
            client.force_login(user)
            sessions[name] = client.cookies[settings.SESSION_COOKIE_NAME].value
    return sessions


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(env: dict[str, str], workers: int) -> tuple[subprocess.Popen[bytes], str]:
    """gunicorn serving the site with ``env``, once it answers; the process and its base URL."""
    port = free_port()
    server = subprocess.Popen(
        [
            str(Path(PYTHON).parent / "gunicorn"),
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "django.core.wsgi:get_wsgi_application()",
        ],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(base + "/accounts/login/", timeout=2).read()
            return server, base
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise RuntimeError("gunicorn did not start") from None
            time.sleep(0.1)


def stop(*servers: subprocess.Popen[bytes]) -> None:
    for server in servers:
        server.terminate()
        server.wait(timeout=30)


def fetch(url: str, headers: dict[str, str], body: str | None = None) -> tuple[int, dict[str, str]]:
    """One request (a POST when there is a ``body``): its status and headers."""
    data = None if body is None else body.encode()
    request = urllib.request.Request(url, data=data, headers=headers)
    if data is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers)


def wrk(url: str, headers: dict[str, str], args: argparse.Namespace, body: str | None = None) -> dict[str, float]:
    """Load ``url`` for ``args.seconds`` (POSTing ``body`` when given); requests/s, p50 and p99 in ms."""
    command = ["wrk", "--latency", "-t2", f"-c{args.connections}", f"-d{args.seconds}s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        if body is not None:
            script.write(
                'wrk.method = "POST"\n'
                f"wrk.body = {_lua_string(body)}\n"
                'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n'
            )
            script.flush()
            command += ["-s", script.name]
        out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors or "Socket errors" in out:
        raise RuntimeError(f"{url} answered errors:\n{out}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return {"rps": rate, "p50": _ms(out, "50%"), "p99": _ms(out, "99%")}


def _lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _ms(out: str, cut: str) -> float:
    value, unit = re.search(rf"{cut}\s+([\d.]+)(us|ms|s)\b", out).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def database_env(db: str, tmp: str) -> dict[str, str]:
    """The server's environment on a new database: a SQLite file in ``tmp``, or PostgreSQL's PG_NAME."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.web_settings", "BENCH_DB": db, "PYTHONPATH": str(ROOT)}
    env.pop("BENCH_AMQP_URL", None)
    if db == "sqlite":
        env["BENCH_SQLITE_PATH"] = os.path.join(tmp, "web.sqlite3")
    else:
        env["BENCH_PG_NAME"] = PG_NAME
        subprocess.run(["dropdb", "-h", "127.0.0.1", "--if-exists", PG_NAME], check=True)
        subprocess.run(["createdb", "-h", "127.0.0.1", PG_NAME], check=True)
    return env


def table(results: dict[str, dict[str, list[dict[str, float]]]], cases: list[tuple[str, str]], reference: str) -> str:
    """A Markdown table of each case's medians over the rounds, for each database, and × over ``reference``."""
    dbs = list(results)
    header = "| | " + " | ".join(f"{db} req/s | × | p50 / p99 ms" for db in dbs) + " |"
    lines = [header, "|---|" + "---:|---:|---:|" * len(dbs)]
    for case, label in cases:
        cells = []
        for db in dbs:
            rows = results[db][case]
            rps = statistics.median(row["rps"] for row in rows)
            base = statistics.median(row["rps"] for row in results[db][reference])
            p50 = statistics.median(row["p50"] for row in rows)
            p99 = statistics.median(row["p99"] for row in rows)
            cells.append(f"{rps:,.0f} | {rps / base:.2f} | {p50:.2f} / {p99:.2f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


Figures = dict[str, list[dict[str, float]]]


@dataclass(frozen=True, slots=True)
class Target:
    """A request a case loads: a GET, or a POST of ``body``; ``answer`` is its status when all is well."""

    url: str
    headers: dict[str, str]
    answer: int = 200
    body: str | None = None


def load_rounds(db: str, targets: dict[str, Target], cases: list[tuple[str, str]], args: argparse.Namespace) -> Figures:
    """Check that each target answers as it should, then load every case in turn, ``args.rounds`` times."""
    for case, target in targets.items():
        answered = fetch(target.url, target.headers, target.body)[0]
        if answered != target.answer:
            raise RuntimeError(f"{case}: {target.url} answered {answered}, not {target.answer}")
    figures: Figures = {case: [] for case, _label in cases}
    for round_number in range(args.rounds):
        for case, _label in cases:
            target = targets[case]
            figures[case].append(wrk(target.url, target.headers, args, body=target.body))
        print(f"  {db}: round {round_number + 1} of {args.rounds} done", file=sys.stderr)
    return figures


def run(
    args: argparse.Namespace,
    measure: Callable[[str, argparse.Namespace, str], Figures],
    *,
    script: str,
    cases: list[tuple[str, str]],
    reference: str,
) -> None:
    """Measure each database of ``args.db`` and print the table, × over the case ``reference``."""
    ensure_tools(script)
    results = {}
    with tempfile.TemporaryDirectory(prefix="jobs_ui_web_") as tmp:
        for db in args.db.split(","):
            results[db] = measure(db, args, tmp)
    label = dict(cases)[reference]
    print(
        f"\n{args.rounds} rounds of {args.seconds} s, wrk -c{args.connections}, gunicorn {args.workers} sync workers; "
        f"medians; × = over {label}\n"
    )
    print(table(results, cases, reference))

"""The benchmark: jobs_ui on SQLite and PostgreSQL, with and without RabbitMQ, against Celery 5.

    .venv/bin/python bench/run.py [--quick]

Installs Celery into bench/.venv-celery on first use, runs each setup in a
subprocess (bench/jobs_ui_driver.py, bench/celery_driver.py), prints a Markdown
table and writes bench/results.json. Needs PostgreSQL and RabbitMQ as for the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CELERY_VENV = HERE / ".venv-celery"
AMQP_URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@localhost:5672/%2F")
PG_NAME = "jobs_ui_bench"


def celery_python() -> Path:
    python = CELERY_VENV / "bin" / "python"
    if not python.exists():
        print("Installing Celery 5 into bench/.venv-celery", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(CELERY_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "celery>=5,<6"], check=True)
    return python


def ensure_pg_database() -> None:
    import psycopg

    with psycopg.connect("host=127.0.0.1 dbname=postgres user=root", autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [PG_NAME]).fetchone():
            connection.execute(f'CREATE DATABASE "{PG_NAME}"')


def run_json(command: list[str], env: dict[str, str]) -> dict[str, object]:
    done = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="Fewer jobs: a smoke test of the benchmark.")
    parser.add_argument("--only", help="Run only the setups whose names contain one of these (comma-separated).")
    parser.add_argument("--merge", action="store_true", help="Keep the other setups' figures in bench/results.json.")
    options = parser.parse_args()
    n_noop, n_sleep, n_latency = (300, 40, 20) if options.quick else (3000, 200, 200)
    ensure_pg_database()
    setups: list[tuple[str, list[str], dict[str, str]]] = []
    tmp = tempfile.mkdtemp(prefix="jobs_ui_bench_")
    default = str(min(32, (os.cpu_count() or 1) + 4))  # the thread pool's default concurrency
    for db in ("sqlite", "postgresql"):
        for broker in ("", AMQP_URL):
            env = {"BENCH_DB": db, "BENCH_SQLITE_PATH": os.path.join(tmp, "bench.sqlite3"), "BENCH_AMQP_URL": broker}
            # The default worker; two processes of one thread each, as many as Celery's
            # prefork children; and, with the broker, one process at Celery's concurrency.
            pools = [("thread", default, "1"), ("thread", "1", "2")]
            pools += [("thread", "2", "1"), ("process", "2", "1")] if broker else []
            for pool, concurrency, processes in pools:
                name = f"jobs_ui {db}{' + RabbitMQ' if broker else ' (polling)'}, {pool} pool c={concurrency}"
                if processes != "1":
                    name += f" × {processes} processes"
                driver = [sys.executable, str(HERE / "jobs_ui_driver.py")]
                figures = [str(n_noop), str(n_sleep), str(n_latency), pool, concurrency, processes]
                setups.append((name, [*driver, *figures], env))
    celery = [str(celery_python()), str(HERE / "celery_driver.py"), str(n_noop), str(n_sleep), str(n_latency)]
    setups.append(("Celery 5 + RabbitMQ, prefork pool c=2", celery, {"BENCH_AMQP_URL": AMQP_URL.replace("%2F", "")}))
    wanted = options.only.split(",") if options.only else None
    path = HERE / "results.json"
    previous = json.loads(path.read_text()) if options.merge and path.exists() else {}
    results = {}
    for name, command, env in setups:
        if wanted and not any(part in name for part in wanted):
            if name in previous:
                results[name] = previous[name]
            continue
        print(f"... {name}", file=sys.stderr)
        results[name] = run_json(command, env)
        # Saved after each setup, so an interrupted run keeps what it measured.
        path.write_text(json.dumps({**previous, **results}, indent=2) + "\n")
    print(table(results))


def table(results: dict[str, dict[str, object]]) -> str:
    lines = [
        "| setup | enqueue/s | enqueue() p50 / p95 ms | … idle worker | drain no-op/s | drain 50 ms/s "
        "| → RUNNING p50 / p95 ms | → SUCCESSFUL p50 / p95 ms | → seen SUCCESSFUL p50 / p95 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        cells = [f"{r['enqueue']:.0f}", _cut(r, "enqueue_call", 2), _cut(r, "enqueue_idle_worker", 2)]
        cells += [f"{r['drain_noop']:.0f}", f"{r['drain_sleep']:.1f}"]
        cells += [_cut(r, "running", 1), _cut(r, "finished", 1), _cut(r, "visible", 1)]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cut(figures: dict[str, object], key: str, digits: int) -> str:
    """``p50 / p95`` of a figure in milliseconds; a dash when this run did not measure it."""
    value = figures.get(key)
    if not isinstance(value, dict):
        return "–"
    return f"{value['p50']:.{digits}f} / {value['p95']:.{digits}f}"


if __name__ == "__main__":
    main()

"""The SQL of each staff page on the database bench/fill_jobs.py fills: queries, their time, the slowest.

    .venv/bin/python bench/fill_jobs.py                # once: jobs_ui_million, 1,000,000 jobs
    .venv/bin/python bench/staff_queries.py [--db jobs_ui_million]

Signs in a superuser ("bench-staff", made if missing) with Django's test client and GETs each
staff page twice, measuring the second (warm) request with ``CaptureQueriesContext``; a URL name
that does not exist is skipped with a note. The staff list of jobs is also read with
filters and at its second page (the first page's link with ``cursor=``). Prints a Markdown table,
then the slowest query of all and its ``EXPLAIN (ANALYZE, BUFFERS)``, rolled back.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import django
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

ROOT = Path(__file__).resolve().parent.parent
# A task and a user that bench/fill_jobs.py makes.
TASK = "demo.tasks.export_customers"
OWNER = "user07"
CURSOR_LINK = re.compile(r"""<a\b[^>]*\bhref="([^"]*cursor=[^"]*)\"""")


@dataclass(frozen=True, slots=True)
class Result:
    label: str
    status: int
    queries: list[tuple[float, str]]
    """Milliseconds and SQL of each query."""
    ms: float


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="jobs_ui_million", help="a database filled by bench/fill_jobs.py")
    return parser.parse_args()


def set_up(db: str) -> None:
    os.environ.update({"DJANGO_SETTINGS_MODULE": "bench.web_settings", "BENCH_DB": "postgresql", "BENCH_PG_NAME": db})
    os.environ.pop("BENCH_AMQP_URL", None)
    # No thread pool started by the first request: its heartbeats and recovery passes would run
    # beside the measured requests, and recover the RUNNING jobs of fill_jobs.py's workers as lost.
    os.environ["BENCH_JOBS_UI"] = json.dumps({"THREAD_AUTOSTART": False})
    sys.path.insert(0, str(ROOT))
    django.setup()


def cases() -> list[tuple[str, str]]:
    """``(URL name, query string)`` of each page to read."""
    today = timezone.now().date()
    since, until = (today - timedelta(days=2)).isoformat(), (today - timedelta(days=1)).isoformat()
    jobs = [
        "",
        "?status=FAILED",
        "?status=READY",
        f"?task={TASK}",
        "?queue=mail",
        f"?owner={OWNER}",
        "?q=ValueError",
        "?q=NoSuchError",
        f"?since={since}&until={until}",
    ]
    pages = ["staff", "staff_workers", "staff_queues", "staff_throughput", "staff_failures"]
    return [(name, "") for name in pages] + [("staff_jobs", query) for query in jobs]


class QueryTimer:
    """An execute wrapper: each query's milliseconds (CaptureQueriesContext rounds to whole ones)."""

    def __init__(self) -> None:
        self.ms: list[float] = []

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.ms.append((time.perf_counter() - start) * 1000)


def read(client: Client, label: str, url: str, results: list[Result]) -> Any:
    """GET ``url`` twice and add the second request to ``results``; its response."""
    client.get(url)
    timer = QueryTimer()
    with CaptureQueriesContext(connection) as queries, connection.execute_wrapper(timer):
        start = time.perf_counter()
        response: Any = client.get(url)
        elapsed = (time.perf_counter() - start) * 1000
    if response.exc_info:
        print(f"{label}: {response.exc_info[1]!r}")
    timed = [(ms, query["sql"]) for ms, query in zip(timer.ms, queries.captured_queries, strict=True)]
    results.append(Result(label, response.status_code, timed, elapsed))
    return response


def explain(sql: str) -> str:
    if not sql.lstrip().upper().startswith("SELECT"):
        return "(not a SELECT: not explained)"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)
    return plan


def main() -> None:
    set_up(options().db)
    user, _ = get_user_model().objects.get_or_create(
        username="bench-staff", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client(HTTP_HOST="127.0.0.1", raise_request_exception=False)
    client.force_login(user)
    results: list[Result] = []
    for name, query in cases():
        label = f"{name} {query}".strip()
        try:
            url = reverse(f"jobs_ui:{name}") + query
        except NoReverseMatch:
            print(f"skipped {label}: no URL named jobs_ui:{name}")
            continue
        response = read(client, label, url, results)
        if name == "staff_jobs" and not query:
            link = CURSOR_LINK.search(response.content.decode())
            if link is None:
                print("staff_jobs: no link with cursor= on the first page")
            else:
                read(client, "staff_jobs, its next page", urljoin(url, html.unescape(link[1])), results)
    print("| page | status | queries | SQL ms | slowest query ms | request ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for result in results:
        times = [ms for ms, _ in result.queries]
        print(
            f"| {result.label} | {result.status} | {len(times)} | {sum(times):.1f} | {max(times, default=0):.1f} "
            f"| {result.ms:.1f} |"
        )
    ms, sql, label = max(
        ((ms, sql, result.label) for result in results for ms, sql in result.queries), default=(0, "", "")
    )
    if sql:
        print(f"\nSlowest query: {ms:.1f} ms, on {label}\n\n{sql}\n\n{explain(sql)}")


if __name__ == "__main__":
    main()

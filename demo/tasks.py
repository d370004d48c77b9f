"""Demo tasks: plain ``django.tasks`` code, run by jobs_ui.

Each step sleeps ``DEMO_STEP_SECONDS`` (a demo setting) to stand in for real
work, so the progress bar has time to move; the browser tests make it short.
"""

from __future__ import annotations

import csv
import io
import random
import time
from typing import Any

from django.conf import settings
from django.tasks import task

from jobs_ui.context import JobContext

FIRST_NAMES = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", "Ken", "Frances", "Tim"]
LAST_NAMES = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Hamilton", "Thompson", "Allen", "Lee"]
CITIES = ["Lisbon", "Oslo", "Kyoto", "Austin", "Nairobi", "Lyon", "Porto", "Quebec", "Tartu", "Perth"]


def step(factor: float = 1.0) -> None:
    # Stands in for real work, so the demo's progress bar has time to move.
    time.sleep(float(getattr(settings, "DEMO_STEP_SECONDS", 0.2)) * factor)


# django-stubs types the context parameter as TaskContext; jobs_ui passes its subclass.
@task(takes_context=True, label="Count to N")
def count_to(context: JobContext, n: int = 20) -> int:
    """Count to ``n`` at a steady pace; stops when cancelled."""
    for i in range(1, n + 1):
        context.check_cancelled()
        step()
        context.progress(i, n, f"Counted to {i}")
    return n


@task(takes_context=True, label="Export customers (CSV)", result_template="demo/results/export_csv.html")
def export_customers(context: JobContext, rows: int = 150) -> dict[str, Any]:
    """Build a CSV of made-up customers; the result page offers it as a download."""
    rng = random.Random(rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", "name", "city", "orders", "revenue"])
    preview: list[list[str]] = []
    chunk = 10
    for start in range(0, rows, chunk):
        context.check_cancelled()
        step()
        for number in range(start + 1, min(rows, start + chunk) + 1):
            name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
            orders = rng.randint(1, 40)
            row = [str(number), name, rng.choice(CITIES), str(orders), f"{orders * rng.uniform(9, 120):.2f}"]
            writer.writerow(row)
            if len(preview) < 5:
                preview.append(row)
        done = min(rows, start + chunk)
        context.progress(done, rows, f"Wrote {done} of {rows} rows")
    return {"filename": "customers.csv", "rows": rows, "csv": buffer.getvalue(), "preview": preview}


@task(takes_context=True, label="Import a broken file")
def import_broken_file(context: JobContext) -> None:
    """Reads a few rows, then meets one it cannot use: a failure with a clear message."""
    rows = ["12", "7", "30", "twelve", "5"]
    for number, value in enumerate(rows, start=1):
        step(2)
        context.progress(number, len(rows), f"Checking row {number}")
        if not value.isdigit():
            raise ValueError(f"Row {number}: {value!r} is not a number. Fix the file, then import it again.")


@task(takes_context=True, label="Rebuild the search index")
def rebuild_index(context: JobContext, documents: int = 400) -> int:
    """Long, and checks for cancel before every document."""
    for number in range(1, documents + 1):
        context.check_cancelled()
        step(0.5)
        context.progress(number, documents, f"Indexed document {number} of {documents}")
    return documents


@task(takes_context=True, label="Crawl the intranet", result_template="demo/results/crawl.html")
def crawl_intranet(context: JobContext, pages: int = 30) -> dict[str, Any]:
    """Nobody knows how many pages there are until the end: no total, so the bar is indeterminate."""
    broken = []
    for number in range(1, pages + 1):
        context.check_cancelled()
        step()
        path = f"/wiki/page-{number}"
        if number % 11 == 0:
            broken.append(path)
        context.extra["broken links"] = len(broken)
        if broken:
            context.extra["last broken"] = broken[-1]
        context.progress(number, None, f"Visited {path}")
    return {"pages": pages, "broken_links": broken}


@task(
    takes_context=True,
    public=True,
    label="Build the public status report",
    result_template="demo/results/status_report.html",
)
def build_status_report(context: JobContext) -> dict[str, Any]:
    """A public job: anyone with its link can watch it (read-only)."""
    services = ["web", "api", "database", "queue", "search", "mail"]
    status: dict[str, str] = {}
    for number, service in enumerate(services, start=1):
        context.check_cancelled()
        step(3)
        status[service] = "degraded" if service == "search" else "operational"
        context.progress(number, len(services), f"Checked {service}")
    return {"services": status, "summary": "All systems operational except search (degraded)."}


@task(takes_context=True, executor="worker", label="Render the monthly report")
def render_monthly_report(context: JobContext, pages: int = 12) -> dict[str, int]:
    """A worker job: it waits for a jobs_ui_worker process (make demo-worker) and says so while none runs."""
    for page in range(1, pages + 1):
        context.check_cancelled()
        step()
        context.progress(page, pages, f"Rendered page {page} of {pages}")
    return {"pages": pages}

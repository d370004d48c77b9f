"""One ASGI process, many sockets: N panels following their jobs over websockets, and a change of every job.

    .venv/bin/python bench/sockets.py [--sockets 1000] [--broker]

It makes a new PostgreSQL database (``jobs_ui_bench_sockets``, left behind afterwards), a user
and N RUNNING jobs of ``demo.tasks.count_to``, starts one daphne process serving
``demo.asgi:application`` with ``bench.web_settings`` (websockets on), and opens one socket per
job, 50 at a time, signed in as the owner; each socket's first frame is its panel (the snapshot).
Then, three times, every job's progress is changed in one UPDATE and all N are told at once
(``pg_notify`` of each id in one statement, or with ``--broker`` one batch of events on
RabbitMQ), and each socket's time from just before the notes until the panel with the new
message is measured. It prints a Markdown table. Needs PostgreSQL and, with ``--broker``,
RabbitMQ as the tests use them (and ``rabbitmqctl``, to wait until daphne has bound every job).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.web import PYTHON, ROOT, free_port, migrated_bench_user, signed_in_sessions  # noqa: E402

PG_NAME = "jobs_ui_bench_sockets"
AMQP_URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@localhost:5672/%2F")
AT_ONCE = 50
ROUNDS = 3
WITHIN = 10.0


@dataclass(slots=True)
class Watcher:
    """One socket: its job, the seconds to its snapshot, and when each round's message reached it."""

    job_id: str
    socket: ClientConnection | None = None
    snapshot: float | None = None
    error: str = ""
    closed: str = ""
    seen: dict[str, float] = field(default_factory=dict)


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--broker", action="store_true", help="changes reach daphne through RabbitMQ, not NOTIFY")
    return parser.parse_args()


def prepare(args: argparse.Namespace) -> tuple[dict[str, str], list[str], str, int]:
    """The server's environment, set in this process too; the jobs' ids, the session cookie, the owner's id."""
    subprocess.run(["dropdb", "-h", "127.0.0.1", "--if-exists", "--force", PG_NAME], check=True)
    subprocess.run(["createdb", "-h", "127.0.0.1", PG_NAME], check=True)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="bench.web_settings",
        BENCH_DB="postgresql",
        BENCH_PG_NAME=PG_NAME,
        BENCH_AMQP_URL=AMQP_URL if args.broker else "",
        PYTHONPATH=str(ROOT),
    )
    user = migrated_bench_user()
    from django.utils import timezone

    from jobs_ui.models import Job, JobStatus

    now = timezone.now()
    jobs = Job.objects.bulk_create(
        Job(
            task_path="demo.tasks.count_to",
            kwargs={"n": 10},
            executor="worker",
            status=JobStatus.RUNNING,
            attempts=1,
            started_at=now,
            owner=user,
            progress_total=10,
        )
        for _ in range(args.sockets)
    )
    return dict(os.environ), [str(job.pk) for job in jobs], signed_in_sessions(user)["session"], user.pk


def raise_file_limit(sockets: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 2 * sockets + 1024
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))


def serve(env: dict[str, str], log: Any) -> tuple[subprocess.Popen[bytes], int]:
    """daphne serving the demo with ``env``, once it answers HTTP; the process and its port."""
    port = free_port()
    server = subprocess.Popen(
        [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "demo.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=2).read()
            return server, port
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise RuntimeError("daphne did not start") from None
            time.sleep(0.1)


def process_figures(pid: int) -> dict[str, float]:
    """RSS in kB, threads, open file descriptors and CPU seconds so far of process ``pid``."""
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    # /proc/<pid>/stat: utime and stime are the 14th and 15th fields, after the ")" that ends the name.
    ticks = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[11:13]
    return {
        "rss": int(status["VmRSS"].split()[0]),
        "threads": int(status["Threads"]),
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
        "cpu": sum(int(tick) for tick in ticks) / os.sysconf("SC_CLK_TCK"),
    }


async def open_socket(watcher: Watcher, url: str, cookie: str, origin: str, gate: asyncio.Semaphore) -> None:
    async with gate:
        start = time.monotonic()
        try:
            watcher.socket = await connect(
                url + f"{watcher.job_id}/",
                origin=Origin(origin),
                additional_headers={"Cookie": f"sessionid={cookie}"},
                proxy=None,
                ping_interval=None,
                open_timeout=60,
            )
            await asyncio.wait_for(watcher.socket.recv(), 60)
        except (OSError, TimeoutError, ConnectionClosed, ValueError) as e:
            watcher.error = repr(e)
            return
        watcher.snapshot = time.monotonic() - start


async def follow(watcher: Watcher, messages: list[str]) -> None:
    """Note when each of ``messages`` first reaches the socket, until it closes."""
    assert watcher.socket is not None
    try:
        async for frame in watcher.socket:
            now = time.monotonic()
            text = frame if isinstance(frame, str) else frame.decode()
            for message in messages:
                if message not in watcher.seen and message in text:
                    watcher.seen[message] = now
    except ConnectionClosed as e:
        watcher.closed = repr(e)
    else:
        watcher.closed = f"closed by the server: {watcher.socket.close_code}"


def change_jobs(owner_id: int, step: int, message: str) -> None:
    from django.db.models.functions import Now

    from jobs_ui.models import Job

    Job.objects.filter(owner_id=owner_id).update(progress_done=step, progress_message=message, progress_at=Now())


def send_notes(owner_id: int, job_ids: list[str], step: int, message: str, broker: bool) -> tuple[float, float]:
    """Tell daphne that every job changed; when the sending started and how long it took (monotonic s)."""
    from django.db import connection

    from jobs_ui.events import EVENTS_CHANNEL, JobEvent, send_batch
    from jobs_ui.models import Job

    if broker:
        notes = [
            JobEvent(
                job_id=job_id, kind="progress", status="RUNNING", done=step, total=10, message=message, origin="bench"
            )
            for job_id in job_ids
        ]
        start = time.monotonic()
        send_batch(notes)
        return start, time.monotonic() - start
    connection.ensure_connection()
    start = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT pg_notify(%s, id::text) FROM {Job._meta.db_table} WHERE owner_id = %s",
            [EVENTS_CHANNEL, owner_id],
        )
        notified = len(cursor.fetchall())
    sending = time.monotonic() - start
    if notified != len(job_ids):
        raise RuntimeError(f"{notified} of {len(job_ids)} jobs notified")
    return start, sending


def open_broker_link() -> None:
    from jobs_ui.events import send_batch

    send_batch([])


def wait_for_bindings(job_ids: list[str]) -> float:
    """With RabbitMQ: wait until daphne's bridge has bound every job's key (what it binds after a socket opens)."""
    from jobs_ui.broker.amqp import name

    keys = {f"job.{job_id.replace('-', '')}" for job_id in job_ids}
    start = time.monotonic()
    while time.monotonic() - start < 120:
        out = subprocess.run(
            ["rabbitmqctl", "list_bindings", "-q", "--no-table-headers", "source_name", "routing_key"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        bound = {line.split("\t")[1] for line in out.splitlines() if line.startswith(name("events") + "\t")}
        if keys <= bound:
            return time.monotonic() - start
        time.sleep(0.5)
    raise RuntimeError("daphne did not bind every job's events")


def ms(values: list[float]) -> str:
    if not values:
        return "–"
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"{statistics.median(ordered) * 1000:,.0f} / {p99 * 1000:,.0f} / {ordered[-1] * 1000:,.0f}"


async def measure(
    args: argparse.Namespace, job_ids: list[str], cookie: str, owner_id: int, server: subprocess.Popen[bytes], port: int
) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    before = process_figures(server.pid)
    watchers = [Watcher(job_id) for job_id in job_ids]
    gate = asyncio.Semaphore(AT_ONCE)
    origin = f"http://127.0.0.1:{port}"
    start = time.monotonic()
    await asyncio.gather(
        *(open_socket(watcher, f"ws://127.0.0.1:{port}/ws/jobs/", cookie, origin, gate) for watcher in watchers)
    )
    opened = time.monotonic() - start
    failed = [watcher for watcher in watchers if watcher.snapshot is None]
    for watcher in failed[:5]:
        print(f"  socket of {watcher.job_id} failed: {watcher.error}", file=sys.stderr)
    live = [watcher for watcher in watchers if watcher.socket is not None and watcher.snapshot is not None]
    messages = [f"bench step {step} of {ROUNDS}" for step in range(1, ROUNDS + 1)]
    followers = [asyncio.ensure_future(follow(watcher, messages)) for watcher in live]
    # Let daphne finish what the last sockets started (and, with RabbitMQ, bind every job).
    await asyncio.sleep(2)
    bound = await asyncio.to_thread(wait_for_bindings, job_ids) if args.broker else 0.0
    # One thread writes and sends, so its connections (PostgreSQL, RabbitMQ) are open before the first change.
    loop = asyncio.get_running_loop()
    writer = ThreadPoolExecutor(1)
    if args.broker:
        await loop.run_in_executor(writer, open_broker_link)
    with_all = process_figures(server.pid)
    rows += [
        ("sockets opened (50 at a time) / failed", f"{len(live):,} / {len(failed):,}"),
        ("connect → snapshot p50 / p99 / max, ms", ms([w.snapshot for w in watchers if w.snapshot is not None])),
        ("time to open all, s", f"{opened:.1f}"),
        (
            "daphne RSS before the sockets / with all open, MB",
            f"{before['rss'] / 1024:.0f} / {with_all['rss'] / 1024:.0f}",
        ),
        ("daphne RSS per socket, kB", f"{(with_all['rss'] - before['rss']) / max(1, len(live)):.0f}"),
        ("daphne threads / open fds, before", f"{before['threads']:.0f} / {before['fds']:,.0f}"),
        ("daphne threads / open fds, all open", f"{with_all['threads']:.0f} / {with_all['fds']:,.0f}"),
    ]
    if args.broker:
        rows.append(("every job's events bound, s after the sockets (+2 s)", f"{bound:.1f}"))
    for step, message in enumerate(messages, start=1):
        cpu = process_figures(server.pid)["cpu"]
        await loop.run_in_executor(writer, change_jobs, owner_id, step, message)
        sent_at, sending = await loop.run_in_executor(writer, send_notes, owner_id, job_ids, step, message, args.broker)
        deadline = sent_at + WITHIN
        while time.monotonic() < deadline and any(message not in w.seen for w in live):
            await asyncio.sleep(0.05)
        times = [w.seen[message] - sent_at for w in live if message in w.seen]
        cpu = process_figures(server.pid)["cpu"] - cpu
        within = sum(1 for t in times if t <= WITHIN)
        rows += [
            (f"change {step}: note → panel p50 / p99 / max, ms", ms(times)),
            (f"change {step}: sockets that got it within {WITHIN:.0f} s", f"{within:,} / {len(live):,}"),
            (f"change {step}: sending the {len(job_ids):,} notes, ms", f"{sending * 1000:,.1f}"),
            (f"change {step}: daphne's CPU until the last panel, s", f"{cpu:.2f}"),
        ]
        print(f"  change {step}: {within} of {len(live)} within {WITHIN:.0f} s", file=sys.stderr)
        await asyncio.sleep(1)
    writer.shutdown()
    after = process_figures(server.pid)
    early = [w for w in live if w.closed]
    rows += [
        ("daphne RSS after the changes, MB", f"{after['rss'] / 1024:.0f}"),
        ("sockets closed before the end", f"{len(early):,}"),
    ]
    for watcher in early[:5]:
        print(f"  socket of {watcher.job_id}: {watcher.closed}", file=sys.stderr)
    await asyncio.gather(*(w.socket.close() for w in live if w.socket is not None), return_exceptions=True)
    await asyncio.gather(*followers, return_exceptions=True)
    return rows


def main() -> None:
    args = options()
    raise_file_limit(args.sockets)
    env, job_ids, cookie, owner_id = prepare(args)
    with tempfile.TemporaryDirectory(prefix="jobs_ui_sockets_") as tmp:
        log_path = Path(tmp) / "daphne.log"
        with log_path.open("wb") as log:
            server, port = serve(env, log)
            try:
                rows = asyncio.run(measure(args, job_ids, cookie, owner_id, server, port))
            finally:
                server.terminate()
                server.wait(timeout=30)
        output = log_path.read_text(errors="replace").splitlines()
    problems = [
        line for line in output if any(word in line for word in ("Traceback", "Error", "ERROR", "WARNING", "WSREJECT"))
    ]
    print(f"daphne printed {len(output)} lines, {len(problems)} of them errors or warnings", file=sys.stderr)
    for line in (problems or output)[:20]:
        print(f"  daphne: {line}", file=sys.stderr)
    rows.append(("daphne's log: lines / errors or warnings", f"{len(output):,} / {len(problems):,}"))
    setup = "RabbitMQ events" if args.broker else "PostgreSQL NOTIFY"
    print(f"\n{args.sockets:,} sockets, one daphne process, PostgreSQL, changes through {setup}\n")
    print("| measure | figure |\n|---|---:|")
    for label, figure in rows:
        print(f"| {label} | {figure} |")


if __name__ == "__main__":
    main()

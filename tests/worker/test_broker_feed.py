"""The broker feed: a message claims the job first in its queue, or is dropped, given back or dead-lettered with the reason; the worker keeps serving."""

from __future__ import annotations

import json
import signal
import uuid

import pytest

from jobs_ui.broker import amqp, publisher
from jobs_ui.broker.messages import PRIORITY_LEVELS, dead_letter_queue, declare_queues, job_queue
from jobs_ui.models import Job, JobStatus, Worker
from tests import tasks
from tests.amqp_fixtures import _connect
from tests.waiting import wait_for_status, wait_until

pytestmark = [pytest.mark.rabbitmq, pytest.mark.django_db(transaction=True)]


def message(job_id, task="tests.tasks.append_line", attempts=0, **extra):
    return json.dumps({"v": 1, "job_id": str(job_id), "task": task, "attempts": attempts, **extra}).encode()


def dead_letters(amqp_url):
    connection = _connect(amqp_url)
    try:
        channel = connection.channel()
        found: list[tuple[bytes, dict[str, str]]] = []
        while True:
            method, properties, body = channel.basic_get(dead_letter_queue(), auto_ack=True)
            if method is None:
                return found
            found.append((body, properties.headers))
    finally:
        connection.close()


BAD_MESSAGES = [
    (b"\xff not even text", "The message is not JSON"),
    (b'{"job_id": "x"}', "exactly the keys"),
    (b"[1, 2]", "exactly the keys"),
    (message(uuid.uuid4(), note="unexpected"), "exactly the keys"),
    (json.dumps({"v": 2, "job_id": str(uuid.uuid4()), "task": "t", "attempts": 0}).encode(), "Unknown message version"),
    (message("not-a-uuid"), "is not a UUID"),
    (message(uuid.uuid4(), attempts=-1), "attempts must be"),
    (message(uuid.uuid4(), task="tests.tasks.no_such_task"), "No task at 'tests.tasks.no_such_task'"),
    (message(uuid.uuid4(), task="tests.tasks.append"), "is not a task"),
    (message(uuid.uuid4()), "No job"),
]


def test_bad_messages_are_dead_lettered_and_the_worker_keeps_serving(amqp_settings, start_worker, lines):
    declare_queues(["default", "other"])
    # Above the good job's priority, so the worker meets every bad message before the
    # good job, and ``--until-done`` cannot end with some of them still in the queue.
    for body, _reason in BAD_MESSAGES:
        amqp.publish("", job_queue("default"), body, priority=PRIORITY_LEVELS - 1)
    good = tasks.append_line.enqueue(lines.path, "served")
    assert publisher.flush()
    assert start_worker("--until-done").wait() == 0
    assert lines.read() == ["served"]
    assert Job.objects.get(pk=good.id).status == JobStatus.SUCCESSFUL
    found = dead_letters(amqp_settings.JOBS_UI["AMQP_URL"])
    assert [body for body, _ in found] == [body for body, _ in BAD_MESSAGES]
    for (_, headers), (body, reason) in zip(found, BAD_MESSAGES, strict=True):
        assert reason in headers["x-jobs-ui-reason"], body
        assert headers["x-jobs-ui-queue"] == job_queue("default")
        assert headers["x-jobs-ui-worker"] == Worker.objects.get().label


def test_message_naming_another_task_changes_nothing(amqp_settings, start_worker, lines):
    job = tasks.append_line.enqueue(lines.path, "once")
    declare_queues(["default", "other"])
    amqp.publish("", job_queue("default"), message(job.id, task="tests.tasks.echo"), priority=9)
    assert start_worker("--until-done").wait() == 0
    # The job ran once, through its own message.
    assert lines.read() == ["once"]
    assert Job.objects.get(pk=job.id).attempts == 1
    [(_, headers)] = dead_letters(amqp_settings.JOBS_UI["AMQP_URL"])
    assert headers["x-jobs-ui-reason"] == f"Job {job.id} runs tests.tasks.append_line, not tests.tasks.echo."


def test_duplicate_and_stale_messages_are_dropped(amqp_settings, start_worker, lines):
    job = tasks.append_line.enqueue(lines.path, "once")
    declare_queues(["default", "other"])
    for stale in (message(job.id), message(job.id), message(job.id, attempts=5)):
        amqp.publish("", job_queue("default"), stale)
    # A serving worker, not ``--until-done``: that may end once the job is done, with
    # duplicates still in the queue; this one must take them all.
    worker = start_worker()
    wait_for_status(job.id, JobStatus.SUCCESSFUL)
    wait_until(lambda: amqp.queue_info(job_queue("default")) == (0, 1), what="every message taken")
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0
    # Acked, not only delivered: a message left unacked would be back in the queue now.
    assert amqp.queue_info(job_queue("default")) == (0, 0)
    assert lines.read() == ["once"]
    assert Job.objects.get(pk=job.id).attempts == 1
    assert dead_letters(amqp_settings.JOBS_UI["AMQP_URL"]) == []


def test_a_message_that_finds_every_slot_busy_goes_back_for_another_worker(
    amqp_settings, start_worker, lines, tmp_path
):
    gate = tmp_path / "gate"
    busy = start_worker("--concurrency", "1")
    blocking = tasks.append_when_file_exists.enqueue(lines.path, "first", str(gate))
    wait_for_status(blocking.id, JobStatus.RUNNING)
    # The only consumer is the busy worker: it receives this message and keeps it for a moment.
    waiting = tasks.append_line.enqueue(lines.path, "second")
    other = start_worker("--concurrency", "1")
    job = wait_for_status(waiting.id, JobStatus.SUCCESSFUL)
    assert Job.objects.get(pk=blocking.id).status == JobStatus.RUNNING
    assert job.worker_id != Job.objects.get(pk=blocking.id).worker_id
    gate.touch()
    wait_for_status(blocking.id, JobStatus.SUCCESSFUL)
    for worker in (busy, other):
        worker.signal(signal.SIGTERM)
        assert worker.wait() == 0
    assert sorted(line for line in lines.read() if not line.startswith("start")) == ["first", "second"]


def take_all(amqp_url, queue):
    connection = _connect(amqp_url)
    try:
        channel = connection.channel()
        while channel.basic_get(queue, auto_ack=True)[0] is not None:
            pass
    finally:
        connection.close()


def test_a_message_that_claims_nothing_leaves_the_jobs_of_excluded_tasks_to_the_sweep(
    amqp_settings, start_worker, lines
):
    excluded = tasks.unique_append.enqueue(lines.path, "excluded task")
    finished = tasks.append_line.enqueue(lines.path, "finished")
    assert publisher.flush()
    Job.objects.filter(pk=finished.id).update(status=JobStatus.SUCCESSFUL)
    # Any message stands for any job of its queue: the excluded job's own message was
    # used by another, and the one left names a finished job.
    take_all(amqp_settings.JOBS_UI["AMQP_URL"], job_queue("default"))
    amqp.publish("", job_queue("default"), message(finished.id))
    picky = start_worker("--until-done", "--exclude-task", "tests.tasks.unique_append")
    assert picky.wait() == 0
    assert Job.objects.get(pk=excluded.id).status == JobStatus.READY
    assert start_worker("--until-done").wait() == 0
    assert lines.read() == ["excluded task"]
    assert Job.objects.get(pk=excluded.id).status == JobStatus.SUCCESSFUL

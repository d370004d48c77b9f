"""The publisher thread: launches hand their messages over; rows are marked once RabbitMQ confirms."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from jobs_ui.broker import amqp, publisher
from jobs_ui.broker.messages import JobMessage, job_queue
from jobs_ui.models import Job, JobStatus
from tests import tasks

pytestmark = [pytest.mark.rabbitmq, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


def queued_messages() -> list[JobMessage]:
    """Every message of the default queue, taken off it."""
    messages: list[JobMessage] = []
    while True:
        _method, _properties, body = amqp._run(lambda ch: ch.basic_get(job_queue("default"), auto_ack=True))
        if body is None:
            return messages
        messages.append(JobMessage.decode(body))


def test_every_launched_job_gets_one_message_and_is_marked_once_confirmed(amqp_settings, on_workers):
    results = [tasks.append_line.enqueue("/dev/null", str(i)) for i in range(50)]
    assert publisher.flush()
    assert Job.objects.filter(status=JobStatus.READY, dispatched_at__isnull=False).count() == 50
    assert amqp.queue_info(job_queue("default"))[0] == 50
    assert sorted(str(m.job_id) for m in queued_messages()) == sorted(str(r.id) for r in results)


def test_a_message_no_queue_took_is_sent_again_once_its_queue_is_declared(amqp_settings, on_workers):
    first = tasks.append_line.enqueue("/dev/null", "1")
    assert publisher.flush()
    assert Job.objects.get(pk=first.id).dispatched_at is not None
    # The queue goes away behind this process's back: the next messages are returned.
    amqp.delete_queue(job_queue("default"))
    later = [tasks.append_line.enqueue("/dev/null", str(i)) for i in range(5)]
    assert publisher.flush()
    assert Job.objects.filter(pk__in=[r.id for r in later], dispatched_at__isnull=False).count() == 5
    assert sorted(str(m.job_id) for m in queued_messages()) == sorted(str(r.id) for r in later)


@pytest.mark.parametrize("marked_before", [False, True], ids=["first messages", "after earlier marks"])
def test_messages_still_waiting_when_the_process_exits_are_sent(amqp_settings, on_workers, marked_before):
    # A short-lived process (a script, jobs_ui_create) launches and exits at once; a web
    # process stopped by its server has marked rows before (on SQLite, the publisher's
    # connection holds the writers' lock file open from then on).
    script = (
        "import django; django.setup()\n"
        "from jobs_ui.broker import publisher\n"
        "from tests import tasks\n"
        + ("tasks.append_line.enqueue('/dev/null', 'first'); assert publisher.flush()\n" if marked_before else "")
        + "for i in range(20): tasks.append_line.enqueue('/dev/null', str(i))\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "JOBS_UI_TEST_DB_NAME": str(connection.settings_dict["NAME"]),
        "JOBS_UI_TEST_OVERRIDES": json.dumps(amqp_settings.JOBS_UI),
    }
    launched = 21 if marked_before else 20
    try:
        done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, timeout=60)
        assert done.returncode == 0, done.stderr.decode()
        assert b"Could not mark" not in done.stderr, done.stderr.decode()
        assert Job.objects.filter(status=JobStatus.READY, dispatched_at__isnull=False).count() == launched
        assert amqp.queue_info(job_queue("default"))[0] == launched
    finally:
        amqp.delete_queue(job_queue("default"))

"""Publishing worker jobs to RabbitMQ after commit; the sweep for those whose message never made it."""

from __future__ import annotations

import socket
import threading
from datetime import timedelta

import pytest
from django.db.models.functions import Now
from django.utils import timezone

from jobs_ui.broker import amqp, publisher
from jobs_ui.broker.dispatch import sweep
from jobs_ui.broker.messages import JobMessage, declare_queues, job_queue
from jobs_ui.models import Job, JobStatus, db_now_plus
from tests import tasks


@pytest.mark.rabbitmq
@pytest.mark.django_db(transaction=True)
class TestDispatch:
    def test_job_is_published_after_commit(self, amqp_settings, on_workers):
        job = tasks.append_line.using(priority=60).enqueue("/dev/null", "x")
        assert publisher.flush()
        row = Job.objects.get(pk=job.id)
        assert row.dispatched_at is not None
        body = amqp.peek(job_queue("default"))
        assert body is not None
        assert JobMessage.decode(body) == JobMessage(job_id=row.pk, task_path="tests.tasks.append_line", attempts=0)

    def test_delayed_job_waits_for_the_sweep(self, amqp_settings, on_workers):
        declare_queues(["default", "other"])
        job = tasks.append_line.using(run_after=timezone.now() + timedelta(seconds=30)).enqueue("/dev/null", "x")
        assert Job.objects.get(pk=job.id).dispatched_at is None
        assert amqp.peek(job_queue("default")) is None
        next_due = sweep()
        assert next_due is not None
        # About 30: the seconds until it is due, less what the lines above took on however busy a machine.
        assert 10 < next_due <= 30
        Job.objects.filter(pk=job.id).update(run_after=Now())
        assert sweep() is None
        assert Job.objects.get(pk=job.id).dispatched_at is not None
        assert amqp.queue_info(job_queue("default"))[0] == 1

    def test_sweep_gives_new_jobs_time_for_their_own_publish(self, amqp_settings, on_workers):
        # DISPATCH_GRACE, not the sweep interval: a launch still waiting for its confirm
        # after a few sweeps must not be published twice.
        amqp_settings.JOBS_UI = {**amqp_settings.JOBS_UI, "DISPATCH_SWEEP_INTERVAL": 0.2, "DISPATCH_GRACE": 30.0}
        young = Job.objects.create(task_path="tests.tasks.add", executor="worker", enqueued_at=db_now_plus(-10))
        old = Job.objects.create(task_path="tests.tasks.add", executor="worker", enqueued_at=db_now_plus(-60))
        thread_job = Job.objects.create(task_path="tests.tasks.add", enqueued_at=db_now_plus(-60))
        sweep()
        assert Job.objects.get(pk=old.pk).dispatched_at is not None
        assert Job.objects.get(pk=young.pk).dispatched_at is None
        assert Job.objects.get(pk=thread_job.pk).dispatched_at is None
        assert amqp.queue_info(job_queue("default"))[0] == 1
        sweep()  # nothing left to publish: no duplicate
        assert amqp.queue_info(job_queue("default"))[0] == 1

    def test_launch_succeeds_while_the_broker_is_down(self, amqp_settings, on_workers, monkeypatch):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        amqp_settings.JOBS_UI = {**amqp_settings.JOBS_UI, "AMQP_URL": f"amqp://guest:guest@127.0.0.1:{port}/%2F"}
        connecting: list[threading.Thread] = []
        connect = amqp.connect

        def record_and_connect():
            # Observes who tries, then connects as usual (and fails: nothing listens there).
            connecting.append(threading.current_thread())
            return connect()

        monkeypatch.setattr(amqp, "connect", record_and_connect)
        results = [tasks.append_line.enqueue("/dev/null", str(i)) for i in range(10)]
        # The publisher thread tries the broker and gives them up to the sweep.
        assert publisher.flush()
        assert Job.objects.filter(status=JobStatus.READY, dispatched_at__isnull=True).count() == len(results)
        # The launches never waited for the broker: none of them tried to reach it.
        assert connecting
        assert threading.current_thread() not in connecting

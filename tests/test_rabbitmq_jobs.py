"""Whole jobs with RabbitMQ configured: results in per-job queues, events on the exchange."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db.models.functions import Now
from django.test import Client

from jobs_ui import launch
from jobs_ui.broker import amqp
from jobs_ui.events import JobEvent
from jobs_ui.models import Job, JobStatus
from tests import tasks
from tests.jobs.test_create import request_for
from tests.waiting import wait_for_status, wait_until

pytestmark = [pytest.mark.rabbitmq, pytest.mark.django_db(transaction=True)]

RABBITMQ_STORE = {"BACKEND": "jobs_ui.stores.rabbitmq.RabbitMQResultStore", "OPTIONS": {}}


@pytest.fixture
def rabbitmq_store(amqp_settings):
    amqp_settings.JOBS_UI = {**amqp_settings.JOBS_UI, "RESULT_STORE": RABBITMQ_STORE}
    return amqp_settings


@pytest.mark.parametrize("value", [{"rows": 3}, {}, [], 0, "", None])
def test_result_lives_in_rabbitmq(rabbitmq_store, alice, value):
    job = launch(tasks.echo, request_for(alice), value)
    job = wait_for_status(job.pk, JobStatus.SUCCESSFUL)
    assert job.result_store == "rabbitmq"
    assert job.result is None  # not in the database
    assert amqp.peek(amqp.name("result", job.pk.hex)) is not None
    client = Client()
    client.force_login(alice)
    for _ in range(3):  # every poll sees it: reads do not consume
        response = client.get(f"/jobs/{job.pk}/result.json")
        assert response.status_code == 200
        assert response.json() == value
    assert tasks.echo.get_result(str(job.pk)).return_value == value


def test_expired_rabbitmq_result_is_410(rabbitmq_store, alice):
    result = tasks.short_lived.enqueue()
    job = wait_for_status(result.id, JobStatus.SUCCESSFUL)
    client = Client()
    Job.objects.filter(pk=job.pk).update(owner=alice)
    client.force_login(alice)
    assert client.get(f"/jobs/{job.pk}/result.json").status_code == 200
    # result_ttl=1: polling does not keep it alive.
    wait_until(lambda: client.get(f"/jobs/{job.pk}/result.json").status_code == 410, timeout=10)
    Job.objects.filter(pk=job.pk).update(result_expires_at=Now() + timedelta(hours=1))
    # Gone from the broker too, whatever the row says.
    assert client.get(f"/jobs/{job.pk}/result.json").status_code == 410


def test_broker_down_while_reading_is_503(rabbitmq_store, alice):
    result = tasks.echo.enqueue({"a": 1})
    job = wait_for_status(result.id, JobStatus.SUCCESSFUL)
    Job.objects.filter(pk=job.pk).update(owner=alice)
    rabbitmq_store.JOBS_UI = {**rabbitmq_store.JOBS_UI, "AMQP_URL": "amqp://guest:guest@127.0.0.1:1/%2F"}
    client = Client()
    client.force_login(alice)
    response = client.get(f"/jobs/{job.pk}/result.json")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["message"] == "The result cannot be read right now; try again shortly."
    assert "detail" not in error  # the broker's address is for staff only


def test_events_reach_the_exchange(amqp_settings):
    received: list[JobEvent] = []
    stop = threading.Event()
    ready = threading.Event()

    def on_event(routing_key: str, body: bytes) -> None:
        received.append(JobEvent.from_json(body))

    consumer = threading.Thread(target=amqp.consume_events, args=("job.#", on_event, stop), kwargs={"ready": ready})
    consumer.start()
    try:
        assert ready.wait(10)
        result = tasks.count.enqueue(3)
        wait_for_status(result.id, JobStatus.SUCCESSFUL)
        wait_until(lambda: any(e.kind == "finished" and e.job_id == str(result.id) for e in received))
    finally:
        stop.set()
        consumer.join(10)
    mine = [e for e in received if e.job_id == str(result.id)]
    assert [e.message for e in mine if e.kind == "progress"] == ["Counted 1", "Counted 2", "Counted 3"]
    assert mine[-1].status == JobStatus.SUCCESSFUL


def test_broker_down_does_not_stop_jobs(amqp_settings):
    amqp_settings.JOBS_UI = {**amqp_settings.JOBS_UI, "AMQP_URL": "amqp://guest:guest@127.0.0.1:1/%2F"}
    result = tasks.count.enqueue(2)
    job = wait_for_status(result.id, JobStatus.SUCCESSFUL)
    assert job.result == 2

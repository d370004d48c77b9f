"""RabbitMQResultStore on a real broker; its jobs are not saved, as it reads only their id and result_expires_at."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.core.checks import Error
from django.utils import timezone

from jobs_ui.broker import amqp
from jobs_ui.exceptions import QueueNotFound, ResultExpired, ResultStoreError
from jobs_ui.stores.rabbitmq import RabbitMQResultStore, queue_name
from tests.helpers import make_job

UNREACHABLE_URL = "amqp://guest:guest@127.0.0.1:1/%2F"


@pytest.fixture
def store() -> RabbitMQResultStore:
    return RabbitMQResultStore({})


def test_name():
    assert RabbitMQResultStore.name == "rabbitmq"


@pytest.mark.rabbitmq
def test_queue_name(amqp_settings):
    job = make_job(save=False)

    assert queue_name(job) == amqp.name("result", job.pk.hex)


@pytest.mark.rabbitmq
@pytest.mark.parametrize("value", [{"a": 1}, {}, [], 0, "", None, False, ["x", 1.5]])
def test_save_load_round_trip(amqp_settings, store, value):
    job = make_job(save=False)

    store.save(job, json.dumps(value), 60)

    assert store.load(job) == value
    # Reading does not consume: every poll sees the result.
    assert store.load(job) == value


@pytest.mark.rabbitmq
def test_save_again_keeps_latest_result(amqp_settings, store):
    job = make_job(save=False)
    store.save(job, json.dumps("first"), 60)

    store.save(job, json.dumps("second"), 30)

    assert store.load(job) == "second"


@pytest.mark.rabbitmq
def test_load_before_result_expires_at(amqp_settings, store):
    job = make_job(save=False, result_expires_at=timezone.now() + timedelta(minutes=1))
    store.save(job, json.dumps({"a": 1}), 60)

    assert store.load(job) == {"a": 1}


@pytest.mark.rabbitmq
def test_load_never_saved_raises_result_expired(amqp_settings, store):
    with pytest.raises(ResultExpired):
        store.load(make_job(save=False))


@pytest.mark.rabbitmq
def test_load_empty_queue_raises_result_expired(amqp_settings, store):
    job = make_job(save=False)
    amqp.declare_queue(queue_name(job), arguments={"x-expires": 60_000})

    with pytest.raises(ResultExpired):
        store.load(job)


@pytest.mark.rabbitmq
def test_result_expires_while_polled(amqp_settings, store):
    ttl = 2
    job = make_job(save=False)  # result_expires_at unset: only the broker decides.
    saved_at = time.monotonic()
    store.save(job, json.dumps({"done": True}), ttl)

    seen = 0
    expired_at = None
    # Long enough to catch only a result that never expires.
    deadline = saved_at + ttl + 30
    while time.monotonic() < deadline:
        try:
            assert store.load(job) == {"done": True}
        except ResultExpired:
            expired_at = time.monotonic()
            break
        seen += 1
        time.sleep(0.2)

    assert seen, "the result was never seen"
    assert expired_at is not None, "polling kept the result alive"
    # Not before its ttl: a busy machine only makes this later.
    assert expired_at - saved_at >= ttl - 0.5


@pytest.mark.rabbitmq
def test_load_after_result_expires_at_skips_broker(amqp_settings, store):
    job = make_job(save=False, result_expires_at=timezone.now() - timedelta(seconds=1))
    store.save(job, json.dumps({"a": 1}), 60)
    # The result is still in RabbitMQ, and RabbitMQ is unreachable: neither matters.
    amqp_settings.JOBS_UI = {**amqp_settings.JOBS_UI, "AMQP_URL": UNREACHABLE_URL}

    with pytest.raises(ResultExpired):
        store.load(job)


@pytest.mark.rabbitmq
def test_save_queue_deleted_in_between_raises_result_store_error(amqp_settings, store, monkeypatch):
    declare_queue = amqp.declare_queue

    def declare_then_lose(queue, **kwargs):
        declare_queue(queue, **kwargs)
        # As if x-expires fired, or another process deleted it, before the publish.
        amqp.delete_queue(queue)

    monkeypatch.setattr(amqp, "declare_queue", declare_then_lose)
    job = make_job(save=False)

    with pytest.raises(ResultStoreError):
        store.save(job, json.dumps({"a": 1}), 60)


@pytest.mark.rabbitmq
def test_delete(amqp_settings, store):
    job = make_job(save=False)
    store.save(job, json.dumps({"a": 1}), 60)

    store.delete(job)

    with pytest.raises(ResultExpired):
        store.load(job)


@pytest.mark.rabbitmq
def test_delete_missing_is_fine(amqp_settings, store):
    job = make_job(save=False)

    store.delete(job)

    # No error and no queue left for it; a result saved afterwards is kept as usual.
    with pytest.raises(QueueNotFound):
        amqp.peek(queue_name(job))
    store.save(job, json.dumps("kept"), 60)
    assert store.load(job) == "kept"


def test_save_unreachable_broker_raises_result_store_error(settings, store):
    settings.JOBS_UI = {**settings.JOBS_UI, "AMQP_URL": UNREACHABLE_URL}

    with pytest.raises(ResultStoreError):
        store.save(make_job(save=False), "{}", 60)


def test_load_unreachable_broker_raises_result_store_error(settings, store):
    settings.JOBS_UI = {**settings.JOBS_UI, "AMQP_URL": UNREACHABLE_URL}

    with pytest.raises(ResultStoreError):
        store.load(make_job(save=False))


def test_check_without_amqp_url(settings, store):
    settings.JOBS_UI = {**settings.JOBS_UI, "AMQP_URL": None}

    assert store.check() == [
        Error(
            "RabbitMQResultStore needs JOBS_UI['AMQP_URL'].",
            hint=(
                "Set JOBS_UI['AMQP_URL'] to amqp://user:password@host:5672/vhost, "
                "or use jobs_ui.stores.database.DatabaseResultStore."
            ),
            id="jobs_ui.E002",
        )
    ]


def test_check_with_amqp_url(settings, store):
    settings.JOBS_UI = {**settings.JOBS_UI, "AMQP_URL": UNREACHABLE_URL}

    assert store.check() == []

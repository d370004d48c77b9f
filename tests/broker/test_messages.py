"""The job message format, RabbitMQ priorities, the queue names, dead letters, and the broker's state here."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from jobs_ui.broker import amqp, messages
from jobs_ui.broker.messages import (
    InvalidJobMessage,
    JobMessage,
    OutgoingMessage,
    amqp_priority,
    dead_letter,
    dead_letter_queue,
    declare_queues,
    job_queue,
)
from tests.helpers import make_job

# A fixed id keeps the parametrized tests' ids the same from one run to the next.
JOB_ID = b"0190f4f2-8e1c-7a3b-9c4d-5e6f708192a3"


class TestJobMessage:
    def test_round_trip(self):
        message = JobMessage(job_id=uuid.uuid4(), task_path="tests.tasks.add", attempts=2)
        assert JobMessage.decode(message.encode()) == message
        assert json.loads(message.encode())["v"] == 1

    @pytest.mark.parametrize(
        ("body", "error"),
        [
            (b"", "not JSON"),
            (b"null", "exactly the keys"),
            (b'{"v": 1, "job_id": "x", "task": "t"}', "exactly the keys"),
            (b'{"v": 1, "job_id": "x", "task": "t", "attempts": 0}', "not a UUID"),
            (b'{"v": 1, "job_id": "%s", "task": "", "attempts": 0}' % JOB_ID, "non-empty"),
            (b'{"v": 1, "job_id": "%s", "task": "t", "attempts": true}' % JOB_ID, "attempts"),
        ],
    )
    def test_bad_bodies(self, body, error):
        with pytest.raises(InvalidJobMessage, match=error):
            JobMessage.decode(body)


def test_priorities_map_onto_ten_levels_in_order():
    levels = [amqp_priority(p) for p in range(-100, 101)]
    assert levels == sorted(levels)
    assert (levels[0], levels[-1], amqp_priority(0)) == (0, 9, 4)
    assert amqp_priority(-500) == 0
    assert amqp_priority(500) == 9


def test_an_outgoing_message_goes_to_the_queue_of_its_job_with_its_priority():
    job = make_job(save=False, task_path="tests.tasks.add", queue_name="reports", priority=100, attempts=2)
    outgoing = OutgoingMessage.for_job(job)
    assert JobMessage.decode(outgoing.body) == JobMessage(job_id=job.pk, task_path="tests.tasks.add", attempts=2)
    assert (outgoing.queue, outgoing.priority) == (job_queue("reports"), 9)
    assert job_queue("reports") != job_queue("default")
    # The next attempt of the same job is another message.
    job.attempts = 3
    assert OutgoingMessage.for_job(job).key != outgoing.key


@pytest.mark.rabbitmq
def test_a_dead_letter_says_why_from_which_queue_by_whom_and_when(amqp_settings):
    declare_queues(["default"])
    before = int(time.time())
    dead_letter(b"not a job", job_queue("default"), "The message is not JSON.", "host 42")
    [letter], total = amqp.browse(dead_letter_queue(), 10)
    assert (letter.body, total) == (b"not a job", 1)
    assert letter.headers == {
        "x-jobs-ui-reason": "The message is not JSON.",
        "x-jobs-ui-queue": job_queue("default"),
        "x-jobs-ui-worker": "host 42",
    }
    assert letter.timestamp is not None
    assert before <= letter.timestamp <= time.time()


def test_after_a_failed_publish_the_broker_is_skipped_until_the_state_is_forgotten(caplog):
    messages.forget_state()
    assert not messages.broker_down()
    messages.broker_failed(ConnectionError("refused"))
    assert messages.broker_down()
    assert "Jobs wait for RabbitMQ (refused)" in caplog.text
    messages.declared("jobs_ui.jobs.default", True)
    assert messages.queue_declared("jobs_ui.jobs.default")
    messages.forget_state()
    assert not messages.broker_down()
    assert not messages.queue_declared("jobs_ui.jobs.default")

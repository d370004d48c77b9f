"""``jobs_ui_queues --dead-letters`` and ``--purge-dead-letters``: what workers put aside, for staff."""

from __future__ import annotations

import json
import time
from datetime import datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from jobs_ui.broker import amqp
from jobs_ui.broker.messages import dead_letter, dead_letter_queue, declare_queues, job_queue

pytestmark = pytest.mark.django_db


def run(*args):
    out = StringIO()
    call_command("jobs_ui_queues", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


LETTERS = [
    (b'{"job_id": "x"}', "The message must hold exactly the keys v, job_id, task, attempts."),
    (b"\xff not even text", "The message is not JSON."),
    (b"x" * 500, "The message is not JSON."),
]


@pytest.fixture
def letters(amqp_settings):
    declare_queues(["default"])
    before = int(time.time())
    for body, reason in LETTERS:
        dead_letter(body, job_queue("default"), reason, "host 42")
    return before


@pytest.mark.rabbitmq
def test_lists_dead_letters_oldest_first_and_leaves_them(letters):
    data = json.loads(run("--dead-letters", "--json"))
    assert data["total"] == 3
    listed = data["dead_letters"]
    assert [letter["reason"] for letter in listed] == [reason for _, reason in LETTERS]
    assert [letter["body"] for letter in listed] == ['{"job_id": "x"}', "\\xff not even text", "x" * 500]
    assert {letter["queue"] for letter in listed} == {job_queue("default")}
    assert {letter["worker"] for letter in listed} == {"host 42"}
    for letter in listed:
        assert letters <= datetime.fromisoformat(letter["at"]).timestamp() <= time.time()
        assert letter["at"].endswith("+00:00")
    # Still there, in the same order.
    messages, total = amqp.browse(dead_letter_queue(), 10)
    assert [m.body for m in messages] == [body for body, _ in LETTERS]
    assert total == 3


@pytest.mark.rabbitmq
def test_table_shortens_long_bodies_and_says_how_many(letters):
    out = run("--dead-letters", "--limit", "2")
    assert "reason: The message must hold exactly the keys" in out
    assert "body:   \\xff not even text" in out
    assert "x" * 500 not in out
    assert out.splitlines()[-1] == "Showing 2 of 3 dead letters, oldest first."
    long = run("--dead-letters").splitlines()
    assert f"  body:   {'x' * 119}…" in long


@pytest.mark.rabbitmq
def test_purge_deletes_them_all(letters):
    assert run("--purge-dead-letters") == "Deleted 3 dead letters.\n"
    assert run("--dead-letters") == "No dead letters.\n"
    assert json.loads(run("--purge-dead-letters", "--json")) == {"purged": 0}


@pytest.mark.rabbitmq
def test_no_dead_letter_queue_yet(amqp_settings):
    assert json.loads(run("--dead-letters", "--json")) == {"dead_letters": [], "total": 0}
    assert run("--purge-dead-letters") == "Deleted 0 dead letters.\n"


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--dead-letters"], "Dead letters are kept in RabbitMQ, and JOBS_UI['AMQP_URL'] is not set."),
        (["--purge-dead-letters"], "JOBS_UI['AMQP_URL'] is not set"),
        (["--dead-letters", "--limit", "0"], "argument --limit: must be a whole number >= 1, not '0'"),
        (["--dead-letters", "--limit", "many"], "argument --limit: must be a whole number >= 1, not 'many'"),
        (["--limit", "5"], "--limit goes with --dead-letters."),
        (["--dead-letters", "--purge-dead-letters"], "not allowed with argument"),
    ],
)
def test_bad_input_is_refused(args, error):
    with pytest.raises(CommandError, match=error.replace("[", r"\[").replace("]", r"\]")):
        run(*args)


@pytest.mark.rabbitmq
def test_bad_limit_changes_nothing(letters):
    with pytest.raises(CommandError):
        run("--purge-dead-letters", "--limit", "x")
    assert amqp.browse(dead_letter_queue(), 1)[1] == 3

"""Job ids are UUIDv7: they increase in the order they are made, in Python and in the database."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from django.db import transaction

from jobs_ui.jobs import ids
from jobs_ui.models import Job
from tests import tasks


def test_ids_strictly_increase_within_a_process():
    made = [ids.new_job_id() for _ in range(20_000)]
    assert all(earlier < later for earlier, later in zip(made, made[1:], strict=False))
    assert len(set(made)) == len(made)


def test_ids_made_by_threads_at_once_are_distinct_and_each_threads_increase():
    made: list[list[uuid.UUID]] = [[] for _ in range(4)]

    def make(index: int) -> None:
        made[index].extend(ids.new_job_id() for _ in range(5_000))

    threads = [threading.Thread(target=make, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(part == sorted(part) for part in made)
    assert len({job_id for part in made for job_id in part}) == 20_000


def test_the_layout_is_uuidv7_with_the_time_in_milliseconds():
    before = time.time_ns() // 1_000_000
    job_id = ids.new_job_id()
    after = time.time_ns() // 1_000_000
    assert (job_id.version, job_id.variant) == (7, uuid.RFC_4122)
    assert before <= job_id.int >> 80 <= after


def test_a_full_counter_moves_the_timestamp_on(monkeypatch):
    first = ids.new_job_id()
    monkeypatch.setattr(ids, "_counter", ids._COUNTER_MAX)
    second = ids.new_job_id()
    assert second > first
    assert second.int >> 80 >= (first.int >> 80) + 1


def test_a_clock_that_goes_back_does_not_make_smaller_ids(monkeypatch):
    # The last id was made a minute ahead of the clock as it reads now.
    ahead = time.time_ns() // 1_000_000 + 60_000
    monkeypatch.setattr(ids, "_last_ms", ahead)
    first = ids.new_job_id()
    second = ids.new_job_id()
    assert first.int >> 80 == second.int >> 80 == ahead
    assert second > first


@pytest.mark.django_db(transaction=True)
def test_the_database_sorts_ids_in_the_order_they_were_made():
    # One transaction: on PostgreSQL every row has the same enqueued_at (now() is the
    # transaction's start), so only the id keeps them first in, first out.
    with transaction.atomic():
        made = [tasks.add.enqueue(i).id for i in range(30)]
    assert [str(pk) for pk in Job.objects.order_by("id").values_list("pk", flat=True)] == made
    assert [str(job.pk) for job in Job.objects.in_claim_order()] == made


def test_the_counter_takes_12_bits_and_62_bits_stay_random():
    # A public job's link is its id: one made in the same millisecond must not tell the next.
    made = [ids.new_job_id() for _ in range(2_000)]
    same_ms = [(a, b) for a, b in zip(made, made[1:], strict=False) if a.int >> 80 == b.int >> 80]
    assert same_ms
    assert all((b.int >> 64 & 0xFFF) == (a.int >> 64 & 0xFFF) + 1 for a, b in same_ms)
    # The top of rand_b is random, not a continuation of the counter.
    assert any((b.int >> 32 & 0x3FFF_FFFF) < (a.int >> 32 & 0x3FFF_FFFF) for a, b in same_ms)

"""enqueue_many(): many jobs of one task at once, in order, all or none."""

from __future__ import annotations

import pytest

import jobs_ui
from jobs_ui.exceptions import InvalidJobArguments
from jobs_ui.models import Job, JobStatus
from tests import tasks
from tests.waiting import wait_for_status


@pytest.mark.django_db
class TestEnqueueMany:
    def test_creates_jobs_in_order(self, on_workers):
        jobs = jobs_ui.enqueue_many(tasks.add, [[1], (2, 3), {"a": 4, "b": 5}], batch_size=2)
        assert [(job.args, job.kwargs) for job in jobs] == [([1], {}), ([2, 3], {}), ([], {"a": 4, "b": 5})]
        assert Job.objects.filter(status=JobStatus.READY, executor="worker").count() == 3

    @pytest.mark.parametrize(
        ("items", "error"),
        [
            ([[1], "oops"], "Item 1 must be a list of arguments or a dict"),
            ([[1], [1, 2, 3]], "Item 1: Arguments do not match add()"),
            ([[1], [object()]], "Item 1: Arguments"),
        ],
    )
    def test_one_bad_item_creates_nothing(self, on_workers, items, error):
        with pytest.raises(InvalidJobArguments, match=error.replace("(", r"\(").replace(")", r"\)")):
            jobs_ui.enqueue_many(tasks.add, items)
        assert not Job.objects.exists()

    def test_unique_task_keeps_one_unfinished_job(self, on_workers):
        jobs = jobs_ui.enqueue_many(tasks.unique_job, [[1], [1], [2]])
        assert jobs[0].pk == jobs[1].pk != jobs[2].pk
        assert Job.objects.count() == 2

    @pytest.mark.django_db(transaction=True)
    def test_runs_in_threads_by_default(self):
        jobs = jobs_ui.enqueue_many(tasks.add, [[1, 1], [2, 2]])
        assert [wait_for_status(job.pk, JobStatus.SUCCESSFUL).result for job in jobs] == [2, 4]

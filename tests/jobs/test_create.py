from __future__ import annotations

import threading
from typing import cast

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connections
from django.tasks import task
from django.tasks.exceptions import InvalidTask
from django.test import RequestFactory

from jobs_ui import launch, launch_with
from jobs_ui.backend import JobTask
from jobs_ui.exceptions import InvalidJobArguments, JobAlreadyRunning, TooManyJobs
from jobs_ui.jobs.create import new_job
from jobs_ui.models import Job, JobStatus
from tests import tasks
from tests.waiting import wait_for_status

ECHO = cast(JobTask, tasks.echo)


def request_for(user):
    request = RequestFactory().get("/")
    request.user = user
    return request


@pytest.mark.django_db
class TestLaunchValidation:
    @pytest.mark.parametrize(
        ("args", "kwargs", "message"),
        [
            ((object(),), {}, "Arguments must be JSON"),
            ((float("nan"),), {}, "Arguments must be JSON"),
            (({1, 2},), {}, "Arguments must be JSON"),
            ((), {"value": b"bytes"}, "Arguments must be JSON"),
            (("x" * 70_000,), {}, "Arguments too large"),
            ((), {}, "do not match echo()"),
            ((1, 2), {}, "do not match echo()"),
            ((), {"nope": 1}, "do not match echo()"),
        ],
    )
    def test_bad_arguments_are_rejected_and_nothing_is_written(self, alice, args, kwargs, message):
        with pytest.raises(InvalidJobArguments, match=message):
            launch(tasks.echo, request_for(alice), *args, **kwargs)
        assert Job.objects.count() == 0

    def test_enqueue_validates_too(self):
        with pytest.raises(InvalidJobArguments):
            tasks.echo.enqueue(object())
        assert Job.objects.count() == 0

    def test_owner_and_public(self, alice, django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks() as callbacks:
            job = launch(tasks.echo, request_for(alice), (1, "a"), public=True)
        assert len(callbacks) == 1  # dispatch waits for the commit
        job.refresh_from_db()
        assert job.owner == alice
        assert job.public
        assert job.args == [[1, "a"]]  # tuples become JSON lists
        assert job.status == JobStatus.READY
        assert job.task_path == "tests.tasks.echo"

    def test_public_comes_from_the_task(self, alice):
        assert launch(tasks.public_job, request_for(alice)).public
        assert not launch(tasks.echo, request_for(alice), 1).public

    def test_anonymous_launch_has_no_owner(self):
        assert launch(tasks.echo, request_for(AnonymousUser()), 1).owner is None

    def test_cap_on_unfinished_jobs(self, alice, bob, settings):
        settings.JOBS_UI = {**settings.JOBS_UI, "MAX_UNFINISHED_JOBS_PER_USER": 2}
        launch(tasks.echo, request_for(alice), 1)
        launch(tasks.echo, request_for(alice), 2)
        with pytest.raises(TooManyJobs, match="already have 2 unfinished jobs"):
            launch(tasks.echo, request_for(alice), 3)
        assert Job.objects.filter(owner=alice).count() == 2
        launch(tasks.echo, request_for(bob), 1)  # per user
        Job.objects.filter(owner=alice).update(status=JobStatus.SUCCESSFUL)
        launch(tasks.echo, request_for(alice), 4)  # finished jobs do not count

    def test_unique_returns_the_unfinished_job(self, alice):
        first = launch(tasks.unique_job, request_for(alice), 7)
        assert launch(tasks.unique_job, request_for(alice), 7).pk == first.pk
        other = launch(tasks.unique_job, request_for(alice), 8)
        assert other.pk != first.pk
        Job.objects.filter(pk=first.pk).update(status=JobStatus.SUCCESSFUL)
        assert launch(tasks.unique_job, request_for(alice), 7).pk != first.pk

    def test_unique_is_per_owner(self, alice, bob):
        alices = launch(tasks.unique_job, request_for(alice), 7)
        bobs = launch(tasks.unique_job, request_for(bob), 7)
        assert bobs.pk != alices.pk
        assert bobs.owner == bob
        assert launch(tasks.unique_job, request_for(bob), 7).pk == bobs.pk
        # Ownerless jobs share one key space, apart from every owner's.
        ownerless = tasks.unique_job.enqueue(7)
        assert ownerless.id not in (str(alices.pk), str(bobs.pk))
        assert tasks.unique_job.enqueue(7).id == ownerless.id
        assert Job.objects.filter(task_path="tests.tasks.unique_job", owner=None).count() == 1

    def test_global_unique_job_of_another_user_is_not_handed_out(self, alice, bob):
        alices = launch(tasks.unique_global_job, request_for(alice), 7)
        with pytest.raises(JobAlreadyRunning, match="already running"):
            launch(tasks.unique_global_job, request_for(bob), 7)
        anonymous = AnonymousUser()
        with pytest.raises(JobAlreadyRunning):
            launch(tasks.unique_global_job, request_for(anonymous), 7)
        assert Job.objects.count() == 1
        assert launch(tasks.unique_global_job, request_for(alice), 7).pk == alices.pk
        # Shared across owners: plain enqueue() gets the same job, and so does anyone once it is public.
        assert tasks.unique_global_job.enqueue(7).id == str(alices.pk)
        Job.objects.filter(pk=alices.pk).update(public=True)
        assert launch(tasks.unique_global_job, request_for(bob), 7).pk == alices.pk
        assert launch(tasks.unique_global_job, request_for(bob), 8).owner == bob

    def test_an_unknown_unique_option_is_invalid(self):
        with pytest.raises(InvalidTask, match="unique must be"):
            task(unique="everyone")(tasks.echo.func)  # type: ignore[call-overload]

    def test_run_in_thread_returns_the_result_url(self, alice):
        request = request_for(alice)
        url = tasks.echo.run_in_thread(args=(5,), request=request)  # type: ignore[attr-defined]
        job = Job.objects.get()
        assert url == f"http://testserver/jobs/{job.pk}/result.json"
        assert job.owner == alice
        assert not job.public


@pytest.mark.django_db
class TestParametersNamedLikeLaunchOptions:
    @pytest.mark.parametrize("name", ["task", "request"])
    def test_task_and_request_go_to_the_task(self, alice, name):
        job = launch(tasks.named_like_launch, request_for(alice), **{name: "given"})
        assert job.kwargs == {name: "given"}
        assert job.owner == alice

    def test_public_is_launch_option(self, alice):
        job = launch(tasks.named_like_launch, request_for(alice), public=True)
        assert job.kwargs == {}
        assert job.public is True

    def test_public_task_argument_positionally(self, alice):
        job = launch(tasks.named_like_launch, request_for(alice), "", "", "given")
        assert job.args == ["", "", "given"]
        assert job.public is False

    def test_public_task_argument_through_launch_with(self, alice):
        job = launch_with(tasks.named_like_launch, request_for(alice), [], {"public": "given"}, public=True)
        assert job.kwargs == {"public": "given"}
        assert job.owner == alice
        assert job.public is True

    def test_run_in_thread_passes_a_public_task_argument(self, alice):
        tasks.named_like_launch.run_in_thread(kwargs={"public": "given"}, request=request_for(alice))  # type: ignore[attr-defined]
        job = Job.objects.get()
        assert job.kwargs == {"public": "given"}
        assert job.public is False


@pytest.mark.django_db(transaction=True)
def test_cap_holds_under_parallel_launches(alice, settings):
    settings.JOBS_UI = {**settings.JOBS_UI, "MAX_UNFINISHED_JOBS_PER_USER": 3}
    start = threading.Barrier(8)
    outcomes: list[str] = []

    def attempt():
        try:
            start.wait()
            # run_after keeps them READY (unfinished) while others launch.
            launch(tasks.wait_for_gate, request_for(alice), "never-opened")
            outcomes.append("ok")
        except TooManyJobs:
            outcomes.append("refused")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["ok"] * 3 + ["refused"] * 5
    assert Job.objects.filter(owner=alice).count() == 3


@pytest.mark.django_db(transaction=True)
def test_launched_job_runs_for_its_owner(alice):
    job = launch(tasks.add, request_for(alice), 1, b=2)
    job = wait_for_status(job.pk, JobStatus.SUCCESSFUL)
    assert job.result == 3
    assert job.owner == alice


def test_each_new_job_has_its_own_mutable_values():
    first, second = new_job(ECHO, [], {}), new_job(ECHO, [], {})
    first.extra["changed"] = 1
    first.worker_ids.append("w")
    assert (second.extra, second.worker_ids) == ({}, [])
    assert first.pk != second.pk

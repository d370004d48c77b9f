"""Creating jobs: validation, the per-user cap, unique jobs, dispatch on commit."""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.db import IntegrityError, connections, router, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from jobs_ui.conf import get_config
from jobs_ui.db import statements, wakeups
from jobs_ui.exceptions import InvalidJobArguments, JobAlreadyRunning, TooManyJobs
from jobs_ui.executors import get_executor
from jobs_ui.jobs import task_signals
from jobs_ui.jobs.jsonutil import encode_limited
from jobs_ui.models import Job, Schedule

if TYPE_CHECKING:
    from django.http import HttpRequest

    from jobs_ui.backend import JobTask
    from jobs_ui.executors.base import BaseExecutor


def validate_arguments(task: JobTask, args: list[Any], kwargs: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """JSON-normalised copies of ``args``/``kwargs``; ``InvalidJobArguments`` when they cannot be used."""
    limit = task.max_arguments_bytes or get_config()["MAX_ARGUMENTS_BYTES"]
    text = encode_limited([args, kwargs], limit=limit, what="Arguments", error=InvalidJobArguments)
    args, kwargs = json.loads(text)
    leading = [None] if task.takes_context else []
    try:
        _signature(task.func).bind(*leading, *args, **kwargs)
    except TypeError as e:
        raise InvalidJobArguments(f"Arguments do not match {task.name}(): {e}") from e
    return args, kwargs


@functools.cache
def _signature(func: Callable[..., Any]) -> inspect.Signature:
    return inspect.signature(func)


def new_job(
    task: JobTask,
    args: list[Any],
    kwargs: dict[str, Any],
    *,
    owner: Any = None,
    public: bool | None = None,
    retry_of: Job | None = None,
    schedule: Schedule | None = None,
    occurrence: datetime | None = None,
) -> Job:
    """An unsaved ``Job`` row for validated arguments."""
    values = {
        "task_path": task.module_path,
        "backend": task.backend,
        "executor": task.executor or get_config()["EXECUTOR"],
        "queue_name": task.queue_name,
        "priority": task.priority,
        "args": args,
        "kwargs": kwargs,
        "public": task.public if public is None else public,
        "max_attempts": task.retries + 1,
        "run_after": task.run_after,
        "expires_at": timezone.now() + timedelta(seconds=task.expires) if task.expires else None,
    }
    # Optimization: every value passed in field order, defaults included, which Django's
    # Model.__init__() takes in less time than keyword arguments.
    ordered = [
        values[attname] if attname in values else constant if make is None else make()
        for attname, constant, make in _defaults()
    ]
    model: Any = Job  # django-stubs types keyword arguments only
    job: Job = model(*ordered)
    if owner is not None:
        job.owner = owner
    if retry_of is not None:
        job.retry_of = retry_of
    if schedule is not None:
        job.schedule, job.occurrence = schedule, occurrence
    return job


@functools.cache
def _defaults() -> list[tuple[str, Any, Callable[[], Any] | None]]:
    """``(attname, constant default, None)`` or ``(attname, None, what makes it)`` of each field of ``Job``, in order."""
    return [
        (field.attname, field.get_default(), None)
        if statements.constant_default(field)
        else (field.attname, None, field.get_default)
        for field in Job._meta.concrete_fields
    ]


def create_job(
    task: JobTask,
    args: list[Any],
    kwargs: dict[str, Any],
    *,
    owner: Any = None,
    public: bool | None = None,
    caller: Any = None,
    retry_of: Job | None = None,
    schedule: Schedule | None = None,
    occurrence: datetime | None = None,
) -> Job:
    """Write the ``Job`` row and hand it to its executor once the transaction commits.

    ``retry_of``: the finished job this one retries. For a unique task, an unfinished job with the same key is returned instead; with
    ``caller`` (the user launching), one that ``caller`` may not see raises ``JobAlreadyRunning``.
    """
    args, kwargs = validate_arguments(task, args, kwargs)
    config = get_config()
    job = new_job(
        task, args, kwargs, owner=owner, public=public, retry_of=retry_of, schedule=schedule, occurrence=occurrence
    )
    if task.unique:
        job.unique_key = unique_key(task, args, kwargs, owner)
    using = router.db_for_write(Job)
    capped = owner is not None and config["MAX_UNFINISHED_JOBS_PER_USER"] is not None
    if not capped and not task.unique:
        # Optimization: one INSERT needs no transaction of its own (nor its round trips);
        # inside the caller's transaction, dispatch still waits for its commit. When
        # dispatching is only a NOTIFY, the INSERT sends it itself (on commit).
        executor = get_executor(job.executor)
        notified = _insert(job, using, executor)
        task_signals.enqueued(job, task)
        _hand_over(job, using, executor, notified=notified)
        return job
    with transaction.atomic(using=using):
        if capped:
            _lock_owner(owner, using)
        if task.unique:
            existing = _insert_unique(job, using)
            if existing is not None:
                if caller is not None and not existing.is_visible_to(caller):
                    raise JobAlreadyRunning(_("The same job is already running; try again once it has finished."))
                return existing
        executor = get_executor(job.executor)
        # Optimization: no savepoint; only a unique job's INSERT may fail on purpose.
        notified = False if task.unique else _insert(job, using, executor)
        if capped:
            _enforce_cap(owner, using)
        task_signals.enqueued(job, task)
        _hand_over(job, using, executor, notified=notified)
    return job


def _insert(job: Job, using: str, executor: BaseExecutor) -> bool:
    """INSERT the new ``job``, with the executor's notification and (to an idle worker) assignment
    where the database allows; whether the INSERT sent the notification."""
    notify = executor.insert_notification(using)
    statements.insert_job(using, job, notify=notify, assign=bool(notify) and executor.assigns(using, job))
    return bool(notify)


def _hand_over(job: Job, using: str, executor: BaseExecutor, *, notified: bool) -> None:
    """Hand the inserted ``job`` to its executor once the transaction commits, unless its INSERT did."""
    if job.worker_id:
        return  # given to an idle worker by its INSERT, which tells it on commit
    if executor.runs_at_once:
        dispatch(job)
        return
    if notified and not executor.dispatch_after_notification():
        return
    if not notified and executor.dispatch_after_notification() and executor.insert_notification(using):
        # Sent with the commit, as the INSERT sends it.
        wakeups.notify_job(job.queue_name, job.pk)
    transaction.on_commit(lambda: dispatch(job), using=using)


def unique_key(task: JobTask, args: list[Any], kwargs: dict[str, Any], owner: Any) -> str:
    """The key that keeps one unfinished job of a unique ``task``: per owner (ownerless jobs share one), or global."""
    scope = None if task.unique == "global" or owner is None else str(owner.pk)
    text = json.dumps([task.unique == "global", scope, args, kwargs], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _insert_unique(job: Job, using: str) -> Job | None:
    """Insert ``job``; or, when an unfinished job has the same key, return that one."""
    try:
        with transaction.atomic(using=using):
            job.save(using=using, force_insert=True)
    except IntegrityError:
        existing = (
            Job.objects.using(using).unfinished().filter(task_path=job.task_path, unique_key=job.unique_key).first()
        )
        if existing is None:
            raise
        return existing
    return None


def _lock_owner(owner: Any, using: str) -> None:
    # On PostgreSQL, parallel launches of one user queue up on the user's row,
    # so the count below is exact. SQLite serialises writers by itself: the
    # INSERT takes the write lock before the count runs.
    if connections[using].features.has_select_for_update:
        user_model = get_user_model()
        list(user_model._default_manager.using(using).select_for_update().filter(pk=owner.pk).values_list("pk"))


def _enforce_cap(owner: Any, using: str) -> None:
    cap = get_config()["MAX_UNFINISHED_JOBS_PER_USER"]
    if cap is None:
        return
    count = Job.objects.using(using).owned_by(owner).unfinished().count()
    if count > cap:
        raise TooManyJobs(f"You already have {cap} unfinished jobs; wait for one to finish or cancel one.")


def dispatch(job: Job) -> None:
    get_executor(job.executor).dispatch(job)


def launch(task: JobTask, request: HttpRequest, /, *args: Any, public: bool | None = None, **kwargs: Any) -> Job:
    """Create a job of ``task`` owned by ``request.user``.

    ``public`` lets anyone with the link watch the job. ``task`` and ``request``
    are positional-only, so the task may have parameters of those names; a task
    argument named ``public`` is given positionally, or through ``launch_with()``.
    A unique task returns the unfinished job with the same arguments;
    ``JobAlreadyRunning`` when that job is another user's (``unique="global"``) and not public.
    """
    return launch_with(task, request, args, kwargs, public=public)


def launch_with(
    task: JobTask,
    request: HttpRequest,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    public: bool | None = None,
) -> Job:
    """``launch()`` with the task's arguments as a list and a dict, which may hold any names (``public`` too)."""
    user = getattr(request, "user", None)
    owner = user if user is not None and user.is_authenticated else None
    task.get_backend().validate_task(task)
    caller = user if user is not None else AnonymousUser()
    return create_job(task, list(args), dict(kwargs or {}), owner=owner, public=public, caller=caller)

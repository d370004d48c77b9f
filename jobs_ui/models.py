"""The tables: ``Job`` (one row per job, the truth about it), ``Worker`` and ``WorkerSlot``."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models
from django.db.models import ExpressionWrapper, Q, Value
from django.db.models.functions import Now
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from jobs_ui.conf import get_config
from jobs_ui.jobs.ids import new_job_id
from jobs_ui.jobs.schedules import ScheduleSpec

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser


class JobStatus(models.TextChoices):
    READY = "READY", _("Ready")
    RUNNING = "RUNNING", _("Running")
    SUCCESSFUL = "SUCCESSFUL", _("Successful")
    FAILED = "FAILED", _("Failed")
    CANCELLED = "CANCELLED", _("Cancelled")


UNFINISHED = (JobStatus.READY, JobStatus.RUNNING)
FINISHED = (JobStatus.SUCCESSFUL, JobStatus.FAILED, JobStatus.CANCELLED)


if TYPE_CHECKING:
    _DateTimeExpression = ExpressionWrapper[Any]
else:  # not subscriptable at run time
    _DateTimeExpression = ExpressionWrapper


class DbNowPlus(_DateTimeExpression):
    """The database's clock plus ``seconds`` (``db_now_plus()``)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(Now() + Value(timedelta(seconds=seconds)), output_field=models.DateTimeField())
        self.seconds = seconds


@lru_cache(maxsize=256)
def db_now_plus(seconds: float) -> DbNowPlus:
    """The database's clock plus ``seconds``, for leases judged by one clock."""
    # Optimization: building the expression (and its output field) for each job showed
    # in a worker's time per job; the ORM copies an expression before resolving it, so
    # one instance serves every query.
    return DbNowPlus(seconds)


class JobQuerySet(models.QuerySet["Job"]):
    def ready(self) -> JobQuerySet:
        return self.filter(status=JobStatus.READY)

    def running(self) -> JobQuerySet:
        return self.filter(status=JobStatus.RUNNING)

    def unfinished(self) -> JobQuerySet:
        return self.filter(status__in=UNFINISHED)

    def finished(self) -> JobQuerySet:
        return self.filter(status__in=FINISHED)

    def attempt(self, job: Job) -> JobQuerySet:
        """The row of ``job`` while this attempt of it is RUNNING: the fence of every write an attempt makes."""
        return self.filter(pk=job.pk, attempts=job.attempts, status=JobStatus.RUNNING)

    def due(self) -> JobQuerySet:
        """READY jobs whose ``run_after`` has passed, by the database's clock."""
        return self.ready().filter(Q(run_after__isnull=True) | Q(run_after__lte=Now()))

    def in_claim_order(self) -> JobQuerySet:
        """Higher priority first, FIFO within a priority."""
        return self.order_by("-priority", "enqueued_at", "id")

    def for_user(self, user: AbstractBaseUser | AnonymousUser) -> JobQuerySet:
        """Jobs ``user`` may see: their own, and public ones."""
        if user.is_authenticated:
            return self.filter(Q(owner_id=user.pk) | Q(public=True))
        return self.filter(public=True)

    def owned_by(self, user: AbstractBaseUser | AnonymousUser) -> JobQuerySet:
        if not user.is_authenticated:
            return self.none()
        return self.filter(owner_id=user.pk)


class Job(models.Model):
    """One run of a task."""

    # Time-ordered: ties of enqueued_at (one transaction, one statement) stay FIFO.
    id = models.UUIDField(primary_key=True, default=new_job_id, editable=False)
    task_path = models.CharField(_("task"), max_length=255)
    backend = models.CharField(max_length=100, default="default")
    executor = models.CharField(max_length=20, default="thread")
    queue_name = models.CharField(_("queue"), max_length=100, default="default")
    priority = models.SmallIntegerField(default=0)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="jobs_ui_jobs",
        # The index "jobs_ui_job_owner_idx" (owner, -enqueued_at) serves lookups by owner;
        # a second one would only cost a write on every change of a row.
        db_index=False,
    )
    public = models.BooleanField(default=False)
    unique_key = models.CharField(max_length=64, blank=True, default="")

    status = models.CharField(_("status"), max_length=10, choices=JobStatus.choices, default=JobStatus.READY)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)

    progress_done = models.FloatField(default=0)
    progress_total = models.FloatField(null=True, blank=True)
    progress_message = models.TextField(blank=True, default="")
    progress_at = models.DateTimeField(null=True, blank=True)
    extra = models.JSONField(default=dict, blank=True)
    workspace = models.JSONField(default=dict, blank=True)

    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=1)
    run_after = models.DateTimeField(null=True, blank=True)
    # A READY job not started by then ends CANCELLED, never run (JobTask.expires).
    expires_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(_("enqueued"), db_default=Now())
    dispatched_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    last_attempted_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker_id = models.CharField(max_length=64, blank=True, default="")
    worker_ids = models.JSONField(default=list, blank=True)

    error_class = models.CharField(max_length=255, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    error_traceback = models.TextField(blank=True, default="")
    # One entry per failed attempt, oldest first, bounded (see jobs_ui.jobs.finish).
    errors = models.JSONField(default=list, blank=True)

    result_store = models.CharField(max_length=20, blank=True, default="")
    result = models.JSONField(null=True, blank=True)
    result_expires_at = models.DateTimeField(null=True, blank=True)

    # The schedule that made this job, and the occurrence it runs for (None: a forced run).
    schedule = models.ForeignKey(
        "Schedule", null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs", db_index=False
    )
    occurrence = models.DateTimeField(null=True, blank=True)

    # The job a member of staff retried as this one (``jobs_ui.jobs.retry``).
    retry_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="retries",
        verbose_name=_("retry of"),
        # A partial index ("jobs_ui_job_retry_of_idx") serves the few rows that have one.
        db_index=False,
    )

    objects = JobQuerySet.as_manager()

    class Meta:
        verbose_name = _("job")
        verbose_name_plural = _("jobs")
        ordering = ["-enqueued_at"]
        indexes = [
            # Claim order within one queue. With "id", the last column of the claim order,
            # PostgreSQL reads the first rows and stops; without it, it sorted every READY row
            # of the queue for each claim, so draining a long queue took quadratic time.
            models.Index(
                fields=["queue_name", "-priority", "enqueued_at", "id"],
                condition=Q(status="READY"),
                name="jobs_ui_job_claim_idx",
            ),
            models.Index(fields=["owner", "-enqueued_at"], name="jobs_ui_job_owner_idx"),
            models.Index(
                fields=["worker_id"],
                condition=Q(status="RUNNING"),
                name="jobs_ui_job_running_idx",
            ),
            # Claim order across several queues, without sorting every READY row.
            models.Index(
                fields=["-priority", "enqueued_at", "id"],
                condition=Q(status="READY"),
                name="jobs_ui_job_ready_order_idx",
            ),
            # (The staff list of jobs reads newest first through the primary key: ids are
            # time-ordered. An index of its own cost every launch a write, about 40 % of one.)
            # The staff list's search of error texts reads only the rows that have one.
            models.Index(fields=["-id"], condition=~Q(error_class=""), name="jobs_ui_job_error_idx"),
            # The staff dashboard's recent failures.
            models.Index(
                fields=["-finished_at"],
                condition=Q(status="FAILED"),
                name="jobs_ui_job_failed_idx",
            ),
            models.Index(fields=["retry_of"], condition=Q(retry_of__isnull=False), name="jobs_ui_job_retry_of_idx"),
            # The staff dashboard's last hour of finished jobs.
            models.Index(
                fields=["finished_at"],
                condition=Q(finished_at__isnull=False),
                name="jobs_ui_job_finished_idx",
            ),
            # READY jobs that expire, for the pass that ends them (jobs_ui.jobs.expire).
            models.Index(
                fields=["expires_at"],
                condition=Q(status="READY", expires_at__isnull=False),
                name="jobs_ui_job_expires_idx",
            ),
            # The dispatch sweep: READY worker jobs without a message in RabbitMQ.
            models.Index(
                fields=["enqueued_at"],
                condition=Q(status="READY", executor="worker", dispatched_at__isnull=True),
                name="jobs_ui_job_undispatched_idx",
            ),
        ]
        constraints = [
            # One job per occurrence of a schedule, however many workers run schedules.
            models.UniqueConstraint(
                fields=["schedule", "occurrence"],
                condition=Q(occurrence__isnull=False),
                name="jobs_ui_job_one_per_occurrence",
            ),
            # Enforces JobTask(unique=True) in the table itself, race-free.
            models.UniqueConstraint(
                fields=["task_path", "unique_key"],
                condition=Q(status__in=["READY", "RUNNING"]) & ~Q(unique_key=""),
                name="jobs_ui_job_unique_unfinished",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.task_name} ({self.get_status_display()})"

    def get_absolute_url(self) -> str:
        return reverse("jobs_ui:job_detail", args=[self.id])

    @property
    def task_name(self) -> str:
        return self.task_path.rpartition(".")[2]

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    @property
    def is_cancelling(self) -> bool:
        return self.status == JobStatus.RUNNING and self.cancel_requested_at is not None

    @property
    def percent(self) -> float | None:
        if not self.progress_total:
            return None
        return max(0.0, min(100.0, 100.0 * self.progress_done / self.progress_total))

    def is_visible_to(self, user: Any) -> bool:
        return self.public or (user.is_authenticated and self.owner_id == user.pk)


class Schedule(models.Model):
    """A cron schedule of a task (``jobs_ui.jobs.schedules``), as workers run it (``jobs_ui.jobs.schedule_runs``)."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    task_path = models.CharField(_("task"), max_length=255)
    cron = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, blank=True, default="")
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    queue_name = models.CharField(max_length=100, blank=True, default="")
    priority = models.SmallIntegerField(null=True, blank=True)
    catch_up = models.CharField(max_length=10, default="latest")
    datetime_kwarg = models.CharField(max_length=100, blank=True, default="")
    # A schedule the code and settings no longer define is kept, disabled, with its jobs.
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(db_default=Now())
    last_occurrence = models.DateTimeField(_("last run"), null=True, blank=True)
    next_occurrence = models.DateTimeField(_("next run"), null=True, blank=True)
    last_forced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("schedule")
        verbose_name_plural = _("schedules")
        ordering = ["name"]
        permissions = [("run_schedule", _("Can run a schedule now"))]

    def __str__(self) -> str:
        return self.name

    def spec(self) -> ScheduleSpec:
        return ScheduleSpec(
            name=self.name,
            task=self.task_path,
            cron=self.cron,
            timezone=self.timezone,
            args=self.args,
            kwargs=self.kwargs,
            queue_name=self.queue_name,
            priority=self.priority,
            catch_up=self.catch_up,
            datetime_kwarg=self.datetime_kwarg,
        )


class StaffAction(models.Model):
    """What a member of staff did to jobs or workers, by whom and when (``jobs_ui.jobs.staff_actions``)."""

    at = models.DateTimeField(_("when"), db_default=Now())
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="jobs_ui_staff_actions",
        verbose_name=_("user"),
    )
    # Kept when the user's row is deleted.
    username = models.CharField(_("username"), max_length=150)
    action = models.CharField(_("action"), max_length=20)
    # Which jobs: a selection, one job, or the filter of the staff list of jobs ("status=READY&queue=mail").
    selection = models.CharField(_("selection"), max_length=500, blank=True, default="")
    done = models.PositiveIntegerField(_("done"), default=0)
    skipped = models.PositiveIntegerField(_("skipped"), default=0)
    # The first ids acted on (jobs; workers for a purge), and the new jobs made by retries.
    ids = models.JSONField(_("ids"), default=list, blank=True)
    new_job_ids = models.JSONField(_("new jobs"), default=list, blank=True)

    class Meta:
        verbose_name = _("staff action")
        verbose_name_plural = _("staff actions")
        ordering = ["-at"]
        indexes = [models.Index(fields=["-at"], name="jobs_ui_staffaction_at_idx")]

    def __str__(self) -> str:
        return f"{self.username}: {self.action} ({self.done})"


class WorkerKind(models.TextChoices):
    THREAD = "thread", _("Web process threads")
    PROCESS = "worker", _("Worker process")


class WorkerState(models.TextChoices):
    ONLINE = "online", _("Online")
    STOPPING = "stopping", _("Stopping")
    STOPPED = "stopped", _("Stopped")
    CRASHED = "crashed", _("Crashed")
    LOST = "lost", _("Lost")


class Worker(models.Model):
    """A process that runs jobs: a worker process, or a web process's thread pool."""

    id = models.CharField(primary_key=True, max_length=64)
    label = models.CharField(max_length=200, blank=True, default="")
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    kind = models.CharField(max_length=10, choices=WorkerKind.choices)
    queues = models.JSONField(default=list, blank=True)
    concurrency = models.PositiveIntegerField(default=1)
    # "thread", "process" or "async" for worker processes; empty for web processes.
    pool = models.CharField(max_length=10, blank=True, default="")
    started_at = models.DateTimeField(db_default=Now())
    heartbeat_at = models.DateTimeField(db_default=Now())
    stopped_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=10, choices=WorkerState.choices, default=WorkerState.ONLINE)
    jobs_succeeded = models.PositiveIntegerField(default=0)
    jobs_failed = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["state", "heartbeat_at"], name="jobs_ui_worker_alive_idx")]

    def __str__(self) -> str:
        return self.label or self.id

    @property
    def health(self) -> WorkerState:
        """The state to show: a worker still marked online or stopping that has not heartbeated
        within ``HEARTBEAT_TIMEOUT`` is lost, before any reaper has marked it so (none may run)."""
        state = WorkerState(self.state)
        if state in (WorkerState.ONLINE, WorkerState.STOPPING) and self.heartbeat_at < silent_before():
            return WorkerState.LOST
        return state


def silent_before() -> datetime:
    """A worker whose last heartbeat is older than this (``HEARTBEAT_TIMEOUT`` ago, this clock) is silent."""
    return timezone.now() - timedelta(seconds=get_config()["HEARTBEAT_TIMEOUT"])


class WorkerSlot(models.Model):
    """A free slot a listening worker offers to new jobs of one queue (PostgreSQL, ``jobs_ui.db.assignment``).

    A launch takes one in the INSERT of its job, which is then the worker's at once.
    """

    id = models.BigAutoField(primary_key=True)
    worker_id = models.CharField(max_length=64)
    queue_name = models.CharField(max_length=100)
    expires_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["queue_name", "id"], name="jobs_ui_slot_queue_idx")]

    def __str__(self) -> str:
        return f"{self.worker_id} ({self.queue_name})"

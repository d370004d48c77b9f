"""What a worker claims for the RabbitMQ messages it receives (``jobs_ui.worker.broker_feed.BrokerFeed``).

For each message, the due READY job of its queue that comes first (priority, then FIFO),
not necessarily the one it names.
"""

from __future__ import annotations

from collections.abc import Sequence

from jobs_ui.broker.messages import JobMessage
from jobs_ui.jobs.claim import claim_due, claim_wanted
from jobs_ui.jobs.marks import forget_messages
from jobs_ui.models import Job


# A message is a wake-up for its queue, not an order to run the job it names; it claims
# with the database feed's claim. Each READY job has a message in RabbitMQ or on its way,
# and each message claims at most one job, so there are as many claims as jobs: the
# message of a job that another message claimed claims in its place, and a job claimed
# without its message (on a notification, from the database) leaves one spare, which
# claims the next job or nothing. The named job only matters when the claim finds fewer
# jobs than messages (see claim() and returned()).
def claim(worker_id: str, queue_name: str, messages: Sequence[JobMessage], exclude_tasks: Sequence[str]) -> list[Job]:
    """Claim a job for each of ``messages`` of ``queue_name``, those that come first; in claim order.

    When that finds fewer, rows were skipped as another session was writing them
    (PostgreSQL's ``SKIP LOCKED``: a sweep publishing them, the mark of a message), or
    messages were stale: the jobs the others name are claimed by id, which waits for the row.
    """
    jobs = claim_due(
        executor="worker", worker_id=worker_id, queues=[queue_name], exclude_tasks=exclude_tasks, limit=len(messages)
    )
    if len(jobs) == len(messages):
        return jobs
    taken = {job.pk for job in jobs}
    named = [(m.job_id, m.attempts, m.task_path) for m in messages if m.job_id not in taken]
    named = [wanted for wanted in dict.fromkeys(named) if wanted[2] not in exclude_tasks]
    if named := named[: len(messages) - len(jobs)]:
        jobs += claim_wanted(worker_id, named)
    return sorted(jobs, key=lambda job: (-job.priority, job.enqueued_at, str(job.pk)))


def returned(
    queue_name: str,
    messages: Sequence[JobMessage],
    jobs: Sequence[Job],
    problems: dict[JobMessage, str],
    exclude_tasks: Sequence[str],
) -> list[int]:
    """The indexes of the ``messages`` of ``queue_name`` that claimed nothing (``jobs``) and go back to the queue.

    A message that claimed nothing is acked when its queue has no due READY job left.
    Jobs of the tasks this worker does not run are left to the sweep, since the message
    taken here may have been the one that stood for them; while a job this worker runs is
    left, which a claim skipped as another session was writing its row, the message goes
    back to its queue.
    """
    unused = len(messages) - len(jobs)
    if unused <= 0:
        return []
    if exclude_tasks:
        forget_messages(queue_name, exclude_tasks)
    left = Job.objects.due().filter(executor="worker", queue_name=queue_name).exclude(task_path__in=exclude_tasks)
    if not left.exists():
        return []
    taken = {job.pk for job in jobs}
    spare = [
        index
        for index, message in enumerate(messages)
        if message.job_id not in taken and message not in problems and message.task_path not in exclude_tasks
    ]
    return spare[:unused]

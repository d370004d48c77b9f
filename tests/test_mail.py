"""The queued e-mail backend: one job per send_messages() call, sent through the real backend, retried, never lost."""

from __future__ import annotations

import json
import signal
from email.message import MIMEPart
from typing import Any

import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives

from jobs_ui.jobs.recover import recover_lost_jobs
from jobs_ui.jobs.requeue import run_now
from jobs_ui.mail import message_from_json, message_to_json
from jobs_ui.models import Job, JobStatus
from tests.mail_backends import FailsOnCalls
from tests.waiting import wait_for_status, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

TASK = "jobs_ui.mail.send_queued_mail"


@pytest.fixture(autouse=True)
def _queued(settings):
    settings.MAILERS = mailers_through("django.core.mail.backends.locmem.EmailBackend")
    FailsOnCalls.calls, FailsOnCalls.failing = 0, set()


def mailers_through(backend: str) -> dict[str, Any]:
    return {
        "default": {"BACKEND": "jobs_ui.mail.QueuedEmailBackend", "OPTIONS": {"mailer": "real"}},
        "real": {"BACKEND": backend},
    }


def full_message() -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(
        "Your export",
        "It is attached.",
        "jobs@example.com",
        ["alice@example.com"],
        cc=["bob@example.com"],
        bcc=["audit@example.com"],
        reply_to=["help@example.com"],
        headers={"X-Report": "42"},
    )
    message.attach("export.csv", "id,name\n1,Ada\n", "text/csv")
    message.attach("logo.png", b"\x89PNG\r\n\x1a\n\x00\xff", "image/png")
    part = MIMEPart()
    part.set_content("a part of its own")
    message.attach(part)
    message.attach_alternative("<p>It is <b>attached</b>.</p>", "text/html")
    return message


def test_json_keeps_every_part_of_a_message():
    message = full_message()
    again = message_from_json(message_to_json(message))
    assert isinstance(again, EmailMultiAlternatives)
    for name in ("subject", "body", "from_email", "to", "cc", "bcc", "reply_to", "extra_headers", "alternatives"):
        assert getattr(again, name) == getattr(message, name), name
    assert again.attachments[:2] == message.attachments[:2]
    assert again.attachments[2].get_content() == "a part of its own\n"
    assert again.message().as_bytes().count(b"Content-Disposition") == message.message().as_bytes().count(
        b"Content-Disposition"
    )


def test_send_messages_queues_one_job_which_sends_through_the_real_backend():
    assert full_message().send() == 1
    job = Job.objects.get(task_path=TASK)
    wait_for_status(job.pk, JobStatus.SUCCESSFUL)
    (sent,) = mail.outbox
    assert (sent.subject, sent.to, sent.cc, sent.bcc) == (
        "Your export",
        ["alice@example.com"],
        ["bob@example.com"],
        ["audit@example.com"],
    )
    assert sent.attachments[1].content == b"\x89PNG\r\n\x1a\n\x00\xff"


def test_send_mass_mail_is_one_job():
    sent = mail.send_mass_mail([(f"Hello {n}", "Hi.", "jobs@example.com", [f"user{n}@example.com"]) for n in range(3)])
    assert sent == 3
    job = Job.objects.get(task_path=TASK)
    assert len(job.args[0]) == 3
    wait_for_status(job.pk, JobStatus.SUCCESSFUL)
    assert [message.subject for message in mail.outbox] == ["Hello 0", "Hello 1", "Hello 2"]


def test_a_failing_backend_is_retried_and_each_message_sent_once(settings):
    settings.MAILERS = mailers_through("tests.mail_backends.FailsOnCalls")
    FailsOnCalls.failing = {2}  # the second message fails the first time
    mail.send_mass_mail([(f"Message {n}", "Hi.", "jobs@example.com", ["a@example.com"]) for n in range(3)])
    job = Job.objects.get(task_path=TASK)
    retried = wait_until(
        lambda: Job.objects.filter(pk=job.pk, status=JobStatus.READY, attempts=1).first(), what="the retry"
    )
    assert retried is not None
    job = retried
    assert job.error_message == "The mail server did not answer."
    run_now(job)  # instead of waiting for the backoff
    wait_for_status(job.pk, JobStatus.SUCCESSFUL)
    assert [message.subject for message in mail.outbox] == ["Message 0", "Message 1", "Message 2"]


def test_a_worker_killed_mid_send_loses_no_message(settings, start_worker, tmp_path):
    sent_file, gate = tmp_path / "sent", tmp_path / "gate"
    settings.JOBS_UI = {**settings.JOBS_UI, "EXECUTOR": "worker"}
    settings.MAILERS = mailers_through("tests.mail_backends.FileBackend")
    env = {
        "JOBS_UI_TEST_MAIL_FILE": str(sent_file),
        "JOBS_UI_TEST_MAIL_GATE": str(gate),
        "JOBS_UI_TEST_MAILERS": json.dumps(settings.MAILERS),
    }
    mail.send_mass_mail(
        [(subject, "Hi.", "jobs@example.com", ["a@example.com"]) for subject in ("one", "wait two", "three")]
    )
    job = Job.objects.get(task_path=TASK)

    def lines() -> list[str]:
        return sent_file.read_text().splitlines() if sent_file.exists() else []

    first = start_worker(env=env)
    wait_until(lambda: "sending wait two" in lines(), what="the second message to be on its way")
    first.signal(signal.SIGKILL)
    first.wait()
    assert recover_lost_jobs(timeout=0) == 1
    run_now(Job.objects.get(pk=job.pk))  # instead of waiting for the backoff
    gate.touch()
    start_worker(env=env)
    wait_for_status(job.pk, JobStatus.SUCCESSFUL, timeout=30)
    sent = [line for line in lines() if line.startswith("sent ")]
    assert sorted(sent) == ["sent one", "sent three", "sent wait two"]


def test_a_mailer_cannot_queue_through_itself(settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.MAILERS = {"default": {"BACKEND": "jobs_ui.mail.QueuedEmailBackend", "OPTIONS": {"mailer": "default"}}}
    with pytest.raises(ImproperlyConfigured, match="cannot send through itself"):
        mail.send_mail("s", "b", "a@example.com", ["b@example.com"])
    assert not Job.objects.exists()


@pytest.mark.filterwarnings("ignore::django.utils.deprecation.RemovedInDjango2028Warning")
def test_the_older_email_backend_setting_sends_through_jobs_ui_email_backend(settings):
    del settings.MAILERS
    settings.EMAIL_BACKEND = "jobs_ui.mail.QueuedEmailBackend"
    settings.JOBS_UI = {**settings.JOBS_UI, "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend"}
    assert mail.send_mail("Old style", "Hi.", "jobs@example.com", ["a@example.com"]) == 1
    wait_for_status(Job.objects.get(task_path=TASK).pk, JobStatus.SUCCESSFUL)
    assert [message.subject for message in mail.outbox] == ["Old style"]

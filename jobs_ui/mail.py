"""A queued e-mail backend: ``send_messages()`` queues one job, which sends through the real backend, with retries.

    MAILERS = {
        "default": {"BACKEND": "jobs_ui.mail.QueuedEmailBackend", "OPTIONS": {"mailer": "smtp"}},
        "smtp": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend", "OPTIONS": {...}},
    }

(With the older ``EMAIL_BACKEND = "jobs_ui.mail.QueuedEmailBackend"``, the real backend is
``JOBS_UI["EMAIL_BACKEND"]``.)

The messages are kept as JSON in the job's arguments (attachments included, base64 for bytes;
no pickle), so they survive a crash of the process that was sending them. A message the job
has sent is noted in its workspace, so a retry sends only the ones left.
"""

from __future__ import annotations

import base64
import email
import email.policy
from collections.abc import Sequence
from email.message import MIMEPart
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMessage, EmailMultiAlternatives, mailers
from django.core.mail.backends.base import BaseEmailBackend
from django.tasks import task
from django.utils.module_loading import import_string

from jobs_ui.conf import get_config
from jobs_ui.context import JobContext

# As large as mail servers commonly take, attachments included (JOBS_UI["MAX_ARGUMENTS_BYTES"] is for users' tasks).
MAIL_ARGUMENTS_BYTES = 25 * 1024 * 1024


class QueuedEmailBackend(BaseEmailBackend):
    """Queues each ``send_messages()`` call as one job of ``send_queued_mail`` (``send_mass_mail()`` is one job).

    ``mailer``: the alias in ``MAILERS`` of the backend that sends them; None: ``JOBS_UI["EMAIL_BACKEND"]``.
    """

    def __init__(self, *args: Any, mailer: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if mailer is not None and mailer == getattr(self, "alias", None):
            raise ImproperlyConfigured(f"The queued mailer {mailer!r} cannot send through itself: name another mailer.")
        self.mailer = mailer or ""

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        messages = [message_to_json(message) for message in email_messages]
        if not messages:
            return 0
        send_queued_mail.enqueue(messages, mailer=self.mailer)
        return len(messages)


@task(  # type: ignore[call-overload,untyped-decorator]
    takes_context=True,
    retries=5,
    retry_delay=10,
    retry_max_delay=600,
    label="Send e-mail",
    max_arguments_bytes=MAIL_ARGUMENTS_BYTES,
)
def send_queued_mail(context: JobContext, messages: list[dict[str, Any]], mailer: str = "") -> int:
    """Send ``messages`` through the mailer ``mailer`` (or ``JOBS_UI["EMAIL_BACKEND"]``), one by one; those
    sent by an earlier attempt are skipped."""
    sent: list[int] = context.workspace.setdefault("sent", [])
    connection = mailers[mailer] if mailer else import_string(get_config()["EMAIL_BACKEND"])()
    with connection:
        for index, data in enumerate(messages):
            if index in sent:
                continue
            connection.send_messages([message_from_json(data)])
            sent.append(index)
            # Noted at once: a retry after a crash sends only what is left.
            context.progress(len(sent), len(messages), f"Sent {len(sent)} of {len(messages)}")
            context.flush()
    return len(messages)


def message_to_json(message: EmailMessage) -> dict[str, Any]:
    """``message`` as JSON values; ``message_from_json()`` makes it again."""
    return {
        "subject": str(message.subject),
        "body": str(message.body),
        "from_email": message.from_email,
        "to": list(message.to),
        "cc": list(message.cc),
        "bcc": list(message.bcc),
        "reply_to": list(message.reply_to),
        "headers": {str(key): str(value) for key, value in message.extra_headers.items()},
        "content_subtype": message.content_subtype,
        "attachments": [_attachment_to_json(attachment) for attachment in message.attachments],
        "alternatives": [
            [str(content), mimetype] for content, mimetype in getattr(message, "alternatives", None) or []
        ],
    }


def message_from_json(data: dict[str, Any]) -> EmailMessage:
    kind = EmailMultiAlternatives if data["alternatives"] else EmailMessage
    message = kind(
        data["subject"],
        data["body"],
        data["from_email"],
        data["to"],
        cc=data["cc"],
        bcc=data["bcc"],
        reply_to=data["reply_to"],
        headers=data["headers"],
    )
    message.content_subtype = data["content_subtype"]
    for attachment in data["attachments"]:
        if "mime" in attachment:
            message.attach(email.message_from_bytes(base64.b64decode(attachment["mime"]), policy=email.policy.default))
        else:
            content = base64.b64decode(attachment["base64"]) if "base64" in attachment else attachment["text"]
            message.attach(attachment["filename"], content, attachment["mimetype"])
    if isinstance(message, EmailMultiAlternatives):
        for content, mimetype in data["alternatives"]:
            message.attach_alternative(content, mimetype)
    return message


def _attachment_to_json(attachment: Any) -> dict[str, Any]:
    if isinstance(attachment, MIMEPart) or hasattr(attachment, "as_bytes"):
        return {"mime": base64.b64encode(attachment.as_bytes()).decode("ascii")}
    filename, content, mimetype = attachment
    if isinstance(content, bytes):
        return {"filename": filename, "base64": base64.b64encode(content).decode("ascii"), "mimetype": mimetype}
    return {"filename": filename, "text": str(content), "mimetype": mimetype}

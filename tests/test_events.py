"""Job events: their routing key and their JSON form."""

from __future__ import annotations

import uuid

from jobs_ui.events import JobEvent


def test_routing_key_is_the_job_id_in_hex_and_json_round_trips():
    job_id = uuid.uuid4()
    event = JobEvent(job_id=str(job_id), kind="progress", status="RUNNING", done=2, total=5, message="<b>2</b>")
    assert event.routing_key == f"job.{job_id.hex}"
    assert JobEvent.from_json(event.to_json()) == event

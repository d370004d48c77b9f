"""The admin's worker list: a worker that stopped heartbeating shows as lost, whether or not a reaper ran."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs_ui.models import Worker, WorkerKind, WorkerState

pytestmark = pytest.mark.django_db


def worker(label, state=WorkerState.ONLINE, silent_for=0.0):
    Worker.objects.create(id=f"worker-{label}", label=label, host="h", pid=1, kind=WorkerKind.PROCESS, state=state)
    Worker.objects.filter(pk=f"worker-{label}").update(heartbeat_at=timezone.now() - timedelta(seconds=silent_for))
    return Worker.objects.get(pk=f"worker-{label}")


def test_health_is_lost_once_silent_past_the_heartbeat_timeout(settings):
    settings.JOBS_UI = {**settings.JOBS_UI, "HEARTBEAT_TIMEOUT": 30.0}
    assert worker("beating", silent_for=5).health == WorkerState.ONLINE
    assert worker("silent", silent_for=60).health == WorkerState.LOST
    assert worker("stopping", WorkerState.STOPPING, silent_for=60).health == WorkerState.LOST
    assert worker("stopped", WorkerState.STOPPED, silent_for=3600).health == WorkerState.STOPPED
    assert worker("crashed", WorkerState.CRASHED, silent_for=3600).health == WorkerState.CRASHED
    # Shown, not written: the reaper of a running worker marks it.
    assert Worker.objects.get(pk="worker-silent").state == WorkerState.ONLINE


def test_worker_list_shows_health(admin_client):
    worker("beating")
    worker("silent", silent_for=3600)
    worker("stopped", WorkerState.STOPPED, silent_for=3600)
    page = admin_client.get("/admin/jobs_ui/worker/").content.decode()
    shown = dict(
        re.findall(r'<th class="field-label"><a [^>]*>([^<]*)</a>.*?<td class="field-health">([^<]*)</td>', page)
    )
    assert shown == {"beating": "Online", "silent": "Lost", "stopped": "Stopped"}


def test_filter_by_state_as_shown(admin_client):
    worker("beating")
    worker("silent", silent_for=3600)
    worker("marked", WorkerState.LOST, silent_for=3600)
    worker("stopped", WorkerState.STOPPED, silent_for=3600)

    def listed(health):
        page = admin_client.get("/admin/jobs_ui/worker/", {"health": health}).content.decode()
        return sorted(re.findall(r'<th class="field-label"><a [^>]*>([^<]*)</a>', page))

    assert listed("online") == ["beating"]
    assert listed("lost") == ["marked", "silent"]
    assert listed("stopped") == ["stopped"]
    assert listed("crashed") == []


def test_worker_list_counts_jobs_and_finds_a_worker_by_its_id(admin_client):
    Worker.objects.filter(pk=worker("busy").pk).update(jobs_succeeded=12, jobs_failed=3)
    worker("idle")
    page = admin_client.get("/admin/jobs_ui/worker/").content.decode()
    counts = re.findall(r'<td class="field-succeeded">(\d+)</td><td class="field-failed">(\d+)</td>', page)
    assert sorted(counts) == [("0", "0"), ("12", "3")]
    # The long id is not a column; the worker's page and the search have it.
    assert "field-id" not in page
    page = admin_client.get("/admin/jobs_ui/worker/", {"q": "worker-busy"}).content.decode()
    assert re.findall(r'<th class="field-label"><a [^>]*>([^<]*)</a>', page) == ["busy"]

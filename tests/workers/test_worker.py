"""A real Celery worker on the real Redis reaches the real database."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker

from hotline.settings import get_settings
from workers import runtime
from workers.app import TASK_HEALTH, make_celery

REDIS = os.environ.get("HOTLINE_TEST_REDIS_URL")


@pytest.fixture
def celery_app(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Celery]:
    if not REDIS:
        pytest.skip("HOTLINE_TEST_REDIS_URL is not set (CI sets it; .ci/run fails when Redis is down)")
    monkeypatch.setenv("HOTLINE_DATABASE_URL", db_url)
    monkeypatch.setenv("HOTLINE_SECRET_KEY", "worker-test-secret-0123456789-abcdefgh")
    get_settings.cache_clear()
    runtime.reset()
    app = make_celery(REDIS)
    yield app
    runtime.close()
    get_settings.cache_clear()


def test_worker_runs_a_task_against_the_database(celery_app: Celery) -> None:
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        result = celery_app.send_task(TASK_HEALTH).get(timeout=30)
    assert result["handling_units"] == 84
    assert result["database"][0].isdigit()

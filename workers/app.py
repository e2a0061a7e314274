"""The Celery application (``celery -A workers.app worker|beat``), configured from hotline settings.

Habits (STYLE.md 4–7): tasks take IDs, are idempotent and acknowledged late; deadlines are rows
in PostgreSQL found by beat sweeps, never long countdowns in Redis.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import worker_process_init, worker_process_shutdown

from hotline.settings import get_settings
from routing_rules.loader import load_rulebook
from workers import runtime
from workers.tasks import TASK_KPI_REFRESH, TASK_SWEEP, kpi_refresh, sla_sweep

TASK_HEALTH = "health.check"


def make_celery(broker_url: str | None = None, sweep_seconds: float | None = None) -> Celery:
    settings = get_settings()
    interval = load_rulebook(settings.rulebook_dir).workflow.sla.sweep_interval_seconds
    url = broker_url or settings.redis_url or "redis://127.0.0.1:6379/0"
    every = float(sweep_seconds or settings.sweep_seconds or interval)
    celery = Celery("hotline", broker=url, backend=url)
    celery.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        timezone="Asia/Shanghai",
        enable_utc=True,
        result_expires=3600,
        broker_connection_retry_on_startup=True,
        beat_schedule={
            "sla-sweep": {"task": TASK_SWEEP, "schedule": every},
            # the same period, so that the dashboard's "数据更新于" lags by about one tick
            "kpi-refresh": {"task": TASK_KPI_REFRESH, "schedule": every},
        },
    )
    celery.task(name=TASK_HEALTH)(health_check)
    celery.task(name=TASK_SWEEP, acks_late=True)(sla_sweep)
    celery.task(name=TASK_KPI_REFRESH, acks_late=True)(kpi_refresh)
    return celery


def health_check() -> dict[str, Any]:
    """Proves a worker reaches the database with the same services the API uses."""
    return runtime.run(runtime.database_health())


def _init_process(**_: Any) -> None:
    runtime.reset()


def _shutdown_process(**_: Any) -> None:
    runtime.close()


worker_process_init.connect(_init_process, weak=False)
worker_process_shutdown.connect(_shutdown_process, weak=False)


app = make_celery()

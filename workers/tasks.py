"""Thin Celery tasks over hotline services. Stable names; idempotent; acknowledged late.

They take no arguments: the work is found in PostgreSQL (due rows claimed with SKIP LOCKED), so a
lost message, a duplicate delivery or a wiped Redis changes nothing but timing.
"""

from __future__ import annotations

from typing import Any

from hotline import scheduler
from workers import runtime

TASK_SWEEP = "sla.sweep"
TASK_KPI_REFRESH = "kpi.refresh"


def sla_sweep() -> dict[str, Any]:
    """Plan and act on due deadline steps, then deliver due notifications."""
    return runtime.run(scheduler.tick(runtime.sessions(), runtime.hotline_runtime()))


def kpi_refresh() -> dict[str, Any]:
    """Recompute the KPI rollup's changed days (one at a time: a concurrent run returns at once)."""
    return runtime.run(scheduler.refresh_kpi(runtime.sessions(), runtime.hotline_runtime()))

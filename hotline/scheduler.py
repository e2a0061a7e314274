"""The periodic work of the service — SLA sweep, notification delivery, KPI rollup refresh — as plain services.

In production Celery beat schedules them (``workers``); in the embedded default (no Redis) the
very same functions run from :func:`run_forever`, started by the app's lifespan. Several
processes running them at once is safe: every sweep claims its rows with SKIP LOCKED.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline import kpi_rollup, sla
from hotline.db import unit_of_work
from hotline.notifications import LEASE, deliver_due, sender_from_settings, stale_sending
from hotline.public import prune_lookup_hits
from hotline.runtime import Runtime
from hotline.workflow.callbacks import sample_direct_callbacks

log = logging.getLogger(__name__)


async def tick(sessions: async_sessionmaker[AsyncSession], rt: Runtime) -> dict[str, Any]:
    """One round: enforce the time limits, then deliver the notices they produced."""
    now = rt.clock()
    report = await sla.sweep(sessions, rt, now)
    async with unit_of_work(sessions) as session:
        # Direct answers and transfers need no callback unless the rulebook samples them.
        sampled = await sample_direct_callbacks(session, rt, now, since=now - timedelta(days=7))
    policy = rt.rulebook.workflow.sla
    titles = {r.code: r.title for r in rt.rulebook.workflow.supervision_reasons}
    delivered = await deliver_due(sessions, sender_from_settings(rt.settings), now, policy, reason_titles=titles)
    # A send interrupted by a crash is never repeated (at most once); once its lease has passed it
    # is marked failed for an operator to check.
    interrupted = await stale_sending(sessions, now - LEASE)
    async with unit_of_work(sessions) as session:
        pruned = await prune_lookup_hits(session, now)
    return {
        "planned": report.planned,
        "acted": report.acted,
        "skipped": report.skipped,
        "sampled_callbacks": sampled,
        "sent": delivered.sent,
        "failed": delivered.failed,
        "interrupted": interrupted,
        "lookup_hits_pruned": pruned,
    }


async def refresh_kpi(sessions: async_sessionmaker[AsyncSession], rt: Runtime) -> dict[str, Any]:
    """Bring the KPI rollup up to date (hotline.kpi_rollup); a separate task, so that a long first
    build after an upgrade never holds up the SLA sweep."""
    async with unit_of_work(sessions) as session:
        report = await kpi_rollup.refresh(session, rt.clock())
    return {"refreshed": report.refreshed, "days": report.days, "rows": report.rows, "rebuilt": report.rebuilt}


async def run_forever(sessions: async_sessionmaker[AsyncSession], rt: Runtime) -> None:
    interval = rt.settings.sweep_seconds or rt.rulebook.workflow.sla.sweep_interval_seconds
    while True:
        try:
            await tick(sessions, rt)
        except Exception:  # a failed round is retried at the next tick; the rows stay due
            log.exception("scheduled sweep failed")
        try:  # after the sweep, so the figures include this round's overdue marks and reminders
            await refresh_kpi(sessions, rt)
        except Exception:  # the marks stay; the next tick recomputes their days
            log.exception("KPI rollup refresh failed")
        await asyncio.sleep(interval)

"""统计日汇总的刷新: keeps ``kpi_daily`` equal to what the KPI engine computes from the base tables.

The dashboard and ``GET /api/v1/kpi`` sum a month of ``kpi_daily`` rows (a few thousand) instead of
scanning the month's tickets, deadlines and returns. Correctness rests on three rules:

* a day is always recomputed whole, from the base tables, by the same SQL the engine uses
  (:mod:`hotline.kpi_repository`), never incremented;
* every day from the previous refresh's day up to today is recomputed (new tickets and returns
  are written for "now", and reply limits fall due as time passes);
* an UPDATE or DELETE that can change an earlier day's figures leaves a mark for that day
  (statement triggers, migration 0005: a reply, an evaluation, a decided return, a merge, an
  extension moving a limit to another day...), and the refresh recomputes the marked days.

The figures are therefore those of the base tables as of ``refreshed_at``; the scheduler refreshes
once per tick (every minute by default) and supervisors can ask for it on the dashboard. One
refresh runs at a time (advisory lock); a concurrent one returns at once.
"""

from __future__ import annotations

import time as _time
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from hotline import kpi_repository as repo
from hotline.kpi import Period, local_today

CHUNK_DAYS = 31
"""Days recomputed per query: one month's grouping stays in memory at 10 million tickets a year."""


@dataclass(frozen=True, slots=True)
class RefreshReport:
    refreshed: bool
    """False when another refresh held the lock."""
    days: int = 0
    rows: int = 0
    rebuilt: bool = False
    seconds: float = 0.0


def _runs(days: list[date], limit: int) -> list[tuple[date, date]]:
    """Contiguous runs of sorted ``days``, each at most ``limit`` days long."""
    runs: list[tuple[date, date]] = []
    for day in days:
        if runs and (day - runs[-1][1]).days == 1 and (day - runs[-1][0]).days < limit:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def _span(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


async def refresh(session: AsyncSession, now: datetime, *, rebuild: bool = False) -> RefreshReport:
    """Recompute the marked days and every day since the previous refresh (or everything: ``rebuild``,
    or the first refresh after installation). The caller commits."""
    started = _time.perf_counter()
    if not await repo.try_rollup_lock(session):
        return RefreshReport(refreshed=False)
    state = await repo.rollup_state(session)
    marked = await repo.claim_dirty_days(session)
    today = local_today(now)
    if state is None or rebuild:
        first = await repo.first_data_day(session)
        await repo.clear_rollup(session)
        days = _span(min(first, today) if first else today, today)
        built_at = now
    else:
        since = min(local_today(state.refreshed_at), today)
        days = sorted(marked | set(_span(since, today)))
        built_at = state.built_at
    rows = 0
    for first_day, last_day in _runs(days, CHUNK_DAYS):
        period = Period(first_day, last_day)
        computed = await repo.compute_rollup(session, period.start_at, period.end_at, now)
        await repo.replace_rollup_days(session, first_day, last_day, computed)
        rows += len(computed)
    for month in sorted({day.replace(day=1) for day in days}):
        await repo.replace_rollup_month(session, month)
    await repo.save_rollup_state(session, now, built_at)
    return RefreshReport(
        refreshed=True,
        days=len(days),
        rows=rows,
        rebuilt=state is None or rebuild,
        seconds=_time.perf_counter() - started,
    )

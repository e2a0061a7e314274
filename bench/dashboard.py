"""KPI dashboard and ``GET /api/v1/kpi`` on a loaded ticket table, against plain GROUP BYs.

Run from the repository root: ``python bench/dashboard.py [--tickets 200000] [--repeat 5]``.

* Creates a fresh, migrated database (``HOTLINE_BENCH_DATABASE_URL`` names the PostgreSQL
  server; without it the embedded PostgreSQL under ``var/bench-pg``) and loads ``--tickets``
  synthetic tickets with ``hotline.demo.generate_tickets`` (spread over the 365 days before
  2026-09-28). ``--database NAME`` reuses a database loaded earlier (migrated, not dropped): the
  10-million-ticket load takes about 20 minutes, so it is done once with ``--keep``.
* Builds the daily rollup (``hotline.kpi_rollup.refresh``: the first refresh recomputes every day)
  and times it, then times a scheduler tick's refresh (today only) and one with a month of days
  marked changed.
* Times, for the last full month: the whole dashboard (``hotline.kpi.dashboard``: every KPI, nine
  breakdowns, the overdue list) and ``GET /api/v1/kpi?group_by=unit`` in-process, both on the
  rollup; the same figures computed by the engine's grouped queries over the base tables (tickets,
  deadlines, replies, evaluations, returns: ``source="base"``); and a plain ``GROUP BY
  lead_unit_code`` over the month's tickets with ``FILTER`` counts of the ticket table alone (the
  cheapest base-table query there is). Prints the ratios.

Targets (issue 5): 10 million tickets answered in < 500 ms, >= 20x faster than a plain GROUP BY.
Figures only: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

from httpx import ASGITransport, AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.intake import _admin, server_url, with_database  # noqa: E402
from hotline import kpi, kpi_rollup  # noqa: E402
from hotline.app import create_app  # noqa: E402
from hotline.db import make_engine, make_sessionmaker, unit_of_work  # noqa: E402
from hotline.demo import generate_tickets  # noqa: E402
from hotline.migrate import load_reference_data, upgrade  # noqa: E402
from hotline.runtime import Runtime  # noqa: E402
from hotline.security import issue_token  # noqa: E402
from hotline.settings import Settings  # noqa: E402
from hotline.users import create_user  # noqa: E402
from routing_rules.loader import load_rulebook  # noqa: E402

SECRET = "bench-secret-0123456789-abcdefghijklmnop"
NOW = datetime(2026, 9, 28, 2, 0, tzinfo=UTC)
TARGET_MS = 500.0
TARGET_RATIO = 20.0

PLAIN = """
SELECT lead_unit_code, count(*),
       count(*) FILTER (WHERE reminder_count > 0), count(*) FILTER (WHERE redo_count > 0),
       count(*) FILTER (WHERE return_count > 0), count(*) FILTER (WHERE overdue_marked),
       count(*) FILTER (WHERE final_outcome IN ('satisfied', 'basically_satisfied'))
FROM tickets WHERE created_at >= :start AND created_at < :end
GROUP BY lead_unit_code
"""


async def timed(fn, repeat: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    await fn()  # warm-up
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        await fn()
        runs.append((time.perf_counter() - t0) * 1000)
    return statistics.median(runs), min(runs)


async def run(db: str, tickets: int, repeat: int, load: bool) -> None:
    rulebook = load_rulebook()
    engine = make_engine(db)
    load_s = 0.0
    if load:
        async with engine.begin() as conn:
            await load_reference_data(AsyncSession(bind=conn), rulebook)
        t0 = time.perf_counter()
        await generate_tickets(db, tickets, now=NOW, progress=False)
        load_s = time.perf_counter() - t0
    async with engine.begin() as conn:
        await conn.execute(text("ANALYZE"))
    sessions = make_sessionmaker(engine)
    async with sessions() as s:
        user = await create_user(s, f"bench-supervisor-{uuid.uuid4().hex[:6]}", "supervisor", "bench-pass-1", None)
        total = (await s.execute(text("SELECT count(*) FROM tickets"))).scalar_one()
        await s.commit()
    settings = Settings(database_url=db, secret_key=SECRET)
    rt = Runtime(settings=settings, rulebook=rulebook, clock=lambda: NOW)
    period = kpi.preset_period("month", date(2026, 8, 15))
    async with sessions() as s:
        month_count = (
            await s.execute(
                text("SELECT count(*) FROM tickets WHERE created_at >= :a AND created_at < :b"),
                {"a": period.start_at, "b": period.end_at},
            )
        ).scalar_one()

    async def refresh(rebuild: bool = False, mark: int = 0) -> kpi_rollup.RefreshReport:
        async with unit_of_work(sessions) as s:
            if mark:  # as if that many earlier days had changed since the last tick
                await s.execute(
                    text("INSERT INTO kpi_dirty_days (day) SELECT CAST(:d AS date) - i FROM generate_series(1, :n) i"),
                    {"d": NOW.date(), "n": mark},
                )
            return await kpi_rollup.refresh(s, NOW, rebuild=rebuild)

    build = await refresh(rebuild=True)
    async with engine.begin() as conn:
        rollup_rows = (await conn.execute(text("SELECT count(*) FROM kpi_daily"))).scalar_one()
    tick_ms, _ = await timed(refresh, repeat)
    marked = await refresh(mark=30)
    # As autovacuum would after a bulk write: set the hint bits of the freshly copied rows, so the
    # timings below do not include their first-read writes.
    async with engine.connect() as conn:
        await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(text("VACUUM ANALYZE kpi_daily"))

    async def dashboard() -> None:
        async with sessions() as s:
            await kpi.dashboard(s, rt, period, kpi.MIN_SAMPLE)

    async def base() -> None:
        async with sessions() as s:
            await kpi.report(s, rt, period, kpi.BREAKDOWNS, now=NOW, source="base")

    async def plain() -> None:
        async with sessions() as s:
            (await s.execute(text(PLAIN), {"start": period.start_at, "end": period.end_at})).all()

    app = create_app(settings, rulebook=rulebook, sessions=sessions, clock=lambda: NOW)
    token = issue_token(SECRET, user.id, user.role, datetime.now(UTC), 60)
    query = f"/api/v1/kpi?from={period.start}&to={period.end}&group_by=unit&min_sample=10"
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://bench") as client:

        async def api() -> None:
            r = await client.get(query, headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200 and r.json()["source"] == "rollup", r.text

        dash_ms, dash_min = await timed(dashboard, repeat)
        api_ms, api_min = await timed(api, repeat)
    plain_ms, plain_min = await timed(plain, repeat)
    base_ms, base_min = await timed(base, max(1, repeat // 5))
    async with sessions() as s:  # the rollup and the base tables agree on the month
        by_rollup = await kpi.report(s, rt, period, kpi.BREAKDOWNS, now=NOW, source="rollup")
        by_base = await kpi.report(s, rt, period, kpi.BREAKDOWNS, now=NOW, source="base")
    same = kpi.figures(by_rollup.overall) == kpi.figures(by_base.overall) and all(
        {g.key: g.kpis for g in by_rollup.groups[d]} == {g.key: g.kpis for g in by_base.groups[d]}
        for d in kpi.BREAKDOWNS
    )
    await engine.dispose()

    print()
    loaded = f"loaded in {load_s:.0f} s" if load else "already loaded"
    print(f"{total:,} tickets ({loaded}); month {period.start} .. {period.end}: {month_count:,} tickets")
    print(
        f"rollup: built in {build.seconds:.1f} s ({build.days} days, {rollup_rows:,} rows); "
        f"tick refresh (today) {tick_ms:.1f} ms; with 30 earlier days marked {marked.seconds * 1000:.0f} ms"
    )
    print(f"rollup figures equal the base-table figures for the month, every breakdown: {same}")
    print(f"{'':48}{'median ms':>11}{'min ms':>9}{'target':>10}  result")
    print("-" * 88)
    row = "{:48}{:>11.1f}{:>9.1f}{:>10}  {}"
    print(
        row.format("dashboard (all KPIs, 9 breakdowns, overdue)", dash_ms, dash_min, "< 500", ok(dash_ms < TARGET_MS))
    )
    print(row.format("GET /api/v1/kpi?group_by=unit", api_ms, api_min, "< 500", ok(api_ms < TARGET_MS)))
    print(row.format("same figures from the base tables (engine)", base_ms, base_min, "", ""))
    print(row.format("plain GROUP BY lead_unit_code (tickets only)", plain_ms, plain_min, "", ""))
    ratio = "{:48}{:>10.1f}x{:>9}{:>10}  {}"
    print(
        ratio.format(
            "ratio plain GROUP BY / dashboard", plain_ms / dash_ms, "", ">= 20x", ok(plain_ms / dash_ms >= TARGET_RATIO)
        )
    )
    print(
        ratio.format(
            "ratio plain GROUP BY / API by unit", plain_ms / api_ms, "", ">= 20x", ok(plain_ms / api_ms >= TARGET_RATIO)
        )
    )
    print(ratio.format("ratio base-table engine / dashboard", base_ms / dash_ms, "", "", ""))


def ok(flag: bool) -> str:
    return "ok" if flag else "below target"


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--tickets", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--database", help="reuse this database (loaded earlier with --keep); no load")
    ap.add_argument("--keep", action="store_true", help="do not drop the database afterwards")
    args = ap.parse_args()
    server = server_url()
    name = args.database or f"hotline_bench_{uuid.uuid4().hex[:6]}"
    if not args.database:
        asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    db = with_database(server, name)
    try:
        upgrade(db)
        asyncio.run(run(db, args.tickets, args.repeat, load=not args.database))
    finally:
        if not (args.keep or args.database):
            asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        elif not args.database:
            print(f"kept database {name}")


if __name__ == "__main__":
    main()

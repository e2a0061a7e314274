"""KPI engine and dashboard query time on a loaded ticket table, against a plain GROUP BY.

Run from the repository root: ``python bench/dashboard.py [--tickets 200000] [--repeat 5]``.

* Creates a fresh, migrated database (``HOTLINE_BENCH_DATABASE_URL`` names the PostgreSQL
  server; without it the embedded PostgreSQL under ``var/bench-pg``) and loads ``--tickets``
  synthetic tickets with ``hotline.demo.generate_tickets`` (spread over the 365 days before
  2026-09-28; use ``--tickets 10000000`` for the issue's size, which takes a long time to load).
* Times, for the last full month, the whole dashboard (``hotline.kpi.dashboard``: every KPI with
  nine breakdowns and the overdue list), ``GET /api/v1/kpi?group_by=unit`` in-process, and a plain
  ``GROUP BY lead_unit_code`` over the same month's tickets with the same ``FILTER`` counts of the
  ticket table only (no deadlines, replies, evaluations or returns), and prints the ratios.

Targets (issue 5): 10 million tickets answered in < 500 ms, >= 20x faster than a plain GROUP BY.
The engine reads the base tables (there is no daily rollup table yet), so it cannot be faster than
a plain GROUP BY over the same rows: reaching 20x needs a rollup (follow-up, see docs/kpi.md).
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.intake import _admin, server_url, with_database  # noqa: E402
from hotline import kpi  # noqa: E402
from hotline.app import create_app  # noqa: E402
from hotline.db import make_engine, make_sessionmaker  # noqa: E402
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


async def run(db: str, tickets: int, repeat: int) -> None:
    rulebook = load_rulebook()
    engine = make_engine(db)
    async with engine.begin() as conn:
        from sqlalchemy.ext.asyncio import AsyncSession

        await load_reference_data(AsyncSession(bind=conn), rulebook)
    t0 = time.perf_counter()
    await generate_tickets(db, tickets, now=NOW, progress=False)
    load_s = time.perf_counter() - t0
    async with engine.begin() as conn:
        await conn.execute(text("ANALYZE"))
    sessions = make_sessionmaker(engine)
    async with sessions() as s:
        user = await create_user(s, "bench-supervisor", "supervisor", "bench-pass-1", None)
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

    async def dashboard() -> None:
        async with sessions() as s:
            await kpi.dashboard(s, rt, period, kpi.MIN_SAMPLE)

    async def plain() -> None:
        async with sessions() as s:
            (await s.execute(text(PLAIN), {"start": period.start_at, "end": period.end_at})).all()

    app = create_app(settings, rulebook=rulebook, sessions=sessions, clock=lambda: NOW)
    token = issue_token(SECRET, user.id, user.role, datetime.now(UTC), 60)
    query = f"/api/v1/kpi?from={period.start}&to={period.end}&group_by=unit&min_sample=10"
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://bench") as client:

        async def api() -> None:
            r = await client.get(query, headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200, r.text

        dash_ms, dash_min = await timed(dashboard, repeat)
        api_ms, api_min = await timed(api, repeat)
    plain_ms, plain_min = await timed(plain, repeat)
    await engine.dispose()

    print()
    print(
        f"{tickets:,} tickets loaded in {load_s:.0f} s; month {period.start} .. {period.end}: {month_count:,} tickets"
    )
    print(f"{'':44}{'median ms':>11}{'min ms':>9}{'target':>10}  result")
    print("-" * 84)
    print(
        f"{'dashboard (all KPIs, 9 breakdowns, overdue)':44}{dash_ms:>11.1f}{dash_min:>9.1f}{'< 500':>10}  {ok(dash_ms < TARGET_MS)}"
    )
    print(f"{'GET /api/v1/kpi?group_by=unit':44}{api_ms:>11.1f}{api_min:>9.1f}{'< 500':>10}  {ok(api_ms < TARGET_MS)}")
    print(f"{'plain GROUP BY lead_unit_code (tickets only)':44}{plain_ms:>11.1f}{plain_min:>9.1f}")
    print(
        f"{'ratio plain / dashboard':44}{plain_ms / dash_ms:>10.2f}x{'':9}{'>= 20x':>10}  {ok(plain_ms / dash_ms >= TARGET_RATIO)}"
    )
    print(
        f"{'ratio plain / API by unit':44}{plain_ms / api_ms:>10.2f}x{'':9}{'>= 20x':>10}  {ok(plain_ms / api_ms >= TARGET_RATIO)}"
    )
    print("\nThe engine reads base tables; a >= 20x speed-up over a plain GROUP BY needs a daily rollup table.")


def ok(flag: bool) -> str:
    return "ok" if flag else "below target"


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--tickets", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    server = server_url()
    name = f"hotline_bench_{uuid.uuid4().hex[:6]}"
    asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    db = with_database(server, name)
    try:
        upgrade(db)
        asyncio.run(run(db, args.tickets, args.repeat))
    finally:
        asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()

"""The SLA sweep over a large number of open tickets: its cost follows the due work, not the backlog.

Run from the repository root: ``python bench/sweep.py [--tickets 1000000] [--due 10000]``.

* Creates a fresh, migrated database (``HOTLINE_BENCH_DATABASE_URL`` names the PostgreSQL server,
  an asyncpg URL; without it the embedded PostgreSQL under ``var/bench-pg`` is used) and drops it
  at the end.
* Loads tickets with the demo data generator (``hotline.demo.generate_tickets``, bulk COPY) over the
  year before a fixed instant, tops up until there are at least ``--tickets`` reply deadlines, then
  re-opens every handled ticket with one set-based UPDATE (status ``accepted``, its reply deadline
  ``running`` and unplanned): the generator's own mix would close most of the older tickets.
* Planning (setup, timed on its own): ``hotline.sla.plan_batch`` in a loop until nothing is stale,
  ``--plan-workers`` loops at once (the query takes its rows ``FOR UPDATE SKIP LOCKED``).
* Nothing-due sweep: ``hotline.sla.sweep`` one second before the earliest pending step, 5 times.
* Due sweep: one ``sweep`` at the instant where about ``--due`` steps are due; steps acted and steps/s.
* Optionally (``--tenth``) the nothing-due sweep again after closing nine tenths of the deadlines.

Targets (issue): a sweep with nothing due under 100 ms and 10,000 due steps under 5 s, at
1 million open tickets, on the 2-core machine. Figures only: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.intake import SECRET, plain, server_url, with_database  # noqa: E402

TARGET_IDLE_MS = 100.0
TARGET_DUE_S = 5.0
NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # 09:00 in 枣庄: the generator's "now"


async def load(db: str, tickets: int, seed: int) -> tuple[int, float]:
    """Generate tickets until at least ``tickets`` have a reply deadline, then re-open all of them."""
    from hotline.demo import generate_tickets

    t0 = time.perf_counter()
    generated = await generate_tickets(db, tickets, seed=seed, progress=True, now=NOW)
    conn = await asyncpg.connect(plain(db))
    try:
        handled = await conn.fetchval("SELECT count(*) FROM deadlines WHERE kind = 'reply'")
        if 0 < handled < tickets:
            more = math.ceil((tickets - handled) * generated / handled * 1.02)
            print(f"{handled:,} of {generated:,} tickets are handled by a unit; generating {more:,} more")
            generated += await generate_tickets(db, more, seed=seed + 1, progress=True, now=NOW)
        t1 = time.perf_counter()
        print("re-opening every handled ticket (status accepted, reply deadline running and unplanned) ...")
        await conn.execute(
            "UPDATE tickets SET status = 'accepted', accepted_at = coalesce(accepted_at, created_at),"
            " replied_at = NULL, closed_at = NULL, final_outcome = NULL"
            " WHERE status IN ('replied', 'callback_pending', 'closed')"
        )
        await conn.execute(
            "UPDATE deadlines SET state = 'running', planned_version = 0, overdue_at = NULL"
            " WHERE kind = 'reply' AND (state <> 'running' OR planned_version <> 0)"
        )
        await conn.execute("VACUUM ANALYZE tickets")
        await conn.execute("VACUUM ANALYZE deadlines")
        reopen = time.perf_counter() - t1
    finally:
        await conn.close()
    print(f"loaded {generated:,} tickets in {t1 - t0:.1f} s; re-opened in {reopen:.1f} s")
    return generated, time.perf_counter() - t0


async def plan_all(sessions: Any, rt: Any, batch: int, workers: int) -> tuple[int, float]:
    """``plan_batch`` until nothing is stale, each batch its own transaction."""
    from hotline.db import unit_of_work
    from hotline.sla import plan_batch

    planned = 0
    last = time.perf_counter()
    t0 = last

    async def loop() -> None:
        nonlocal planned, last
        while True:
            async with unit_of_work(sessions) as session:
                n = await plan_batch(session, rt, batch)
            planned += n
            if time.perf_counter() - last > 10:
                last = time.perf_counter()
                print(f"  planned {planned:,} deadlines, {planned / (last - t0):,.0f}/s", flush=True)
            if n == 0:
                return

    await asyncio.gather(*(loop() for _ in range(workers)))
    return planned, time.perf_counter() - t0


async def idle_sweeps(sessions: Any, rt: Any, conn: Any, repeat: int = 5) -> tuple[list[float], int]:
    """``sweep`` one second before the earliest pending step: plans nothing, acts on nothing."""
    from hotline.sla import sweep

    first = await conn.fetchval("SELECT min(due_at) FROM sla_steps WHERE state = 'pending'")
    now0 = first - timedelta(seconds=1)
    times: list[float] = []
    touched = 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        report = await sweep(sessions, rt, now0)
        times.append(time.perf_counter() - t0)
        touched += report.planned + report.total_acted + report.skipped
    return times, touched


async def due_instant(conn: Any, due: int) -> tuple[datetime, int]:
    """The instant at which about ``due`` pending steps are due (many share one midnight)."""
    at = await conn.fetchval(
        "SELECT due_at FROM sla_steps WHERE state = 'pending' ORDER BY due_at, id OFFSET $1 LIMIT 1", due - 1
    )
    if at is None:
        at = await conn.fetchval("SELECT max(due_at) FROM sla_steps WHERE state = 'pending'")
    count = "SELECT count(*) FROM sla_steps WHERE state = 'pending' AND due_at <= $1"
    n = await conn.fetchval(count, at)
    before = await conn.fetchval("SELECT max(due_at) FROM sla_steps WHERE state = 'pending' AND due_at < $1", at)
    if before is not None:
        m = await conn.fetchval(count, before)
        if abs(m - due) < abs(n - due):
            return before, m
    return at, n


async def run(db: str, args: argparse.Namespace) -> dict[str, Any]:
    from hotline.db import make_engine, make_sessionmaker
    from hotline.runtime import Runtime
    from hotline.settings import Settings
    from routing_rules.loader import load_rulebook

    out: dict[str, Any] = {}
    out["generated"], out["load_s"] = await load(db, args.tickets, args.seed)

    settings = Settings(database_url=db, secret_key=SECRET)
    rt = Runtime(settings=settings, rulebook=load_rulebook(), clock=lambda: NOW)
    engine = make_engine(db, settings)
    sessions = make_sessionmaker(engine)
    conn = await asyncpg.connect(plain(db))
    try:
        out["open"] = await conn.fetchval("SELECT count(*) FROM tickets WHERE status IN ('dispatched', 'accepted')")
        out["running"] = await conn.fetchval("SELECT count(*) FROM deadlines WHERE state = 'running'")
        print(f"open tickets {out['open']:,}; running deadlines {out['running']:,}")

        batch = args.plan_batch or rt.rulebook.workflow.sla.sweep_batch
        print(f"planning with plan_batch(batch={batch:,}) x {args.plan_workers} loops ...")
        out["plan_batch"] = batch
        out["planned"], out["plan_s"] = await plan_all(sessions, rt, batch, args.plan_workers)
        out["steps"] = await conn.fetchval("SELECT count(*) FROM sla_steps WHERE state = 'pending'")
        print(
            f"planned {out['planned']:,} deadlines ({out['steps']:,} pending steps) in {out['plan_s']:.1f} s:"
            f" {out['planned'] / out['plan_s']:,.0f} deadlines/s, {out['steps'] / out['plan_s']:,.0f} steps/s"
        )
        t0 = time.perf_counter()
        await conn.execute("VACUUM ANALYZE deadlines")
        await conn.execute("VACUUM ANALYZE sla_steps")
        print(f"VACUUM ANALYZE deadlines, sla_steps (as autovacuum would): {time.perf_counter() - t0:.1f} s")

        await idle_sweeps(sessions, rt, conn, 1)  # warm the pool, the calendar cache and the plans
        out["idle"], touched = await idle_sweeps(sessions, rt, conn)
        print("nothing-due sweep ms:", ", ".join(f"{t * 1000:.1f}" for t in out["idle"]), f"(rows touched {touched})")

        now1, out["due"] = await due_instant(conn, args.due)
        print(f"due sweep at {now1.isoformat()}: {out['due']:,} steps due ...")
        from hotline.sla import sweep

        t0 = time.perf_counter()
        report = await sweep(sessions, rt, now1)
        out["due_s"] = time.perf_counter() - t0
        out["acted"], out["skipped"], out["acted_by_kind"] = report.total_acted, report.skipped, report.acted
        out["left"] = await conn.fetchval(
            "SELECT count(*) FROM sla_steps WHERE state = 'pending' AND due_at <= $1", now1
        )
        print(
            f"due sweep {out['due_s']:.2f} s: acted {report.acted}, skipped {report.skipped},"
            f" still due {out['left']}, planned {report.planned}"
        )

        if args.tenth:
            t0 = time.perf_counter()
            await conn.execute("UPDATE deadlines SET state = 'met' WHERE state = 'running' AND id % 10 <> 0")
            await conn.execute(
                "UPDATE sla_steps SET state = 'skipped', outcome = 'bench' WHERE state = 'pending' AND id IN"
                " (SELECT s.id FROM sla_steps s JOIN deadlines d ON d.id = s.deadline_id"
                " WHERE s.state = 'pending' AND d.state = 'met')"
            )
            await conn.execute("VACUUM ANALYZE deadlines")
            await conn.execute("VACUUM ANALYZE sla_steps")
            out["tenth_running"] = await conn.fetchval("SELECT count(*) FROM deadlines WHERE state = 'running'")
            print(f"closed 9/10 of the deadlines in {time.perf_counter() - t0:.1f} s")
            await idle_sweeps(sessions, rt, conn, 1)
            out["tenth_idle"], _ = await idle_sweeps(sessions, rt, conn)
            print("nothing-due sweep ms at a tenth:", ", ".join(f"{t * 1000:.1f}" for t in out["tenth_idle"]))
    finally:
        await conn.close()
        await engine.dispose()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tickets", type=int, default=1_000_000, help="open tickets (at least this many)")
    ap.add_argument("--due", type=int, default=10_000, help="steps due in the due sweep (about)")
    ap.add_argument("--seed", type=int, default=12345)
    ap.add_argument("--plan-batch", type=int, default=None, help="deadlines per planning transaction")
    ap.add_argument("--plan-workers", type=int, default=2, help="planning loops at once")
    ap.add_argument("--tenth", action="store_true", help="also the nothing-due sweep at a tenth of the deadlines")
    args = ap.parse_args()

    server = server_url()
    name = f"hotline_bench_{uuid.uuid4().hex[:6]}"
    asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    db = with_database(server, name)
    env = {"HOTLINE_DATABASE_URL": db, "HOTLINE_SECRET_KEY": SECRET}
    try:
        subprocess.run([sys.executable, "-m", "hotline", "migrate"], env={**os.environ, **env}, check=True, cwd=ROOT)
        out = asyncio.run(run(db, args))
    finally:
        asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    report(out)


def report(out: dict[str, Any]) -> None:
    idle_ms = statistics.median(out["idle"]) * 1000
    acted = out["acted"] + out["skipped"]
    per_step_ms = out["due_s"] * 1000 / max(acted, 1)
    print()
    print(f"SLA sweep at {out['open']:,} open tickets (generated {out['generated']:,})")
    print(f"{'':40}{'figure':>14}{'target':>12}  result")
    print("-" * 76)
    print(f"{'open tickets':40}{out['open']:>14,}")
    print(f"{'running deadlines':40}{out['running']:>14,}")
    print(f"{'pending steps planned':40}{out['steps']:>14,}")
    print(f"{'load (generate + re-open) s':40}{out['load_s']:>14.1f}")
    print(f"{'planning s (batch ' + format(out['plan_batch'], ',') + ')':40}{out['plan_s']:>14.1f}")
    print(f"{'planning deadlines/s':40}{out['planned'] / out['plan_s']:>14,.0f}")
    print(f"{'nothing-due sweep ms (median of 5)':40}{idle_ms:>14.1f}{'< 100':>12}  {_ok(idle_ms < TARGET_IDLE_MS)}")
    print(f"{'due sweep s':40}{out['due_s']:>14.2f}{'< 5':>12}  {_ok(out['due_s'] < TARGET_DUE_S)}")
    print(f"{'steps due / acted / skipped':40}{out['due']:>7,} / {out['acted']:,} / {out['skipped']:,}")
    print(f"{'acted by kind':40}{out['acted_by_kind']}")
    print(f"{'due sweep steps/s':40}{acted / out['due_s']:>14,.0f}")
    print(f"{'due sweep ms per step':40}{per_step_ms:>14.3f}")
    print(f"{'nothing-due sweep / ms per step':40}{idle_ms / per_step_ms:>13.1f}x")
    if "tenth_idle" in out:
        tenth_ms = statistics.median(out["tenth_idle"]) * 1000
        label = f"nothing-due ms at {out['tenth_running']:,} deadlines"
        print(f"{label:40}{tenth_ms:>14.1f}")
    print()
    print(
        f"A sweep with nothing due costs about {idle_ms / per_step_ms:.1f} due steps' work at {out['open']:,} open"
        " tickets: it reads two partial indexes (stale deadlines, pending steps due by now) and stops,"
        " so its cost follows the due work, not the number of open tickets."
    )


def _ok(flag: bool) -> str:
    return "ok" if flag else "below target"


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(plain(url))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


if __name__ == "__main__":
    main()

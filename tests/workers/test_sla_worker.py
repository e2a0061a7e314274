"""Real Celery worker and beat on the real Redis enforce deadlines kept in PostgreSQL.

Tickets are logged through the API with a clock in the past, so their deadlines are already due
by the real clock the worker uses. Durability: Redis is flushed and the worker killed mid-run;
once a worker is back every due step is acted on, and none twice.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text

from hotline.app import create_app
from hotline.db import make_engine, make_sessionmaker
from hotline.security import issue_token
from hotline.settings import Settings
from hotline.users import create_user
from routing_rules.loader import Rulebook
from tests.conftest import FakeClock
from tests.rollup import FORGET_KPI_ROLLUP

REDIS = os.environ.get("HOTLINE_TEST_REDIS_URL")
ROOT = Path(__file__).resolve().parents[2]
SECRET = "worker-e2e-secret-0123456789-abcdefghij"


async def log_calls(db_url: str, rulebook: Rulebook, n: int, tag: str) -> list[str]:
    """Commit n tickets logged on Monday 2026-09-28 (due 2026-10-10, long past)."""
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    settings = Settings(database_url=db_url, secret_key=SECRET)
    app = create_app(
        settings, rulebook=rulebook, sessions=sessions, clock=FakeClock(datetime(2026, 9, 28, 2, tzinfo=UTC))
    )
    async with sessions() as s:
        user = await create_user(s, f"e2e-{tag}-{os.getpid()}", "agent", "password-123")
        await s.commit()
    token = issue_token(SECRET, user.id, "agent", datetime.now(UTC), 60)
    numbers = []
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as c:
        for i in range(n):
            r = await c.post(
                "/api/v1/tickets",
                json={
                    "caller": {"type": "citizen"},
                    "kind": "complaint",
                    "content": f"养老金问题{tag}{i}",
                    "line": "12333",
                },
                headers={"Authorization": f"Bearer {token}"},
            )
            assert r.status_code == 201, r.text
            numbers.append(r.json()["number"])
    await engine.dispose()
    return numbers


async def forget(db_url: str, numbers: list[str]) -> None:
    """These tests commit for real (other processes must see the rows): remove them afterwards."""
    engine = make_engine(db_url)
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM tickets WHERE number = ANY(:n)"), {"n": numbers})
        # the sweeps' ticks also refreshed the KPI rollup for real: leave it unbuilt as found
        for statement in FORGET_KPI_ROLLUP:
            await conn.execute(text(statement))
    await engine.dispose()


async def rollup_overdue(db_url: str) -> int:
    engine = make_engine(db_url)
    async with engine.connect() as conn:
        total = await conn.execute(
            text("SELECT coalesce(sum(overdue), 0) FROM kpi_daily WHERE scope = '' AND dim = ''")
        )
        value = int(total.scalar_one())
    await engine.dispose()
    return value


async def count_events(db_url: str, numbers: list[str], action: str) -> dict[str, int]:
    engine = make_engine(db_url)
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT t.number, count(e.id) FROM tickets t LEFT JOIN ticket_events e"
                " ON e.ticket_id = t.id AND e.action = :a WHERE t.number = ANY(:n) GROUP BY t.number"
            ),
            {"a": action, "n": numbers},
        )
        out = {number: int(c) for number, c in rows}
    await engine.dispose()
    return out


def celery(db_url: str, *args: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "HOTLINE_DATABASE_URL": db_url,
        "HOTLINE_REDIS_URL": str(REDIS),
        "HOTLINE_SECRET_KEY": SECRET,
        "HOTLINE_SWEEP_SECONDS": "1",
        "HOTLINE_SWEEP_BATCH": "7",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers.app", *args, "--loglevel=WARNING"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


@pytest.fixture
def stop() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=10)


def wait_until(check: Callable[[], bool], seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.5)
    return False


@pytest.mark.skipif(not REDIS, reason="HOTLINE_TEST_REDIS_URL is not set (CI sets it)")
def test_worker_and_beat_mark_overdue_and_survive_a_redis_wipe_and_a_killed_worker(
    db_url: str, rulebook: Rulebook, stop: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    numbers = asyncio.run(log_calls(db_url, rulebook, 40, "a"))
    beat = celery(db_url, "beat", f"--schedule={tmp_path / 'beat'}")
    worker = celery(db_url, "worker", "--pool=solo", "--concurrency=1")
    stop.extend([beat, worker])

    def some_done() -> bool:
        return sum(asyncio.run(count_events(db_url, numbers, "mark_overdue")).values()) > 0

    assert wait_until(some_done, 90), "no overdue mark appeared"
    # Mid-run: wipe the broker and kill the worker without warning.
    redis.Redis.from_url(str(REDIS)).flushdb()
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)
    more = asyncio.run(log_calls(db_url, rulebook, 5, "b"))  # work that arrives while no worker runs
    revived = celery(db_url, "worker", "--pool=solo", "--concurrency=1")
    stop.append(revived)
    everyone = numbers + more

    def all_done() -> bool:
        counts = asyncio.run(count_events(db_url, everyone, "mark_overdue"))
        return len(counts) == len(everyone) and all(c >= 1 for c in counts.values())

    assert wait_until(all_done, 120), asyncio.run(count_events(db_url, everyone, "mark_overdue"))
    for action in ("mark_overdue", "supervise", "notice"):

        def exactly_once(a: str = action) -> bool:
            return all(c == 1 for c in asyncio.run(count_events(db_url, everyone, a)).values())

        assert wait_until(exactly_once, 60), (action, asyncio.run(count_events(db_url, everyone, action)))
    # beat's kpi.refresh task brings the KPI rollup up to date with those overdue marks
    assert wait_until(lambda: asyncio.run(rollup_overdue(db_url)) >= len(everyone), 60)
    time.sleep(3)  # more beats: still exactly once
    for action in ("mark_overdue", "supervise", "notice"):
        assert set(asyncio.run(count_events(db_url, everyone, action)).values()) == {1}, action
    for p in stop:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=10)
    asyncio.run(forget(db_url, everyone))


async def _two_sweeps_at_once(db_url: str, rulebook: Rulebook) -> None:
    from hotline.runtime import Runtime
    from hotline.sla import sweep

    settings = Settings(database_url=db_url, secret_key=SECRET, sweep_batch=5)
    engines = [make_engine(db_url), make_engine(db_url)]
    runtimes = [Runtime(settings=settings, rulebook=rulebook) for _ in engines]
    now = datetime(2026, 10, 20, tzinfo=UTC)
    try:
        await asyncio.gather(*(sweep(make_sessionmaker(e), rt, now) for e, rt in zip(engines, runtimes, strict=True)))
    finally:
        for e in engines:
            await e.dispose()


def test_two_sweeps_running_at_once_act_on_each_step_once(db_url: str, rulebook: Rulebook) -> None:
    """Two processes' sweeps claim with SKIP LOCKED: together they act on every due step once."""
    numbers = asyncio.run(log_calls(db_url, rulebook, 12, "concurrent"))
    try:
        asyncio.run(_two_sweeps_at_once(db_url, rulebook))
        for action in ("mark_overdue", "supervise", "notice"):
            assert asyncio.run(count_events(db_url, numbers, action)) == dict.fromkeys(numbers, 1), action
    finally:
        asyncio.run(forget(db_url, numbers))

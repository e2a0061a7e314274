"""Abuse limits of the public progress lookup that hold (issue 10, item 5): a forwarded header
does not make a client someone else, concurrent attempts are counted one by one, and attempts
on one ticket number are limited whatever address they come from."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from hotline.attempts import Limit
from hotline.db import make_engine
from hotline.public import count_lookup
from tests.hotline.test_pages_auth import csrf_of
from tests.hotline.test_pages_public import PHONE, lookup, new_ticket, people  # noqa: F401
from tests.server import running_server

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def server(db_url: str) -> Iterator[str]:
    started = datetime.now(UTC)
    with running_server(db_url, "lookup-limits-" + uuid.uuid4().hex) as base:
        yield base
    asyncio.run(_forget(db_url, started))


async def _forget(db_url: str, since: datetime) -> None:
    """The server commits for real: remove its attempts (the other tests' clock is in 2026-09)."""
    engine = make_engine(db_url)
    async with engine.begin() as conn:
        await conn.execute(
            text("DELETE FROM public_lookup_hits WHERE bucket >= :since"),
            {"since": since.replace(second=0, microsecond=0)},
        )
    await engine.dispose()


def test_a_forwarded_header_does_not_make_a_client_someone_else(server: str) -> None:
    with httpx.Client(base_url=server) as client:
        statuses = []
        for i in range(12):
            form = client.get("/public/progress")
            r = client.post(
                "/public/progress",
                data={"number": f"20260928{i:08d}", "last_four": "0000", "csrf": csrf_of(form.text)},
                headers={"X-Forwarded-For": f"203.0.113.{i}"},
            )
            statuses.append(r.status_code)
        assert statuses[:10] == [200] * 10 and statuses[10:] == [429, 429]
        assert "server" not in {k.lower() for k in r.headers}  # uvicorn's Server header is not sent


async def test_concurrent_attempts_are_counted_one_by_one(db_url: str) -> None:
    engine = make_engine(db_url)
    key = "concurrent-" + uuid.uuid4().hex
    now = datetime(2026, 9, 28, 2, 0, tzinfo=UTC)

    async def attempt() -> float | None:
        async with engine.begin() as conn:
            from sqlalchemy.ext.asyncio import AsyncSession

            return await count_lookup(AsyncSession(bind=conn), key, now, Limit(limit=10))

    try:
        results = await asyncio.gather(*(attempt() for _ in range(40)))
        assert sum(r is None for r in results) == 10
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM public_lookup_hits WHERE client_key = :k"), {"k": key})
        await engine.dispose()


async def test_one_ticket_number_is_limited_from_any_address(app, client: httpx.AsyncClient, people) -> None:  # noqa: F811
    number = await new_ticket(client, people["agent"])
    statuses = []
    for i in range(11):
        transport = httpx.ASGITransport(app=app, client=(f"198.51.100.{i}", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as other:
            statuses.append((await lookup(other, number, "0000")).status_code)
    assert statuses[:10] == [200] * 10 and statuses[10] == 429
    # another ticket from a fresh address is not affected
    transport = httpx.ASGITransport(app=app, client=("198.51.100.200", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as fresh:
        assert (await lookup(fresh, "2026092899999999", "0000")).status_code == 200
    # the right digits stay refused for the rest of the window
    transport = httpx.ASGITransport(app=app, client=("198.51.100.201", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as owner:
        assert (await lookup(owner, number, PHONE[-4:])).status_code == 429

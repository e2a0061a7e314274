"""One event loop and one engine per worker process; async hotline services run on them."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from hotline.db import database_url, make_engine, make_sessionmaker, unit_of_work
from hotline.runtime import Runtime
from hotline.settings import get_settings
from routing_rules.loader import load_rulebook

T = TypeVar("T")

_loop: asyncio.AbstractEventLoop | None = None
_engine: AsyncEngine | None = None
_runtime: Runtime | None = None


def reset() -> None:
    """Forget state inherited from a parent process (after fork)."""
    global _loop, _engine, _runtime
    _loop, _engine, _runtime = None, None, None


def hotline_runtime() -> Runtime:
    """Rulebook, calendar cache and clock of this worker process (the rulebook is validated once)."""
    global _runtime
    if _runtime is None:
        settings = get_settings()
        _runtime = Runtime(settings=settings, rulebook=load_rulebook(settings.rulebook_dir))
    return _runtime


def sessions() -> async_sessionmaker[AsyncSession]:
    return make_sessionmaker(engine())


def loop() -> asyncio.AbstractEventLoop:
    global _loop
    if _loop is None or _loop.is_closed():
        _loop = asyncio.new_event_loop()
    return _loop


def engine() -> AsyncEngine:
    global _engine
    if _engine is None:
        settings = get_settings()
        _engine = make_engine(database_url(settings), settings)
    return _engine


def run(coro: Coroutine[Any, Any, T]) -> T:
    return loop().run_until_complete(coro)


def close() -> None:
    global _engine
    if _engine is not None and _loop is not None and not _loop.is_closed():
        _loop.run_until_complete(_engine.dispose())
    _engine = None
    if _loop is not None:
        _loop.close()


async def database_health() -> dict[str, Any]:
    async with unit_of_work(make_sessionmaker(engine())) as session:
        version = (await session.execute(text("SELECT version()"))).scalar_one()
        units = (await session.execute(text("SELECT count(*) FROM handling_units"))).scalar_one()
    return {"database": str(version).split(" ")[1], "handling_units": int(units)}

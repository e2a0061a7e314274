"""One event loop and one engine per worker process; async hotline services run on them."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from hotline.db import database_url, make_engine, make_sessionmaker, unit_of_work
from hotline.settings import get_settings

T = TypeVar("T")

_loop: asyncio.AbstractEventLoop | None = None
_engine: AsyncEngine | None = None


def reset() -> None:
    """Forget state inherited from a parent process (after fork)."""
    global _loop, _engine
    _loop, _engine = None, None


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

"""Engine and sessions. Commits happen only at the boundary (request dependency, CLI command)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from hotline.settings import Settings


def database_url(settings: Settings) -> str:
    if settings.database_url is not None:
        return settings.database_url
    from hotline.embedded import embedded_url

    return embedded_url(settings.var_dir)


def make_engine(url: str, settings: Settings | None = None) -> AsyncEngine:
    pool = settings.db_pool_size if settings else 10
    return create_async_engine(
        url,
        pool_size=pool,
        max_overflow=pool,
        # No pre-ping round trip per request: a connection broken by a server restart is
        # invalidated on first use (the request fails cleanly and the client retries with its
        # Idempotency-Key); recycling bounds the age of pooled connections.
        pool_recycle=1800,
        echo=bool(settings and settings.sql_echo),
        connect_args={"server_settings": {"timezone": "UTC", "application_name": "hotline"}},
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def unit_of_work(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One transaction: commit when the block succeeds, roll back when it raises."""
    async with sessions() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise

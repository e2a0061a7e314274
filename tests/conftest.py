"""Shared fixtures: a real PostgreSQL migrated by Alembic, one outer transaction per test.

``HOTLINE_TEST_DATABASE_URL`` (CI: the machine's PostgreSQL) names the server; without it an
embedded PostgreSQL under ``var/test-pg`` is started. Each test session creates a fresh database,
migrates it with the real migrations and loads the reference data, then drops it at the end.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from dispatcher.classifier import DispatchModel
from hotline.app import create_app
from hotline.db import make_engine
from hotline.dispatch import storage
from hotline.dispatch.training import TrainResult, catalogue_examples, train
from hotline.migrate import load_reference_data, upgrade
from hotline.models import DispatchModelRow
from hotline.runtime import Runtime
from hotline.security import issue_token
from hotline.settings import Settings
from hotline.users import Actor, actor_of, create_user
from routing_rules.loader import Rulebook, load_rulebook

ROOT = Path(__file__).resolve().parent.parent
SECRET = "test-secret-key-0123456789-abcdefghij"


def _server_url() -> str:
    url = os.environ.get("HOTLINE_TEST_DATABASE_URL")
    if url:
        return url
    from hotline.embedded import embedded_url

    return embedded_url(ROOT / "var" / "test-pg", database="postgres")


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(_plain(url))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def rulebook() -> Rulebook:
    return load_rulebook()


@pytest.fixture(scope="session")
def dispatch_training(rulebook: Rulebook) -> TrainResult:
    """The classifier trained on the shipped catalogue's examples only (as ``migrate`` does)."""
    assert rulebook.catalogue is not None
    return train(rulebook.catalogue, catalogue_examples(rulebook.catalogue), "test-model")


@pytest.fixture(scope="session")
def dispatch_model(dispatch_training: TrainResult) -> DispatchModel:
    return dispatch_training.model


@pytest.fixture(scope="session")
def dispatch_blob(dispatch_model: DispatchModel) -> bytes:
    return storage.dump(dispatch_model)


@pytest.fixture
async def current_model(
    session: AsyncSession,
    runtime: Runtime,
    rulebook: Rulebook,
    dispatch_training: TrainResult,
    dispatch_blob: bytes,
) -> DispatchModel:
    """The shipped-catalogue model stored as current in this test's transaction, held by the app."""
    assert rulebook.catalogue is not None
    session.add(
        DispatchModelRow(
            version=dispatch_training.model.version,
            status="current",
            blob=dispatch_blob,
            data_digest=dispatch_training.data_digest,
            rulebook_version=rulebook.version,
            catalogue_digest=rulebook.catalogue.digest,
            n_examples=dispatch_training.n_examples,
            metrics=dispatch_training.metrics,
            counts=dispatch_training.counts,
            created_by="test",
        )
    )
    await session.commit()
    # Hand the already loaded model to the runtime: it checks the version and finds it current.
    runtime.dispatch.model = dispatch_training.model
    runtime.dispatch.version = dispatch_training.model.version
    return dispatch_training.model


@contextmanager
def migrated_database(rulebook: Rulebook, prefix: str) -> Iterator[str]:
    """A fresh database on the test server, migrated, with the rulebook's units and the statutory
    calendar; dropped afterwards. Yields its URL."""
    server = _server_url()
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    url = _with_database(server, name)
    try:
        upgrade(url)

        async def seed() -> None:
            engine = make_engine(url)
            async with engine.begin() as conn:
                await load_reference_data(AsyncSession(bind=conn), rulebook)
            await engine.dispose()

        asyncio.run(seed())
        yield url
    finally:
        asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def db_url(rulebook: Rulebook) -> Iterator[str]:
    """A fresh, migrated database with the rulebook's units and the statutory calendar."""
    with migrated_database(rulebook, "hotline_test") as url:
        yield url


@pytest.fixture(scope="session")
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(db_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """The outer transaction of one test; rolled back at the end whatever the test committed."""
    async with engine.connect() as conn:
        outer = await conn.begin()
        yield conn
        if outer.is_active:
            await outer.rollback()


@pytest.fixture
def sessions(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    """Sessions whose commits are savepoints inside the test's outer transaction."""
    return async_sessionmaker(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)


@pytest.fixture
async def session(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessions() as s:
        yield s


@dataclass
class FakeClock:
    """An injected clock; tests move it instead of sleeping."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 9, 28, 2, 0, tzinfo=UTC))  # Monday 10:00 in Shanghai


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, secret_key=SECRET)


@pytest.fixture
def app(settings: Settings, rulebook: Rulebook, sessions: async_sessionmaker[AsyncSession], clock: FakeClock):
    return create_app(settings, rulebook=rulebook, sessions=sessions, clock=clock)


@pytest.fixture
def runtime(app) -> Runtime:
    rt: Runtime = app.state.runtime
    return rt


@pytest.fixture
async def client(app) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as c:
        yield c


@dataclass
class Login:
    actor: Actor
    headers: dict[str, str]


@pytest.fixture
def login(session: AsyncSession, clock: FakeClock):
    """``await login("agent")`` or ``await login("unit_handler", unit="city.human_resources")``."""

    async def make(role: str, unit: str | None = None, username: str | None = None) -> Login:
        name = username or f"{role}-{unit or 'x'}-{uuid.uuid4().hex[:6]}"
        user = await create_user(session, name, role, "password-123", unit)
        await session.commit()
        token = issue_token(SECRET, user.id, user.role, datetime.now(UTC), 60)
        return Login(actor_of(user), {"Authorization": f"Bearer {token}"})

    return make

"""Login throttling (issue 10, item 5): failures are counted per account and per client, an
account is locked after ten failures until the window passes or an administrator unlocks it,
unknown names take as long as known ones, and hashing runs off the event loop."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from hotline import users
from hotline.clock import utc_now
from hotline.errors import Unauthorized
from tests.hotline.test_pages_auth import csrf_of

SECRET = "x" * 32


async def token(client: AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/auth/token", data={"username": username, "password": password})


async def test_an_account_is_locked_after_ten_failures_then_unlocked_by_an_administrator(
    app, client: AsyncClient, login, settings
) -> None:
    agent = await login("agent")
    name = agent.actor.username
    for _ in range(10):
        r = await token(client, name, "wrong-password")
        assert r.status_code == 401 and r.json()["error"]["code"] == "auth.invalid_credentials"
    # the right password no longer works while the account is locked
    r = await token(client, name, "password-123")
    assert r.status_code == 429 and r.json()["error"]["code"] == "auth.too_many_attempts"
    assert "联系系统管理员解锁" in r.json()["error"]["message"]
    # the page says so too, in Chinese
    form = await client.get("/login")
    page = await client.post("/login", data={"username": name, "password": "password-123", "csrf": csrf_of(form.text)})
    assert page.status_code == 429 and "已临时锁定" in page.text
    # another account from elsewhere is not affected by this account's lock
    other = await login("supervisor")
    transport = httpx.ASGITransport(app=app, client=("192.0.2.9", 5000))
    async with AsyncClient(transport=transport, base_url="http://test") as elsewhere:
        assert (await token(elsewhere, other.actor.username, "password-123")).status_code == 200
    async with app.state.sessions() as session:
        assert await users.unlock(session, settings.secret_key, name) >= 1
        await session.commit()
    assert (await token(client, name, "password-123")).status_code == 200


async def test_a_success_forgets_the_accounts_failures(client: AsyncClient, login) -> None:
    agent = await login("agent")
    for _ in range(9):
        assert (await token(client, agent.actor.username, "nope-nope")).status_code == 401
    assert (await token(client, agent.actor.username, "password-123")).status_code == 200
    for _ in range(9):
        assert (await token(client, agent.actor.username, "nope-nope")).status_code == 401
    assert (await token(client, agent.actor.username, "password-123")).status_code == 200


async def test_one_client_guessing_many_accounts_is_throttled(client: AsyncClient) -> None:
    statuses = [(await token(client, f"nobody-{i}", "guess-guess")).status_code for i in range(31)]
    assert statuses[:30] == [401] * 30 and statuses[30] == 429


async def test_the_lock_passes_with_its_window(session: AsyncSession, login, settings) -> None:
    agent = await login("agent")
    now = utc_now()
    for _ in range(10):
        with pytest.raises(Unauthorized):
            await users.authenticate(session, agent.actor.username, "bad-bad-bad", client="c", secret=SECRET, now=now)
    with pytest.raises(users.TooManyAttempts):
        await users.authenticate(session, agent.actor.username, "password-123", client="c2", secret=SECRET, now=now)
    later = now + timedelta(minutes=31)
    user = await users.authenticate(
        session, agent.actor.username, "password-123", client="c2", secret=SECRET, now=later
    )
    assert user.username == agent.actor.username


async def test_unknown_names_take_as_long_as_known_ones_and_the_loop_stays_free(session: AsyncSession, login) -> None:
    agent = await login("agent")

    async def timed(name: str) -> float:
        started = time.perf_counter()
        with pytest.raises(Unauthorized):
            await users.authenticate(session, name, "wrong-wrong", client=name, secret=SECRET, now=utc_now())
        return time.perf_counter() - started

    known = min([await timed(agent.actor.username) for _ in range(3)])
    unknown = min([await timed("no-such-user") for _ in range(3)])
    # both verify an argon2 hash; an unknown name used to answer about 40 times faster
    assert unknown > known / 3

    # while a password is being checked, other coroutines of the event loop still run
    ticks = 0

    async def ticker() -> Any:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    task = asyncio.create_task(ticker())
    await timed(agent.actor.username)
    task.cancel()
    assert ticks >= 3


def test_the_unlock_command(db_url: str) -> None:
    import asyncio as aio

    from sqlalchemy import text

    from hotline import attempts
    from hotline.db import make_engine
    from tests.hotline.test_migrations_and_cli import SECRET as CLI_SECRET
    from tests.hotline.test_migrations_and_cli import run_cli

    nothing = run_cli(db_url, "users", "unlock", "nobody-locked")
    assert nothing.returncode == 0 and "无需解锁" in nothing.stdout

    key = attempts.hashed(CLI_SECRET, "login-account:locked-one")

    async def plant(sql: str) -> int:
        engine = make_engine(db_url)
        async with engine.begin() as conn:
            result = await conn.execute(text(sql), {"k": key})
        await engine.dispose()
        return int(result.rowcount or 0)

    aio.run(plant("INSERT INTO public_lookup_hits (client_key, bucket, hits) VALUES (:k, now(), 10)"))
    done = run_cli(db_url, "users", "unlock", "Locked-One")  # names compare case-insensitively
    assert done.returncode == 0 and "已解锁用户 Locked-One" in done.stdout
    assert aio.run(plant("DELETE FROM public_lookup_hits WHERE client_key = :k")) == 0


async def test_a_throttled_address_is_told_so_and_an_administrator_lifts_it(
    app, client: AsyncClient, login, settings
) -> None:
    agent = await login("agent")
    for i in range(30):
        assert (await token(client, f"nobody-{i}", "guess-guess")).status_code == 401
    r = await token(client, agent.actor.username, "password-123")
    assert r.status_code == 429 and r.json()["error"]["code"] == "auth.client_throttled"
    assert "本机" in r.json()["error"]["message"] and "账号已临时锁定" not in r.json()["error"]["message"]
    async with app.state.sessions() as session:
        assert await users.unlock(session, settings.secret_key, agent.actor.username) == 0  # not the account
        assert await users.unlock_address(session, settings.secret_key, "127.0.0.1") >= 1
        await session.commit()
    assert (await token(client, agent.actor.username, "password-123")).status_code == 200

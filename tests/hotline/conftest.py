"""Fixtures shared by the page tests of several domains."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient

from tests.hotline.test_pages_auth import sign_in

PageFor = Callable[..., Awaitable[AsyncClient]]


@pytest.fixture
async def page_for(app, login) -> AsyncIterator[PageFor]:
    """``await page_for("supervisor")``: a browser of its own, signed in through the login form."""
    opened: list[AsyncClient] = []

    async def make(role: str, unit: str | None = None) -> AsyncClient:
        who = await login(role, unit=unit)
        browser = AsyncClient(transport=ASGITransport(app=app), base_url="http://test")
        opened.append(browser)
        await sign_in(browser, who.actor.username)
        return browser

    yield make
    for browser in opened:
        await browser.aclose()


@pytest.fixture
async def people(login) -> dict[str, Any]:
    """An agent and two unit handlers (人社局, 公积金中心); a module may define its own ``people``."""
    return {
        "agent": await login("agent"),
        "hrss": await login("unit_handler", unit="city.human_resources"),
        "fund": await login("unit_handler", unit="city.housing_fund"),
    }

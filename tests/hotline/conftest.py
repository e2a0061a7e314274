"""Fixtures shared by the page tests of several domains."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

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

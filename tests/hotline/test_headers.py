"""Security headers on every response, no inline script on any page, and the API documentation
served from this service (issue 10, item 6)."""

from __future__ import annotations

import re

from httpx import AsyncClient


async def test_every_response_carries_the_security_headers(client: AsyncClient, login) -> None:
    agent = await login("agent")
    for url, headers in (
        ("/login", {}),
        ("/public/progress", {}),
        ("/healthz", {}),
        ("/api/v1/tickets", agent.headers),
        ("/api/v1/tickets/nope", agent.headers),
        ("/no/such/page", {}),
    ):
        r = await client.get(url, headers=headers)
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
        assert "frame-ancestors 'none'" in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "same-origin"
        assert r.headers["cache-control"] == "no-store", url
        assert "strict-transport-security" not in r.headers  # plain HTTP here
    static = await client.get("/static/app.css")
    assert static.status_code == 200 and "no-store" not in static.headers.get("cache-control", "")


async def test_https_requests_get_hsts(app) -> None:
    import httpx

    async with AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://test") as secure:
        r = await secure.get("/login")
        assert r.headers["strict-transport-security"].startswith("max-age=")


async def test_no_page_has_an_inline_script(client: AsyncClient, login, page_for) -> None:
    pages = {
        "agent": ["/agent"],
        "supervisor": ["/dashboard", "/centre/model", "/centre/dispatch", "/centre/catalogue"],
    }
    inline = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.I)
    handler = re.compile(r"\son[a-z]+\s*=", re.I)
    for role, urls in pages.items():
        browser = await page_for(role)
        for url in urls:
            r = await browser.get(url)
            assert r.status_code == 200, url
            assert not inline.search(r.text), url
            assert not handler.search(r.text), url


async def test_the_api_documentation_is_served_without_a_cdn(client: AsyncClient) -> None:
    r = await client.get("/docs")
    assert r.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', r.text)
    assert sources and all(s.startswith("/") for s in sources)
    for s in sources:
        assert (await client.get(s)).status_code == 200, s
    assert "openapi.json" in r.text

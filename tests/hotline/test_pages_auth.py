"""Page sign-in: session cookie, CSRF-protected forms, logout, redirects by role."""

from __future__ import annotations

import re

from httpx import AsyncClient


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert match, html[:500]
    return match.group(1)


async def sign_in(client: AsyncClient, username: str, password: str = "password-123") -> str:
    """Sign in through the login form; returns the CSRF token of the signed-in pages."""
    form = await client.get("/login")
    r = await client.post("/login", data={"username": username, "password": password, "csrf": csrf_of(form.text)})
    assert r.status_code == 303, r.text
    page = await client.get(r.headers["location"])
    return csrf_of(page.text) if 'name="csrf"' in page.text else ""


async def test_pages_redirect_to_login_without_a_session(client: AsyncClient) -> None:
    r = await client.get("/")
    assert r.status_code == 303 and r.headers["location"] == "/login"
    login = await client.get("/login")
    assert login.status_code == 200 and "登录" in login.text and "hotline_csrf" in login.headers["set-cookie"]


async def test_login_requires_the_csrf_token(client: AsyncClient, login) -> None:
    agent = await login("agent")
    await client.get("/login")
    r = await client.post(
        "/login", data={"username": agent.actor.username, "password": "password-123", "csrf": "forged"}
    )
    assert r.status_code == 403 and "页面已过期" in r.text


async def test_login_sets_a_session_and_redirects_by_role(client: AsyncClient, login) -> None:
    unit = await login("unit_handler", unit="city.human_resources")
    form = await client.get("/login")
    r = await client.post(
        "/login", data={"username": unit.actor.username, "password": "password-123", "csrf": csrf_of(form.text)}
    )
    assert r.status_code == 303 and r.headers["location"] == "/unit"
    assert "hotline_session" in r.headers["set-cookie"] and "HttpOnly" in r.headers["set-cookie"]
    home = await client.get("/")
    assert home.headers["location"] == "/unit"


async def test_wrong_password_shows_a_chinese_error(client: AsyncClient, login) -> None:
    agent = await login("agent")
    form = await client.get("/login")
    r = await client.post(
        "/login", data={"username": agent.actor.username, "password": "nope", "csrf": csrf_of(form.text)}
    )
    assert r.status_code == 401 and "用户名或密码错误" in r.text


async def test_logout_needs_csrf_and_ends_the_session(client: AsyncClient, login) -> None:
    agent = await login("agent")
    form = await client.get("/login")
    await client.post(
        "/login", data={"username": agent.actor.username, "password": "password-123", "csrf": csrf_of(form.text)}
    )
    page = await client.get("/login")
    token = csrf_of(page.text)
    assert (await client.post("/logout", data={"csrf": "bad"})).status_code == 403
    out = await client.post("/logout", data={"csrf": token})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert (await client.get("/")).status_code == 303

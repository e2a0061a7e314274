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


async def test_logout_ends_the_session_on_the_server_for_every_copy_of_the_token(
    client: AsyncClient, login, settings
) -> None:
    """A copied cookie (it doubles as a bearer token) used to work for 12 hours after logout."""
    agent = await login("agent")
    form = await client.get("/login")
    await client.post(
        "/login", data={"username": agent.actor.username, "password": "password-123", "csrf": csrf_of(form.text)}
    )
    cookie = client.cookies.get("hotline_session")
    assert cookie
    bearer = {"Authorization": f"Bearer {cookie}"}
    assert (await client.get("/api/v1/auth/me", headers=bearer)).status_code == 200
    # a second token of the same user (another device)
    other = await client.post("/api/v1/auth/token", data={"username": agent.actor.username, "password": "password-123"})
    other_bearer = {"Authorization": f"Bearer {other.json()['access_token']}"}
    page = await client.get("/login")
    assert (await client.post("/logout", data={"csrf": csrf_of(page.text)})).status_code == 303
    assert (await client.get("/api/v1/auth/me", headers=bearer)).status_code == 401
    assert (await client.get("/api/v1/auth/me", headers=other_bearer)).status_code == 401
    client.cookies.set("hotline_session", cookie)  # the copied cookie, put back
    r = await client.get("/agent")
    assert r.status_code == 303 and r.headers["location"] == "/login"
    # signing in again works, with a fresh session
    fresh = await client.post("/api/v1/auth/token", data={"username": agent.actor.username, "password": "password-123"})
    again = {"Authorization": f"Bearer {fresh.json()['access_token']}"}
    assert (await client.get("/api/v1/auth/me", headers=again)).status_code == 200
    # and the API's own logout ends it too
    assert (await client.post("/api/v1/auth/logout", headers=again)).status_code == 204
    assert (await client.get("/api/v1/auth/me", headers=again)).status_code == 401


async def test_a_signed_token_whose_subject_is_not_an_id_is_a_401(client: AsyncClient, settings) -> None:
    import jwt

    for sub in ("admin", "9" * 30, "-1", ""):
        forged = jwt.encode({"sub": sub, "exp": 4102444800, "role": "admin"}, settings.secret_key, algorithm="HS256")
        r = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {forged}"})
        assert r.status_code == 401, (sub, r.text)
        client.cookies.set("hotline_session", forged)
        assert (await client.get("/agent")).status_code == 303
        client.cookies.clear()


async def test_the_session_cookie_is_secure_over_https(app, login) -> None:
    import httpx

    agent = await login("agent")
    async with AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://test") as secure:
        form = await secure.get("/login")
        r = await secure.post(
            "/login", data={"username": agent.actor.username, "password": "password-123", "csrf": csrf_of(form.text)}
        )
        cookie = next(v for k, v in r.headers.multi_items() if k == "set-cookie" and "hotline_session" in v)
        assert "secure" in cookie.lower() and "httponly" in cookie.lower()

"""The whole loop in a real browser (Debian chromium driven by Playwright), against a real server.

An agent logs a call and sees the live preview; the unit accepts and replies; the centre approves
the reply; the agent records the callback; the supervisor dashboard shows the KPI change and its
chart draws; the public lookup finds the ticket. Screenshots go to test-artifacts/ (git-ignored).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from hotline.db import make_engine, make_sessionmaker
from hotline.users import create_user
from tests.rollup import FORGET_KPI_ROLLUP
from tests.server import running_server

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
SECRET = "browser-test-secret-0123456789-abcdefgh"
BROWSER = os.environ.get("HOTLINE_BROWSER") or shutil.which("chromium")
PASSWORD = "password-123"

pytestmark = pytest.mark.skipif(
    not BROWSER, reason="chromium is not installed (.ci/run installs Debian's chromium for this test)"
)


async def make_users(db_url: str, tag: str) -> dict[str, str]:
    engine = make_engine(db_url)
    names = {
        "agent": (f"b-agent-{tag}", "agent", None),
        "unit": (f"b-hrss-{tag}", "unit_handler", "city.human_resources"),
        "centre": (f"b-centre-{tag}", "supervisor", None),
    }
    async with make_sessionmaker(engine)() as s:
        for username, role, unit in names.values():
            await create_user(s, username, role, PASSWORD, unit)
        await s.commit()
    await engine.dispose()
    return {k: v[0] for k, v in names.items()}


async def forget(db_url: str) -> None:
    """This test commits for real (the server is another process): remove what it wrote, so
    tests that count rows of the shared test database see none of it."""
    engine = make_engine(db_url)
    async with engine.begin() as conn:
        await conn.execute(
            text("DELETE FROM tickets WHERE created_by IN (SELECT id FROM users WHERE username LIKE 'b-%')")
        )
        for statement in FORGET_KPI_ROLLUP:  # refreshed from the dashboard
            await conn.execute(text(statement))
    await engine.dispose()


@pytest.fixture
def server(db_url: str) -> Iterator[str]:
    with running_server(db_url, SECRET) as base:
        yield base
    asyncio.run(forget(db_url))


def test_call_to_callback_to_dashboard_to_public_lookup(server: str, db_url: str) -> None:
    from playwright.sync_api import Page, expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    users = asyncio.run(make_users(db_url, uuid.uuid4().hex[:6]))
    phone = "13912345678"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=BROWSER,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
        )

        def signed_in(role: str) -> Page:
            context = browser.new_context(locale="zh-CN")
            context.set_default_timeout(60_000)  # a busy 2-core CI machine runs the server too
            page = context.new_page()
            page.goto(server + "/login")
            page.fill("input[name=username]", users[role])
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            return page

        # 1. The agent logs the call and sees the live routing preview.
        agent = signed_in("agent")
        expect(agent).to_have_url(server + "/agent")
        agent.fill("input[name='caller.name']", "测试市民")
        agent.fill("input[name='caller.phone']", phone)
        agent.select_option("select[name=kind]", "complaint")
        agent.fill("input[name=line]", "12333")
        agent.fill("textarea[name=content]", "养老金这个月还没有到账，已经超过一周，请帮忙查询原因。")
        expect(agent.locator("#preview")).to_contain_text("市人力资源社会保障局", timeout=15_000)
        agent.screenshot(path=str(ARTIFACTS / "1-agent-preview.png"), full_page=True)
        agent.click("button[name=submit][value=dispatch]")
        agent.wait_for_url("**/tickets/*")
        number = agent.url.split("?")[0].rstrip("/").split("/")[-1]
        expect(agent.locator("main")).to_contain_text("已派单")
        # what to tell the caller, and the next call one click (or Alt+X) away
        expect(agent.locator("#told-caller")).to_contain_text(number)
        agent.screenshot(path=str(ARTIFACTS / "1b-agent-saved.png"), full_page=True)

        # 2. The unit accepts and replies.
        unit = signed_in("unit")
        expect(unit).to_have_url(server + "/unit")
        expect(unit.locator("main")).to_contain_text(number)
        unit.goto(f"{server}/unit/tickets/{number}")
        with unit.expect_navigation():
            unit.click(f"form[action='/unit/tickets/{number}/accept'] button")
        unit.screenshot(path=str(ARTIFACTS / "2-unit-accepted.png"), full_page=True)
        expect(unit.locator("main")).to_contain_text("办理中")
        unit.fill(
            f"form[action='/unit/tickets/{number}/reply'] textarea[name=content]",
            "经核实，养老金因银行账户变更退回，已重新发放，预计三个工作日内到账，已电话告知。",
        )
        unit.select_option(f"form[action='/unit/tickets/{number}/reply'] select[name=outcome]", "resolved")
        with unit.expect_navigation():
            unit.click(f"form[action='/unit/tickets/{number}/reply'] button[type=submit]")
        expect(unit.locator("main")).to_contain_text("已答复")
        unit.screenshot(path=str(ARTIFACTS / "3-unit-replied.png"), full_page=True)

        # 3. The centre approves the reply, which puts it in the callback queue.
        centre = signed_in("centre")
        centre.goto(server + "/centre/replies")
        centre.click(f"form[action='/centre/replies/{number}'] button[value=approve]")
        expect(centre.locator("main")).not_to_contain_text(f"/centre/replies/{number}")

        # 4. The agent records the callback.
        agent.goto(server + "/agent/callbacks")
        form = agent.locator(f"form[action='/agent/callbacks/{number}']")
        form.locator("select[name=reached]").select_option("yes")
        form.locator("select[name=satisfaction]").select_option("satisfied")
        form.locator("select[name=resolution]").select_option("resolved")
        form.locator("button[type=submit]").click()
        agent.goto(f"{server}/tickets/{number}")
        expect(agent.locator("main")).to_contain_text("已办结")

        # 5. The supervisor refreshes the figures; the dashboard shows the callback and its chart draws.
        centre.goto(server + "/dashboard?period=month")
        with centre.expect_navigation():
            centre.click("form[action='/dashboard/refresh'] button")
        expect(centre.locator("#as-of")).to_contain_text("已刷新")
        satisfaction = centre.locator("[data-kpi=satisfaction_rate]")
        expect(satisfaction).to_contain_text("100.0%")
        expect(satisfaction).to_contain_text("样本：1 / 1")
        expect(centre.locator("[data-kpi=intake]")).to_contain_text("样本：1 件")
        expect(centre.locator("#trend-chart canvas")).to_have_count(1, timeout=15_000)
        centre.screenshot(path=str(ARTIFACTS / "4-dashboard.png"), full_page=True)

        # 6. The public finds the ticket by its number and the last four digits.
        public = browser.new_context(locale="zh-CN").new_page()
        public.goto(server + "/public/progress")
        public.fill("input[name=number]", number)
        public.fill("input[name=last_four]", phone[-4:])
        public.click("button[type=submit]")
        expect(public.locator("main")).to_contain_text("已办结")
        expect(public.locator("main")).not_to_contain_text(phone)
        public.screenshot(path=str(ARTIFACTS / "5-public-progress.png"), full_page=True)
        browser.close()


async def store_model(db_url: str, blob: bytes, version: str) -> None:
    engine = make_engine(db_url)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO dispatch_models (version, status, blob, data_digest, rulebook_version, catalogue_digest,"
                " n_examples, metrics, counts, created_by) VALUES (:v, 'current', :b, '', '', '', 0, '{}', '{}', 'test')"
            ),
            {"v": version, "b": blob},
        )
    await engine.dispose()


async def forget_model(db_url: str, version: str) -> None:
    engine = make_engine(db_url)
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM dispatch_models WHERE version = :v"), {"v": version})
    await engine.dispose()


def test_agent_console_alerts_an_emergency_and_picks_a_suggestion_by_key(
    db_url: str, dispatch_blob: bytes, request: pytest.FixtureRequest
) -> None:
    """With a current model: an emergency typed before 诉求类型 is chosen raises the red alert;
    Alt+1 puts the first suggestion into the category list."""
    from playwright.sync_api import expect, sync_playwright

    version = f"browser-{uuid.uuid4().hex[:6]}"
    asyncio.run(store_model(db_url, dispatch_blob, version))
    try:
        base = request.getfixturevalue("server")  # started after the model is current
        users = asyncio.run(make_users(db_url, uuid.uuid4().hex[:6]))
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=BROWSER,
                headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
            )
            context = browser.new_context(locale="zh-CN")
            context.set_default_timeout(60_000)
            agent = context.new_page()
            agent.goto(base + "/login")
            agent.fill("input[name=username]", users["agent"])
            agent.fill("input[name=password]", PASSWORD)
            agent.click("button[type=submit]")
            expect(agent).to_have_url(base + "/agent")
            agent.fill("textarea[name=content]", "家里燃气泄漏了，闻到很大煤气味，阀门关不上")
            alert = agent.locator("#emergency-alert")
            expect(alert).to_be_visible(timeout=15_000)
            expect(alert).to_contain_text("119")
            agent.screenshot(path=str(ARTIFACTS / "6-agent-emergency-alert.png"), full_page=True)

            agent.fill("textarea[name=content]", "小区物业费涨价了，业主都没同意，物业就直接按新标准收")
            first = agent.locator("button.suggestion").first
            expect(first).to_contain_text("城乡建设", timeout=15_000)
            expect(alert).to_have_count(0)
            chosen = first.get_attribute("data-category")
            agent.keyboard.press("Alt+1")
            expect(agent.locator("select#category")).to_have_value(chosen or "")
            expect(agent.locator("button.suggestion.chosen")).to_have_count(1, timeout=15_000)
            agent.screenshot(path=str(ARTIFACTS / "7-agent-suggestion-picked.png"), full_page=True)
            browser.close()
    finally:
        asyncio.run(forget_model(db_url, version))


def test_the_api_documentation_renders_offline_without_console_errors(server: str) -> None:
    """/docs: Swagger UI served by the service itself reads the OpenAPI 3.1 document (no CDN; no
    Content-Security-Policy violation)."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=BROWSER,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
        )
        page = browser.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        outside: list[str] = []
        page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(server) else None)
        page.goto(server + "/docs")
        expect(page.locator(".opblock-summary-path", has_text="/api/v1/tickets").first).to_be_visible(timeout=20_000)
        assert not page.locator("text=Unable to render this definition").count()
        browser.close()
    assert outside == [] and errors == []


def test_search_overview_and_public_pages_at_desktop_and_phone_width(server: str, db_url: str) -> None:
    """Issue 11: the search page, the centre's overview and the public pages at 1440 px and 390 px
    — found by words and by a phone written with dashes, no page wider than a phone's screen."""
    import httpx
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    users = asyncio.run(make_users(db_url, uuid.uuid4().hex[:6]))
    token = httpx.post(
        server + "/api/v1/auth/token", data={"username": users["agent"], "password": PASSWORD}, timeout=30
    ).json()["access_token"]
    body = {
        "caller": {"type": "citizen", "name": "测试市民", "phone": "13955556666"},
        "kind": "complaint",
        "content": "小区二次供水泵房噪音很大，晚上影响休息，希望尽快处理",
        "line": "12345",
    }
    r = httpx.post(server + "/api/v1/tickets", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert r.status_code == 201, r.text
    number = r.json()["number"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=BROWSER, headless=True, args=["--no-sandbox", "--disable-gpu"])
        for width, height in ((1440, 900), (390, 844)):
            context = browser.new_context(locale="zh-CN", viewport={"width": width, "height": height})
            context.set_default_timeout(60_000)
            page = context.new_page()
            page.goto(server + "/login")
            page.fill("input[name=username]", users["centre"])
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.goto(server + "/tickets")
            page.fill("input[name=q]", "泵房噪音")
            page.fill("input[name=phone]", "139-5555-6666")
            page.click("form.search button[type=submit]")
            expect(page.locator("main")).to_contain_text(number)
            expect(page.locator("main")).to_contain_text("共 1 件")
            page.screenshot(path=str(ARTIFACTS / f"6-search-{width}.png"), full_page=True)
            for path in ("/tickets", "/centre", f"/tickets/{number}"):
                page.goto(server + path)
                assert page.evaluate("document.scrollingElement.scrollWidth") <= width + 1, (path, width)
            page.goto(server + "/centre")
            expect(page.locator("#queues")).to_contain_text("待审核答复")
            page.screenshot(path=str(ARTIFACTS / f"7-centre-overview-{width}.png"), full_page=True)
            public = browser.new_context(locale="zh-CN", viewport={"width": width, "height": height}).new_page()
            for path, name in (("/public/disclosure", "8-disclosure"), ("/public/progress", "9-progress")):
                public.goto(server + path)
                assert public.evaluate("document.scrollingElement.scrollWidth") <= width + 1, (path, width)
                public.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
            context.close()
        browser.close()

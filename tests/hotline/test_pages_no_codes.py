"""People see names, never codes (issue 11, item 4): every page, as every role, with tickets in
many states, is crawled and fails on a code-looking token (``[a-z_]+\\.[a-z_]+``) or English error
text in what a person sees (script, style and hidden values aside)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from httpx import AsyncClient

from tests.hotline.test_pages_auth import sign_in
from tests.hotline.test_pages_unit import new_ticket

HRSS = "city.human_resources"
FUND = "city.housing_fund"
CODE = re.compile(r"[a-z_]+\.[a-z_]+")
ENGLISH = re.compile(r"Not Found|Method Not Allowed|Internal Server Error|Traceback|\bdetail\b|Unprocessable|Forbidden")
PAGES = {
    "agent": ["/", "/agent", "/agent/callbacks", "/tickets", "/tickets?view=callback", "/tickets?view=overdue"],
    "supervisor": [
        "/",
        "/tickets",
        "/tickets?view=pending_dispatch",
        "/tickets?view=reply_review",
        "/centre",
        "/centre/returns",
        "/centre/arbitration",
        "/centre/extensions",
        "/centre/replies",
        "/centre/merge",
        "/centre/supervision",
        "/centre/catalogue",
        "/centre/catalogue?q=物业",
        "/centre/dispatch",
        "/centre/model",
        "/dashboard",
        "/agent",
    ],
    "unit": ["/", "/unit", "/tickets", "/tickets?view=done", "/unit?overdue=1"],
    "arbitrator": ["/", "/centre/arbitration", "/tickets"],
    "admin": ["/", "/dashboard", "/centre"],
}
PUBLIC = ["/login", "/public/progress", "/public/disclosure", "/no/such/page", "/public/disclosure?month=2026-13"]


def visible_text(html: str) -> str:
    html = re.sub(r"<(script|style|datalist|template)\b.*?</\1>", " ", html, flags=re.S | re.I)
    html = re.sub(r"<[^>]+>", " ", html)
    html = html.replace("&nbsp;", " ")
    return re.sub(r"\s+", " ", html)


def problems(url: str, html: str) -> list[str]:
    text = visible_text(html)
    found = [
        f"{url}: code {m.group(0)!r} in …{text[max(0, m.start() - 30) : m.end() + 30]}…" for m in CODE.finditer(text)
    ]
    found += [f"{url}: English {m.group(0)!r}" for m in ENGLISH.finditer(text)]
    return found


@pytest.fixture
async def people(login) -> dict[str, Any]:
    return {
        # user names as people choose them (a generated one may itself look like a code)
        "agent": await login("agent", username="zuoxi01"),
        "supervisor": await login("supervisor", username="ducha01"),
        "unit": await login("unit_handler", unit=HRSS, username="renshe01"),
        "fund": await login("unit_handler", unit=FUND, username="gjj01"),
        "arbitrator": await login("arbitrator", username="bianban01"),
        "admin": await login("admin", username="guanli01"),
    }


async def make_tickets(client: AsyncClient, people: dict[str, Any]) -> list[str]:
    """Tickets in many states: dispatched with a place, accepted, replied, returned and
    re-dispatched, under supervision, not accepted, emergency."""
    agent, boss = people["agent"], people["supervisor"]
    out = [await new_ticket(client, agent)]
    placed = await new_ticket(
        client, agent, content="薛城区常庄街道某小区门口路灯坏了一个月", line="12345", kind="help"
    )
    out.append(placed)
    accepted = await new_ticket(client, agent)
    h = people["unit"].headers
    await client.post(f"/api/v1/tickets/{accepted}/accept", json={}, headers=h)
    replied = await new_ticket(client, agent)
    await client.post(f"/api/v1/tickets/{replied}/accept", json={}, headers=h)
    await client.post(
        f"/api/v1/tickets/{replied}/reply",
        json={
            "content": "经核实，养老金已于本月十日补发到账，已电话告知诉求人，诉求人表示认可。",
            "outcome": "resolved",
        },
        headers=h,
    )
    moved = await new_ticket(client, agent)
    await client.post(
        f"/api/v1/tickets/{moved}/return",
        json={"reason": "not_our_duty", "explanation": "公积金事项不属本局职责", "suggested_unit": FUND},
        headers=h,
    )
    await client.post(
        f"/api/v1/tickets/{moved}/return/decision",
        json={"decision": "approve", "new_unit": FUND},
        headers=boss.headers,
    )
    watched = await new_ticket(client, agent)
    await client.post(
        f"/api/v1/tickets/{watched}/supervision",
        json={"reason": "overdue", "content": "请尽快办理并答复", "reply_by": "2026-10-30"},
        headers=boss.headers,
    )
    out += [accepted, replied, moved, watched]
    refused = await new_ticket(client, agent, content="对法院的判决不服，要求改判", line="12345", kind="complaint")
    out.append(refused)
    return out


async def test_no_page_shows_a_code_or_english_error(client: AsyncClient, people) -> None:
    numbers = await make_tickets(client, people)
    found: list[str] = []
    crawled = 0
    for who, urls in PAGES.items():
        await sign_in(client, people[who].actor.username)
        pages = list(urls)
        if who in ("agent", "supervisor", "admin", "arbitrator"):
            pages += [f"/tickets/{n}" for n in numbers]
        if who == "unit":
            pages += [f"/unit/tickets/{n}" for n in numbers[:4]]
        pages += ["/no/such/page", "/centre/model" if who == "agent" else "/agent/nothing"]
        for url in pages:
            r = await client.get(url)
            assert r.status_code < 500, (who, url, r.status_code)
            if r.headers.get("content-type", "").startswith("text/html"):
                found += [f"{who} {p}" for p in problems(url, r.text)]
                crawled += 1
    # a refused form: its problems are named in Chinese
    csrf = await sign_in(client, people["agent"].actor.username)
    r = await client.post(
        "/agent/tickets",
        data={
            "csrf": csrf,
            "caller.type": "enterprise",
            "caller.phone": "13600001111",
            "caller.credit_code": "123",
            "kind": "complaint",
            "channel": "phone",
            "line": "12345",
            "content": "企业用电报装一直没人来",
        },
    )
    assert r.status_code == 422, r.status_code
    found += [f"agent form {p}" for p in problems("/agent (POST)", r.text)]
    client.cookies.clear()
    for url in PUBLIC:
        r = await client.get(url)
        found += [f"anonymous {p}" for p in problems(url, r.text)]
        crawled += 1
    assert crawled >= 50
    assert found == [], "\n".join(found)


async def test_an_unknown_page_is_a_chinese_404_with_the_signed_in_header(client: AsyncClient, people) -> None:
    await sign_in(client, people["supervisor"].actor.username)
    r = await client.get("/no/such/page")
    assert r.status_code == 404 and "未找到" in r.text
    assert "ducha01" in r.text and 'action="/logout"' in r.text and 'href="/tickets"' in r.text
    client.cookies.clear()
    r = await client.get("/no/such/page")
    assert r.status_code == 404 and "ducha01" not in r.text and "/public/progress" in r.text

"""Centre pages on real PostgreSQL: who may see them, and each review done through its form."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.models import TicketReturn
from tests.hotline.conftest import PageFor
from tests.hotline.test_pages_auth import csrf_of

HRSS = "city.human_resources"
FUND = "city.housing_fund"
GOOD_REPLY = "经核实，已联系诉求人并补发拖欠的养老金，本月底前到账，已告知查询方式。"
PAGES = [
    "/centre",
    "/centre/returns",
    "/centre/arbitration",
    "/centre/extensions",
    "/centre/replies",
    "/centre/merge",
    "/centre/supervision",
]


@pytest.fixture
async def people(login) -> dict[str, Any]:
    return {
        "agent": await login("agent"),
        "centre": await login("supervisor"),
        "hrss": await login("unit_handler", unit=HRSS),
        "fund": await login("unit_handler", unit=FUND),
    }


async def new_ticket(client: AsyncClient, agent: Any, content: str = "养老金未按时发放") -> str:
    body = {
        "caller": {"type": "citizen", "name": "赵六", "phone": "13600001111"},
        "kind": "complaint",
        "content": content,
        "line": "12333",
    }
    r = await client.post("/api/v1/tickets", json=body, headers=agent.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["number"])


async def api(client: AsyncClient, who: Any, path: str, body: dict[str, Any] | None = None) -> Any:
    r = await client.post(path, json=body or {}, headers=who.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def returned_ticket(
    client: AsyncClient, people: dict[str, Any], explanation: str = "公积金事项不属本局职责"
) -> str:
    number = await new_ticket(client, people["agent"])
    await api(
        client,
        people["hrss"],
        f"/api/v1/tickets/{number}/return",
        {"reason": "not_our_duty", "explanation": explanation, "suggested_unit": FUND},
    )
    return number


async def detail(client: AsyncClient, who: Any, number: str) -> dict[str, Any]:
    r = await client.get(f"/api/v1/tickets/{number}", headers=who.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


# ------------------------------------------------------------------ who sees what


@pytest.mark.parametrize("role", ["supervisor", "admin"])
async def test_every_centre_page_renders_for_the_centre(page_for: PageFor, role: str) -> None:
    browser = await page_for(role)
    for path in PAGES:
        r = await browser.get(path)
        assert r.status_code == 200, (path, r.text[:300])
        assert "中心审核" in r.text


@pytest.mark.parametrize(("role", "unit"), [("agent", None), ("unit_handler", HRSS)])
async def test_agents_and_units_get_the_forbidden_page(page_for: PageFor, role: str, unit: str | None) -> None:
    browser = await page_for(role, unit)
    for path in PAGES:
        r = await browser.get(path)
        assert r.status_code == 403, path
        assert "无权访问" in r.text


async def test_the_arbitrator_sees_only_the_arbitration_part(page_for: PageFor) -> None:
    browser = await page_for("arbitrator")
    home = await browser.get("/centre")
    assert home.status_code == 200 and "职责争议裁定" in home.text
    assert "/centre/returns" not in home.text and "/centre/merge" not in home.text
    assert (await browser.get("/centre/arbitration")).status_code == 200
    for path in PAGES[1:]:
        if path != "/centre/arbitration":
            assert (await browser.get(path)).status_code == 403, path


async def test_pages_without_a_session_redirect_to_login(client: AsyncClient) -> None:
    r = await client.get("/centre/returns")
    assert r.status_code == 303 and r.headers["location"] == "/login"


# ------------------------------------------------------------------ returns and arbitration


async def test_a_return_approved_through_the_page_redispatches(client: AsyncClient, people, page_for) -> None:
    number = await returned_ticket(client, people)
    browser = await page_for("supervisor")
    page = await browser.get("/centre/returns")
    assert number in page.text and "公积金事项不属本局职责" in page.text
    assert f'<option value="{FUND}" selected>' in page.text  # the unit's suggestion is preselected
    r = await browser.post(
        f"/centre/returns/{number}", data={"decision": "approve", "new_unit": FUND, "csrf": csrf_of(page.text)}
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/centre/returns?ok=return_approved")
    after = await browser.get(r.headers["location"])
    assert f"工单 {number}：已同意退单" in after.text
    moved = await detail(client, people["fund"], number)
    assert moved["lead_unit"] == FUND and moved["status"] == "dispatched"


async def test_approving_without_a_unit_shows_the_error_and_writes_nothing(
    client: AsyncClient, people, page_for, session: AsyncSession
) -> None:
    number = await returned_ticket(client, people)
    browser = await page_for("supervisor")
    page = await browser.get("/centre/returns")
    r = await browser.post(
        f"/centre/returns/{number}",
        data={"decision": "approve", "new_unit": "", "note": "x", "csrf": csrf_of(page.text)},
    )
    assert r.status_code == 422 and "同意退单须指定改派的承办单位" in r.text and number in r.text
    ret = (await session.execute(select(TicketReturn).order_by(TicketReturn.id.desc()))).scalars().first()
    assert ret is not None and ret.state == "pending" and ret.decided_at is None and ret.note == ""


async def test_a_rejected_return_keeps_the_unit(client: AsyncClient, people, page_for) -> None:
    number = await returned_ticket(client, people)
    browser = await page_for("supervisor")
    page = await browser.get("/centre/returns")
    r = await browser.post(
        f"/centre/returns/{number}", data={"decision": "reject", "note": "属本局职责", "csrf": csrf_of(page.text)}
    )
    assert r.status_code == 303
    kept = await detail(client, people["hrss"], number)
    assert kept["lead_unit"] == HRSS and kept["status"] == "accepted"


async def test_arbitration_through_the_page_is_final(client: AsyncClient, people, page_for) -> None:
    number = await returned_ticket(client, people)
    await api(client, people["centre"], f"/api/v1/tickets/{number}/return/decision", {"decision": "arbitrate"})
    supervisor = await page_for("supervisor")
    view = await supervisor.get("/centre/arbitration")
    assert number in view.text and "裁定（终局）" not in view.text  # supervisors only watch
    arbiter = await page_for("arbitrator")
    page = await arbiter.get("/centre/arbitration")
    assert number in page.text and "裁定（终局）" in page.text
    empty = await arbiter.post(
        f"/centre/arbitration/{number}", data={"unit": FUND, "note": " ", "csrf": csrf_of(page.text)}
    )
    assert empty.status_code == 422 and "裁定须写明依据" in empty.text
    r = await arbiter.post(
        f"/centre/arbitration/{number}", data={"unit": FUND, "note": "三定方案明确", "csrf": csrf_of(page.text)}
    )
    assert r.status_code == 303
    assert (await detail(client, people["fund"], number))["lead_unit"] == FUND
    assert (
        await supervisor.post(
            f"/centre/arbitration/{number}", data={"unit": HRSS, "note": "x", "csrf": csrf_of(view.text)}
        )
    ).status_code == 403


async def test_a_forged_csrf_token_is_refused(client: AsyncClient, people, page_for, session: AsyncSession) -> None:
    number = await returned_ticket(client, people)
    browser = await page_for("supervisor")
    await browser.get("/centre/returns")
    r = await browser.post(f"/centre/returns/{number}", data={"decision": "reject", "csrf": "0" * 40})
    assert r.status_code == 403 and "页面已过期" in r.text
    missing = await browser.post(f"/centre/returns/{number}", data={"decision": "reject"})
    assert missing.status_code == 403
    ret = (await session.execute(select(TicketReturn).order_by(TicketReturn.id.desc()))).scalars().first()
    assert ret is not None and ret.state == "pending"


async def test_submitted_text_is_escaped(client: AsyncClient, people, page_for) -> None:
    await returned_ticket(client, people, explanation="<script>alert('退单')</script>")
    browser = await page_for("supervisor")
    page = await browser.get("/centre/returns")
    assert "<script>alert(" not in page.text and "&lt;script&gt;alert(" in page.text


# ------------------------------------------------------------------ extensions


async def test_an_extension_approved_through_the_page_moves_the_due_date(client: AsyncClient, people, page_for) -> None:
    number = await new_ticket(client, people["agent"])
    await api(client, people["hrss"], f"/api/v1/tickets/{number}/accept")
    await api(
        client, people["hrss"], f"/api/v1/tickets/{number}/extension", {"working_days": 3, "reason": "需现场核查"}
    )
    assert (await detail(client, people["hrss"], number))["deadline"]["due_date"] == "2026-10-10"
    browser = await page_for("supervisor")
    page = await browser.get("/centre/extensions")
    assert number in page.text and "需现场核查" in page.text
    bad = await browser.post(f"/centre/extensions/{number}", data={"decision": "maybe", "csrf": csrf_of(page.text)})
    assert bad.status_code == 422 and "请选择审核意见" in bad.text
    r = await browser.post(
        f"/centre/extensions/{number}", data={"decision": "approve", "note": "同意", "csrf": csrf_of(page.text)}
    )
    assert r.status_code == 303 and "extension_approved" in r.headers["location"]
    # From the current due date Sat 10-10 (make-up working day): Mon 10-12, 10-13, 10-14.
    assert (await detail(client, people["hrss"], number))["deadline"]["due_date"] == "2026-10-14"
    assert number not in (await browser.get("/centre/extensions")).text


# ------------------------------------------------------------------ replies


async def replied_ticket(client: AsyncClient, people: dict[str, Any]) -> str:
    number = await new_ticket(client, people["agent"])
    await api(client, people["hrss"], f"/api/v1/tickets/{number}/accept")
    await api(client, people["hrss"], f"/api/v1/tickets/{number}/reply", {"content": GOOD_REPLY, "outcome": "resolved"})
    return number


async def test_a_reply_approved_through_the_page_goes_to_callback(client: AsyncClient, people, page_for) -> None:
    number = await replied_ticket(client, people)
    browser = await page_for("supervisor")
    page = await browser.get("/centre/replies")
    assert number in page.text and "投诉" in page.text and f'href="/tickets/{number}"' in page.text
    assert GOOD_REPLY in page.text and "已解决" in page.text and "按时" in page.text  # the reply itself
    r = await browser.post(f"/centre/replies/{number}", data={"decision": "approve", "csrf": csrf_of(page.text)})
    assert r.status_code == 303
    assert (await detail(client, people["hrss"], number))["status"] == "callback_pending"


async def test_a_reply_is_sent_back_only_with_a_reason(client: AsyncClient, people, page_for) -> None:
    number = await replied_ticket(client, people)
    browser = await page_for("supervisor")
    token = csrf_of((await browser.get("/centre/replies")).text)
    bare = await browser.post(f"/centre/replies/{number}", data={"decision": "reject", "csrf": token})
    assert bare.status_code == 422 and "退回答复须写明不合格的理由" in bare.text
    assert (await detail(client, people["hrss"], number))["status"] == "replied"
    r = await browser.post(
        f"/centre/replies/{number}", data={"decision": "reject", "note": "未写明依据", "csrf": token}
    )
    assert r.status_code == 303
    assert (await detail(client, people["hrss"], number))["status"] == "accepted"


# ------------------------------------------------------------------ merge and supervision


async def test_merge_through_the_page(client: AsyncClient, people, page_for) -> None:
    primary = await new_ticket(client, people["agent"])
    second = await new_ticket(client, people["agent"])
    browser = await page_for("supervisor")
    token = csrf_of((await browser.get("/centre/merge")).text)
    empty = await browser.post("/centre/merge", data={"primary": primary, "secondaries": " ", "csrf": token})
    assert empty.status_code == 422 and "被并工单编号" in empty.text
    r = await browser.post("/centre/merge", data={"primary": primary, "secondaries": f"{second}，", "csrf": token})
    assert r.status_code == 303 and "merged" in r.headers["location"]
    assert (await detail(client, people["hrss"], second))["status"] == "merged"


async def test_a_supervision_order_issued_through_the_page_is_listed_per_unit(
    client: AsyncClient, people, page_for
) -> None:
    number = await new_ticket(client, people["agent"])
    browser = await page_for("supervisor")
    page = await browser.get("/centre/supervision")
    assert "超期未办" in page.text  # reasons come from the rulebook
    form = {
        "number": number,
        "reason": "overdue",
        "content": "请加快办理",
        "reply_by": "2026-09-01",
        "csrf": csrf_of(page.text),
    }
    past = await browser.post("/centre/supervision", data=form)
    assert past.status_code == 422 and "答复期限不能早于今天" in past.text and "请加快办理" in past.text
    bad_date = await browser.post("/centre/supervision", data={**form, "reply_by": "明天"})
    assert bad_date.status_code == 422 and "日期格式不正确" in bad_date.text
    # a mistyped number comes back with what was typed, not an error page
    unknown = await browser.post(
        "/centre/supervision",
        data={**form, "number": "999", "reply_by": "2026-10-09", "content": "请于本周内办结并书面回复"},
    )
    assert unknown.status_code == 409 and "工单不存在" in unknown.text and "请于本周内办结并书面回复" in unknown.text
    r = await browser.post("/centre/supervision", data={**form, "reply_by": "2026-10-09"})
    assert r.status_code == 303
    listing = await browser.get("/centre/supervision?state=open")
    assert number in listing.text and "请加快办理" in listing.text and "市人力资源社会保障局" in listing.text

"""Agent pages on real PostgreSQL: the new-call form, its live routing preview, intake through the
form (idempotent), the ticket detail with its timeline, and the callback queue."""

from __future__ import annotations

import re
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.models import Ticket
from tests.hotline.test_pages_auth import sign_in

HRSS = "city.human_resources"
FUND = "city.housing_fund"
GOOD_REPLY = "经核实，已联系诉求人并补发拖欠的养老金，本月底前到账，已告知查询方式。"


@pytest.fixture
async def people(login) -> dict[str, Any]:
    return {
        "agent": await login("agent"),
        "centre": await login("supervisor"),
        "hrss": await login("unit_handler", unit=HRSS),
        "fund": await login("unit_handler", unit=FUND),
    }


def idempotency_key_of(html: str) -> str:
    match = re.search(r'name="idempotency_key" value="([0-9a-f]+)"', html)
    assert match, html[:500]
    return match.group(1)


def call(csrf: str, key: str = "", **fields: str) -> dict[str, str]:
    form = {
        "csrf": csrf,
        "idempotency_key": key,
        "channel": "phone",
        "line": "12345",
        "caller.type": "citizen",
        "caller.name": "赵六",
        "caller.phone": "13600001111",
        "kind": "complaint",
        "content": "养老金未按时发放",
        "submit": "dispatch",
    }
    form.update(fields)
    return form


async def agent_console(client: AsyncClient, agent: Any) -> tuple[str, str]:
    """Sign in as the agent; returns the console's CSRF token and idempotency key."""
    csrf = await sign_in(client, agent.actor.username)
    page = await client.get("/agent")
    return csrf, idempotency_key_of(page.text)


async def ticket_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Ticket)) or 0)


# ------------------------------------------------------------------ roles


async def test_agent_console_renders_for_centre_roles(client: AsyncClient, people, login) -> None:
    await sign_in(client, people["agent"].actor.username)
    page = await client.get("/agent")
    assert page.status_code == 200
    assert "新来电受理" in page.text and 'hx-post="/agent/preview"' in page.text
    assert "autofocus" in page.text and 'list="merger-lines"' in page.text and 'value="12301"' in page.text
    assert (await client.get("/agent/callbacks")).status_code == 200
    await sign_in(client, people["centre"].actor.username)
    assert (await client.get("/agent")).status_code == 200


async def test_unit_handler_gets_the_403_page_on_agent_pages(client: AsyncClient, people) -> None:
    await sign_in(client, people["hrss"].actor.username)
    for path in ("/agent", "/agent/callbacks"):
        r = await client.get(path)
        assert r.status_code == 403 and "无权访问" in r.text, path


async def test_agent_pages_need_a_session(client: AsyncClient) -> None:
    r = await client.get("/agent")
    assert r.status_code == 303 and r.headers["location"] == "/login"


# ------------------------------------------------------------------ validation and CSRF


async def test_new_call_form_shows_chinese_errors_next_to_fields(
    client: AsyncClient, people, session: AsyncSession
) -> None:
    csrf, key = await agent_console(client, people["agent"])
    before = await ticket_count(session)
    r = await client.post("/agent/tickets", data=call(csrf, key, content="  ", **{"caller.phone": "123"}))
    assert r.status_code == 422
    assert "诉求内容不能为空" in r.text
    assert "电话号码格式不正确" in r.text
    assert 'aria-invalid="true"' in r.text
    assert f'value="{key}"' in r.text  # the same call keeps its idempotency key
    assert await ticket_count(session) == before


async def test_enterprise_without_name_and_missing_kind_are_explained(client: AsyncClient, people) -> None:
    csrf, key = await agent_console(client, people["agent"])
    r = await client.post("/agent/tickets", data=call(csrf, key, kind="", **{"caller.type": "enterprise"}))
    assert r.status_code == 422
    assert "请选择诉求类型" in r.text


async def test_unknown_district_is_refused_with_the_rulebook_message(client: AsyncClient, people) -> None:
    csrf, key = await agent_console(client, people["agent"])
    r = await client.post("/agent/tickets", data=call(csrf, key, **{"area.district": "火星区"}))
    assert r.status_code == 422 and "未知的区（市）：火星区" in r.text


async def test_posts_without_or_with_a_forged_csrf_token_are_refused(
    client: AsyncClient, people, session: AsyncSession
) -> None:
    csrf, key = await agent_console(client, people["agent"])
    before = await ticket_count(session)
    missing = call(csrf, key)
    del missing["csrf"]
    assert (await client.post("/agent/tickets", data=missing)).status_code == 403
    forged = await client.post("/agent/tickets", data=call("0" * 40, key))
    assert forged.status_code == 403 and "页面已过期" in forged.text
    assert (await client.post("/agent/preview", data=call("forged", key))).status_code == 403
    assert (await client.post("/agent/callbacks/20260928000001", data={"csrf": "forged"})).status_code == 403
    assert await ticket_count(session) == before


async def test_htmx_preview_may_carry_the_token_in_its_header(client: AsyncClient, people) -> None:
    csrf, key = await agent_console(client, people["agent"])
    body = call("", key)
    del body["csrf"]
    r = await client.post("/agent/preview", data=body, headers={"X-CSRF-Token": csrf, "HX-Request": "true"})
    assert r.status_code == 200 and "市人力资源社会保障局" in r.text


# ------------------------------------------------------------------ preview


async def test_preview_shows_unit_rule_explanation_and_deadline(client: AsyncClient, people) -> None:
    csrf, key = await agent_console(client, people["agent"])
    r = await client.post("/agent/preview", data=call(csrf, key))
    assert r.status_code == 200
    assert "派单办理" in r.text and "市人力资源社会保障局" in r.text
    assert "由行业主管部门市人力资源社会保障局办理" in r.text
    # Monday 2026-09-28: 5 working days skip the National Day holidays (10-01..07), 10-10 is a make-up day.
    assert "5个工作日" in r.text and "24:00" in r.text
    enterprise = await client.post(
        "/agent/preview",
        data=call(csrf, key, **{"caller.type": "enterprise", "caller.enterprise_name": "枣庄某某机械有限公司"}),
    )
    assert "10个工作日" in enterprise.text


async def test_preview_of_a_territorial_matter_names_the_town_sub_centre(client: AsyncClient, people) -> None:
    csrf, key = await agent_console(client, people["agent"])
    r = await client.post(
        "/agent/preview", data=call(csrf, key, content="路灯坏了", **{"area.district": "山亭区", "area.town": "店子镇"})
    )
    assert "店子镇群众诉求办理分中心" in r.text and "属地管理" in r.text


async def test_preview_shows_the_rulebook_message_for_an_unknown_district(client: AsyncClient, people) -> None:
    csrf, key = await agent_console(client, people["agent"])
    r = await client.post("/agent/preview", data=call(csrf, key, **{"area.district": "火星区"}))
    assert r.status_code == 200 and "未知的区（市）：火星区" in r.text


async def test_preview_of_an_empty_form_asks_for_the_content(client: AsyncClient, people) -> None:
    csrf, key = await agent_console(client, people["agent"])
    r = await client.post("/agent/preview", data=call(csrf, key, content=""))
    assert r.status_code == 200 and "请输入诉求内容" in r.text


async def test_preview_warns_of_an_open_ticket_that_reads_alike(client: AsyncClient, people) -> None:
    """疑似重复 weighs the content and the place (issue 11, item 2): the same caller asking about
    something else is not a repeat, it is the caller's history."""
    csrf, key = await agent_console(client, people["agent"])
    first = await client.post("/agent/tickets", data=call(csrf, key, address="光明路18号"))
    number = first.headers["location"].split("?")[0].rsplit("/", 1)[1]
    same_phone = await client.post("/agent/preview", data=call(csrf, "x", content="我的养老金还没有按时发放"))
    assert "疑似重复" in same_phone.text and number in same_phone.text and "同一来电号码" in same_phone.text
    assert "内容相近" in same_phone.text and f"/agent/tickets/{number}/repeat" in same_phone.text
    other_matter = await client.post("/agent/preview", data=call(csrf, "x", content="想问一下户口迁移需要带什么材料"))
    assert "疑似重复" not in other_matter.text
    assert "来电人历史工单（共1件）" in other_matter.text and number in other_matter.text
    same_place = await client.post(
        "/agent/preview",
        data=call(csrf, "x", address="光明路18号", content="养老金发放的事情", **{"caller.phone": "13900002222"}),
    )
    assert number in same_place.text and "同一地址" in same_place.text
    # the history shows as soon as the phone is typed, before 诉求类型 is chosen
    early = await client.post("/agent/preview", data=call(csrf, "x", kind="", content="想问问户口的事"))
    assert "来电人历史工单（共1件）" in early.text
    # a stock phrase shared by two unrelated requests does not make them alike
    stock = await client.post("/agent/preview", data=call(csrf, "x", content="楼上漏水，物业不管，希望电话回复"))
    assert "疑似重复" not in stock.text
    stranger = await client.post("/agent/preview", data=call(csrf, "x", **{"caller.phone": "13900002222"}))
    assert "来电人历史工单" not in stranger.text
    assert "疑似重复" not in stranger.text  # the same words from another caller, no place in common


async def test_one_click_records_a_repeat_call(client: AsyncClient, people) -> None:
    csrf, key = await agent_console(client, people["agent"])
    first = await client.post("/agent/tickets", data=call(csrf, key))
    number = first.headers["location"].split("?")[0].rsplit("/", 1)[1]
    r = await client.post(f"/agent/tickets/{number}/repeat", data=call(csrf, "y", content="养老金还是没有发，再催一下"))
    assert r.status_code == 303 and r.headers["location"] == f"/tickets/{number}?done=repeat"
    page = await client.get(r.headers["location"])
    assert "已记为该工单的重复来电" in page.text and "重复来电" in page.text
    merged = await client.get(f"/api/v1/tickets/{number}/merged", headers=people["agent"].headers)
    assert merged.status_code == 200 and merged.json()
    r = await client.post("/agent/tickets/209901010000001/repeat", data=call(csrf, "z"))
    assert r.status_code == 409 and "工单不存在" in r.text  # shown on the console, the form kept
    assert 'value="养老金未按时发放"' in r.text or "养老金未按时发放" in r.text


# ------------------------------------------------------------------ intake


async def test_double_post_with_one_form_key_creates_one_ticket(
    client: AsyncClient, people, session: AsyncSession
) -> None:
    csrf, key = await agent_console(client, people["agent"])
    before = await ticket_count(session)
    first = await client.post("/agent/tickets", data=call(csrf, key))
    second = await client.post("/agent/tickets", data=call(csrf, key))
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert first.headers["location"].startswith("/tickets/2026092")
    told = await client.get(first.headers["location"])
    number = first.headers["location"].split("?")[0].rsplit("/", 1)[1]
    assert "请告知来电人" in told.text and f"工单编号 <strong>{number}</strong>" in told.text
    assert "24:00前答复您" in told.text and 'href="/agent" accesskey="x"' in told.text
    assert await ticket_count(session) == before + 1
    detail = await client.get(first.headers["location"])
    assert detail.status_code == 200 and "已派单" in detail.text


async def test_a_new_form_render_gets_a_new_key(client: AsyncClient, people) -> None:
    _, key = await agent_console(client, people["agent"])
    again = idempotency_key_of((await client.get("/agent")).text)
    assert key != again


async def test_direct_answer_button_requires_the_answer(client: AsyncClient, people) -> None:
    csrf, key = await agent_console(client, people["agent"])
    consult = {"kind": "consultation", "content": "社保卡在哪里补办", "submit": "answer"}
    missing = await client.post("/agent/tickets", data=call(csrf, key, **consult))
    assert missing.status_code == 422 and "直接答复须填写答复内容" in missing.text
    done = await client.post(
        "/agent/tickets", data=call(csrf, key, answer="携带身份证到就近社保服务网点办理", **consult)
    )
    assert done.status_code == 303
    detail = await client.get(done.headers["location"])
    assert "已直接答复" in detail.text and "携带身份证到就近社保服务网点办理" in detail.text


async def test_the_main_button_dispatches_even_with_an_answer_typed(client: AsyncClient, people) -> None:
    csrf, key = await agent_console(client, people["agent"])
    r = await client.post(
        "/agent/tickets", data=call(csrf, key, kind="consultation", content="养老金怎么查询", answer="草稿")
    )
    detail = await client.get(r.headers["location"])
    assert "已派单" in detail.text


# ------------------------------------------------------------------ detail


async def test_ticket_content_is_shown_inert(client: AsyncClient, people) -> None:
    csrf, key = await agent_console(client, people["agent"])
    r = await client.post("/agent/tickets", data=call(csrf, key, content="<script>alert(1)</script>养老金未发"))
    detail = await client.get(r.headers["location"])
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in detail.text
    assert "<script>alert" not in detail.text


async def test_detail_shows_routing_caller_and_the_timeline_in_chinese(client: AsyncClient, people) -> None:
    csrf, key = await agent_console(client, people["agent"])
    r = await client.post("/agent/tickets", data=call(csrf, key))
    detail = await client.get(r.headers["location"])
    text = detail.text
    assert "受理登记" in text and "新建 → 已派单" in text and ">intake<" not in text
    assert "2026-09-28 10:00" in text  # local time (the clock is 02:00 UTC)
    assert "由行业主管部门市人力资源社会保障局办理" in text
    assert "13600001111" in text  # agents see the caller unmasked (audited by the service)
    assert "办理时限" in text and "24:00" in text


async def test_unit_handlers_see_only_their_units_tickets(client: AsyncClient, people) -> None:
    csrf, key = await agent_console(client, people["agent"])
    r = await client.post("/agent/tickets", data=call(csrf, key))
    path = r.headers["location"]
    await sign_in(client, people["fund"].actor.username)
    other = await client.get(path)
    assert other.status_code == 404 and "工单不存在" in other.text
    await sign_in(client, people["hrss"].actor.username)
    own = await client.get(path)
    assert own.status_code == 200 and "13600001111" not in own.text  # masked for the unit


# ------------------------------------------------------------------ callbacks


async def api(client: AsyncClient, who: Any, path: str, body: dict[str, Any] | None = None) -> Any:
    r = await client.post(path, json=body or {}, headers=who.headers)
    assert r.status_code in (200, 201), r.text
    return r.json()


async def awaiting_callback(client: AsyncClient, people: dict[str, Any]) -> str:
    body = {
        "caller": {"type": "citizen", "name": "赵六", "phone": "13600001111"},
        "kind": "complaint",
        "content": "养老金未按时发放",
        "line": "12333",
    }
    number = str((await api(client, people["agent"], "/api/v1/tickets", body))["number"])
    await api(client, people["hrss"], f"/api/v1/tickets/{number}/accept")
    await api(client, people["hrss"], f"/api/v1/tickets/{number}/reply", {"content": GOOD_REPLY, "outcome": "resolved"})
    await api(client, people["centre"], f"/api/v1/tickets/{number}/reply/decision", {"approve": True})
    return number


async def test_callback_queue_lists_the_phone_and_records_an_evaluation(client: AsyncClient, people) -> None:
    number = await awaiting_callback(client, people)
    csrf = await sign_in(client, people["agent"].actor.username)
    page = await client.get("/agent/callbacks")
    assert page.status_code == 200 and number in page.text and "13600001111" in page.text
    assert f'action="/agent/callbacks/{number}"' in page.text

    incomplete = await client.post(f"/agent/callbacks/{number}", data={"csrf": csrf, "reached": "yes"})
    assert incomplete.status_code == 422 and "回访接通时必须填写满意度" in incomplete.text

    unchosen = await client.post(f"/agent/callbacks/{number}", data={"csrf": csrf, "reached": ""})
    assert unchosen.status_code == 422 and "请选择是否接通" in unchosen.text

    done = await client.post(
        f"/agent/callbacks/{number}",
        data={"csrf": csrf, "reached": "yes", "satisfaction": "satisfied", "resolution": "resolved", "note": ""},
    )
    assert done.status_code == 303 and done.headers["location"] == f"/agent/callbacks?done={number}"
    after = await client.get(done.headers["location"])
    assert "回访结果已登记" in after.text and f'action="/agent/callbacks/{number}"' not in after.text
    detail = await client.get(f"/tickets/{number}")
    assert "已办结" in detail.text


async def test_a_callback_not_reached_counts_an_attempt(client: AsyncClient, people) -> None:
    number = await awaiting_callback(client, people)
    csrf = await sign_in(client, people["agent"].actor.username)
    r = await client.post(f"/agent/callbacks/{number}", data={"csrf": csrf, "reached": "no"})
    assert r.status_code == 303
    page = await client.get("/agent/callbacks")
    assert "已回访1次未接通" in page.text


async def test_after_saving_a_call_not_accepted_the_agent_reads_the_script(client: AsyncClient, people) -> None:
    csrf, key = await agent_console(client, people["agent"])
    r = await client.post("/agent/tickets", data=call(csrf, key, content="法院判决不服，想再起诉，要求改判"))
    assert r.status_code == 303
    page = await client.get(r.headers["location"])
    assert "请告知来电人" in page.text and "人民法院" in page.text and "不予受理" in page.text

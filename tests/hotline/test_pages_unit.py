"""Unit workbench pages on real PostgreSQL: the queue with countdowns and markers, and the actions
on one ticket (签收、答复、退单、延期、下派、子任务答复) with their Chinese refusals."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from httpx import AsyncClient

from tests.hotline.test_pages_auth import sign_in

HRSS = "city.human_resources"
FUND = "city.housing_fund"
SHANTING = "district.shanting"
DIANZI = "town.shanting.dianzi"
GOOD_REPLY = "经核实，已联系诉求人并补发拖欠的养老金，本月底前到账，已告知查询方式。"


async def new_ticket(client: AsyncClient, agent: Any, **kw: Any) -> str:
    body: dict[str, Any] = {
        "caller": {"type": "citizen", "name": "赵六", "phone": "13600001111"},
        "kind": "complaint",
        "content": "养老金未按时发放",
        "line": "12333",
    }
    body.update(kw)
    r = await client.post("/api/v1/tickets", json=body, headers=agent.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["number"])


async def test_workbench_renders_for_unit_handlers_only(client: AsyncClient, people) -> None:
    number = await new_ticket(client, people["agent"])
    await sign_in(client, people["hrss"].actor.username)
    page = await client.get("/unit")
    assert page.status_code == 200 and "本单位待办" in page.text and number in page.text
    assert "剩" in page.text and "个工作日" in page.text and "24:00前" in page.text
    await sign_in(client, people["agent"].actor.username)
    for path in ("/unit", f"/unit/tickets/{number}"):
        r = await client.get(path)
        assert r.status_code == 403 and "无权访问" in r.text, path


async def test_another_units_ticket_is_not_found(client: AsyncClient, people) -> None:
    number = await new_ticket(client, people["agent"])
    csrf = await sign_in(client, people["fund"].actor.username)
    assert number not in (await client.get("/unit")).text
    r = await client.get(f"/unit/tickets/{number}")
    assert r.status_code == 404 and "工单不存在" in r.text
    refused = await client.post(f"/unit/tickets/{number}/accept", data={"csrf": csrf})
    assert refused.status_code == 404


async def test_unit_actions_need_the_csrf_token(client: AsyncClient, people) -> None:
    number = await new_ticket(client, people["agent"])
    await sign_in(client, people["hrss"].actor.username)
    assert (await client.post(f"/unit/tickets/{number}/accept", data={})).status_code == 403
    assert (await client.post(f"/unit/tickets/{number}/accept", data={"csrf": "forged"})).status_code == 403
    detail = await client.get(f"/unit/tickets/{number}")
    assert "签收（Alt+K）" in detail.text  # still not accepted


async def test_unit_accepts_and_replies_through_the_pages(client: AsyncClient, people) -> None:
    number = await new_ticket(client, people["agent"])
    csrf = await sign_in(client, people["hrss"].actor.username)
    detail = await client.get(f"/unit/tickets/{number}")
    assert detail.status_code == 200 and f'action="/unit/tickets/{number}/accept"' in detail.text

    accepted = await client.post(f"/unit/tickets/{number}/accept", data={"csrf": csrf})
    assert accepted.status_code == 303 and accepted.headers["location"] == f"/unit/tickets/{number}?done=accept"
    page = await client.get(accepted.headers["location"])
    assert "已签收" in page.text and "办理中" in page.text and f'action="/unit/tickets/{number}/reply"' in page.text

    short = await client.post(
        f"/unit/tickets/{number}/reply", data={"csrf": csrf, "content": "已处理", "outcome": "resolved"}
    )
    assert short.status_code == 422 and "过于笼统" in short.text

    no_reason = await client.post(
        f"/unit/tickets/{number}/reply", data={"csrf": csrf, "content": GOOD_REPLY, "outcome": "cannot_resolve"}
    )
    assert no_reason.status_code == 422 and "无法解决时须说明原因" in no_reason.text
    assert GOOD_REPLY in no_reason.text  # the typed reply is kept

    replied = await client.post(
        f"/unit/tickets/{number}/reply", data={"csrf": csrf, "content": GOOD_REPLY, "outcome": "resolved"}
    )
    assert replied.status_code == 303
    done = await client.get(replied.headers["location"])
    assert "已答复待审核" in done.text and "签收" in done.text and "答复" in done.text
    assert f'action="/unit/tickets/{number}/reply"' not in done.text


async def test_accepting_twice_shows_the_conflict_page(client: AsyncClient, people) -> None:
    number = await new_ticket(client, people["agent"])
    csrf = await sign_in(client, people["hrss"].actor.username)
    await client.post(f"/unit/tickets/{number}/accept", data={"csrf": csrf})
    again = await client.post(f"/unit/tickets/{number}/accept", data={"csrf": csrf})
    assert again.status_code == 409 and "不能执行“签收”" in again.text


async def test_return_and_extension_forms(client: AsyncClient, people) -> None:
    number = await new_ticket(client, people["agent"])
    csrf = await sign_in(client, people["hrss"].actor.username)
    page = await client.get(f"/unit/tickets/{number}")
    assert "不属于本单位职责" in page.text  # return reasons from the rulebook

    no_reason = await client.post(f"/unit/tickets/{number}/return", data={"csrf": csrf, "explanation": "不归我们管"})
    assert no_reason.status_code == 422 and "请选择退单原因" in no_reason.text
    no_words = await client.post(f"/unit/tickets/{number}/extension", data={"csrf": csrf, "working_days": "x"})
    assert no_words.status_code == 422 and "请填写工作日数" in no_words.text
    no_why = await client.post(f"/unit/tickets/{number}/extension", data={"csrf": csrf, "working_days": "3"})
    assert no_why.status_code == 422 and "延期须说明理由" in no_why.text

    ext = await client.post(
        f"/unit/tickets/{number}/extension",
        data={"csrf": csrf, "working_days": "3", "reason": "需协调社保经办机构核算"},
    )
    assert ext.status_code == 303
    assert "申请延期" in (await client.get(ext.headers["location"])).text

    ret = await client.post(
        f"/unit/tickets/{number}/return",
        data={"csrf": csrf, "reason": "not_our_duty", "explanation": "公积金事项", "suggested_unit": FUND},
    )
    assert ret.status_code == 303
    assert "退单审核中" in (await client.get(ret.headers["location"])).text


async def test_queue_shows_the_overdue_tag_when_the_clock_passes_the_deadline(
    client: AsyncClient, people, clock
) -> None:
    number = await new_ticket(client, people["agent"])
    enterprise = await new_ticket(
        client,
        people["agent"],
        caller={"type": "enterprise", "name": "钱七", "phone": "13600002222", "enterprise_name": "枣庄某机械公司"},
    )
    await sign_in(client, people["hrss"].actor.username)
    fresh = (await client.get("/unit")).text
    assert '<span class="tag overdue">' not in fresh and '<span class="tag warn">企业</span>' in fresh
    # 10-12: past the citizen's 5-working-day limit (10-10 24:00), not the enterprise's 10 days.
    clock.advance(days=14)
    page = await client.get("/unit")
    assert '<span class="tag overdue">已超期' in page.text and "签收超时" in page.text
    overdue = (await client.get("/unit?overdue=1")).text
    assert number in overdue and enterprise not in overdue
    clock.advance(days=30)
    assert enterprise in (await client.get("/unit?overdue=1")).text


async def test_due_within_24_hours_filter(client: AsyncClient, people, clock) -> None:
    number = await new_ticket(client, people["agent"])
    await sign_in(client, people["hrss"].actor.username)
    assert number not in (await client.get("/unit?due24=1")).text
    # 5 working days from Monday 09-28: 09-29, 09-30, 10-08, 10-09 and the make-up Saturday 10-10.
    clock.now = clock.now + timedelta(days=5)  # 10-03, in the holidays: a week left
    assert number not in (await client.get("/unit?due24=1")).text
    clock.now = clock.now + timedelta(days=7)  # Saturday 10-10 10:00: 14 hours left
    page = (await client.get("/unit?due24=1")).text
    assert number in page and ("剩" in page or "今日24:00到期" in page)


async def test_district_dispatches_down_to_a_town_which_answers_its_task(client: AsyncClient, people, login) -> None:
    district = await login("unit_handler", unit=SHANTING)
    town = await login("unit_handler", unit=DIANZI)
    number = await new_ticket(client, people["agent"], line="12345", content="路灯坏了", area={"district": "山亭区"})
    csrf = await sign_in(client, district.actor.username)
    page = await client.get(f"/unit/tickets/{number}")
    assert page.status_code == 200 and "店子镇群众诉求办理分中心" in page.text  # the district's towns

    no_unit = await client.post(f"/unit/tickets/{number}/dispatch-down", data={"csrf": csrf, "working_days": "2"})
    assert no_unit.status_code == 422 and "请选择下级承办单位" in no_unit.text
    down = await client.post(
        f"/unit/tickets/{number}/dispatch-down",
        data={"csrf": csrf, "unit": DIANZI, "working_days": "2", "instructions": "请现场核查"},
    )
    assert down.status_code == 303
    assert "向下级派单" in (await client.get(down.headers["location"])).text

    csrf = await sign_in(client, town.actor.username)
    queue = (await client.get("/unit")).text
    assert number in queue and "下派" in queue
    task_page = (await client.get(f"/unit/tickets/{number}")).text
    assert "请现场核查" in task_page and "/tasks/" in task_page
    action = task_page.split(f'action="/unit/tickets/{number}/tasks/', 1)[1].split('"', 1)[0]
    answered = await client.post(
        f"/unit/tickets/{number}/tasks/{action}",
        data={"csrf": csrf, "content": "已现场核查，路灯线路老化，已更换灯具并恢复照明。"},
    )
    assert answered.status_code == 303
    assert "子任务答复" in (await client.get(answered.headers["location"])).text

"""Handling-unit workflow through the API on real PostgreSQL: each action and each refusal.

The clock starts on Monday 2026-09-28 10:00 (Shanghai), just before the National Day holidays
(10-01..07) and the Saturday make-up working day 10-10.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.models import Notification, TicketReturn

HRSS = "city.human_resources"
FUND = "city.housing_fund"
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


@pytest.fixture
async def people(login) -> dict[str, Any]:
    return {
        "agent": await login("agent"),
        "centre": await login("supervisor"),
        "arbiter": await login("arbitrator"),
        "hrss": await login("unit_handler", unit=HRSS),
        "fund": await login("unit_handler", unit=FUND),
    }


async def post(client: AsyncClient, who: Any, path: str, body: dict[str, Any] | None = None) -> Any:
    return await client.post(path, json=body or {}, headers=who.headers)


# ------------------------------------------------------------------ accept


async def test_accept_within_the_sign_for_limit(client: AsyncClient, people) -> None:
    number = await new_ticket(client, people["agent"])
    r = await post(client, people["hrss"], f"/api/v1/tickets/{number}/accept")
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["late"]) == ("accepted", False)
    again = await post(client, people["hrss"], f"/api/v1/tickets/{number}/accept")
    assert again.status_code == 409 and again.json()["error"]["code"] == "ticket.illegal_transition"
    assert "办理中" in again.json()["error"]["message"]


async def test_late_acceptance_is_recorded_and_visible_in_the_queue(client: AsyncClient, people, clock) -> None:
    number = await new_ticket(client, people["agent"])
    clock.now = datetime(2026, 9, 30, 2, 0, tzinfo=UTC)  # limit was 24:00 of Tuesday 09-29
    r = await post(client, people["hrss"], f"/api/v1/tickets/{number}/accept")
    assert r.json()["late"] is True
    q = (await client.get("/api/v1/queue", headers=people["hrss"].headers)).json()
    item = next(i for i in q["items"] if i["number"] == number)
    assert item["accept_late"] is True


async def test_another_units_ticket_does_not_exist_for_it(client: AsyncClient, people) -> None:
    number = await new_ticket(client, people["agent"])
    r = await post(client, people["fund"], f"/api/v1/tickets/{number}/accept")
    assert r.status_code == 404 and r.json()["error"]["code"] == "ticket.not_found"


async def test_agents_cannot_act_as_a_unit(client: AsyncClient, people) -> None:
    number = await new_ticket(client, people["agent"])
    r = await post(client, people["agent"], f"/api/v1/tickets/{number}/accept")
    assert r.status_code == 403


# ------------------------------------------------------------------ queue


async def test_queue_lists_most_urgent_first_with_flags_and_counts(client: AsyncClient, people, clock) -> None:
    old = await new_ticket(client, people["agent"])
    clock.now = datetime(2026, 10, 12, 2, 0, tzinfo=UTC)  # the first ticket is now overdue (due 10-10)
    enterprise = await new_ticket(
        client,
        people["agent"],
        caller={"type": "enterprise", "enterprise_name": "枣庄某公司", "phone": "13600002222"},
    )
    fresh = await new_ticket(client, people["agent"])
    q = (await client.get("/api/v1/queue", headers=people["hrss"].headers)).json()
    numbers = [i["number"] for i in q["items"]]
    assert numbers.index(old) < numbers.index(fresh) < numbers.index(enterprise)
    first = q["items"][numbers.index(old)]
    assert first["overdue"] is True and first["hours_left"] < 0
    assert first["working_days_left"] == -1  # due Sat 10-10 (make-up day); Mon 10-12 is one past
    assert q["items"][numbers.index(fresh)]["working_days_left"] == 5  # Mon 10-12 -> due Mon 10-19
    assert q["items"][numbers.index(enterprise)]["enterprise"] is True
    assert q["counts"]["dispatched"] >= 3
    overdue = (await client.get("/api/v1/queue?overdue=true", headers=people["hrss"].headers)).json()
    assert [i["number"] for i in overdue["items"]] == [old]
    other = (await client.get("/api/v1/queue", headers=people["fund"].headers)).json()
    assert old not in {i["number"] for i in other["items"]}


# ------------------------------------------------------------------ reply


async def test_reply_is_refused_when_empty_boilerplate_or_without_reason(client: AsyncClient, people) -> None:
    number = await new_ticket(client, people["agent"])
    await post(client, people["hrss"], f"/api/v1/tickets/{number}/accept")
    for content, code in [
        ("   ", "validation.blank"),
        ("", "reply.empty"),
        ("已处理。", "reply.boilerplate"),
        ("已联系本人", "reply.too_short"),
    ]:
        r = await post(
            client, people["hrss"], f"/api/v1/tickets/{number}/reply", {"content": content, "outcome": "resolved"}
        )
        assert r.status_code == 422 and r.json()["error"]["fields"][0]["code"] == code, content
    r = await post(
        client, people["hrss"], f"/api/v1/tickets/{number}/reply", {"content": GOOD_REPLY, "outcome": "cannot_resolve"}
    )
    assert r.json()["error"]["fields"][0]["field"] == "reason"


async def test_reply_before_accepting_is_a_conflict(client: AsyncClient, people) -> None:
    number = await new_ticket(client, people["agent"])
    r = await post(
        client, people["hrss"], f"/api/v1/tickets/{number}/reply", {"content": GOOD_REPLY, "outcome": "resolved"}
    )
    assert r.status_code == 409


async def test_reply_time_is_measured_against_the_deadline(client: AsyncClient, people, clock) -> None:
    on_time = await new_ticket(client, people["agent"])
    late = await new_ticket(client, people["agent"])
    for n in (on_time, late):
        await post(client, people["hrss"], f"/api/v1/tickets/{n}/accept")
    clock.now = datetime(2026, 10, 10, 15, 59, tzinfo=UTC)  # 23:59 on the make-up Saturday: still in time
    r = await post(
        client,
        people["hrss"],
        f"/api/v1/tickets/{on_time}/reply",
        {"content": GOOD_REPLY, "outcome": "resolved", "attachments": [{"name": "回执.pdf", "size": 2048}]},
    )
    assert (r.json()["status"], r.json()["on_time"]) == ("replied", True)
    clock.now = datetime(2026, 10, 10, 16, 1, tzinfo=UTC)  # 00:01 Sunday: late
    r = await post(
        client, people["hrss"], f"/api/v1/tickets/{late}/reply", {"content": GOOD_REPLY, "outcome": "explained"}
    )
    assert r.json()["on_time"] is False


# ------------------------------------------------------------------ return and review


async def test_approved_return_redispatches_with_a_fresh_limit_across_the_holidays(
    client: AsyncClient, people, clock
) -> None:
    number = await new_ticket(client, people["agent"])
    clock.now = datetime(2026, 9, 29, 1, 0, tzinfo=UTC)  # Tuesday 09:00, inside the 1-day window
    r = await post(
        client,
        people["hrss"],
        f"/api/v1/tickets/{number}/return",
        {"reason": "not_our_duty", "explanation": "公积金事项不属本局职责", "suggested_unit": FUND},
    )
    assert r.status_code == 200 and r.json()["status"] == "return_requested"
    d = await post(
        client, people["centre"], f"/api/v1/tickets/{number}/return/decision", {"decision": "approve", "new_unit": FUND}
    )
    assert d.status_code == 200, d.text
    detail = (await client.get(f"/api/v1/tickets/{number}", headers=people["fund"].headers)).json()
    assert detail["lead_unit"] == FUND and detail["status"] == "dispatched"
    # Fresh 5 working days from Tuesday 09-29: 09-30, 10-08, 10-09, Sat 10-10 (make-up), Mon 10-12.
    assert detail["deadline"]["due_date"] == "2026-10-12"
    assert detail["created_at"].startswith("2026-09-28")  # total elapsed time stays visible
    former = await post(client, people["hrss"], f"/api/v1/tickets/{number}/accept")
    # access ends when involvement ends (issue 10, item 7): the former unit no longer sees it
    assert former.status_code == 404
    gone = await client.get(f"/api/v1/tickets/{number}", headers=people["hrss"].headers)
    assert gone.status_code == 404
    assert (await post(client, people["fund"], f"/api/v1/tickets/{number}/accept")).status_code == 200


async def test_rejected_return_is_an_improper_return_and_the_deadline_keeps_running(
    client: AsyncClient, people, session: AsyncSession
) -> None:
    number = await new_ticket(client, people["agent"])
    await post(
        client,
        people["hrss"],
        f"/api/v1/tickets/{number}/return",
        {"reason": "not_our_duty", "explanation": "不是我们的事"},
    )
    r = await post(
        client,
        people["centre"],
        f"/api/v1/tickets/{number}/return/decision",
        {"decision": "reject", "note": "属本局职责"},
    )
    assert r.json()["status"] == "accepted"
    detail = (await client.get(f"/api/v1/tickets/{number}", headers=people["hrss"].headers)).json()
    assert detail["deadline"]["due_date"] == "2026-10-10"
    ret = (await session.execute(select(TicketReturn).order_by(TicketReturn.id.desc()))).scalars().first()
    assert ret is not None and ret.improper is True and ret.state == "rejected"


async def test_late_return_is_refused(client: AsyncClient, people, clock) -> None:
    number = await new_ticket(client, people["agent"])
    clock.now = datetime(2026, 9, 29, 16, 30, tzinfo=UTC)  # Wednesday 00:30: the window closed at 24:00 Tuesday
    r = await post(
        client, people["hrss"], f"/api/v1/tickets/{number}/return", {"reason": "not_our_duty", "explanation": "x"}
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "return.window_closed"


async def test_repeated_returns_escalate_to_arbitration_which_is_final(client: AsyncClient, people) -> None:
    number = await new_ticket(client, people["agent"])
    units = [("hrss", FUND), ("fund", HRSS)]
    for who, to in units:  # two returns, each approved
        await post(
            client,
            people[who],
            f"/api/v1/tickets/{number}/return",
            {"reason": "not_our_duty", "explanation": "非本单位职责"},
        )
        await post(
            client,
            people["centre"],
            f"/api/v1/tickets/{number}/return/decision",
            {"decision": "approve", "new_unit": to},
        )
    third = await post(
        client,
        people["hrss"],
        f"/api/v1/tickets/{number}/return",
        {"reason": "not_our_duty", "explanation": "仍非本单位职责"},
    )
    assert third.json() | {"status": "arbitration", "escalated": True} == third.json()
    refused = await post(client, people["centre"], f"/api/v1/tickets/{number}/arbitration", {"unit": HRSS, "note": "x"})
    assert refused.status_code == 403
    final = await post(
        client,
        people["arbiter"],
        f"/api/v1/tickets/{number}/arbitration",
        {"unit": HRSS, "note": "依三定方案属市人社局职责"},
    )
    assert final.status_code == 200 and final.json()["final"] is True
    again = await post(
        client, people["hrss"], f"/api/v1/tickets/{number}/return", {"reason": "not_our_duty", "explanation": "不服"}
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "return.arbitrated_final"


async def test_centre_can_refer_a_dispute_to_arbitration(client: AsyncClient, people) -> None:
    number = await new_ticket(client, people["agent"])
    await post(
        client, people["hrss"], f"/api/v1/tickets/{number}/return", {"reason": "not_our_duty", "explanation": "争议"}
    )
    r = await post(client, people["centre"], f"/api/v1/tickets/{number}/return/decision", {"decision": "arbitrate"})
    assert r.json()["status"] == "arbitration"
    assert (
        await post(
            client, people["arbiter"], f"/api/v1/tickets/{number}/arbitration", {"unit": FUND, "note": "编办裁定"}
        )
    ).json()["unit"] == FUND


async def test_units_cannot_review_returns(client: AsyncClient, people) -> None:
    number = await new_ticket(client, people["agent"])
    await post(
        client, people["hrss"], f"/api/v1/tickets/{number}/return", {"reason": "not_our_duty", "explanation": "x"}
    )
    r = await post(client, people["hrss"], f"/api/v1/tickets/{number}/return/decision", {"decision": "reject"})
    assert r.status_code == 403


# ------------------------------------------------------------------ extension


async def test_extension_moves_the_deadline_by_working_days_and_notifies_the_caller(
    client: AsyncClient, people, session: AsyncSession
) -> None:
    number = await new_ticket(client, people["agent"])
    await post(client, people["hrss"], f"/api/v1/tickets/{number}/accept")
    r = await post(
        client, people["hrss"], f"/api/v1/tickets/{number}/extension", {"working_days": 3, "reason": "需现场核查"}
    )
    assert r.status_code == 200 and r.json()["state"] == "pending"
    d = await post(client, people["centre"], f"/api/v1/tickets/{number}/extension/decision", {"approve": True})
    # From the current due date Sat 10-10: Mon 10-12, 10-13, 10-14.
    assert d.json()["due_date"] == "2026-10-14" and d.json()["state"] == "approved"
    note = (
        (await session.execute(select(Notification).where(Notification.template == "extension_approved")))
        .scalars()
        .all()
    )
    assert any(n.payload["number"] == number and n.payload["due_date"] == "2026-10-14" for n in note)
    over = await post(
        client, people["hrss"], f"/api/v1/tickets/{number}/extension", {"working_days": 8, "reason": "仍需时间"}
    )
    assert over.status_code == 409 and over.json()["error"]["code"] == "extension.over_cap"
    assert "10个工作日" in over.json()["error"]["message"]
    events = (await client.get(f"/api/v1/tickets/{number}/events", headers=people["hrss"].headers)).json()
    decision = next(e for e in events if e["action"] == "decide_extension")
    assert decision["due_before"] == "2026-10-11T00:00:00+08:00"
    assert decision["due_after"] == "2026-10-15T00:00:00+08:00"


async def test_extension_after_the_deadline_is_refused(client: AsyncClient, people, clock) -> None:
    number = await new_ticket(client, people["agent"])
    await post(client, people["hrss"], f"/api/v1/tickets/{number}/accept")
    clock.now = datetime(2026, 10, 11, 1, 0, tzinfo=UTC)
    r = await post(
        client, people["hrss"], f"/api/v1/tickets/{number}/extension", {"working_days": 2, "reason": "来不及"}
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "extension.after_deadline"


async def test_rejected_extension_leaves_the_deadline(client: AsyncClient, people) -> None:
    number = await new_ticket(client, people["agent"])
    await post(client, people["hrss"], f"/api/v1/tickets/{number}/accept")
    await post(client, people["hrss"], f"/api/v1/tickets/{number}/extension", {"working_days": 2, "reason": "需要协调"})
    d = await post(
        client,
        people["centre"],
        f"/api/v1/tickets/{number}/extension/decision",
        {"approve": False, "note": "理由不充分"},
    )
    assert d.json()["state"] == "rejected" and d.json()["due_date"] == "2026-10-10"


# ------------------------------------------------------------------ lead / assist


async def test_lead_replies_only_after_every_assisting_unit(client: AsyncClient, people) -> None:
    number = await new_ticket(client, people["agent"])
    too_long = await post(
        client, people["centre"], f"/api/v1/tickets/{number}/assists", {"unit": FUND, "working_days": 6}
    )
    assert too_long.status_code == 409 and too_long.json()["error"]["code"] == "task.beyond_parent"
    added = await post(
        client,
        people["centre"],
        f"/api/v1/tickets/{number}/assists",
        {"unit": FUND, "working_days": 3, "instructions": "核实公积金缴存"},
    )
    assert added.status_code == 200 and added.json()["due_date"] == "2026-10-08"
    await post(client, people["hrss"], f"/api/v1/tickets/{number}/accept")
    blocked = await post(
        client, people["hrss"], f"/api/v1/tickets/{number}/reply", {"content": GOOD_REPLY, "outcome": "resolved"}
    )
    assert blocked.status_code == 409 and blocked.json()["error"]["code"] == "reply.tasks_pending"
    q = (await client.get("/api/v1/queue", headers=people["fund"].headers)).json()
    task = next(i for i in q["items"] if i["number"] == number)
    assert task["role"] == "assist"
    answered = await post(
        client,
        people["fund"],
        f"/api/v1/tickets/{number}/tasks/{task['task_id']}/answer",
        {"content": "经核实，诉求人公积金缴存正常，已告知主办单位。"},
    )
    assert answered.status_code == 200
    done = await post(
        client, people["hrss"], f"/api/v1/tickets/{number}/reply", {"content": GOOD_REPLY, "outcome": "resolved"}
    )
    assert done.status_code == 200


async def test_centre_may_release_an_assisting_unit(client: AsyncClient, people) -> None:
    number = await new_ticket(client, people["agent"])
    task = (
        await post(client, people["centre"], f"/api/v1/tickets/{number}/assists", {"unit": FUND, "working_days": 2})
    ).json()
    assert (
        await post(client, people["fund"], f"/api/v1/tickets/{number}/tasks/{task['task_id']}/release")
    ).status_code == 403
    released = await post(
        client, people["centre"], f"/api/v1/tickets/{number}/tasks/{task['task_id']}/release", {"note": "无需协办"}
    )
    assert released.json()["state"] == "released"


# ------------------------------------------------------------------ multi-level dispatch


async def test_district_dispatches_down_and_replies_up(client: AsyncClient, people, login) -> None:
    number = await new_ticket(
        client, people["agent"], line="12345", content="路灯不亮，晚上出行不便", area={"district": "薛城区"}
    )
    district = await login("unit_handler", unit="district.xuecheng")
    town = await login("unit_handler", unit="town.xuecheng.changzhuang")
    assert (await post(client, district, f"/api/v1/tickets/{number}/accept")).status_code == 200
    wrong = await post(
        client, district, f"/api/v1/tickets/{number}/dispatch-down", {"unit": "town.shanting.xiji", "working_days": 2}
    )
    assert wrong.status_code == 422 and wrong.json()["error"]["fields"][0]["code"] == "dispatch_down.not_child"
    beyond = await post(
        client,
        district,
        f"/api/v1/tickets/{number}/dispatch-down",
        {"unit": "town.xuecheng.changzhuang", "working_days": 9},
    )
    assert beyond.status_code == 409
    down = await post(
        client,
        district,
        f"/api/v1/tickets/{number}/dispatch-down",
        {"unit": "town.xuecheng.changzhuang", "working_days": 3, "instructions": "请街道现场核查"},
    )
    assert down.status_code == 200, down.text
    q = (await client.get("/api/v1/queue", headers=town.headers)).json()
    item = next(i for i in q["items"] if i["number"] == number)
    assert item["role"] == "lower"
    blocked = await post(
        client, district, f"/api/v1/tickets/{number}/reply", {"content": GOOD_REPLY, "outcome": "resolved"}
    )
    assert blocked.status_code == 409
    up = await post(
        client,
        town,
        f"/api/v1/tickets/{number}/tasks/{item['task_id']}/answer",
        {"content": "已安排维修人员更换灯具，路灯已恢复照明。"},
    )
    assert up.status_code == 200
    done = await post(
        client,
        district,
        f"/api/v1/tickets/{number}/reply",
        {"content": "街道已更换路灯灯具并恢复照明，已电话告知诉求人。", "outcome": "resolved"},
    )
    assert done.status_code == 200
    detail = (await client.get(f"/api/v1/tickets/{number}", headers=town.headers)).json()
    assert detail["lead_unit"] == "district.xuecheng"  # the KPIs stay with the unit that held the ticket
    assert (await post(client, town, f"/api/v1/tickets/{number}/accept")).status_code == 403


# ------------------------------------------------------------------ timeline


async def test_timeline_records_every_action_with_status_and_deadline(client: AsyncClient, people) -> None:
    number = await new_ticket(client, people["agent"])
    await post(client, people["hrss"], f"/api/v1/tickets/{number}/accept")
    await post(
        client, people["hrss"], f"/api/v1/tickets/{number}/reply", {"content": GOOD_REPLY, "outcome": "resolved"}
    )
    events = (await client.get(f"/api/v1/tickets/{number}/events", headers=people["centre"].headers)).json()
    assert [(e["action"], e["from_status"], e["to_status"]) for e in events] == [
        ("intake", None, "dispatched"),
        ("accept", "dispatched", "accepted"),
        ("reply", "accepted", "replied"),
    ]
    assert events[1]["actor"] == people["hrss"].actor.username
    assert events[2]["due_before"] == "2026-10-11T00:00:00+08:00"
    hidden = await client.get(f"/api/v1/tickets/{number}/events", headers=people["fund"].headers)
    assert hidden.status_code == 404


async def test_town_dispatches_to_a_registered_community_and_the_answer_climbs_back(
    client: AsyncClient, people, login
) -> None:
    admin = await login("admin")
    community = "town.xuecheng.changzhuang.demo_community"
    made = await post(
        client,
        admin,
        "/api/v1/units/communities",
        {"code": community, "name": "常庄街道示例社区居委会", "parent": "town.xuecheng.changzhuang"},
    )
    assert made.status_code == 201, made.text
    bad = await post(
        client,
        admin,
        "/api/v1/units/communities",
        {"code": "district.xuecheng.x", "name": "x", "parent": "district.xuecheng"},
    )
    assert bad.status_code == 422
    assert (
        await post(
            client,
            people["centre"],
            "/api/v1/units/communities",
            {"code": community + "2", "name": "x", "parent": "town.xuecheng.changzhuang"},
        )
    ).status_code == 403

    number = await new_ticket(
        client, people["agent"], line="12345", content="小区垃圾无人清运", area={"district": "薛城区"}
    )
    district = await login("unit_handler", unit="district.xuecheng")
    town = await login("unit_handler", unit="town.xuecheng.changzhuang")
    village = await login("unit_handler", unit=community)
    await post(client, district, f"/api/v1/tickets/{number}/accept")
    to_town = (
        await post(
            client,
            district,
            f"/api/v1/tickets/{number}/dispatch-down",
            {"unit": "town.xuecheng.changzhuang", "working_days": 4},
        )
    ).json()
    to_village = await post(
        client, town, f"/api/v1/tickets/{number}/dispatch-down", {"unit": community, "working_days": 5}
    )
    assert to_village.status_code == 409  # the town's own sub-deadline is 4 working days
    to_village = await post(
        client, town, f"/api/v1/tickets/{number}/dispatch-down", {"unit": community, "working_days": 2}
    )
    assert to_village.status_code == 200, to_village.text
    early = await post(
        client,
        town,
        f"/api/v1/tickets/{number}/tasks/{to_town['task_id']}/answer",
        {"content": "街道已督促社区安排清运，待社区反馈。"},
    )
    assert early.status_code == 409  # the community has not answered yet
    village_task = to_village.json()["task_id"]
    r = await post(
        client,
        village,
        f"/api/v1/tickets/{number}/tasks/{village_task}/answer",
        {"content": "社区已联系环卫公司，垃圾已全部清运完毕。"},
    )
    assert r.status_code == 200
    r = await post(
        client,
        town,
        f"/api/v1/tickets/{number}/tasks/{to_town['task_id']}/answer",
        {"content": "社区已清运全部垃圾，街道已派人现场复核确认。"},
    )
    assert r.status_code == 200
    units = {u["code"]: u for u in (await client.get("/api/v1/units", headers=people["agent"].headers)).json()}
    assert units[community]["level"] == "village" and units[community]["parent"] == "town.xuecheng.changzhuang"


async def test_centre_review_lists_count_returns_per_unit(client: AsyncClient, people) -> None:
    a = await new_ticket(client, people["agent"])
    b = await new_ticket(client, people["agent"])
    for n in (a, b):
        await post(
            client,
            people["hrss"],
            f"/api/v1/tickets/{n}/return",
            {"reason": "not_our_duty", "explanation": "非本局职责"},
        )
    pending = (await client.get("/api/v1/returns?state=pending", headers=people["centre"].headers)).json()
    assert {a, b} <= {i["number"] for i in pending["items"]}
    await post(client, people["centre"], f"/api/v1/tickets/{a}/return/decision", {"decision": "reject"})
    mine = (await client.get("/api/v1/returns", headers=people["hrss"].headers)).json()
    counts = {c["unit"]: c for c in mine["per_unit"]}
    assert counts[HRSS]["returns"] >= 2 and counts[HRSS]["improper"] >= 1
    assert set(counts) == {HRSS}
    await post(client, people["hrss"], f"/api/v1/tickets/{b}/accept")
    ext = await client.get("/api/v1/extensions?state=pending", headers=people["centre"].headers)
    assert ext.status_code == 200

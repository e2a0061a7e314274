"""Every action on a page (issue 11, item 3): the centre's 人工催办 and 协办 on the ticket page
(units picked by name), a unit's answer to its 督办单, the extension form's states (延期审核中;
gone once the limit has passed), and the return form's unit picker by name."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from httpx import AsyncClient

from tests.hotline.test_pages_auth import sign_in
from tests.hotline.test_pages_unit import new_ticket

HRSS = "city.human_resources"
FUND = "city.housing_fund"


@pytest.fixture
async def people(login) -> dict[str, Any]:
    return {
        "agent": await login("agent"),
        "supervisor": await login("supervisor"),
        "hrss": await login("unit_handler", unit=HRSS),
        "fund": await login("unit_handler", unit=FUND),
    }


def events(client: AsyncClient) -> Any:
    async def get(number: str, who: Any) -> list[dict[str, Any]]:
        r = await client.get(f"/api/v1/tickets/{number}/events", headers=who.headers)
        return list(r.json())

    return get


async def test_the_centre_reminds_and_adds_an_assisting_unit_by_name(client: AsyncClient, people, rulebook) -> None:
    number = await new_ticket(client, people["agent"])
    csrf = await sign_in(client, people["supervisor"].actor.username)
    page = await client.get(f"/tickets/{number}")
    assert "人工催办" in page.text and "增加协办单位" in page.text
    r = await client.post(f"/centre/tickets/{number}/remind", data={"csrf": csrf, "note": "请加快办理"})
    assert r.status_code == 303 and r.headers["location"] == f"/tickets/{number}?done=remind"
    assert "已催办" in (await client.get(r.headers["location"])).text
    fund = rulebook.units[FUND].name
    r = await client.post(
        f"/centre/tickets/{number}/assists",
        data={"csrf": csrf, "unit": fund, "working_days": "3", "instructions": "请协助核实公积金缴存情况"},
    )
    assert r.status_code == 303, r.text[:500]
    timeline = await events(client)(number, people["supervisor"])
    actions = [e["action"] for e in timeline]
    assert "remind" in actions and "add_assist" in actions
    assert any(fund in (e.get("note") or "") for e in timeline)  # the note names the unit
    assert re.search(r"<dt>协办单位</dt><dd>[^<]*" + fund, (await client.get(f"/tickets/{number}")).text)
    # the fund now sees the ticket as an assisting unit
    assert (await client.get(f"/api/v1/tickets/{number}", headers=people["fund"].headers)).status_code == 200
    # wrong input is named next to the field, what was typed kept
    r = await client.post(
        f"/centre/tickets/{number}/assists", data={"csrf": csrf, "unit": "不存在的局", "working_days": "x"}
    )
    assert r.status_code == 422
    assert "没有这个承办单位" in r.text and "协办时限请填写" in r.text and 'value="不存在的局"' in r.text
    # not for agents or units
    await sign_in(client, people["agent"].actor.username)
    assert "人工催办" not in (await client.get(f"/tickets/{number}")).text
    r = await client.post(f"/centre/tickets/{number}/remind", data={"csrf": csrf, "note": ""})
    assert r.status_code == 403


async def test_a_unit_answers_its_supervision_order_on_its_page(client: AsyncClient, people) -> None:
    number = await new_ticket(client, people["agent"])
    r = await client.post(
        f"/api/v1/tickets/{number}/supervision",
        json={"reason": "overdue", "content": "请说明未按时办理的原因", "reply_by": "2026-10-30"},
        headers=people["supervisor"].headers,
    )
    assert r.status_code == 201, r.text
    order = r.json()["id"]
    csrf = await sign_in(client, people["hrss"].actor.username)
    page = await client.get(f"/unit/tickets/{number}")
    assert "督办单待回复" in page.text and "请说明未按时办理的原因" in page.text
    r = await client.post(f"/unit/tickets/{number}/supervision/{order}", data={"csrf": csrf, "content": " "})
    assert r.status_code == 422 and "请填写督办回复内容" in r.text
    r = await client.post(
        f"/unit/tickets/{number}/supervision/{order}", data={"csrf": csrf, "content": "已联系诉求人，本周内补发"}
    )
    assert r.status_code == 303
    page = await client.get(r.headers["location"])
    assert "督办单已回复" in page.text and "督办单待回复" not in page.text
    listed = await client.get("/api/v1/supervision", headers=people["supervisor"].headers)
    assert any(o["id"] == order and o["state"] == "responded" for o in listed.json()["items"])


async def test_the_extension_form_follows_the_request_and_the_limit(client: AsyncClient, people, clock) -> None:
    number = await new_ticket(client, people["agent"])
    h = people["hrss"].headers
    assert (await client.post(f"/api/v1/tickets/{number}/accept", json={}, headers=h)).status_code == 200
    csrf = await sign_in(client, people["hrss"].actor.username)
    page = await client.get(f"/unit/tickets/{number}")
    assert "提交延期申请" in page.text
    r = await client.post(
        f"/unit/tickets/{number}/extension",
        data={"csrf": csrf, "working_days": "3", "reason": "需现场勘验，等待检测报告"},
    )
    assert r.status_code == 303
    page = await client.get(f"/unit/tickets/{number}")
    assert "延期审核中" in page.text and "提交延期申请" not in page.text
    other = await new_ticket(client, people["agent"])
    await client.post(f"/api/v1/tickets/{other}/accept", json={}, headers=h)
    clock.now += timedelta(days=20)
    page = await client.get(f"/unit/tickets/{other}")
    assert "办理时限已过，不能再申请延期" in page.text and "提交延期申请" not in page.text
    assert re.search(r"已超期\d+个工作日", page.text)


async def test_a_return_names_the_suggested_unit_by_name(client: AsyncClient, people, rulebook) -> None:
    number = await new_ticket(client, people["agent"])
    csrf = await sign_in(client, people["hrss"].actor.username)
    r = await client.post(
        f"/unit/tickets/{number}/return",
        data={
            "csrf": csrf,
            "reason": "not_our_duty",
            "explanation": "公积金事项不属本局职责",
            "suggested_unit": rulebook.units[FUND].name,
        },
    )
    assert r.status_code == 303, r.text[:300]
    returns = await client.get("/api/v1/returns", headers=people["supervisor"].headers)
    assert any(x.get("suggested_unit") == FUND for x in returns.json()["items"])


async def test_the_centre_overview_counts_queues_and_ages_in_working_days(client: AsyncClient, people, clock) -> None:
    await new_ticket(client, people["agent"], content="有件事情想反映一下", line="12345")  # no rule: manual dispatch
    replied = await new_ticket(client, people["agent"])
    h = people["hrss"].headers
    await client.post(f"/api/v1/tickets/{replied}/accept", json={}, headers=h)
    r = await client.post(
        f"/api/v1/tickets/{replied}/reply",
        json={"content": "经核实，已联系诉求人并补发拖欠的养老金，本月底前到账。", "outcome": "resolved"},
        headers=h,
    )
    assert r.status_code == 200, r.text
    clock.now += timedelta(days=7)  # Monday 09-28 + 7 days: 10-05, inside the National Day holidays
    await sign_in(client, people["supervisor"].actor.username)
    page = await client.get("/centre")
    assert page.status_code == 200
    row = re.search(r'<tr id="queue-reply_review">(.*?)</tr>', page.text, re.S)
    assert row is not None and ">1<" in row.group(1) and replied in row.group(1)
    assert "2个工作日" in row.group(1)  # 09-29 and 09-30 count; the holidays do not
    manual = re.search(r'<tr id="queue-pending_dispatch">(.*?)</tr>', page.text, re.S)
    assert manual is not None and ">1<" in manual.group(1)
    bogus = await client.get("/centre", params={"district": "nowhere"})
    assert "没有这个区（市），下表为全市的数字" in bogus.text
    district = await client.get("/centre", params={"district": "district.xuecheng"})
    row = re.search(r'<tr id="queue-reply_review">(.*?)</tr>', district.text, re.S)
    assert row is not None and ">0<" in row.group(1)

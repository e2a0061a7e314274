"""The /tickets search page (issue 11, item 1): the same filters as the API, names instead of
codes, saved views as tabs, what a person typed wrong shown next to the field with the form kept;
units see their own tickets and no caller fields."""

from __future__ import annotations

import re
from typing import Any

import pytest
from httpx import AsyncClient

from tests.hotline.test_pages_auth import sign_in
from tests.hotline.test_pages_unit import new_ticket

HRSS = "city.human_resources"
CODE = re.compile(r"\b[a-z_]+\.[a-z_]+\b")


@pytest.fixture
async def people(login) -> dict[str, Any]:
    return {
        "agent": await login("agent"),
        "supervisor": await login("supervisor"),
        "hrss": await login("unit_handler", unit=HRSS),
        "fund": await login("unit_handler", unit="city.housing_fund"),
    }


def visible_text(html: str) -> str:
    html = re.sub(r"<(script|style|datalist)\b.*?</\1>", " ", html, flags=re.S)
    html = re.sub(r"<[^>]+>", " ", html)
    return re.sub(r"\s+", " ", html)


async def test_find_by_words_and_phone_with_names_on_the_page(client: AsyncClient, people, rulebook) -> None:
    a = await new_ticket(
        client,
        people["agent"],
        content="小区停水已经三天了，物业说是管道检修",
        caller={"type": "citizen", "name": "周八", "phone": "13900001111"},
    )
    b = await new_ticket(client, people["agent"])
    await sign_in(client, people["agent"].actor.username)
    page = await client.get("/tickets", params={"q": "停水"})
    assert page.status_code == 200
    assert a in page.text and b not in page.text and "共 1 件" in page.text
    text = visible_text(page.text)
    assert not CODE.search(text), CODE.search(text)
    page = await client.get("/tickets", params={"phone": "139-0000-1111"})
    assert a in page.text and b not in page.text
    hrss = rulebook.units[HRSS].name
    page = await client.get("/tickets", params={"unit": hrss})
    assert page.status_code == 200 and a in page.text and b in page.text
    assert f'value="{hrss}"' in page.text
    page = await client.get("/tickets", params={"unit": "city.housing_fund"})
    assert page.status_code == 200 and "没有符合条件的工单" in page.text
    beyond = await client.get("/tickets", params={"q": "停水", "page": "9"})
    assert beyond.status_code == 200 and "第 9 页没有工单了" in beyond.text
    # nav: the agent reaches it from every page
    assert 'href="/tickets"' in (await client.get("/agent")).text


async def test_bad_input_is_named_next_to_the_field_and_kept(client: AsyncClient, people) -> None:
    await sign_in(client, people["supervisor"].actor.username)
    page = await client.get("/tickets", params={"phone": "12-34", "from": "2026-13-40", "q": "停水", "page": "x"})
    assert page.status_code == 422
    text = visible_text(page.text)
    assert "电话号码格式不正确" in text and "日期格式应为" in text and "页码应为" in text
    assert 'value="停水"' in page.text and 'value="12-34"' in page.text  # nothing typed is lost
    page = await client.get("/tickets", params={"unit": "不存在的局"})
    assert page.status_code == 422 and "没有这个承办单位" in page.text
    page = await client.get("/tickets", params={"from": "2026-12-05", "to": "2026-12-01"})
    assert page.status_code == 422 and "结束日期不能早于开始日期" in page.text
    # a field left blank is an empty field, not an error page
    page = await client.get("/tickets", params={"q": "  ", "phone": " ", "caller_name": "\u3000"})
    assert page.status_code == 200 and "工单查找" in page.text
    page = await client.get("/tickets", params={"view": "nonsense"})
    assert page.status_code == 422 and "没有这个常用筛选" in page.text


async def test_saved_views_are_tabs_and_units_see_their_own(client: AsyncClient, people) -> None:
    mine = await new_ticket(client, people["agent"])
    await sign_in(client, people["supervisor"].actor.username)
    page = await client.get("/tickets")
    for label in ("待派单", "待审核答复", "待回访", "超期", "督办中", "重办中"):
        assert f">{label}</a>" in page.text, label
    await sign_in(client, people["hrss"].actor.username)
    page = await client.get("/tickets", params={"view": "todo"})
    assert page.status_code == 200 and mine in page.text and f"/unit/tickets/{mine}" in page.text
    assert 'name="phone"' not in page.text and 'name="caller_name"' not in page.text
    assert ">待办</a>" in page.text and ">已办</a>" in page.text and ">待审核答复</a>" not in page.text
    page = await client.get("/tickets", params={"phone": "13600001111"})
    assert page.status_code == 422 and "不能按诉求人的电话或姓名查找" in page.text
    await sign_in(client, people["fund"].actor.username)
    page = await client.get("/tickets", params={"q": "养老金"})
    assert mine not in page.text and "没有符合条件的工单" in page.text

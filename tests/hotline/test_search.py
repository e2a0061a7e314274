"""Finding tickets (issue 11, item 1): words of the content through the bigram index, the caller's
phone in any notation, the saved views of the centre and the unit's 待办 / 已办, sorting; and what
a unit may not search by."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.models import SupervisionOrder, Ticket
from hotline.tickets.search import phone_forms
from tests.hotline.test_pages_unit import new_ticket

HRSS = "city.human_resources"


@pytest.fixture
async def people(login) -> dict[str, Any]:
    return {
        "agent": await login("agent"),
        "supervisor": await login("supervisor"),
        "hrss": await login("unit_handler", unit=HRSS),
    }


async def numbers(client: AsyncClient, who: Any, **params: Any) -> list[str]:
    r = await client.get("/api/v1/tickets", params={"page_size": 100, **params}, headers=who.headers)
    assert r.status_code == 200, r.text
    return [item["number"] for item in r.json()["items"]]


async def test_words_of_the_content_are_found_as_written(client: AsyncClient, people) -> None:
    agent = people["agent"]
    a = await new_ticket(client, agent, content="小区停水已经三天了，物业说是管道检修，老人孩子喝水都成问题")
    b = await new_ticket(client, agent, content="单位拖欠工资半年，老板说等项目款下来再发")
    c = await new_ticket(client, agent, content="ABC物业的电梯又坏了（第3次），停了一周")
    assert await numbers(client, agent, q="停水") == [a]
    assert await numbers(client, agent, q="停水已经三天") == [a]  # a phrase: its bigrams in sequence
    assert await numbers(client, agent, q="水停") == []  # the same characters in another order
    assert set(await numbers(client, agent, q="物业")) == {a, c}
    assert await numbers(client, agent, q="物业 电梯") == [c]  # every word must occur
    assert await numbers(client, agent, q="物业，管道") == [a]  # punctuation separates words
    assert await numbers(client, agent, q="abc") == [c]  # case does not matter
    assert await numbers(client, agent, q="薪") == []
    assert await numbers(client, agent, q="资") == [b]  # one character: no bigram, still found
    assert await numbers(client, agent, q="工资 ％") == [b]  # a word of punctuation only is no word


async def test_the_word_search_uses_the_index(session: AsyncSession) -> None:
    """At a million tickets a scan is too slow (bench/search.py): the plan must use the GIN index."""
    from hotline.tickets.repository import content_matches

    stmt = select(Ticket.id).where(*content_matches("停水 小区"))
    compiled = stmt.compile(dialect=session.get_bind().dialect)
    params = tuple(compiled.params[name] for name in compiled.positiontup or ())
    connection = await session.connection()
    await connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
    result = await connection.exec_driver_sql("EXPLAIN " + str(compiled), params)
    plan = "\n".join(r[0] for r in result.all())
    assert "ix_tickets_search_vector" in plan, plan


async def test_a_phone_is_found_however_it_is_written(client: AsyncClient, people) -> None:
    agent = people["agent"]
    mine = await new_ticket(client, agent, caller={"type": "citizen", "name": "周八", "phone": "13900001111"})
    desk = await new_ticket(client, agent, caller={"type": "citizen", "name": "吴九", "phone": "0632-3311234"})
    await new_ticket(client, agent)
    for written in ("13900001111", "139-0000-1111", "139 0000 1111", "+86 139 0000 1111", "１３９００００１１１１"):
        assert await numbers(client, agent, phone=written) == [mine], written
    for written in ("0632-3311234", "06323311234", "(0632)3311234"):
        assert await numbers(client, agent, phone=written) == [desk], written
    assert await numbers(client, agent, caller_name="周八") == [mine]
    r = await client.get("/api/v1/tickets", params={"phone": "139-00"}, headers=agent.headers)
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "phone"
    assert "电话号码格式不正确" in r.json()["error"]["fields"][0]["message"]
    assert set(phone_forms("010-12345678")) == {"010-12345678", "01012345678", "0101-2345678"}


async def test_a_unit_cannot_search_by_the_caller(client: AsyncClient, people) -> None:
    number = await new_ticket(client, people["agent"])
    assert await numbers(client, people["hrss"], q="养老金") == [number]
    for field, value in (("phone", "13600001111"), ("caller_name", "赵六")):
        r = await client.get("/api/v1/tickets", params={field: value}, headers=people["hrss"].headers)
        assert r.status_code == 422, field
        problem = r.json()["error"]["fields"][0]
        assert problem["field"] == field and problem["code"] == "search.personal_for_unit"
    # and the centre's views are not the unit's
    r = await client.get("/api/v1/tickets", params={"view": "reply_review"}, headers=people["hrss"].headers)
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["code"] == "search.unknown_view"


async def test_saved_views_and_sorting(client: AsyncClient, people, session: AsyncSession, clock) -> None:
    agent, boss, unit = people["agent"], people["supervisor"], people["hrss"]
    fresh = await new_ticket(client, agent)
    replied = await new_ticket(client, agent)
    redo = await new_ticket(client, agent)
    late = await new_ticket(client, agent)
    watched = await new_ticket(client, agent)
    manual = await new_ticket(client, agent, content="有件事情想反映一下", line="12345")
    await session.execute(update(Ticket).where(Ticket.number == replied).values(status="replied"))
    await session.execute(update(Ticket).where(Ticket.number == redo).values(redo_count=1, status="accepted"))
    await session.execute(
        update(Ticket).where(Ticket.number == manual).values(lead_unit_code="centre.dispatch", status="dispatched")
    )
    watched_id = (await session.execute(select(Ticket.id).where(Ticket.number == watched))).scalar_one()
    session.add(
        SupervisionOrder(
            ticket_id=watched_id,
            unit_code=HRSS,
            reason_code="overdue",
            content="请于期限内答复",
            reply_by=(clock.now + timedelta(days=3)).date(),
            issued_by=boss.actor.id,
            issued_at=clock.now,
        )
    )
    await session.commit()
    assert await numbers(client, boss, view="reply_review") == [replied]
    assert await numbers(client, boss, view="redo") == [redo]
    assert await numbers(client, boss, view="pending_dispatch") == [manual]
    assert await numbers(client, boss, view="supervised") == [watched]
    assert await numbers(client, boss, view="overdue") == []
    # make one late: its running reply deadline passes
    await session.execute(
        text(
            "UPDATE deadlines SET due_at = :at FROM tickets t WHERE deadlines.ticket_id = t.id "
            "AND t.number = :n AND deadlines.kind = 'reply'"
        ),
        {"at": clock.now - timedelta(hours=1), "n": late},
    )
    await session.commit()
    assert await numbers(client, boss, view="overdue") == [late]
    assert (await numbers(client, boss, sort="due"))[0] == late
    newest = await numbers(client, boss)
    assert newest[0] == manual and newest == list(reversed(await numbers(client, boss, sort="oldest")))
    # a view narrows, other filters still apply
    assert await numbers(client, boss, view="redo", q="养老金") == [redo]
    # the unit's 待办 and 已办
    todo = await numbers(client, unit, view="todo")
    assert fresh in todo and replied not in todo
    assert await numbers(client, unit, view="done") == [replied]
    r = await client.get("/api/v1/tickets", params={"sort": "sideways"}, headers=boss.headers)
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "sort"


async def test_category_at_any_level(client: AsyncClient, people) -> None:
    agent = people["agent"]
    number = await new_ticket(client, agent)
    detail = (await client.get(f"/api/v1/tickets/{number}", headers=agent.headers)).json()
    leaf = detail["category"]
    assert leaf, detail
    path = detail["routing"]["category_path"]
    assert len(path) == 3
    assert number in await numbers(client, agent, category=leaf)
    for level in path:  # a node at any level by its name stands for the leaves under it
        assert number in await numbers(client, agent, category=level), level
    assert number in await numbers(client, agent, category="/".join(path[:2]))
    assert number not in await numbers(client, agent, category="交通运输")
    r = await client.get("/api/v1/tickets", params={"category": "没有的事项"}, headers=agent.headers)
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["code"] == "search.unknown_category"


async def test_a_large_result_is_counted_up_to_the_cap(client: AsyncClient, people, monkeypatch) -> None:
    """Counting every match of a common word cost 0.9 s at a million tickets: past the cap the
    list says "more than" and still pages on."""
    from hotline.tickets import repository

    monkeypatch.setattr(repository, "COUNT_CAP", 2)
    made = [await new_ticket(client, people["agent"]) for _ in range(4)]
    r = await client.get("/api/v1/tickets", params={"q": "养老金", "page_size": 3}, headers=people["agent"].headers)
    body = r.json()
    assert body["total"] == 2 and body["total_capped"] is True and len(body["items"]) == 3
    r = await client.get(
        "/api/v1/tickets", params={"q": "养老金", "page": 2, "page_size": 3}, headers=people["agent"].headers
    )
    assert [i["number"] for i in r.json()["items"]] == [made[0]]
    monkeypatch.setattr(repository, "COUNT_CAP", 1000)
    r = await client.get("/api/v1/tickets", params={"q": "养老金"}, headers=people["agent"].headers)
    assert r.json()["total"] == 4 and r.json()["total_capped"] is False


def test_content_similarity_weighs_both_texts() -> None:
    """Dice of the bigram sets: a short word or a stock phrase inside a long text is not alike."""
    from hotline.web_services import SIMILAR_CONTENT, content_similarity

    assert content_similarity("我的养老金还没有按时发放", "养老金未按时发放") >= SIMILAR_CONTENT
    assert content_similarity("社保", "养老金未按时发放，来电人希望电话回复") < SIMILAR_CONTENT
    assert (
        content_similarity("楼上漏水，物业不管，希望电话回复", "单位不交社保，养老保险断缴了，希望电话回复")
        < SIMILAR_CONTENT
    )
    assert content_similarity("", "养老金") == 0.0

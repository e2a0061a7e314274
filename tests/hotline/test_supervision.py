"""督办单 through the API on real PostgreSQL (实施方案第13条)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.api.supervision import router as supervision_router
from hotline.models import Notification, SupervisionOrder, Ticket, TicketEvent, TicketUnit

HR = "city.human_resources"
FUND = "city.housing_fund"


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    if not any(getattr(r, "path", None) == "/api/v1/supervision" for r in app.routes):
        app.include_router(supervision_router)
    return app


def call(line: str = "12333", content: str = "失业金申领进度") -> dict[str, Any]:
    return {
        "channel": "phone",
        "line": line,
        "caller": {"type": "citizen", "name": "张三", "phone": "13812345678"},
        "kind": "complaint",
        "content": content,
    }


def order(**kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"reason": "overdue", "content": "请于期限内办结并书面回复", "reply_by": "2026-09-30"}
    body.update(kw)
    return body


async def new_ticket(client: AsyncClient, headers: dict[str, str], line: str = "12333") -> str:
    r = await client.post("/api/v1/tickets", json=call(line=line), headers=headers)
    assert r.status_code == 201, r.text
    number: str = r.json()["number"]
    return number


async def ticket_of(session: AsyncSession, number: str) -> Ticket:
    session.expire_all()
    return (await session.execute(select(Ticket).where(Ticket.number == number))).scalar_one()


async def last_event(session: AsyncSession, ticket_id: int) -> TicketEvent:
    stmt = select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id.desc()).limit(1)
    return (await session.execute(stmt)).scalar_one()


async def issue(client: AsyncClient, headers: dict[str, str], number: str, **kw: Any) -> dict[str, Any]:
    r = await client.post(f"/api/v1/tickets/{number}/supervision", json=order(**kw), headers=headers)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_supervisor_issues_an_order_to_the_lead_unit(client: AsyncClient, login, session: AsyncSession) -> None:
    agent = await login("agent")
    number = await new_ticket(client, agent.headers)
    supervisor = await login("supervisor")

    body = await issue(client, supervisor.headers, number)

    assert body["number"] == number and body["unit"] == HR
    assert (body["reason"], body["reason_title"]) == ("overdue", "超期未办")
    assert body["state"] == "open" and body["overdue"] is False and body["response"] is None
    assert body["reply_by"] == "2026-09-30" and body["issued_at"] == "2026-09-28T10:00:00+08:00"
    ticket = await ticket_of(session, number)
    assert ticket.status == "dispatched"
    saved = await session.get(SupervisionOrder, body["id"])
    assert saved is not None and saved.issued_by == supervisor.actor.id and saved.ticket_id == ticket.id
    event = await last_event(session, ticket.id)
    assert (event.action, event.from_status, event.to_status, event.unit_code) == (
        "supervise",
        "dispatched",
        "dispatched",
        HR,
    )
    assert event.data == {"order_id": body["id"], "reason": "overdue", "reply_by": "2026-09-30"}
    notice = (
        await session.execute(select(Notification).where(Notification.dedupe_key == f"supervision:{body['id']}"))
    ).scalar_one()
    assert notice.recipient == f"unit:{HR}" and notice.template == "supervision_issued"
    assert notice.payload == {"number": number, "reason": "overdue", "reply_by": "2026-09-30"}
    assert notice.state == "pending" and notice.ticket_id == ticket.id


async def test_order_to_an_explicit_unit_must_have_a_part_in_the_ticket(
    client: AsyncClient, login, session: AsyncSession
) -> None:
    agent = await login("agent")
    number = await new_ticket(client, agent.headers)
    supervisor = await login("supervisor")

    refused = await client.post(
        f"/api/v1/tickets/{number}/supervision", json=order(unit=FUND), headers=supervisor.headers
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["fields"][0]["field"] == "unit"
    assert refused.json()["error"]["fields"][0]["code"] == "supervision.unit_not_on_ticket"

    ticket = await ticket_of(session, number)
    session.add(TicketUnit(ticket_id=ticket.id, unit_code=FUND, role="assist"))
    await session.commit()
    body = await issue(client, supervisor.headers, number, unit=FUND)
    assert body["unit"] == FUND


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"reason": "too_slow"}, "reason", "supervision.unknown_reason"),
        ({"reply_by": "2026-09-27"}, "reply_by", "supervision.reply_by_past"),
        ({"content": "  "}, "content", "validation.blank"),
        ({"reply_by": "9999-12-31"}, "reply_by", "supervision.reply_by_too_far"),
        ({"reply_by": "2101-01-01"}, "reply_by", "supervision.reply_by_too_far"),
        ({"reply_by": "0001-01-01"}, "reply_by", "supervision.reply_by_past"),
        ({"reply_by": "30/09/2026"}, "reply_by", None),
    ],
)
async def test_invalid_orders_are_refused_naming_the_field(
    client: AsyncClient, login, change: dict[str, Any], field: str, code: str | None
) -> None:
    agent = await login("agent")
    number = await new_ticket(client, agent.headers)
    supervisor = await login("supervisor")
    r = await client.post(f"/api/v1/tickets/{number}/supervision", json=order(**change), headers=supervisor.headers)
    assert r.status_code == 422, r.text
    problem = r.json()["error"]["fields"][0]
    assert problem["field"] == field
    if code is not None:
        assert problem["code"] == code


async def test_today_is_a_valid_reply_by_date_in_local_time(client: AsyncClient, login, clock) -> None:
    agent = await login("agent")
    number = await new_ticket(client, agent.headers)
    supervisor = await login("supervisor")
    clock.advance(hours=14)  # 2026-09-29 00:00 in Shanghai, still 09-28 in UTC
    body = await issue(client, supervisor.headers, number, reply_by="2026-09-29")
    assert body["reply_by"] == "2026-09-29"
    past = await client.post(
        f"/api/v1/tickets/{number}/supervision", json=order(reply_by="2026-09-28"), headers=supervisor.headers
    )
    assert past.status_code == 422


async def test_only_the_centre_issues_orders(client: AsyncClient, login) -> None:
    agent = await login("agent")
    number = await new_ticket(client, agent.headers)
    handler = await login("unit_handler", unit=HR)
    for who in (agent, handler):
        r = await client.post(f"/api/v1/tickets/{number}/supervision", json=order(), headers=who.headers)
        assert r.status_code == 403, r.text


@pytest.mark.parametrize("status", ["closed", "merged", "answered"])
async def test_orders_are_refused_where_the_lifecycle_does_not_allow_them(
    client: AsyncClient, login, session: AsyncSession, status: str
) -> None:
    agent = await login("agent")
    number = await new_ticket(client, agent.headers)
    await session.execute(update(Ticket).where(Ticket.number == number).values(status=status))
    await session.commit()
    supervisor = await login("supervisor")
    r = await client.post(f"/api/v1/tickets/{number}/supervision", json=order(), headers=supervisor.headers)
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "ticket.illegal_transition"


async def test_callback_pending_ticket_can_be_supervised(client: AsyncClient, login, session: AsyncSession) -> None:
    agent = await login("agent")
    number = await new_ticket(client, agent.headers)
    await session.execute(update(Ticket).where(Ticket.number == number).values(status="callback_pending"))
    await session.commit()
    supervisor = await login("supervisor")
    await issue(client, supervisor.headers, number, reason="poor_quality")


async def test_the_orders_unit_responds_once(client: AsyncClient, login, session: AsyncSession, clock) -> None:
    agent = await login("agent")
    number = await new_ticket(client, agent.headers)
    supervisor = await login("supervisor")
    issued = await issue(client, supervisor.headers, number)
    handler = await login("unit_handler", unit=HR)
    clock.advance(hours=3)

    r = await client.post(
        f"/api/v1/supervision/{issued['id']}/response",
        json={"content": "已约谈经办人，明日办结"},
        headers=handler.headers,
    )

    assert r.status_code == 200, r.text
    body = r.json()
    assert body["state"] == "responded" and body["response"] == "已约谈经办人，明日办结"
    assert body["responded_at"] == "2026-09-28T13:00:00+08:00"
    saved = await session.get(SupervisionOrder, issued["id"], populate_existing=True)
    assert saved is not None and saved.responded_by == handler.actor.id
    ticket = await ticket_of(session, number)
    assert ticket.status == "dispatched"
    event = await last_event(session, ticket.id)
    assert (event.action, event.actor_id, event.data) == (
        "respond_supervision",
        handler.actor.id,
        {"order_id": issued["id"]},
    )

    again = await client.post(
        f"/api/v1/supervision/{issued['id']}/response", json={"content": "再次回复"}, headers=handler.headers
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "supervision.already_responded"


async def test_response_refusals(client: AsyncClient, login) -> None:
    agent = await login("agent")
    number = await new_ticket(client, agent.headers)
    supervisor = await login("supervisor")
    issued = await issue(client, supervisor.headers, number)
    url = f"/api/v1/supervision/{issued['id']}/response"

    other_unit = await login("unit_handler", unit=FUND)
    r = await client.post(url, json={"content": "回复"}, headers=other_unit.headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "supervision.not_found"
    for who in (agent, supervisor):
        r = await client.post(url, json={"content": "回复"}, headers=who.headers)
        assert r.status_code == 403
    handler = await login("unit_handler", unit=HR)
    empty = await client.post(url, json={"content": ""}, headers=handler.headers)
    assert empty.status_code == 422
    missing = await client.post(
        "/api/v1/supervision/999999999/response", json={"content": "回复"}, headers=handler.headers
    )
    assert missing.status_code == 404


async def test_listing_is_scoped_to_the_unit_with_open_counts(client: AsyncClient, login, clock) -> None:
    agent = await login("agent")
    hr_one = await new_ticket(client, agent.headers)
    hr_two = await new_ticket(client, agent.headers)
    fund = await new_ticket(client, agent.headers, line="12329")
    supervisor = await login("supervisor")
    first = await issue(client, supervisor.headers, hr_one, reply_by="2026-09-29")
    await issue(client, supervisor.headers, hr_two, reason="poor_quality", reply_by="2026-10-09")
    await issue(client, supervisor.headers, fund)
    handler = await login("unit_handler", unit=HR)
    answered = await client.post(
        f"/api/v1/supervision/{first['id']}/response", json={"content": "已办理"}, headers=handler.headers
    )
    assert answered.status_code == 200

    own = (await client.get(f"/api/v1/supervision?unit={FUND}", headers=handler.headers)).json()
    assert {i["unit"] for i in own["items"]} == {HR}
    assert own["total"] == 2
    assert own["counts_by_unit"] == {HR: 1}
    item = next(i for i in own["items"] if i["number"] == hr_two)
    assert (item["reason"], item["reason_title"], item["state"]) == ("poor_quality", "办理质量不高", "open")

    everything = (await client.get("/api/v1/supervision", headers=supervisor.headers)).json()
    assert everything["counts_by_unit"].get(HR, 0) >= 1 and everything["counts_by_unit"].get(FUND, 0) >= 1
    only_fund = (await client.get(f"/api/v1/supervision?unit={FUND}&state=open", headers=supervisor.headers)).json()
    assert {i["number"] for i in only_fund["items"]} == {fund}
    assert only_fund["counts_by_unit"] == {FUND: 1}
    responded = (await client.get("/api/v1/supervision?state=responded", headers=handler.headers)).json()
    assert [i["number"] for i in responded["items"]] == [hr_one]

    clock.advance(days=3)  # 2026-10-01 local: the 09-30 order is overdue, the 10-09 one is not
    overdue = (await client.get("/api/v1/supervision?overdue=true", headers=supervisor.headers)).json()
    numbers = {i["number"] for i in overdue["items"]}
    assert fund in numbers and hr_two not in numbers and hr_one not in numbers
    assert all(i["overdue"] for i in overdue["items"])
    paged = (await client.get("/api/v1/supervision?page=1&page_size=1", headers=handler.headers)).json()
    assert len(paged["items"]) == 1 and paged["total"] == 2
    bad = await client.get("/api/v1/supervision?state=closed", headers=handler.headers)
    assert bad.status_code == 422

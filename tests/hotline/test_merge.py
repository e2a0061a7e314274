"""并单 and 重复来电 through the API on real PostgreSQL (实施方案第20条, 无理重复诉求处置)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.api.merge import router as merge_router
from hotline.models import Deadline, Ticket, TicketEvent, TicketLink, TicketUnit
from hotline.workflow.merge import merged_callers

HR = "city.human_resources"
FUND = "city.housing_fund"


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    if not any(getattr(r, "path", None) == "/api/v1/tickets/{number}/merge" for r in app.routes):
        app.include_router(merge_router)
    return app


def call(line: str = "12333", content: str = "失业金申领进度", phone: str = "13812345678") -> dict[str, Any]:
    return {
        "channel": "phone",
        "line": line,
        "caller": {"type": "citizen", "name": "张三", "phone": phone},
        "kind": "complaint",
        "content": content,
    }


async def new_ticket(client: AsyncClient, headers: dict[str, str], **kw: Any) -> str:
    r = await client.post("/api/v1/tickets", json=call(**kw), headers=headers)
    assert r.status_code == 201, r.text
    number: str = r.json()["number"]
    return number


async def fetch(session: AsyncSession, number: str) -> Ticket:
    session.expire_all()
    return (await session.execute(select(Ticket).where(Ticket.number == number))).scalar_one()


async def set_status(session: AsyncSession, number: str, status: str) -> None:
    await session.execute(update(Ticket).where(Ticket.number == number).values(status=status))
    await session.commit()


async def events(session: AsyncSession, ticket_id: int) -> list[TicketEvent]:
    stmt = select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id)
    return list((await session.execute(stmt)).scalars())


async def deadline_states(session: AsyncSession, ticket_id: int) -> dict[str, str]:
    rows = await session.execute(select(Deadline.kind, Deadline.state).where(Deadline.ticket_id == ticket_id))
    return dict(rows.all())


async def test_supervisor_merges_same_unit_tickets_into_primary(
    client: AsyncClient, login, session: AsyncSession
) -> None:
    agent = await login("agent")
    primary = await new_ticket(client, agent.headers, phone="13800000001")
    first = await new_ticket(client, agent.headers, phone="13800000002")
    second = await new_ticket(client, agent.headers, phone="13800000003")
    await set_status(session, second, "accepted")
    supervisor = await login("supervisor")

    r = await client.post(
        f"/api/v1/tickets/{primary}/merge",
        json={"secondaries": [first, second], "note": "同一小区同一事项"},
        headers=supervisor.headers,
    )

    assert r.status_code == 200, r.text
    assert r.json() == {"primary": primary, "status": "dispatched", "merged": [first, second]}
    p = await fetch(session, primary)
    p_id = p.id
    assert p.status == "dispatched" and p.merged_into_id is None
    assert await deadline_states(session, p_id) == {"reply": "running", "accept": "running"}
    secondary_ids = []
    for number, before in ((first, "dispatched"), (second, "accepted")):
        s = await fetch(session, number)
        secondary_ids.append(s.id)
        assert s.status == "merged" and s.merged_into_id == p_id
        assert await deadline_states(session, s.id) == {"reply": "cancelled", "accept": "cancelled"}
        last = (await events(session, s.id))[-1]
        assert (last.action, last.from_status, last.to_status) == ("merge", before, "merged")
        assert last.note == f"并入主单 {primary}"
        assert last.actor_id == supervisor.actor.id and last.due_before is not None
    primary_events = await events(session, p_id)
    assert [e.action for e in primary_events] == ["intake", "merge_primary"]
    assert primary_events[-1].data["merged"] == [first, second]
    assert (primary_events[-1].from_status, primary_events[-1].to_status) == ("dispatched", "dispatched")
    links = await session.execute(
        select(TicketLink.linked_ticket_id, TicketLink.kind).where(TicketLink.ticket_id == p_id)
    )
    assert sorted(tuple(x) for x in links) == [(i, "merged") for i in sorted(secondary_ids)]


async def test_secondaries_follow_the_primary_and_every_caller_gets_the_callback(
    client: AsyncClient, login, session: AsyncSession
) -> None:
    agent = await login("agent")
    primary = await new_ticket(client, agent.headers, phone="13800000001")
    other = await new_ticket(client, agent.headers, phone="13900000002")
    supervisor = await login("supervisor")
    r = await client.post(f"/api/v1/tickets/{primary}/merge", json={"secondaries": [other]}, headers=supervisor.headers)
    assert r.status_code == 200, r.text
    handler = await login("unit_handler", unit=HR)

    listing = await client.get(f"/api/v1/tickets/{primary}/merged", headers=handler.headers)
    assert listing.status_code == 200, listing.text
    body = listing.json()
    assert body["number"] == primary and body["primary"] is None
    assert [m["number"] for m in body["merged"]] == [other]
    assert body["merged"][0]["caller"]["phone"] == "139****0002"
    assert body["merged"][0]["caller"]["masked"] is True
    follows = await client.get(f"/api/v1/tickets/{other}/merged", headers=handler.headers)
    assert follows.json() == {"number": other, "primary": primary, "primary_status": "dispatched", "merged": []}

    p = await fetch(session, primary)
    p_id, p_caller = p.id, p.caller_id
    s_caller = (await fetch(session, other)).caller_id
    assert await merged_callers(session, p_id) == [p_caller, s_caller]


async def test_merge_is_for_the_centre_only(client: AsyncClient, login) -> None:
    agent = await login("agent")
    primary = await new_ticket(client, agent.headers)
    other = await new_ticket(client, agent.headers)
    handler = await login("unit_handler", unit=HR)
    for who in (agent, handler):
        r = await client.post(f"/api/v1/tickets/{primary}/merge", json={"secondaries": [other]}, headers=who.headers)
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "auth.role_forbidden"


async def test_tickets_of_different_lead_units_are_not_merged(
    client: AsyncClient, login, session: AsyncSession
) -> None:
    agent = await login("agent")
    primary = await new_ticket(client, agent.headers)
    same = await new_ticket(client, agent.headers)
    fund = await new_ticket(client, agent.headers, line="12329", content="公积金提取")
    supervisor = await login("supervisor")

    r = await client.post(
        f"/api/v1/tickets/{primary}/merge", json={"secondaries": [same, fund]}, headers=supervisor.headers
    )

    assert r.status_code == 409, r.text
    error = r.json()["error"]
    assert error["code"] == "merge.different_units"
    assert fund in error["message"]
    # One transaction: the ticket that could have been merged is untouched.
    untouched = await fetch(session, same)
    assert untouched.status == "dispatched"
    assert await deadline_states(session, untouched.id) == {"reply": "running", "accept": "running"}


@pytest.mark.parametrize("which", ["primary", "secondary"])
async def test_only_running_tickets_are_merged(client: AsyncClient, login, session: AsyncSession, which: str) -> None:
    agent = await login("agent")
    primary = await new_ticket(client, agent.headers)
    other = await new_ticket(client, agent.headers)
    await set_status(session, primary if which == "primary" else other, "replied")
    supervisor = await login("supervisor")

    r = await client.post(f"/api/v1/tickets/{primary}/merge", json={"secondaries": [other]}, headers=supervisor.headers)

    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "ticket.illegal_transition"


async def test_a_ticket_is_merged_once_and_never_into_itself(client: AsyncClient, login) -> None:
    agent = await login("agent")
    primary = await new_ticket(client, agent.headers)
    other = await new_ticket(client, agent.headers)
    third = await new_ticket(client, agent.headers)
    supervisor = await login("supervisor")
    ok = await client.post(
        f"/api/v1/tickets/{primary}/merge", json={"secondaries": [other]}, headers=supervisor.headers
    )
    assert ok.status_code == 200, ok.text

    again = await client.post(
        f"/api/v1/tickets/{third}/merge", json={"secondaries": [other]}, headers=supervisor.headers
    )
    into_merged = await client.post(
        f"/api/v1/tickets/{other}/merge", json={"secondaries": [third]}, headers=supervisor.headers
    )
    itself = await client.post(
        f"/api/v1/tickets/{third}/merge", json={"secondaries": [third]}, headers=supervisor.headers
    )

    for r in (again, into_merged, itself):
        assert r.status_code == 409, r.text
        assert r.json()["error"]["code"] == "merge.already_merged"


async def test_merge_with_unknown_or_no_secondary_is_refused(client: AsyncClient, login) -> None:
    agent = await login("agent")
    primary = await new_ticket(client, agent.headers)
    supervisor = await login("supervisor")
    missing = await client.post(
        f"/api/v1/tickets/{primary}/merge", json={"secondaries": ["202609289999999"]}, headers=supervisor.headers
    )
    assert missing.status_code == 404
    assert "202609289999999" in missing.json()["error"]["message"]
    empty = await client.post(f"/api/v1/tickets/{primary}/merge", json={"secondaries": []}, headers=supervisor.headers)
    assert empty.status_code == 422


async def test_merged_view_is_scoped_to_the_unit(client: AsyncClient, login) -> None:
    agent = await login("agent")
    primary = await new_ticket(client, agent.headers)
    outsider = await login("unit_handler", unit=FUND)
    r = await client.get(f"/api/v1/tickets/{primary}/merged", headers=outsider.headers)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "ticket.not_found"


async def test_repeat_call_is_logged_and_linked_to_the_original(
    client: AsyncClient, login, session: AsyncSession, clock
) -> None:
    agent = await login("agent")
    original = await new_ticket(client, agent.headers)
    await set_status(session, original, "accepted")
    clock.advance(hours=2)

    r = await client.post(
        f"/api/v1/tickets/{original}/repeat",
        json=call(content="又来电催问失业金", phone="13700000009"),
        headers=agent.headers,
    )

    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "repeat" and body["repeat_of"] == original
    assert body["number"].startswith("20260928") and len(body["number"]) == 15
    o = await fetch(session, original)
    o_id = o.id
    assert o.status == "accepted" and o.lead_unit_code == HR
    new = await fetch(session, body["number"])
    assert new.repeat_of_id == o_id and new.lead_unit_code == HR
    assert new.disposition == "dispatch" and new.created_by == agent.actor.id
    assert new.content == "又来电催问失业金" and new.created_at == clock.now
    assert await deadline_states(session, new.id) == {}
    link = (await session.execute(select(TicketLink).where(TicketLink.linked_ticket_id == new.id))).scalar_one()
    assert (link.ticket_id, link.kind) == (o_id, "repeat")
    new_events = await events(session, new.id)
    assert [(e.action, e.from_status, e.to_status) for e in new_events] == [("link_repeat", None, "repeat")]
    on_original = (await events(session, o_id))[-1]
    assert (on_original.action, on_original.from_status, on_original.to_status) == (
        "repeat_call",
        "accepted",
        "accepted",
    )
    assert on_original.note == f"重复来电 {new.number}"
    units = (await session.execute(select(TicketUnit.unit_code).where(TicketUnit.ticket_id == new.id))).scalars().all()
    assert list(units) == [HR]
    handler = await login("unit_handler", unit=HR)
    seen = await client.get(f"/api/v1/tickets/{new.number}", headers=handler.headers)
    assert seen.status_code == 200 and seen.json()["status"] == "repeat"


async def test_repeat_call_refusals(client: AsyncClient, login, session: AsyncSession) -> None:
    agent = await login("agent")
    original = await new_ticket(client, agent.headers)
    handler = await login("unit_handler", unit=HR)
    forbidden = await client.post(f"/api/v1/tickets/{original}/repeat", json=call(), headers=handler.headers)
    assert forbidden.status_code == 403
    missing = await client.post("/api/v1/tickets/202609289999999/repeat", json=call(), headers=agent.headers)
    assert missing.status_code == 404
    for status in ("merged", "not_accepted", "transferred"):
        await set_status(session, original, status)
        r = await client.post(f"/api/v1/tickets/{original}/repeat", json=call(), headers=agent.headers)
        assert r.status_code == 409, r.text
        assert r.json()["error"]["code"] == "repeat.original_not_linkable"
    bad = await client.post(f"/api/v1/tickets/{original}/repeat", json={**call(), "content": ""}, headers=agent.headers)
    assert bad.status_code == 422

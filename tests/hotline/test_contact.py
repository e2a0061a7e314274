"""查看联系方式 (issue 10, item 8): the lead unit of an open ticket opens the caller's phone with
one action that states why; every opening is audited; confidential callers stay hidden; other
units, assisting units and finished tickets get nothing."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.models import PersonalDataAccess, TicketUnit
from tests.hotline.test_pages_auth import sign_in
from tests.hotline.test_pages_unit import FUND, GOOD_REPLY, new_ticket

PHONE = "13600001111"


async def reveal(client: AsyncClient, who: Any, number: str, reason: str = "回电核实养老金发放情况") -> Any:
    return await client.post(f"/api/v1/tickets/{number}/contact", json={"reason": reason}, headers=who.headers)


async def test_the_lead_unit_opens_the_phone_and_the_reading_is_audited(
    client: AsyncClient, people, session: AsyncSession
) -> None:
    number = await new_ticket(client, people["agent"])
    shown = await client.get(f"/api/v1/tickets/{number}", headers=people["hrss"].headers)
    assert PHONE not in shown.text  # masked by default
    r = await reveal(client, people["hrss"], number)
    assert r.status_code == 200, r.text
    assert r.json()["phone"] == PHONE and r.json()["name"] == "赵六" and r.json()["masked"] is False
    audit = (
        (await session.execute(select(PersonalDataAccess).where(PersonalDataAccess.purpose == "contact_caller")))
        .scalars()
        .all()
    )
    assert [(a.user_id, a.reason) for a in audit] == [(people["hrss"].actor.id, "回电核实养老金发放情况")]


async def test_no_reason_other_units_assisting_units_and_finished_tickets_get_nothing(
    client: AsyncClient, people, session: AsyncSession
) -> None:
    number = await new_ticket(client, people["agent"])
    r = await reveal(client, people["hrss"], number, reason=" ")
    assert r.status_code == 422
    assert (await reveal(client, people["fund"], number)).status_code == 404  # not its ticket
    # an assisting unit sees the ticket, but the lead unit makes the call
    ticket_id = (await client.get(f"/api/v1/tickets/{number}", headers=people["agent"].headers)).json()
    from hotline.models import Ticket

    t = (await session.execute(select(Ticket).where(Ticket.number == number))).scalar_one()
    session.add(TicketUnit(ticket_id=t.id, unit_code=FUND, role="assist"))
    await session.commit()
    assert ticket_id
    r = await reveal(client, people["fund"], number)
    assert r.status_code == 403 and r.json()["error"]["code"] == "contact.not_lead_unit"
    assert (await reveal(client, people["agent"], number)).status_code == 403  # agents see it on their own pages
    # once replied, the unit's part is done
    h = people["hrss"].headers
    assert (await client.post(f"/api/v1/tickets/{number}/accept", json={}, headers=h)).status_code == 200
    replied = await client.post(
        f"/api/v1/tickets/{number}/reply", json={"content": GOOD_REPLY, "outcome": "resolved"}, headers=h
    )
    assert replied.status_code == 200, replied.text
    r = await reveal(client, people["hrss"], number)
    assert r.status_code == 409 and r.json()["error"]["code"] == "contact.ticket_closed"
    count = (
        await session.execute(select(PersonalDataAccess).where(PersonalDataAccess.purpose == "contact_caller"))
    ).all()
    assert count == []  # nothing refused was recorded as read


async def test_no_phone_while_the_unit_asks_to_return_the_ticket(client: AsyncClient, people, login) -> None:
    """A unit that asked to hand the ticket back has said it is not its duty: no call while the
    return is reviewed or arbitrated; once the ticket is ruled its own, it may call again."""
    number = await new_ticket(client, people["agent"])
    r = await client.post(
        f"/api/v1/tickets/{number}/return",
        json={"reason": "not_our_duty", "explanation": "公积金事项不属本局职责", "suggested_unit": FUND},
        headers=people["hrss"].headers,
    )
    assert r.status_code == 200, r.text
    r = await reveal(client, people["hrss"], number)
    assert r.status_code == 409 and r.json()["error"]["code"] == "contact.return_pending"
    assert "退单" in r.json()["error"]["message"]
    r = await client.post(
        f"/api/v1/tickets/{number}/return/decision",
        json={"decision": "arbitrate", "note": "职责不清，提请机构编制部门裁定"},
        headers=(await login("supervisor")).headers,
    )
    assert r.status_code == 200, r.text
    r = await reveal(client, people["hrss"], number)
    assert r.status_code == 409 and r.json()["error"]["code"] == "contact.return_pending"
    r = await client.post(
        f"/api/v1/tickets/{number}/arbitration",
        json={"unit": "city.human_resources", "note": "养老金发放属人社职责"},
        headers=(await login("arbitrator")).headers,
    )
    assert r.status_code == 200, r.text
    assert (await reveal(client, people["hrss"], number)).status_code == 200


async def test_a_confidential_caller_stays_hidden(client: AsyncClient, people) -> None:
    number = await new_ticket(
        client, people["agent"], caller={"type": "citizen", "name": "赵六", "phone": PHONE, "confidential": True}
    )
    r = await reveal(client, people["hrss"], number)
    assert r.status_code == 403 and r.json()["error"]["code"] == "contact.confidential"


async def test_the_unit_page_opens_the_phone_in_place(client: AsyncClient, people) -> None:
    number = await new_ticket(client, people["agent"])
    csrf = await sign_in(client, people["hrss"].actor.username)
    page = await client.get(f"/unit/tickets/{number}")
    assert "查看联系方式" in page.text and PHONE not in page.text
    empty = await client.post(f"/unit/tickets/{number}/contact", data={"csrf": csrf, "reason": ""})
    assert empty.status_code == 422 and "请写明查看联系方式的原因" in empty.text and PHONE not in empty.text
    shown = await client.post(f"/unit/tickets/{number}/contact", data={"csrf": csrf, "reason": "回电核实"})
    assert shown.status_code == 200 and PHONE in shown.text and "本次查看已记录" in shown.text
    assert shown.headers["cache-control"] == "no-store"
    again = await client.get(f"/unit/tickets/{number}")
    assert PHONE not in again.text  # shown once, where it was asked for


async def test_a_unit_cannot_search_back_what_it_is_shown_masked(client: AsyncClient, people) -> None:
    await new_ticket(client, people["agent"], content="养老金未发放，身份证370402199001011234，邮箱zhangjh@example.com")
    for q in ("身份证3", "3704", "zhangjh", "三七零"):
        r = await client.get("/api/v1/tickets", params={"q": q}, headers=people["hrss"].headers)
        assert r.status_code == 422 and r.json()["error"]["fields"][0]["code"] == "search.identifier_for_unit", q
    words = await client.get("/api/v1/tickets", params={"q": "养老金"}, headers=people["hrss"].headers)
    assert words.status_code == 200 and words.json()["total"] >= 1
    assert "370402199001011234" not in words.text and "zhangjh" not in words.text
    # the centre searches identifiers as ever
    found = await client.get("/api/v1/tickets", params={"q": "3704"}, headers=people["agent"].headers)
    assert found.status_code == 200 and found.json()["total"] >= 1


async def test_a_reason_must_say_something(client: AsyncClient, people) -> None:
    number = await new_ticket(client, people["agent"])
    r = await reveal(client, people["hrss"], number, reason="..")
    assert r.status_code == 422

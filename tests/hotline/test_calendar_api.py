"""Calendar API and import: deadlines by the statutory calendar, provisional years, recomputation."""

from __future__ import annotations

import json

from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.models import Ticket, TicketEvent

SCHEDULE_2027 = {
    "year": 2027,
    "holidays": [
        {"date": "2027-01-01", "name": "元旦"},
        {"date": "2027-01-04", "name": "元旦补休（测试用）"},
        {"date": "2027-01-05", "name": "元旦补休（测试用）"},
    ],
    "makeup_workdays": [{"date": "2027-01-09", "name": "元旦调休"}],
}


async def test_deadline_endpoint_follows_the_statutory_calendar(client: AsyncClient, login) -> None:
    agent = await login("agent")
    r = await client.get(
        "/api/v1/calendar/deadline",
        params={"start": "2026-09-28T09:00:00+08:00", "working_days": 5},
        headers=agent.headers,
    )
    assert r.status_code == 200
    assert r.json() == {
        "due_date": "2026-10-10",
        "due_at": "2026-10-11T00:00:00+08:00",
        "working_days": 5,
        "provisional": False,
    }


async def test_deadline_in_a_year_not_loaded_is_provisional(client: AsyncClient, login) -> None:
    agent = await login("agent")
    r = await client.get(
        "/api/v1/calendar/deadline",
        params={"start": "2031-03-02T09:00:00+08:00", "working_days": 5},
        headers=agent.headers,
    )
    assert r.json()["provisional"] is True
    assert r.json()["due_date"] == "2031-03-07"  # Sunday start: Monday to Friday by weekends only


async def test_naive_start_is_refused(client: AsyncClient, login) -> None:
    agent = await login("agent")
    r = await client.get(
        "/api/v1/calendar/deadline", params={"start": "2026-09-28T09:00:00", "working_days": 5}, headers=agent.headers
    )
    assert r.status_code == 422
    assert r.json()["error"]["fields"][0]["field"] == "start"


async def test_year_lists_holidays_and_makeup_days(client: AsyncClient, login) -> None:
    agent = await login("agent")
    body = (await client.get("/api/v1/calendar/2026", headers=agent.headers)).json()
    assert body["loaded"] is True and body["source"] == "chinesecalendar"
    assert {"date": "2026-10-10", "kind": "makeup_workday", "name": "国庆节调休"} in body["makeup_workdays"]
    assert any(d["date"] == "2026-10-01" and d["name"] == "国庆节" for d in body["holidays"])
    assert (await client.get("/api/v1/calendar/2031", headers=agent.headers)).json()["loaded"] is False


async def test_only_supervisors_import(client: AsyncClient, login) -> None:
    agent = await login("agent")
    r = await client.post("/api/v1/calendar/import", json=SCHEDULE_2027, headers=agent.headers)
    assert r.status_code == 403


async def test_import_recomputes_affected_open_deadlines_with_an_event(
    client: AsyncClient, login, clock, session: AsyncSession
) -> None:
    agent = await login("agent")
    supervisor = await login("supervisor")
    clock.now = clock.now.replace(year=2026, month=12, day=30)  # Wednesday; the window reaches into 2027
    r = await client.post(
        "/api/v1/tickets",
        json={"caller": {"type": "citizen"}, "kind": "complaint", "content": "广场舞噪音扰民", "line": "12345"},
        headers=agent.headers,
    )
    before = r.json()["deadline"]
    assert before["provisional"] is True and before["due_date"] == "2027-01-06"  # weekends only in 2027
    untouched = (
        await client.post(
            "/api/v1/tickets",
            json={"caller": {"type": "citizen"}, "kind": "complaint", "content": "噪音", "line": "12345"},
            headers=agent.headers,
        )
    ).json()
    imp = await client.post("/api/v1/calendar/import", json=SCHEDULE_2027, headers=supervisor.headers)
    assert imp.status_code == 200, imp.text
    assert imp.json()["holidays"] == 3 and imp.json()["recomputed"] == 2
    after = (await client.get(f"/api/v1/tickets/{r.json()['number']}", headers=agent.headers)).json()
    # 12-31 (1), 01-01 holiday, 01-04/05 holidays, 01-06 (2), 01-07 (3), 01-08 (4), Sat 01-09 make-up (5).
    assert after["deadline"]["due_date"] == "2027-01-09"
    assert after["deadline"]["provisional"] is False
    event = after["events"][-1]
    assert event["action"] == "recalculate"
    assert event["due_before"] == "2027-01-07T00:00:00+08:00"
    assert event["due_after"] == "2027-01-10T00:00:00+08:00"
    assert event["actor"] == supervisor.actor.username
    assert untouched["number"] != r.json()["number"]
    ticket = (await session.execute(select(Ticket).where(Ticket.number == r.json()["number"]))).scalar_one()
    events = (await session.execute(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id))).scalars().all()
    assert [e.action for e in events] == ["intake", "recalculate"]


async def test_bad_schedule_is_refused_naming_the_entry(client: AsyncClient, login) -> None:
    supervisor = await login("supervisor")
    bad = {**SCHEDULE_2027, "makeup_workdays": [{"date": "2027-01-06", "name": "周三不可能是调休"}]}
    r = await client.post("/api/v1/calendar/import", json=bad, headers=supervisor.headers)
    assert r.status_code == 422
    problem = r.json()["error"]["fields"][0]
    assert problem["code"] == "calendar.makeup_not_weekend"
    assert "2027-01-06" in problem["message"]
    assert json.dumps(bad)  # the schedule itself is untouched by the refusal


async def test_intake_notices_a_calendar_imported_by_another_process(
    client: AsyncClient, login, clock, session: AsyncSession, runtime
) -> None:
    from hotline.calendar.service import CalendarCache, import_schedule

    agent = await login("agent")
    clock.now = clock.now.replace(year=2026, month=12, day=30)
    body = {"caller": {"type": "citizen"}, "kind": "complaint", "content": "噪音扰民", "line": "12345"}
    first = (await client.post("/api/v1/tickets", json=body, headers=agent.headers)).json()
    assert first["deadline"]["provisional"] is True  # this process has now cached the calendar
    # Another process imports 2027; this process's cache knows nothing of it.
    await import_schedule(session, CalendarCache(), json.dumps(SCHEDULE_2027), None, clock())
    await session.commit()
    second = (await client.post("/api/v1/tickets", json=body, headers=agent.headers)).json()
    assert second["deadline"]["due_date"] == "2027-01-09"
    assert second["deadline"]["provisional"] is False
    stored = (await client.get(f"/api/v1/tickets/{second['number']}", headers=agent.headers)).json()
    assert stored["deadline"]["due_date"] == "2027-01-09"
    assert stored["events"][0]["due_after"] == "2027-01-10T00:00:00+08:00"


async def test_an_imported_notice_applies_its_previous_december_days(client: AsyncClient, login) -> None:
    supervisor = await login("supervisor")
    notice = {
        "year": 2032,
        "holidays": [{"date": "2031-12-31", "name": "元旦"}, {"date": "2032-01-01", "name": "元旦"}],
        "makeup_workdays": [{"date": "2031-12-27", "name": "元旦调休"}],
    }
    r = await client.post("/api/v1/calendar/import", json=notice, headers=supervisor.headers)
    assert r.status_code == 200, r.text
    # Tuesday 2031-12-30 + 1 working day: the 31st is a holiday, so Friday 2032-01-02
    due = await client.get(
        "/api/v1/calendar/deadline",
        params={"start": "2031-12-30T10:00:00+08:00", "working_days": 1},
        headers=supervisor.headers,
    )
    assert due.json()["due_date"] == "2032-01-02", due.text
    # Friday 2031-12-26 + 1: Saturday the 27th is a make-up working day
    due = await client.get(
        "/api/v1/calendar/deadline",
        params={"start": "2031-12-26T10:00:00+08:00", "working_days": 1},
        headers=supervisor.headers,
    )
    assert due.json()["due_date"] == "2031-12-27", due.text
    listed = (await client.get("/api/v1/calendar/2032", headers=supervisor.headers)).json()
    assert {"date": "2031-12-27", "kind": "makeup_workday", "name": "元旦调休"} in listed["makeup_workdays"]


async def test_the_2005_correction_reaches_the_loaded_calendar(client: AsyncClient, login) -> None:
    agent = await login("agent")
    listed = (await client.get("/api/v1/calendar/2005", headers=agent.headers)).json()
    assert {"date": "2005-12-31", "kind": "makeup_workday", "name": "元旦调休"} in listed["makeup_workdays"]

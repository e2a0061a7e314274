"""SLA sweep against real PostgreSQL with an injected clock: each step fires once at its local time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.models import Notification, SlaStep, SupervisionOrder, Ticket, TicketEvent
from hotline.notifications import render
from hotline.sla import sweep

HRSS = "city.human_resources"


def local(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    from dispatcher.calendar import LOCAL_TZ

    return datetime(y, m, d, hh, mm, tzinfo=LOCAL_TZ)


async def ticket(client: AsyncClient, agent: Any, **kw: Any) -> str:
    body: dict[str, Any] = {
        "caller": {"type": "citizen", "phone": "13600001111"},
        "kind": "complaint",
        "content": "养老金未发放",
        "line": "12333",
    }
    body.update(kw)
    r = await client.post("/api/v1/tickets", json=body, headers=agent.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["number"])


async def actions(session: AsyncSession, number: str) -> list[str]:
    t = (await session.execute(select(Ticket).where(Ticket.number == number))).scalar_one()
    rows = await session.execute(
        select(TicketEvent.action).where(TicketEvent.ticket_id == t.id).order_by(TicketEvent.id)
    )
    return list(rows.scalars())


async def test_each_step_fires_once_at_its_local_time_across_the_national_day(
    client: AsyncClient, login, sessions: async_sessionmaker[AsyncSession], session: AsyncSession, runtime
) -> None:
    agent = await login("agent")
    number = await ticket(client, agent)  # Monday 2026-09-28 10:00; due 24:00 Saturday 10-10 (make-up day)
    timeline = [
        (local(2026, 9, 29, 23, 59), []),
        (local(2026, 9, 30, 0, 1), ["alert"]),  # not accepted by 24:00 of 09-29
        (local(2026, 10, 9, 23, 59), []),
        (local(2026, 10, 10, 0, 0), ["remind"]),  # start of the last working day (the make-up Saturday)
        (local(2026, 10, 10, 23, 59), []),
        (local(2026, 10, 11, 0, 0), ["mark_overdue"]),
        (local(2026, 10, 12, 23, 59), []),
        (local(2026, 10, 13, 0, 0), ["supervise"]),  # still unreplied 1 working day (Mon 10-12) after
        (local(2026, 10, 15, 23, 59), []),
        (local(2026, 10, 16, 0, 0), ["alert"]),  # the supervision order was to be answered by 10-15
        (local(2026, 10, 16, 23, 59), []),
        (local(2026, 10, 17, 0, 0), ["notice"]),  # 5 working days after: 12, 13, 14, 15, 16
    ]
    seen = await actions(session, number)
    for now, expected in timeline:
        await sweep(sessions, runtime, now)
        await sweep(sessions, runtime, now)  # a second sweep at the same moment does nothing more
        after = await actions(session, number)
        assert after[len(seen) :] == expected, now
        seen = after
    t = (await session.execute(select(Ticket).where(Ticket.number == number))).scalar_one()
    assert t.reminder_count == 1 and t.overdue_marked is True
    orders = (await session.execute(select(SupervisionOrder).where(SupervisionOrder.ticket_id == t.id))).scalars().all()
    assert len(orders) == 1 and orders[0].reason_code == "overdue"
    assert orders[0].reply_by.isoformat() == "2026-10-15"  # 2 working days from Tuesday 10-13 00:00
    keys = (await session.execute(select(Notification.template).where(Notification.ticket_id == t.id))).scalars().all()
    # intake: the caller's receipt and the unit's new-ticket notice; then accept overdue, reminder,
    # overdue, supervision order, its lapse (to the centre), notice
    expected = [
        "ticket_accepted",
        "new_ticket",
        "overdue",
        "reminder",
        "overdue",
        "supervision_issued",
        "overdue",
        "notice",
    ]
    assert sorted(keys) == sorted(expected)
    # every notice the sweep queued can be rendered (the reminder once lacked its due date)
    queued = (await session.execute(select(Notification).where(Notification.ticket_id == t.id))).scalars().all()
    texts = {n.template: render(n.template, n.payload, reason_titles={"overdue": "超期未办"}) for n in queued}
    assert "2026-10-10" in texts["reminder"]


async def test_a_reply_in_time_cancels_the_remaining_steps(
    client: AsyncClient, login, sessions, session: AsyncSession, runtime, clock
) -> None:
    agent = await login("agent")
    hrss = await login("unit_handler", unit=HRSS)
    number = await ticket(client, agent)
    await sweep(sessions, runtime, local(2026, 9, 28, 11))  # plans the steps
    await client.post(f"/api/v1/tickets/{number}/accept", headers=hrss.headers)
    clock.now = local(2026, 10, 9, 9).astimezone(UTC)
    r = await client.post(
        f"/api/v1/tickets/{number}/reply",
        json={"content": "经核实已补发养老金，并电话告知诉求人到账时间。", "outcome": "resolved"},
        headers=hrss.headers,
    )
    assert r.status_code == 200
    await sweep(sessions, runtime, local(2026, 10, 30))
    assert [a for a in await actions(session, number) if a in ("remind", "mark_overdue", "supervise", "notice")] == []


async def test_the_centre_queue_is_reminded_but_never_supervises_itself(
    client: AsyncClient, login, sessions, session: AsyncSession, runtime
) -> None:
    """A ticket waiting for manual dispatch is the centre's own work: reminded and marked overdue,
    but a 督办单 or a 通报 addressed to the centre has nobody to answer it."""
    agent = await login("agent")
    number = await ticket(client, agent, content="有件事情想反映一下", line="12345")
    detail = await client.get(f"/api/v1/tickets/{number}", headers=agent.headers)
    assert detail.json()["lead_unit"] == "centre.dispatch", detail.text
    await sweep(sessions, runtime, local(2026, 9, 28, 11))
    await sweep(sessions, runtime, local(2026, 10, 30))
    done = await actions(session, number)
    assert "mark_overdue" in done and "supervise" not in done and "notice" not in done
    orders = await session.execute(
        select(SupervisionOrder.id).join(Ticket, Ticket.id == SupervisionOrder.ticket_id).where(Ticket.number == number)
    )
    assert orders.all() == []


async def test_an_approved_extension_replans_the_steps(
    client: AsyncClient, login, sessions, session: AsyncSession, runtime
) -> None:
    agent = await login("agent")
    hrss = await login("unit_handler", unit=HRSS)
    centre = await login("supervisor")
    number = await ticket(client, agent)
    await sweep(sessions, runtime, local(2026, 9, 28, 11))
    await client.post(f"/api/v1/tickets/{number}/accept", headers=hrss.headers)
    await client.post(
        f"/api/v1/tickets/{number}/extension", json={"working_days": 2, "reason": "需现场勘查"}, headers=hrss.headers
    )
    await client.post(f"/api/v1/tickets/{number}/extension/decision", json={"approve": True}, headers=centre.headers)
    await sweep(sessions, runtime, local(2026, 10, 11, 0, 5))  # the old overdue instant
    assert "mark_overdue" not in await actions(session, number)
    await sweep(sessions, runtime, local(2026, 10, 14, 0, 0))  # new due date Tue 10-13 (12, 13)
    assert (await actions(session, number)).count("mark_overdue") == 1
    t = (await session.execute(select(Ticket).where(Ticket.number == number))).scalar_one()
    skipped = await session.scalar(
        select(func.count()).select_from(SlaStep).where(SlaStep.ticket_id == t.id, SlaStep.outcome == "replanned")
    )
    assert skipped and skipped >= 2


async def test_manual_reminder_counts(client: AsyncClient, login, session: AsyncSession) -> None:
    agent = await login("agent")
    centre = await login("supervisor")
    number = await ticket(client, agent)
    r = await client.post(f"/api/v1/tickets/{number}/remind", json={"note": "请加快办理"}, headers=centre.headers)
    assert r.status_code == 200 and r.json()["reminder_count"] == 1
    hrss = await login("unit_handler", unit=HRSS)
    queue = (await client.get("/api/v1/queue", headers=hrss.headers)).json()
    assert next(i for i in queue["items"] if i["number"] == number)["reminder_count"] == 1  # visible to the unit
    assert (await client.post(f"/api/v1/tickets/{number}/remind", json={}, headers=agent.headers)).status_code == 403
    assert (await actions(session, number))[-1] == "remind"
    notice = (
        (
            await session.execute(
                select(Notification).where(Notification.template == "reminder").order_by(Notification.id.desc())
            )
        )
        .scalars()
        .first()
    )
    assert notice is not None and "2026-10-10" in render(notice.template, notice.payload)


async def test_a_manual_reminder_is_once_a_day(client: AsyncClient, login, clock) -> None:
    agent, centre = await login("agent"), await login("supervisor")
    number = await ticket(client, agent)
    r = await client.post(f"/api/v1/tickets/{number}/remind", json={}, headers=centre.headers)
    assert r.status_code == 200
    again = await client.post(f"/api/v1/tickets/{number}/remind", json={}, headers=centre.headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "remind.already_today"
    clock.now = local(2026, 9, 29, 9).astimezone(UTC)  # the next (Beijing) day
    r = await client.post(f"/api/v1/tickets/{number}/remind", json={}, headers=centre.headers)
    assert r.status_code == 200 and r.json()["reminder_count"] == 2


async def test_importing_a_calendar_replans_pending_reminders_and_overdue_marks(
    client: AsyncClient, login, sessions, session: AsyncSession, runtime, clock
) -> None:
    import json

    from hotline.calendar.service import CalendarCache, import_schedule

    agent = await login("agent")
    clock.now = local(2026, 12, 30, 10).astimezone(UTC)  # due 2027-01-06 by weekends only (provisional)
    number = await ticket(client, agent)
    await sweep(sessions, runtime, local(2026, 12, 30, 11))
    schedule = {
        "year": 2027,
        "holidays": [{"date": d, "name": "元旦"} for d in ("2027-01-01", "2027-01-04", "2027-01-05")],
        "makeup_workdays": [{"date": "2027-01-09", "name": "元旦调休"}],
    }
    await import_schedule(session, CalendarCache(), json.dumps(schedule), None, clock())
    await session.commit()
    runtime.calendar.invalidate()
    await sweep(sessions, runtime, local(2026, 12, 30, 12))  # re-plans the moved deadline
    await sweep(sessions, runtime, local(2027, 1, 7, 0, 1))  # the old overdue instant
    assert "mark_overdue" not in await actions(session, number)
    await sweep(sessions, runtime, local(2027, 1, 9, 0, 0))  # new last day: the make-up Saturday
    assert (await actions(session, number))[-1] == "remind"
    await sweep(sessions, runtime, local(2027, 1, 10, 0, 0))
    assert (await actions(session, number))[-1] == "mark_overdue"


async def test_a_poison_row_is_passed_over_and_the_other_tickets_are_still_enforced(
    client: AsyncClient, login, sessions: async_sessionmaker[AsyncSession], session: AsyncSession, runtime
) -> None:
    """Issue 10, item 2: a stored date beyond the calendar's range (written before dates were
    bounded, or by hand) stopped every sweep with OverflowError; now it is passed over, told to
    the centre once, and every other ticket is enforced."""
    from datetime import date

    from sqlalchemy import update

    from hotline.models import Deadline

    agent = await login("agent")
    poisoned, by_deadline, healthy = [await ticket(client, agent) for _ in range(3)]
    ids = {
        n: (await session.execute(select(Ticket.id).where(Ticket.number == n))).scalar_one()
        for n in (poisoned, by_deadline, healthy)
    }
    # an open supervision order answering by 9999-12-31, and a deadline due on that day
    session.add(
        SupervisionOrder(
            ticket_id=ids[poisoned],
            unit_code=HRSS,
            reason_code="overdue",
            content="请办理",
            reply_by=date(9999, 12, 31),
            issued_at=local(2026, 9, 28, 11),
            state="open",
        )
    )
    await session.execute(
        update(Deadline)
        .where(Deadline.ticket_id == ids[by_deadline], Deadline.kind == "reply")
        .values(due_date=date(9999, 12, 31), plan_version=Deadline.plan_version + 1)
    )
    await session.commit()

    report = await sweep(sessions, runtime, local(2026, 9, 30, 0, 1))
    assert report.failed == 2
    # the healthy ticket (and the others' accept deadlines) are enforced as ever
    assert await actions(session, healthy) == ["intake", "alert"]
    assert (await actions(session, poisoned))[-1] == "alert"
    failures = (
        await session.execute(
            select(Notification.recipient, Notification.payload).where(Notification.template == "sweep_failure")
        )
    ).all()
    assert sorted(p["number"] for _, p in failures) == sorted([poisoned, by_deadline])
    assert {r for r, _ in failures} == {"unit:centre.dispatch"}
    assert all(render("sweep_failure", p) for _, p in failures)
    # passed over once: the next sweeps neither fail again nor notify again
    again = await sweep(sessions, runtime, local(2026, 10, 10, 0, 0))
    assert again.failed == 0 and again.acted.get("reminder", 0) >= 2
    assert await actions(session, healthy) == ["intake", "alert", "remind"]
    count = await session.scalar(
        select(func.count()).select_from(Notification).where(Notification.template == "sweep_failure")
    )
    assert count == 2

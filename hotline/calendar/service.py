"""Working calendar policy: seeding, yearly imports and recomputation of affected deadlines.

Deadlines follow the Civil Code (民法典第二百零一条、第二百零三条): the start day is not counted and
the limit ends at 24:00 of the last working day. Days in a year whose official schedule is not
loaded are counted by weekends only and marked provisional; importing that year's schedule
recomputes every running deadline it affects and records the change on each ticket.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime

import chinese_calendar
from sqlalchemy.ext.asyncio import AsyncSession

from dispatcher.calendar import (
    CHINESECALENDAR_CORRECTIONS,
    CalendarError,
    DayKind,
    SpecialDay,
    WorkingCalendar,
    parse_schedule,
    schedule_from_chinesecalendar_data,
)
from dispatcher.lifecycle import Action, Status, transition
from hotline.calendar import repository as repo
from hotline.errors import InvalidInput
from hotline.models import TicketEvent
from hotline.users import Actor


class CalendarCache:
    """The in-memory calendar of one process, rebuilt when the stored calendar changes."""

    def __init__(self) -> None:
        self._stamp: tuple[int, datetime | None] | None = None
        self._calendar: WorkingCalendar | None = None
        self._lock = asyncio.Lock()

    async def get(self, session: AsyncSession) -> WorkingCalendar:
        current = await repo.stamp(session)
        if self._calendar is not None and current == self._stamp:
            return self._calendar
        async with self._lock:
            days, years = await repo.all_days(session)
            calendar = WorkingCalendar((SpecialDay(d, DayKind(k), n) for d, k, n in days), years)
            self._calendar, self._stamp = calendar, current
            return calendar

    def invalidate(self) -> None:
        self._calendar = None

    @property
    def current(self) -> tuple[WorkingCalendar, tuple[int, datetime | None]] | None:
        """The calendar last loaded and its stamp, without asking the database (hot paths verify later)."""
        if self._calendar is None or self._stamp is None:
            return None
        return self._calendar, self._stamp


async def seed_from_chinesecalendar(session: AsyncSession) -> list[int]:
    """Load every year the ``chinesecalendar`` package knows and the database does not have yet.

    A year imported by a supervisor is never overwritten by the package's data.
    """
    days, years = schedule_from_chinesecalendar_data(
        chinese_calendar.constants.holidays, chinese_calendar.constants.workdays
    )
    have = await repo.loaded_years(session)
    added = sorted(set(years) - have)
    for year in added:
        await repo.replace_year(session, year, [d for d in days if d.day.year == year], "chinesecalendar", None)
    # corrections of the package's data also reach years loaded from it before they were known
    await repo.apply_corrections(session, CHINESECALENDAR_CORRECTIONS, "chinesecalendar")
    return added


@dataclass(frozen=True, slots=True)
class ImportResult:
    year: int
    holidays: int
    makeup_workdays: int
    recomputed: int


async def import_schedule(
    session: AsyncSession, cache: CalendarCache, text: str, actor: Actor | None, now: datetime
) -> ImportResult:
    """Replace one year's schedule and recompute the running deadlines whose window meets that year."""
    try:
        year, days = parse_schedule(text)
    except CalendarError as exc:
        raise InvalidInput.one("schedule", exc.code, exc.message) from exc
    await repo.replace_year(session, year, days, "import", actor.id if actor else None)
    await session.flush()
    cache.invalidate()
    calendar = await cache.get(session)
    recomputed = 0
    for deadline, ticket in await repo.running_deadlines_touching(session, date(year, 1, 1), date(year, 12, 31)):
        fresh = calendar.deadline(deadline.start_at, deadline.working_days)
        if deadline.extension_days:
            fresh = calendar.extend(fresh, deadline.extension_days)
        if (fresh.due_date, fresh.provisional) == (deadline.due_date, deadline.provisional):
            continue
        status = Status(ticket.status)
        transition(status, Action.RECALCULATE)
        session.add(
            TicketEvent(
                ticket_id=ticket.id,
                at=now,
                actor_id=actor.id if actor else None,
                action=Action.RECALCULATE.value,
                from_status=status.value,
                to_status=status.value,
                unit_code=deadline.unit_code,
                due_before=deadline.due_at,
                due_after=fresh.due_at,
                note=f"导入{year}年法定节假日安排，办理时限重算",
                data={
                    "year": year,
                    "due_date_before": deadline.due_date.isoformat(),
                    "due_date_after": fresh.due_date.isoformat(),
                    "provisional_before": deadline.provisional,
                    "provisional_after": fresh.provisional,
                },
            )
        )
        deadline.due_date, deadline.due_at, deadline.provisional = fresh.due_date, fresh.due_at, fresh.provisional
        deadline.plan_version += 1  # re-plans every pending reminder and overdue mark it affects
        recomputed += 1
    await session.flush()
    return ImportResult(
        year=year,
        holidays=sum(d.kind is DayKind.HOLIDAY for d in days),
        makeup_workdays=sum(d.kind is DayKind.MAKEUP_WORKDAY for d in days),
        recomputed=recomputed,
    )

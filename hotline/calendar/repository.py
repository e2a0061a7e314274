"""SQL of the working calendar and of the deadlines it governs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from dispatcher.calendar import LOCAL_TZ, SpecialDay
from hotline.models import CalendarDay, CalendarYear, Deadline, Ticket


async def stamp(session: AsyncSession) -> tuple[int, datetime | None]:
    """Changes whenever a year is loaded or replaced (cache key of the in-memory calendar)."""
    row = (await session.execute(select(func.count(), func.max(CalendarYear.loaded_at)))).one()
    return int(row[0]), row[1]


async def all_days(session: AsyncSession) -> tuple[list[tuple[date, str, str]], list[int]]:
    days = (await session.execute(select(CalendarDay.day, CalendarDay.kind, CalendarDay.name))).all()
    years = (await session.execute(select(CalendarYear.year))).scalars().all()
    return [tuple(d) for d in days], list(years)  # type: ignore[misc]


async def loaded_years(session: AsyncSession) -> set[int]:
    return set((await session.execute(select(CalendarYear.year))).scalars())


async def replace_year(
    session: AsyncSession, year: int, days: Sequence[SpecialDay], source: str, actor_id: int | None
) -> None:
    """Make ``days`` the schedule of ``year`` (its notice); a day of the previous December it
    names is stored under ``year`` too (the notice that set it) and replaces an earlier entry."""
    stmt = insert(CalendarYear).values(year=year, source=source, loaded_by=actor_id, loaded_at=func.clock_timestamp())
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[CalendarYear.year],
            set_={"source": source, "loaded_by": actor_id, "loaded_at": func.clock_timestamp()},
        )
    )
    await session.execute(delete(CalendarDay).where(CalendarDay.year == year))
    if days:
        # a notice's days in the previous December replace what was known of those days
        await session.execute(delete(CalendarDay).where(CalendarDay.day.in_([d.day for d in days])))
        await session.execute(
            insert(CalendarDay),
            [{"day": d.day, "year": year, "kind": d.kind.value, "name": d.name} for d in days],
        )


async def apply_corrections(session: AsyncSession, days: Sequence[SpecialDay], source: str) -> int:
    """Write each corrected day into its year when that year's schedule came from ``source``
    (a supervisor's import is never changed); idempotent. Returns how many days were written."""
    written = 0
    for d in days:
        info = await session.get(CalendarYear, d.day.year)
        if info is None or info.source != source:
            continue
        await session.execute(delete(CalendarDay).where(CalendarDay.day == d.day))
        await session.execute(insert(CalendarDay).values(day=d.day, year=d.day.year, kind=d.kind.value, name=d.name))
        written += 1
    return written


async def year_days(session: AsyncSession, year: int) -> tuple[CalendarYear | None, list[CalendarDay]]:
    info = await session.get(CalendarYear, year)
    days = (
        (await session.execute(select(CalendarDay).where(CalendarDay.year == year).order_by(CalendarDay.day)))
        .scalars()
        .all()
    )
    return info, list(days)


async def running_deadlines_touching(session: AsyncSession, first: date, last: date) -> list[tuple[Deadline, Ticket]]:
    """Running deadlines whose counting window (start date, due date] meets [first, last]; locked."""
    stmt = (
        select(Deadline, Ticket)
        .join(Ticket, Ticket.id == Deadline.ticket_id)
        .where(Deadline.state == "running", Deadline.due_date >= first, Deadline.start_at < local_midnight(last))
        .order_by(Deadline.id)
        .with_for_update(of=Deadline)
    )
    return [(d, t) for d, t in (await session.execute(stmt))]


def local_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=LOCAL_TZ)

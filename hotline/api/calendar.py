from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Body, Path, Query
from pydantic import BaseModel

from dispatcher.calendar import CalendarError
from hotline.api.deps import AnyoneDep, RuntimeDep, SessionDep, SupervisorDep
from hotline.calendar import repository as repo
from hotline.calendar.service import import_schedule
from hotline.errors import InvalidInput
from hotline.tickets.schemas import LocalDatetime

router = APIRouter(prefix="/api/v1/calendar", tags=["工作日历 calendar"])


class DeadlineOut(BaseModel):
    due_date: date
    due_at: LocalDatetime
    working_days: int
    provisional: bool


class DayOut(BaseModel):
    date: date
    kind: str
    name: str


class YearOut(BaseModel):
    year: int
    loaded: bool
    source: str | None
    holidays: list[DayOut]
    makeup_workdays: list[DayOut]


class ImportOut(BaseModel):
    year: int
    holidays: int
    makeup_workdays: int
    recomputed: int


@router.get("/deadline", response_model=DeadlineOut, summary="按工作日计算办理时限")
async def deadline(
    session: SessionDep,
    rt: RuntimeDep,
    actor: AnyoneDep,
    start: Annotated[datetime, Query(description="起算时间（ISO 8601，须带时区）")],
    working_days: Annotated[int, Query(ge=1, le=366)],
) -> DeadlineOut:
    if start.tzinfo is None:
        raise InvalidInput.one("start", "calendar.naive_datetime", "必须带时区，例如 2026-09-28T09:00:00+08:00")
    calendar = await rt.calendar.get(session)
    try:
        d = calendar.deadline(start, working_days)
    except CalendarError as exc:  # beyond the dates the calendar can count to (year 9999)
        raise InvalidInput.one("start", exc.code, exc.message) from exc
    return DeadlineOut(due_date=d.due_date, due_at=d.due_at, working_days=d.working_days, provisional=d.provisional)


@router.get("/{year}", response_model=YearOut, summary="某年法定节假日与调休上班日")
async def year(year: Annotated[int, Path(ge=1, le=9998)], session: SessionDep, actor: AnyoneDep) -> YearOut:
    info, days = await repo.year_days(session, year)
    out = [DayOut(date=d.day, kind=d.kind, name=d.name) for d in days]
    return YearOut(
        year=year,
        loaded=info is not None,
        source=info.source if info else None,
        holidays=[d for d in out if d.kind == "holiday"],
        makeup_workdays=[d for d in out if d.kind == "makeup_workday"],
    )


@router.post("/import", response_model=ImportOut, summary="导入一年的法定节假日安排并重算受影响的办理时限")
async def import_year(
    session: SessionDep,
    rt: RuntimeDep,
    actor: SupervisorDep,
    schedule: Annotated[
        dict[str, object],
        Body(
            examples=[
                {
                    "year": 2027,
                    "holidays": [{"date": "2027-01-01", "name": "元旦"}],
                    "makeup_workdays": [{"date": "2027-02-07", "name": "春节调休"}],
                }
            ]
        ),
    ],
) -> ImportOut:
    import json

    result = await import_schedule(session, rt.calendar, json.dumps(schedule), actor, rt.clock())
    return ImportOut(
        year=result.year, holidays=result.holidays, makeup_workdays=result.makeup_workdays, recomputed=result.recomputed
    )

"""The centre's overview (issue 11, item 7): every waiting queue with its count and the age of its
oldest item in working days, for the city or for one district's platform.

Ages are counted on the working calendar (``WorkingCalendar.working_days_between``): an item that
arrived on Friday and is looked at on Monday has waited one working day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatcher.calendar import LOCAL_TZ, WorkingCalendar
from hotline.models import Callback, Extension, SupervisionOrder, Ticket, TicketReturn
from hotline.tickets.repository import MANUAL_DISPATCH_UNIT

WARN_DAYS = 1
LATE_DAYS = 3
"""An oldest item waiting this many working days or more is flagged (warn / late)."""


@dataclass(frozen=True, slots=True)
class QueueRow:
    code: str
    label: str
    link: str
    count: int
    oldest_at: datetime | None
    """When the oldest item started waiting (UTC)."""
    oldest_days: int | None
    """Working days it has waited."""
    oldest_number: str | None

    @property
    def flag(self) -> str:
        if self.oldest_days is None or self.oldest_days < WARN_DAYS:
            return ""
        return "late" if self.oldest_days >= LATE_DAYS else "warn"


def _queues() -> list[tuple[str, str, str, Any, Any, tuple[Any, ...]]]:
    """(code, label, link, since-column, joined-ticket condition source, where) per queue."""
    return [
        (
            "pending_dispatch",
            "待派单",
            "/centre/dispatch",
            Ticket.created_at,
            None,
            (Ticket.lead_unit_code == MANUAL_DISPATCH_UNIT, Ticket.status.in_(("dispatched", "accepted"))),
        ),
        ("reply_review", "待审核答复", "/centre/replies", Ticket.replied_at, None, (Ticket.status == "replied",)),
        ("returns", "退单审核", "/centre/returns", TicketReturn.requested_at, TicketReturn, (TicketReturn.state == "pending",)),
        ("extensions", "延期审核", "/centre/extensions", Extension.requested_at, Extension, (Extension.state == "pending",)),
        ("callbacks", "待回访", "/agent/callbacks", Callback.created_at, Callback, (Callback.state == "pending",)),
        ("supervision", "督办（未回复）", "/centre/supervision", SupervisionOrder.issued_at, SupervisionOrder, (SupervisionOrder.state == "open",)),
    ]  # fmt: skip


async def queue_overview(
    session: AsyncSession, calendar: WorkingCalendar, now: datetime, district: str | None = None
) -> list[QueueRow]:
    """Each queue's count and oldest item, for the whole city or one district (the tickets' place:
    ``area_district``)."""
    today = now.astimezone(LOCAL_TZ).date()
    rows = []
    for code, label, link, since, table, where in _queues():
        base = select(Ticket.number, since.label("since")).select_from(Ticket if table is None else table)
        if table is not None:
            base = base.join(Ticket, Ticket.id == table.ticket_id)
        base = base.where(*where)
        if district:
            base = base.where(Ticket.area_district == district)
        count = int((await session.execute(select(func.count()).select_from(base.subquery()))).scalar_one())
        oldest = (await session.execute(base.order_by(since.asc().nulls_last()).limit(1))).first()
        at = oldest.since if oldest is not None else None
        days = None if at is None else calendar.working_days_between(at.astimezone(LOCAL_TZ).date(), today)
        rows.append(QueueRow(code, label, link, count, at, days, oldest.number if oldest is not None else None))
    return rows

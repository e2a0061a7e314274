"""A handling unit's work queue and a ticket's timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Subquery, and_, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from dispatcher.calendar import LOCAL_TZ
from dispatcher.lifecycle import STATUS_LABELS, Status
from hotline.errors import Forbidden, InvalidInput
from hotline.models import Deadline, SupervisionOrder, Ticket, TicketTask
from hotline.runtime import Runtime
from hotline.tickets import repository as tickets_repo
from hotline.tickets.service import content_for
from hotline.users import Actor, Role
from hotline.workflow.common import load

LEAD_STATUSES = (
    Status.DISPATCHED.value,
    Status.ACCEPTED.value,
    Status.RETURN_REQUESTED.value,
    Status.ARBITRATION.value,
)


@dataclass(frozen=True, slots=True)
class QueueFilter:
    status: str | None = None
    kind: str | None = None
    due_within_hours: float | None = None
    overdue: bool | None = None
    redo: bool | None = None


def _items(unit: str) -> Subquery:
    reply = (
        select(
            Ticket.id.label("ticket_id"),
            literal("lead").label("role"),
            literal(None).label("task_id"),
            Deadline.due_at.label("due_at"),
            Deadline.due_date.label("due_date"),
            Deadline.provisional.label("provisional"),
        )
        .join(
            Deadline,
            and_(
                Deadline.ticket_id == Ticket.id,
                Deadline.kind == "reply",
                Deadline.state == "running",
                Deadline.unit_code == unit,
            ),
        )
        .where(Ticket.lead_unit_code == unit, Ticket.status.in_(LEAD_STATUSES))
    )
    tasks = select(
        TicketTask.ticket_id,
        TicketTask.kind,
        TicketTask.id,
        TicketTask.due_at,
        TicketTask.due_date,
        literal(False),
    ).where(TicketTask.unit_code == unit, TicketTask.state == "open")
    return union_all(reply, tasks).subquery("work")


async def queue(
    session: AsyncSession, rt: Runtime, actor: Actor, unit: str | None, flt: QueueFilter, page: int, page_size: int
) -> dict[str, Any]:
    """Open work of one unit, most urgent first: overdue, then due soonest; enterprise requests flagged.

    Read by the unit itself (its own queue whatever ``unit`` says) and by the centre (supervisor,
    admin) for any unit; any other role gets :class:`Forbidden` (issue 10, item 7)."""
    if actor.role not in (Role.UNIT_HANDLER, Role.SUPERVISOR, Role.ADMIN):
        raise Forbidden("只有承办单位本身和热线中心可以查看单位待办队列", code="auth.role_forbidden")
    if actor.role is Role.UNIT_HANDLER:
        unit = actor.unit_code
    if unit is None:
        raise InvalidInput.one("unit", "queue.unit_required", "请指定承办单位（unit）")
    now = rt.clock()
    work = _items(unit)
    accept = (
        select(Deadline.due_at)
        .where(Deadline.ticket_id == Ticket.id, Deadline.kind == "accept", Deadline.unit_code == unit)
        .order_by(Deadline.id.desc())
        .limit(1)
        .correlate(Ticket)
        .scalar_subquery()
    )
    supervision = (
        select(func.count())
        .select_from(SupervisionOrder)
        .where(SupervisionOrder.ticket_id == Ticket.id, SupervisionOrder.state == "open")
        .correlate(Ticket)
        .scalar_subquery()
    )
    stmt = select(
        Ticket, work.c.role, work.c.task_id, work.c.due_at, work.c.due_date, work.c.provisional, accept, supervision
    ).join(work, work.c.ticket_id == Ticket.id)
    if flt.status:
        stmt = stmt.where(Ticket.status == flt.status)
    if flt.kind:
        stmt = stmt.where(Ticket.kind == flt.kind)
    if flt.overdue is not None:
        stmt = stmt.where(work.c.due_at < now if flt.overdue else work.c.due_at >= now)
    if flt.due_within_hours is not None:
        stmt = stmt.where(work.c.due_at <= now + timedelta(hours=flt.due_within_hours))
    if flt.redo is not None:
        stmt = stmt.where(Ticket.redo_count > 0 if flt.redo else Ticket.redo_count == 0)
    total = int(await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    rows = await session.execute(
        stmt.order_by((work.c.due_at < now).desc(), work.c.due_at, Ticket.id)
        .offset((page - 1) * page_size)
        .limit(page_size)
    )
    counts = dict(
        (
            await session.execute(
                select(Ticket.status, func.count()).join(work, work.c.ticket_id == Ticket.id).group_by(Ticket.status)
            )
        ).all()
    )
    calendar = await rt.calendar.get(session)
    today = now.astimezone(LOCAL_TZ).date()
    items = []
    for ticket, role, task_id, due_at, due_date, provisional, accept_due, open_orders in rows:
        items.append(
            {
                "number": ticket.number,
                "status": ticket.status,
                "status_label": STATUS_LABELS[Status(ticket.status)],
                "role": role,
                "task_id": task_id,
                "kind": ticket.kind,
                "category": ticket.category,
                "enterprise": ticket.caller_type == "enterprise",
                "content_excerpt": content_for(actor, ticket.content)[:80],
                "created_at": ticket.created_at,
                "due_at": due_at,
                "due_date": due_date,
                "provisional": provisional,
                "overdue": due_at < now,
                "hours_left": round((due_at - now).total_seconds() / 3600, 1),
                # Working days still to go after today (0 on the last day): what units count in.
                "working_days_left": calendar.working_days_between(today, due_date)
                if due_date >= today
                else -calendar.working_days_between(due_date, today),
                "accept_due_at": accept_due,
                "accepted_at": ticket.accepted_at,
                "accept_late": accept_due is not None and ((ticket.accepted_at or now) > accept_due),
                "redo_count": ticket.redo_count,
                "reminder_count": ticket.reminder_count,
                "overdue_marked": ticket.overdue_marked,
                "open_supervision_orders": open_orders,
                "return_count": ticket.return_count,
            }
        )
    return {
        "unit": unit,
        "items": items,
        "total": total,
        "page": page,
        "page_size": page_size,
        "counts": {s: int(c) for s, c in counts.items()},
    }


async def events(session: AsyncSession, actor: Actor, number: str) -> list[dict[str, Any]]:
    """The timeline: every action, who, when, from which status to which, deadline before and after."""
    ticket = await load(session, actor, number, lock=False)
    out = []
    for event, username in await tickets_repo.events(session, ticket.id):
        out.append(
            {
                "at": event.at,
                "action": event.action,
                "actor": username,
                "from_status": event.from_status,
                "to_status": event.to_status,
                "unit": event.unit_code,
                "due_before": event.due_before,
                "due_after": event.due_after,
                "note": event.note,
                "data": event.data,
            }
        )
    return out

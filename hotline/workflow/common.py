"""The one place where an action finds its ticket, checks role and unit scope, and records itself."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatcher.calendar import WorkingCalendar
from dispatcher.lifecycle import Action, Status, transition
from hotline.errors import Forbidden, NotFound
from hotline.models import Ticket, TicketEvent, TicketUnit
from hotline.runtime import Runtime
from hotline.tickets.repository import visible
from hotline.users import Actor, Role

CENTRE = frozenset({Role.SUPERVISOR, Role.ADMIN})


async def load(session: AsyncSession, actor: Actor, number: str, *, lock: bool = True) -> Ticket:
    """The ticket as ``actor`` may see it, locked for the action; 404 for what they may not see."""
    stmt = visible(select(Ticket).where(Ticket.number == number), actor)
    if lock:
        stmt = stmt.with_for_update(of=Ticket)
    ticket = (await session.execute(stmt)).scalar_one_or_none()
    if ticket is None:
        raise NotFound(f"工单不存在：{number}", code="ticket.not_found")
    return ticket


def require_role(actor: Actor, *roles: Role) -> None:
    if actor.role not in roles:
        raise Forbidden("当前角色无权执行此操作", code="auth.role_forbidden")


async def unit_role(session: AsyncSession, ticket: Ticket, unit_code: str | None) -> str | None:
    if unit_code is None:
        return None
    stmt = select(TicketUnit.role).where(TicketUnit.ticket_id == ticket.id, TicketUnit.unit_code == unit_code)
    return (await session.execute(stmt)).scalar_one_or_none()


async def require_lead(session: AsyncSession, actor: Actor, ticket: Ticket, what: str) -> str:
    """The acting unit handler's unit must be the ticket's lead (主办) unit."""
    require_role(actor, Role.UNIT_HANDLER)
    assert actor.unit_code is not None
    if ticket.lead_unit_code != actor.unit_code:
        raise Forbidden(f"只有主办单位可以{what}", code="ticket.not_lead")
    return actor.unit_code


async def record(
    session: AsyncSession,
    ticket: Ticket,
    actor: Actor | None,
    action: Action,
    now: datetime,
    *,
    unit: str | None = None,
    due_before: datetime | None = None,
    due_after: datetime | None = None,
    note: str = "",
    data: dict[str, Any] | None = None,
) -> Status:
    """Apply the lifecycle transition (409 if not allowed now) and append the timeline event."""
    before = Status(ticket.status)
    after = transition(before, action)
    ticket.status = after.value
    ticket.updated_at = now
    session.add(
        TicketEvent(
            ticket_id=ticket.id,
            at=now,
            actor_id=actor.id if actor else None,
            action=action.value,
            from_status=before.value,
            to_status=after.value,
            unit_code=unit,
            due_before=due_before,
            due_after=due_after,
            note=note,
            data=data or {},
        )
    )
    return after


async def calendar(session: AsyncSession, rt: Runtime) -> WorkingCalendar:
    return await rt.calendar.get(session)

"""Read models the pages need and no other client does: the agent's live routing preview (with
the deadline it would get and open tickets of the same caller or place) and a unit's view of one
ticket (its open sub-tasks and the units one level down). SQL of these views lives here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatcher.calendar import Deadline as Due
from dispatcher.lifecycle import STATUS_LABELS, Status
from hotline.errors import FieldProblem, InvalidInput
from hotline.models import Caller, HandlingUnit, Ticket, TicketTask
from hotline.runtime import Runtime
from hotline.tickets.schemas import TicketIn, TicketOut
from hotline.tickets.service import get_ticket, preview, working_days_for
from hotline.users import Actor

SIMILAR_STATUSES = (
    Status.DISPATCHED.value,
    Status.ACCEPTED.value,
    Status.RETURN_REQUESTED.value,
    Status.ARBITRATION.value,
    Status.REPLIED.value,
    Status.CALLBACK_PENDING.value,
)
"""A ticket still being handled or awaiting its callback: a new call about it is probably a repeat."""


@dataclass(frozen=True, slots=True)
class SimilarTicket:
    number: str
    status_label: str
    created_at: datetime
    excerpt: str
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PreviewView:
    decision: dict[str, Any] | None
    problems: list[FieldProblem] = field(default_factory=list)
    due: Due | None = None
    working_days: int | None = None
    similar: list[SimilarTicket] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class UnitTicketView:
    ticket: TicketOut
    tasks: list[TicketTask]
    """Open sub-tasks (协办 / 下派) of the handler's unit on this ticket."""
    children: list[HandlingUnit]
    """Units one level down the handler's unit may dispatch to (区→镇街→村居)."""


async def similar_open_tickets(
    session: AsyncSession, phone: str | None, address: str | None, town: str | None, limit: int = 5
) -> list[SimilarTicket]:
    """Open tickets of the same caller phone, or at the same address (in the same town when the
    town is known): shown to the agent as a possible repeat call before intake."""
    phone = (phone or "").strip() or None
    address = (address or "").strip() or None
    conditions = []
    if phone:
        conditions.append(Caller.phone == phone)
    if address:
        conditions.append(
            and_(Ticket.address == address, Ticket.area_town == town) if town else Ticket.address == address
        )
    if not conditions:
        return []
    stmt = (
        select(Ticket.number, Ticket.status, Ticket.created_at, Ticket.content, Ticket.address, Caller.phone)
        .join(Caller, Caller.id == Ticket.caller_id)
        .where(Ticket.status.in_(SIMILAR_STATUSES), or_(*conditions))
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .limit(limit)
    )
    out = []
    for number, status, created_at, content, addr, caller_phone in await session.execute(stmt):
        reasons = []
        if phone and caller_phone == phone:
            reasons.append("同一来电号码")
        if address and addr == address:
            reasons.append("同一地址")
        out.append(SimilarTicket(number, STATUS_LABELS[Status(status)], created_at, content[:60], tuple(reasons)))
    return out


async def preview_call(session: AsyncSession, rt: Runtime, data: TicketIn) -> PreviewView:
    """What intake would do with this call now: the routing decision, the time limit it would start
    (实施方案第11条: 5 working days for citizens, 10 for enterprises, from now) and open tickets that
    look like the same matter. A fact the rulebook does not know is returned as a problem."""
    area = data.area
    town = area.town if area else None
    try:
        decision = preview(rt, data, await rt.dispatch.get(session))
    except InvalidInput as exc:
        similar = await similar_open_tickets(session, data.caller.phone, data.address, town)
        return PreviewView(None, problems=list(exc.problems), similar=similar)
    town = decision.area.town or decision.area.town_name or town
    similar = await similar_open_tickets(session, data.caller.phone, data.address, town)
    due, days = None, None
    if decision.lead is not None:
        days = working_days_for(rt, data.caller.type, decision)
        due = (await rt.calendar.get(session)).deadline(rt.clock(), days)
    return PreviewView(decision.as_dict(), due=due, working_days=days, similar=similar)


async def child_units(session: AsyncSession, unit_code: str) -> list[HandlingUnit]:
    """Active units whose parent is ``unit_code`` (a district's towns, a town's villages)."""
    stmt = (
        select(HandlingUnit)
        .where(HandlingUnit.parent_code == unit_code, HandlingUnit.active.is_(True))
        .order_by(HandlingUnit.code)
    )
    return list((await session.execute(stmt)).scalars())


async def unit_ticket_view(session: AsyncSession, rt: Runtime, actor: Actor, number: str) -> UnitTicketView:
    """One ticket as the handler's unit works on it; outside the unit's tickets it does not exist."""
    ticket = await get_ticket(session, rt, actor, number)
    if actor.unit_code is None:
        return UnitTicketView(ticket, [], [])
    stmt = (
        select(TicketTask)
        .join(Ticket, Ticket.id == TicketTask.ticket_id)
        .where(Ticket.number == number, TicketTask.unit_code == actor.unit_code, TicketTask.state == "open")
        .order_by(TicketTask.id)
    )
    tasks = list((await session.execute(stmt)).scalars())
    return UnitTicketView(ticket, tasks, await child_units(session, actor.unit_code))

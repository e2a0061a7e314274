"""SQL of tickets. The unit-scope rule lives here, in one place: :func:`visible`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, exists, func, select, text, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from hotline.models import (
    Caller,
    Deadline,
    PersonalDataAccess,
    RoutingDecision,
    Ticket,
    TicketEvent,
    TicketUnit,
    User,
)
from hotline.users import Actor

S = TypeVar("S", bound=Select[Any])


def visible(stmt: S, actor: Actor) -> S:
    """Unit handlers only ever see tickets their unit has a part in; other roles see all."""
    if actor.is_unit_handler:
        stmt = stmt.where(exists().where(TicketUnit.ticket_id == Ticket.id, TicketUnit.unit_code == actor.unit_code))
    return stmt


async def next_number_seq(session: AsyncSession) -> int:
    return int((await session.execute(text("SELECT nextval('ticket_number_seq')"))).scalar_one())


async def by_idempotency_key(session: AsyncSession, user_id: int, key: str) -> Ticket | None:
    stmt = select(Ticket).where(Ticket.created_by == user_id, Ticket.idempotency_key == key)
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_visible(session: AsyncSession, number: str, actor: Actor) -> Ticket | None:
    stmt = visible(select(Ticket).where(Ticket.number == number), actor)
    return (await session.execute(stmt)).scalar_one_or_none()


async def caller(session: AsyncSession, caller_id: int) -> Caller:
    found = await session.get(Caller, caller_id)
    assert found is not None
    return found


async def running_deadline(session: AsyncSession, ticket_id: int) -> Deadline | None:
    stmt = (
        select(Deadline)
        .where(Deadline.ticket_id == ticket_id, Deadline.state == "running")
        .order_by(Deadline.id.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def latest_deadline(session: AsyncSession, ticket_id: int) -> Deadline | None:
    stmt = select(Deadline).where(Deadline.ticket_id == ticket_id).order_by(Deadline.id.desc()).limit(1)
    return (await session.execute(stmt)).scalar_one_or_none()


async def decision(session: AsyncSession, ticket_id: int) -> RoutingDecision | None:
    stmt = (
        select(RoutingDecision)
        .where(RoutingDecision.ticket_id == ticket_id)
        .order_by(RoutingDecision.id.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def events(session: AsyncSession, ticket_id: int) -> list[tuple[TicketEvent, str | None]]:
    stmt = (
        select(TicketEvent, User.username)
        .outerjoin(User, User.id == TicketEvent.actor_id)
        .where(TicketEvent.ticket_id == ticket_id)
        .order_by(TicketEvent.id)
    )
    return [(e, u) for e, u in (await session.execute(stmt))]


def audit_personal_data(session: AsyncSession, actor: Actor, ticket: Ticket, purpose: str) -> None:
    session.add(PersonalDataAccess(user_id=actor.id, caller_id=ticket.caller_id, ticket_id=ticket.id, purpose=purpose))


@dataclass(frozen=True, slots=True)
class TicketFilter:
    status: str | None = None
    kind: str | None = None
    channel: str | None = None
    line: str | None = None
    unit: str | None = None
    district: str | None = None
    caller_type: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    q: str | None = None


async def page(
    session: AsyncSession, actor: Actor, flt: TicketFilter, page: int, page_size: int
) -> tuple[list[tuple[Ticket, Deadline | None]], int]:
    stmt = visible(select(Ticket), actor)
    for column, value in (
        (Ticket.status, flt.status),
        (Ticket.kind, flt.kind),
        (Ticket.channel, flt.channel),
        (Ticket.line, flt.line),
        (Ticket.lead_unit_code, flt.unit),
        (Ticket.area_district, flt.district),
        (Ticket.caller_type, flt.caller_type),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if flt.created_from is not None:
        stmt = stmt.where(Ticket.created_at >= flt.created_from)
    if flt.created_to is not None:
        stmt = stmt.where(Ticket.created_at < flt.created_to)
    if flt.q:
        stmt = stmt.where(Ticket.content.contains(flt.q, autoescape=True))
    total = int((await session.execute(select(func.count()).select_from(stmt.subquery()))).scalar_one())
    lateral = (
        select(Deadline)
        .where(Deadline.ticket_id == Ticket.id, Deadline.state == "running")
        .order_by(Deadline.id.desc())
        .limit(1)
        .lateral()
    )
    running = aliased(Deadline, lateral)
    rows = await session.execute(
        stmt.add_columns(running)
        .outerjoin(running, true())
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .offset((page - 1) * page_size)
        .limit(page_size)
    )
    return [(t, d) for t, d in rows], total

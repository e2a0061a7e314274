"""Read models the pages need and no other client does: the agent's live routing preview (with
the deadline it would get and open tickets of the same caller or place) and a unit's view of one
ticket (its open sub-tasks and the units one level down). SQL of these views lives here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rapidfuzz.distance import Indel
from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatcher.calendar import Deadline as Due
from dispatcher.lifecycle import STATUS_LABELS, Status
from hotline.errors import FieldProblem, InvalidInput
from hotline.models import Caller, Extension, HandlingUnit, SupervisionOrder, Ticket, TicketTask
from hotline.runtime import Runtime
from hotline.textsearch import positions
from hotline.tickets.schemas import TicketIn, TicketOut
from hotline.tickets.search import phone_forms
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
    history: list[CallerTicket] = field(default_factory=list)
    history_total: int = 0


@dataclass(frozen=True, slots=True)
class UnitTicketView:
    ticket: TicketOut
    tasks: list[TicketTask]
    """Open sub-tasks (协办 / 下派) of the handler's unit on this ticket."""
    children: list[HandlingUnit]
    """Units one level down the handler's unit may dispatch to (区→镇街→村居)."""
    orders: list[SupervisionOrder] = field(default_factory=list)
    """Open 督办单 of the handler's unit on this ticket, to answer."""
    extension_pending: bool = False
    """An extension request of this ticket waits for the centre (延期审核中)."""


SIMILAR_CONTENT = 40.0
"""Content similarity (0–100, :func:`content_similarity`) from which an open ticket is a
possible repeat of the new call."""
SAME_PLACE_CONTENT = 25.0
"""A lower bar when the address or the place and the matter are the same."""


def content_similarity(a: str, b: str) -> float:
    """How alike two requests read, 0–100: the Sørensen–Dice coefficient of their sets of
    character bigrams (:mod:`hotline.textsearch`). Both texts' words count, so a short text
    ("社保") or a shared stock phrase ("希望电话回复") inside a long one does not make two requests
    alike (an alignment score such as rapidfuzz's ``partial_ratio`` gave them 100 and 60).
    Computed by rapidfuzz's Indel similarity over the sorted bigrams, which is that coefficient."""
    first, second = sorted(positions(a)), sorted(positions(b))
    if not first or not second:
        return 0.0
    # Indel similarity of two sorted sets is 2·|common| / (|a| + |b|): Dice
    return 100.0 * float(Indel.normalized_similarity(first, second))


async def similar_open_tickets(
    session: AsyncSession,
    content: str,
    phone: str | None,
    address: str | None,
    town: str | None,
    category: str | None = None,
    district: str | None = None,
    limit: int = 5,
) -> list[SimilarTicket]:
    """Open tickets that may be the same matter as the new call (issue 11, item 2), best first.

    Candidates: the same caller phone, the same address (in the same town when known), or the
    same catalogue leaf in the same town or district. Each is weighed by its content: a possible
    repeat reads alike (:data:`SIMILAR_CONTENT`), or somewhat alike at the same address or place
    and matter (:data:`SAME_PLACE_CONTENT`). The same phone alone is not a repeat (a caller may
    ask about 公积金 and then about 户籍): that is the caller's history."""
    phone = (phone or "").strip() or None
    address = (address or "").strip() or None
    conditions: list[ColumnElement[bool]] = []
    forms = _forms(phone)
    if forms:
        conditions.append(Caller.phone.in_(forms))
    if address:
        conditions.append(
            and_(Ticket.address == address, Ticket.area_town == town) if town else Ticket.address == address
        )
    if category and (town or district):
        place = Ticket.area_town == town if town else Ticket.area_district == district
        conditions.append(and_(Ticket.category == category, place))
    if not conditions or not content.strip():
        return []
    stmt = (
        select(
            Ticket.number,
            Ticket.status,
            Ticket.created_at,
            Ticket.content,
            Ticket.address,
            Ticket.category,
            Ticket.area_town,
            Ticket.area_district,
            Caller.phone,
        )
        .join(Caller, Caller.id == Ticket.caller_id)
        .where(Ticket.status.in_(SIMILAR_STATUSES), or_(*conditions))
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .limit(200)
    )
    scored = []
    for number, status, created_at, text, addr, cat, t_town, t_district, caller_phone in await session.execute(stmt):
        alike = content_similarity(content, text)
        same_address = bool(address and addr == address)
        same_matter = bool(
            category and cat == category and ((town and t_town == town) or (district and t_district == district))
        )
        if alike < SIMILAR_CONTENT and not ((same_address or same_matter) and alike >= SAME_PLACE_CONTENT):
            continue
        reasons = [f"内容相近（{alike:.0f}%）"]
        if same_address:
            reasons.append("同一地址")
        if same_matter:
            reasons.append("同一地点同类事项")
        if caller_phone is not None and caller_phone in forms:
            reasons.append("同一来电号码")
        label = STATUS_LABELS[Status(status)]
        scored.append((alike, SimilarTicket(number, label, created_at, text[:60], tuple(reasons))))
    scored.sort(key=lambda x: -x[0])
    return [t for _, t in scored[:limit]]


def _forms(phone: str | None) -> tuple[str, ...]:
    """Every stored form of the phone as typed (a landline with or without its dash), or none."""
    if not (phone or "").strip():
        return ()
    try:
        return phone_forms(phone or "")
    except InvalidInput:
        return ()


@dataclass(frozen=True, slots=True)
class CallerTicket:
    number: str
    status_label: str
    created_at: datetime
    unit_code: str | None
    category: str | None
    excerpt: str


async def caller_history(session: AsyncSession, phone: str | None, limit: int = 10) -> tuple[int, list[CallerTicket]]:
    """The caller's earlier tickets by phone (open and closed), newest first: how many in all and
    the latest ``limit`` (issue 11, item 2). Read by agents at intake, who see the phone anyway."""
    forms = _forms(phone)
    if not forms:
        return 0, []
    of_caller = Ticket.caller_id.in_(select(Caller.id).where(Caller.phone.in_(forms)))
    total = int((await session.execute(select(func.count()).select_from(Ticket).where(of_caller))).scalar_one())
    stmt = (
        select(Ticket.number, Ticket.status, Ticket.created_at, Ticket.lead_unit_code, Ticket.category, Ticket.content)
        .where(of_caller)
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .limit(limit)
    )
    rows = [
        CallerTicket(n, STATUS_LABELS[Status(st)], at, unit, cat, text[:40])
        for n, st, at, unit, cat, text in await session.execute(stmt)
    ]
    return total, rows


async def preview_call(session: AsyncSession, rt: Runtime, data: TicketIn) -> PreviewView:
    """What intake would do with this call now: the routing decision, the time limit it would start
    (实施方案第11条: 5 working days for citizens, 10 for enterprises, from now) and open tickets that
    look like the same matter. A fact the rulebook does not know is returned as a problem."""
    area = data.area
    town = area.town if area else None
    phone = data.caller.phone
    total, history = await caller_history(session, phone)
    try:
        decision = preview(rt, data, await rt.dispatch.get(session))
    except InvalidInput as exc:
        similar = await similar_open_tickets(session, data.content, phone, data.address, town)
        return PreviewView(None, problems=list(exc.problems), similar=similar, history=history, history_total=total)
    town = decision.area.town or decision.area.town_name or town
    similar = await similar_open_tickets(
        session, data.content, phone, data.address, town, decision.category, decision.area.district
    )
    due, days = None, None
    if decision.lead is not None:
        days = working_days_for(rt, data.caller.type, decision)
        due = (await rt.calendar.get(session)).deadline(rt.clock(), days)
    return PreviewView(
        decision.as_dict(), due=due, working_days=days, similar=similar, history=history, history_total=total
    )


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
    ticket_id = select(Ticket.id).where(Ticket.number == number).scalar_subquery()
    orders = list(
        (
            await session.execute(
                select(SupervisionOrder)
                .where(
                    SupervisionOrder.ticket_id == ticket_id,
                    SupervisionOrder.unit_code == actor.unit_code,
                    SupervisionOrder.state == "open",
                )
                .order_by(SupervisionOrder.id)
            )
        ).scalars()
    )
    pending = await session.scalar(
        select(func.count())
        .select_from(Extension)
        .where(Extension.ticket_id == ticket_id, Extension.state == "pending")
    )
    return UnitTicketView(
        ticket, tasks, await child_units(session, actor.unit_code), orders=orders, extension_pending=bool(pending)
    )

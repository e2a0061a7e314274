"""The centre's review lists: returns (with per-unit counts, improper ones apart) and extensions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.models import Caller, Extension, Reply, Ticket, TicketReturn
from hotline.redaction import personal_values, redact
from hotline.tickets.repository import TicketFilter
from hotline.tickets.schemas import TicketPage
from hotline.tickets.service import list_tickets
from hotline.users import Actor, Role


async def returns(session: AsyncSession, actor: Actor, state: str | None, unit: str | None) -> dict[str, Any]:
    """退单 list for review (units see their own), and returns counted per unit (退单率/不当退单)."""
    if actor.role is Role.UNIT_HANDLER:
        unit = actor.unit_code
    stmt = select(TicketReturn, Ticket.number).join(Ticket, Ticket.id == TicketReturn.ticket_id)
    if state:
        stmt = stmt.where(TicketReturn.state == state)
    if unit:
        stmt = stmt.where(TicketReturn.unit_code == unit)
    rows = (await session.execute(stmt.order_by(TicketReturn.requested_at.desc()).limit(200))).all()
    counts_stmt = select(
        TicketReturn.unit_code,
        func.count(),
        func.sum(case((TicketReturn.improper, 1), else_=0)),
        func.sum(case((TicketReturn.escalated, 1), else_=0)),
    ).group_by(TicketReturn.unit_code)
    if unit:
        counts_stmt = counts_stmt.where(TicketReturn.unit_code == unit)
    counts = (await session.execute(counts_stmt)).all()
    return {
        "items": [
            {
                "id": r.id,
                "number": number,
                "unit": r.unit_code,
                "reason": r.reason_code,
                "explanation": r.explanation,
                "suggested_unit": r.suggested_unit,
                "requested_at": r.requested_at,
                "state": r.state,
                "improper": r.improper,
                "escalated": r.escalated,
                "new_unit": r.new_unit,
                "note": r.note,
            }
            for r, number in rows
        ],
        "per_unit": [
            {"unit": u, "returns": int(n), "improper": int(bad or 0), "escalated": int(esc or 0)}
            for u, n, bad, esc in counts
        ],
    }


async def extensions(session: AsyncSession, actor: Actor, state: str | None) -> list[dict[str, Any]]:
    stmt = select(Extension, Ticket.number).join(Ticket, Ticket.id == Extension.ticket_id)
    if actor.role is Role.UNIT_HANDLER:
        stmt = stmt.where(Extension.unit_code == actor.unit_code)
    if state:
        stmt = stmt.where(Extension.state == state)
    rows = (await session.execute(stmt.order_by(Extension.requested_at).limit(200))).all()
    return [
        {
            "id": e.id,
            "number": number,
            "unit": e.unit_code,
            "working_days": e.working_days,
            "reason": e.reason,
            "requested_at": e.requested_at,
            "state": e.state,
            "due_before": e.due_before,
            "due_after": e.due_after,
            "note": e.note,
        }
        for e, number in rows
    ]


async def replies_for_review(
    session: AsyncSession, actor: Actor, page: int, page_size: int
) -> tuple[TicketPage, dict[str, dict[str, Any]]]:
    """Replies awaiting the centre's review, each with the unit's latest reply (text, outcome,
    time, on time or not), so the reviewer judges the reply itself, not only the request, and the
    text that would be published once approved, redacted of personal data (``public_draft``;
    ``None`` for a confidential caller, whose reply is never published)."""
    result = await list_tickets(session, actor, TicketFilter(status="replied"), page, page_size)
    numbers = [t.number for t in result.items]
    latest: dict[str, dict[str, Any]] = {}
    if numbers:
        rows = await session.execute(
            select(Ticket, Reply.content, Reply.outcome, Reply.replied_at, Reply.on_time, Caller)
            .join(Reply, Reply.ticket_id == Ticket.id)
            .join(Caller, Caller.id == Ticket.caller_id)
            .where(Ticket.number.in_(numbers))
            .order_by(Ticket.number, Reply.id.desc())
            .ext(distinct_on(Ticket.number))
        )
        for ticket, content, outcome, replied_at, on_time, caller in rows:
            latest[ticket.number] = {
                "content": content,
                "outcome": outcome,
                "replied_at": replied_at,
                "on_time": on_time,
                # what 办理情况公开 would publish: the reviewer corrects it before approving
                "public_draft": None if caller.confidential else redact(content, *personal_values(caller, ticket)),
            }
    return result, latest

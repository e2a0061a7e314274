"""SQL of 督办单 (supervision orders): locking an order, the listing and the per-unit counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.models import SupervisionOrder, Ticket


async def order_ticket_id(session: AsyncSession, order_id: int, unit_code: str) -> int | None:
    """The ticket of an order of ``unit_code``; ``None`` for an order of another unit (it does not exist for them)."""
    stmt = select(SupervisionOrder.ticket_id).where(
        SupervisionOrder.id == order_id, SupervisionOrder.unit_code == unit_code
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def lock_ticket(session: AsyncSession, ticket_id: int) -> Ticket:
    stmt = select(Ticket).where(Ticket.id == ticket_id).with_for_update()
    return (await session.execute(stmt)).scalar_one()


async def lock_order(session: AsyncSession, order_id: int) -> SupervisionOrder:
    stmt = select(SupervisionOrder).where(SupervisionOrder.id == order_id).with_for_update()
    return (await session.execute(stmt)).scalar_one()


@dataclass(frozen=True, slots=True)
class OrderFilter:
    unit: str | None = None
    state: str | None = None
    overdue: bool = False


def _filtered(stmt: Select[SupervisionOrder, str], flt: OrderFilter, today: date) -> Select[SupervisionOrder, str]:
    if flt.unit is not None:
        stmt = stmt.where(SupervisionOrder.unit_code == flt.unit)
    if flt.state is not None:
        stmt = stmt.where(SupervisionOrder.state == flt.state)
    if flt.overdue:
        stmt = stmt.where(SupervisionOrder.state == "open", SupervisionOrder.reply_by < today)
    return stmt


async def page(
    session: AsyncSession, flt: OrderFilter, today: date, page: int, page_size: int
) -> tuple[list[tuple[SupervisionOrder, str]], int]:
    """Orders with their ticket numbers, newest first."""
    stmt = _filtered(
        select(SupervisionOrder, Ticket.number).join(Ticket, Ticket.id == SupervisionOrder.ticket_id), flt, today
    )
    total = int((await session.execute(select(func.count()).select_from(stmt.subquery()))).scalar_one())
    rows = await session.execute(
        stmt.order_by(SupervisionOrder.issued_at.desc(), SupervisionOrder.id.desc())
        .offset((page - 1) * page_size)
        .limit(page_size)
    )
    return [(o, n) for o, n in rows], total


async def open_counts(session: AsyncSession, unit: str | None) -> dict[str, int]:
    """Open orders per unit (all units, or only ``unit``)."""
    stmt = (
        select(SupervisionOrder.unit_code, func.count())
        .where(SupervisionOrder.state == "open")
        .group_by(SupervisionOrder.unit_code)
        .order_by(SupervisionOrder.unit_code)
    )
    if unit is not None:
        stmt = stmt.where(SupervisionOrder.unit_code == unit)
    return {code: int(n) for code, n in await session.execute(stmt)}

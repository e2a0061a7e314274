"""督办 (supervision): the centre issues a 督办单 to a handling unit with a reply-by date, and the
unit must respond (实施方案第13条). Reasons are the rulebook's (workflow.toml
``supervision_reasons``). The ticket's status never changes; the lifecycle table decides in which
statuses an order may be issued or answered.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from dispatcher.calendar import LOCAL_TZ
from dispatcher.lifecycle import Action, Status, transition
from hotline.errors import Conflict, InvalidInput, NotFound
from hotline.models import Notification, SupervisionOrder, Ticket
from hotline.runtime import Runtime
from hotline.tickets.schemas import Input, LocalDatetime
from hotline.users import Actor, Role
from hotline.workflow import supervision_repository as repo
from hotline.workflow.common import CENTRE, load, record, require_role, unit_role

OrderState = Literal["open", "responded"]


class SupervisionIn(Input):
    reason: str = Field(min_length=1, max_length=64)
    content: str = Field(min_length=1, max_length=5000)
    reply_by: date
    unit: str | None = Field(default=None, max_length=64)


class ResponseIn(Input):
    content: str = Field(min_length=1, max_length=5000)


class SupervisionOut(BaseModel):
    id: int
    number: str
    unit: str
    reason: str
    reason_title: str
    content: str
    reply_by: date
    issued_at: LocalDatetime
    state: str
    response: str | None
    responded_at: LocalDatetime | None
    overdue: bool


class SupervisionPage(BaseModel):
    items: list[SupervisionOut]
    total: int
    page: int
    page_size: int
    counts_by_unit: dict[str, int]
    """Open orders per unit, within what the reader may see."""


def local_today(now: datetime) -> date:
    return now.astimezone(LOCAL_TZ).date()


def _reason_titles(rt: Runtime) -> dict[str, str]:
    return {r.code: r.title for r in rt.rulebook.workflow.supervision_reasons}


def _out(rt: Runtime, order: SupervisionOrder, number: str, today: date) -> SupervisionOut:
    return SupervisionOut(
        id=order.id,
        number=number,
        unit=order.unit_code,
        reason=order.reason_code,
        reason_title=_reason_titles(rt).get(order.reason_code, order.reason_code),
        content=order.content,
        reply_by=order.reply_by,
        issued_at=order.issued_at,
        state=order.state,
        response=order.response,
        responded_at=order.responded_at,
        overdue=order.state == "open" and order.reply_by < today,
    )


async def open_order(
    session: AsyncSession,
    ticket: Ticket,
    actor: Actor | None,
    unit: str,
    reason: str,
    reason_title: str,
    content: str,
    reply_by: date,
    now: datetime,
) -> SupervisionOrder:
    """Write one 督办单 with its timeline event and the unit's notice. Every issuer uses this:
    the centre by hand, the callback loop when redo rounds run out, the SLA sweep when overdue."""
    order = SupervisionOrder(
        ticket_id=ticket.id,
        unit_code=unit,
        reason_code=reason,
        content=content,
        reply_by=reply_by,
        issued_at=now,
        issued_by=actor.id if actor else None,
        state="open",
    )
    session.add(order)
    await session.flush()
    await record(
        session,
        ticket,
        actor,
        Action.SUPERVISE,
        now,
        unit=unit,
        note=f"督办（{reason_title}）：{content}",
        data={"order_id": order.id, "reason": reason, "reply_by": reply_by.isoformat()},
    )
    session.add(
        Notification(
            ticket_id=ticket.id,
            recipient=f"unit:{unit}",
            template="supervision_issued",
            payload={"number": ticket.number, "reason": reason, "reply_by": reply_by.isoformat()},
            dedupe_key=f"supervision:{order.id}",
            state="pending",
            created_at=now,
        )
    )
    return order


async def issue(session: AsyncSession, rt: Runtime, actor: Actor, number: str, data: SupervisionIn) -> SupervisionOut:
    """下发督办单 (实施方案第13条). Only the centre issues; the order goes to the lead unit or to an
    explicitly named unit that has a part in the ticket; the reply-by date is not before today
    (Asia/Shanghai) nor after the calendar's horizon (``WorkingCalendar.horizon``). The unit is
    notified through the outbox."""
    require_role(actor, *CENTRE)
    titles = _reason_titles(rt)
    if data.reason not in titles:
        raise InvalidInput.one("reason", "supervision.unknown_reason", f"督办事由必须是 {'、'.join(titles)} 之一")
    now = rt.clock()
    today = local_today(now)
    if data.reply_by < today:
        raise InvalidInput.one("reply_by", "supervision.reply_by_past", f"答复期限不能早于今天（{today.isoformat()}）")
    latest = (await rt.calendar.get(session)).horizon(today)
    if data.reply_by > latest:
        raise InvalidInput.one(
            "reply_by",
            "supervision.reply_by_too_far",
            f"答复期限不能晚于 {latest.isoformat()}（已加载的工作日历之后一年）",
        )
    ticket = await load(session, actor, number)
    transition(Status(ticket.status), Action.SUPERVISE)  # 409 before anything is written
    if data.unit is not None:
        if await unit_role(session, ticket, data.unit) is None:
            raise InvalidInput.one(
                "unit",
                "supervision.unit_not_on_ticket",
                f"{rt.rulebook.units[data.unit].name if data.unit in rt.rulebook.units else '该单位'}"
                f"未参与办理工单{ticket.number}，督办单只能发给办理该工单的单位",
            )
        unit = data.unit
    elif ticket.lead_unit_code is not None:
        unit = ticket.lead_unit_code
    else:
        raise InvalidInput.one("unit", "supervision.unit_required", "该工单没有主办单位，请指定督办的承办单位")
    order = await open_order(
        session, ticket, actor, unit, data.reason, titles[data.reason], data.content, data.reply_by, now
    )
    await session.flush()
    return _out(rt, order, ticket.number, today)


async def respond(session: AsyncSession, rt: Runtime, actor: Actor, order_id: int, data: ResponseIn) -> SupervisionOut:
    """回复督办单 (实施方案第13条). Only a handler of the order's unit answers, once; an order of
    another unit does not exist for them."""
    require_role(actor, Role.UNIT_HANDLER)
    assert actor.unit_code is not None
    ticket_id = await repo.order_ticket_id(session, order_id, actor.unit_code)
    if ticket_id is None:
        raise NotFound(f"督办单不存在：{order_id}", code="supervision.not_found")
    # Ticket before order: every action on a ticket locks the ticket row first.
    ticket = await repo.lock_ticket(session, ticket_id)
    order = await repo.lock_order(session, order_id)
    if order.state != "open":
        raise Conflict("该督办单已回复，不能重复回复", code="supervision.already_responded")
    now = rt.clock()
    order.state = "responded"
    order.response = data.content
    order.responded_at = now
    order.responded_by = actor.id
    await record(
        session,
        ticket,
        actor,
        Action.RESPOND_SUPERVISION,
        now,
        unit=order.unit_code,
        note=f"回复督办：{data.content}",
        data={"order_id": order.id},
    )
    await session.flush()
    return _out(rt, order, ticket.number, local_today(now))


async def list_orders(
    session: AsyncSession, rt: Runtime, actor: Actor, flt: repo.OrderFilter, page: int, page_size: int
) -> SupervisionPage:
    """督办单 list. A unit handler sees only their own unit's orders, whatever unit they ask for;
    ``overdue`` means still open after the reply-by date (local)."""
    if actor.is_unit_handler:
        flt = repo.OrderFilter(unit=actor.unit_code, state=flt.state, overdue=flt.overdue)
    today = local_today(rt.clock())
    rows, total = await repo.page(session, flt, today, page, page_size)
    return SupervisionPage(
        items=[_out(rt, o, n, today) for o, n in rows],
        total=total,
        page=page,
        page_size=page_size,
        counts_by_unit=await repo.open_counts(session, flt.unit),
    )

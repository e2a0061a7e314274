"""并单 (merge) and 重复来电 (repeat calls): the centre's handling of 无理重复诉求 (实施方案第20条).

* 并单: tickets about the same matter, handled by the same lead unit and still running, are merged
  into one primary ticket. The secondaries stop their own clocks (their deadlines are cancelled)
  and follow the primary from then on; every caller of the merged tickets gets the callback
  (:func:`merged_callers`).
* 重复来电: a new call about a matter that already has a ticket is logged as its own ticket, in
  status ``repeat``, linked to the original as evidence. It is not dispatched again and starts no
  time limit.

SQL of these use cases is kept in the clearly marked section at the end of this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from pydantic import BaseModel, Field
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dispatcher.calendar import LOCAL_TZ
from dispatcher.lifecycle import Action, IllegalTransition, Status, transition
from hotline.errors import Conflict, NotFound
from hotline.models import Caller, Deadline, Ticket, TicketEvent, TicketLink, TicketUnit
from hotline.runtime import Runtime
from hotline.tickets.repository import next_number_seq, running_deadline, visible
from hotline.tickets.schemas import CallerOut, Input, LocalDatetime, TicketIn
from hotline.tickets.service import _masked_caller
from hotline.users import Actor, Role
from hotline.workflow.common import CENTRE, load, record, require_role

MERGEABLE = frozenset({Status.DISPATCHED, Status.ACCEPTED})
NOT_LINKABLE = frozenset({Status.NOT_ACCEPTED, Status.TRANSFERRED, Status.MERGED})
"""A repeat call cannot be linked to a ticket that was never handled here or no longer stands alone."""

MAX_SECONDARIES = 50


# ---------------------------------------------------------------- shapes


class MergeIn(Input):
    secondaries: list[Annotated[str, Field(max_length=32)]] = Field(min_length=1, max_length=MAX_SECONDARIES)
    note: str = Field(default="", max_length=1000)


class MergeOut(BaseModel):
    primary: str
    status: str
    merged: list[str]


class MergedTicket(BaseModel):
    number: str
    created_at: LocalDatetime
    caller: CallerOut


class MergedOut(BaseModel):
    """For a primary: the tickets merged into it. For a secondary: the primary it follows."""

    number: str
    primary: str | None = None
    primary_status: str | None = None
    merged: list[MergedTicket] = Field(default_factory=list)


class RepeatOut(BaseModel):
    number: str
    status: str
    repeat_of: str


# ---------------------------------------------------------------- 并单 merge


def _refuse_illegal(ticket: Ticket, action: Action) -> None:
    """The lifecycle table decides; the message names the ticket since several are involved."""
    try:
        transition(Status(ticket.status), action)
    except IllegalTransition as exc:
        exc.message = f"工单{ticket.number}：{exc.message}"
        raise


async def merge(session: AsyncSession, rt: Runtime, actor: Actor, number: str, data: MergeIn) -> MergeOut:
    """并单 (实施方案第20条). Only the centre merges; primary and secondaries must all be running
    (dispatched / accepted) with the same lead unit, and none may already be merged. Each secondary
    becomes ``merged`` with its running deadlines cancelled; one event on each secondary and one on
    the primary listing the merged numbers. Rows are locked in id order so concurrent merges of
    overlapping tickets cannot deadlock."""
    require_role(actor, *CENTRE)
    secondaries = list(dict.fromkeys(data.secondaries))
    if number in secondaries:
        raise Conflict(f"工单{number}不能并入自身", code="merge.already_merged")
    tickets = await _lock_by_number(session, actor, [number, *secondaries])
    for wanted in (number, *secondaries):
        if wanted not in tickets:
            raise NotFound(f"工单不存在：{wanted}", code="ticket.not_found")
    primary = tickets[number]
    others = [tickets[n] for n in secondaries]
    for ticket in (primary, *others):
        if ticket.status == Status.MERGED or ticket.merged_into_id is not None:
            raise Conflict(f"工单{ticket.number}已并入其他工单，不能再次并单", code="merge.already_merged")
    _refuse_illegal(primary, Action.MERGE_PRIMARY)
    for ticket in others:
        _refuse_illegal(ticket, Action.MERGE)
    for ticket in others:
        if primary.lead_unit_code is None or ticket.lead_unit_code != primary.lead_unit_code:
            raise Conflict(
                f"工单{ticket.number}的主办单位（{ticket.lead_unit_code or '无'}）与主单{primary.number}"
                f"（{primary.lead_unit_code or '无'}）不同，不能并单",
                code="merge.different_units",
            )

    now = rt.clock()
    merged = [t.number for t in others]
    for ticket in others:
        due = await running_deadline(session, ticket.id)
        await record(
            session,
            ticket,
            actor,
            Action.MERGE,
            now,
            unit=ticket.lead_unit_code,
            due_before=due.due_at if due else None,
            note=f"并入主单 {primary.number}",
            data={"primary": primary.number, "note": data.note},
        )
        ticket.merged_into_id = primary.id
        session.add(
            TicketLink(
                ticket_id=primary.id, linked_ticket_id=ticket.id, kind="merged", created_at=now, actor_id=actor.id
            )
        )
    await _cancel_running_deadlines(session, [t.id for t in others])
    await record(
        session,
        primary,
        actor,
        Action.MERGE_PRIMARY,
        now,
        unit=primary.lead_unit_code,
        note=f"并入工单 {'、'.join(merged)}",
        data={"merged": merged, "note": data.note},
    )
    await session.flush()
    return MergeOut(primary=primary.number, status=primary.status, merged=merged)


async def merged_view(session: AsyncSession, actor: Actor, number: str) -> MergedOut:
    """What a ticket's merge looks like from it: its secondaries (callers masked, as everywhere
    outside the detail view), or the primary a secondary follows."""
    ticket = await load(session, actor, number, lock=False)
    if ticket.merged_into_id is not None:
        primary = await session.get(Ticket, ticket.merged_into_id)
        assert primary is not None
        return MergedOut(number=ticket.number, primary=primary.number, primary_status=primary.status)
    items = [
        MergedTicket(
            number=t.number,
            created_at=t.created_at,
            caller=_masked_caller(
                c.type,
                c.name,
                c.phone,
                c.enterprise_name,
                c.credit_code,
                c.confidential,
                hidden=c.confidential and actor.is_unit_handler,
            ),
        )
        for t, c in await _secondaries_with_callers(session, ticket.id)
    ]
    return MergedOut(number=ticket.number, merged=items)


async def merged_callers(session: AsyncSession, primary_id: int) -> list[int]:
    """Caller ids of the primary and of every ticket merged into it, primary first: after 并单
    each of them gets the callback (回访)."""
    stmt = (
        select(Ticket.caller_id)
        .where((Ticket.id == primary_id) | (Ticket.merged_into_id == primary_id))
        .order_by((Ticket.id != primary_id), Ticket.id)
    )
    return [int(c) for c in (await session.execute(stmt)).scalars()]


# ---------------------------------------------------------------- 重复来电 repeat call


async def repeat_call(session: AsyncSession, rt: Runtime, actor: Actor, number: str, data: TicketIn) -> RepeatOut:
    """重复来电 (实施方案第20条, 无理重复诉求处置): the new call is kept as its own ticket in status
    ``repeat``, linked to the original as evidence, with the original's lead unit and no time
    limit of its own. The original gets a ``repeat_call`` event (its status does not change)."""
    require_role(actor, Role.AGENT, *CENTRE)
    original = await load(session, actor, number)
    if Status(original.status) in NOT_LINKABLE:
        raise Conflict(
            f"工单{original.number}当前状态不能关联重复来电（不予受理、已转紧急热线或已并单的工单）",
            code="repeat.original_not_linkable",
        )
    now = rt.clock()
    status = transition(None, Action.LINK_REPEAT)
    c = data.caller
    caller = Caller(
        type=c.type.value,
        name=c.name,
        phone=c.phone,
        enterprise_name=c.enterprise_name,
        credit_code=c.credit_code,
        confidential=c.confidential,
        created_at=now,
    )
    session.add(caller)
    seq = await next_number_seq(session)
    await session.flush()
    ticket = Ticket(
        number=f"{now.astimezone(LOCAL_TZ):%Y%m%d}{seq:07d}",
        channel=data.channel.value,
        line=data.line,
        kind=data.kind.value,
        category=data.category or original.category,
        content=data.content,
        address=data.address or original.address,
        # The area is the original's: the body names places, the columns hold unit codes.
        area_district=original.area_district,
        area_town=original.area_town,
        area_village=original.area_village,
        caller_id=caller.id,
        caller_type=c.type.value,
        status=status.value,
        disposition="dispatch",
        lead_unit_code=original.lead_unit_code,
        rulebook_version=rt.rulebook.version,
        created_by=actor.id,
        created_at=now,
        updated_at=now,
        repeat_of_id=original.id,
    )
    session.add(ticket)
    await session.flush()
    if original.lead_unit_code is not None:
        # The lead unit sees the evidence of repeat calls on its ticket (unit-scope rule).
        session.add(TicketUnit(ticket_id=ticket.id, unit_code=original.lead_unit_code, role="lead", assigned_at=now))
    session.add(
        TicketLink(ticket_id=original.id, linked_ticket_id=ticket.id, kind="repeat", created_at=now, actor_id=actor.id)
    )
    session.add(
        TicketEvent(
            ticket_id=ticket.id,
            at=now,
            actor_id=actor.id,
            action=Action.LINK_REPEAT.value,
            from_status=None,
            to_status=status.value,
            unit_code=original.lead_unit_code,
            note=f"重复来电，关联原工单 {original.number}",
            data={"repeat_of": original.number, "channel": data.channel.value},
        )
    )
    session.add(
        TicketEvent(
            ticket_id=original.id,
            at=now,
            actor_id=actor.id,
            action="repeat_call",
            from_status=original.status,
            to_status=original.status,
            unit_code=original.lead_unit_code,
            note=f"重复来电 {ticket.number}",
            data={"repeat": ticket.number},
        )
    )
    await session.flush()
    return RepeatOut(number=ticket.number, status=ticket.status, repeat_of=original.number)


# ---------------------------------------------------------------- SQL


async def _lock_by_number(session: AsyncSession, actor: Actor, numbers: Sequence[str]) -> dict[str, Ticket]:
    """Lock the tickets in id order (a stable order: no deadlock between overlapping merges)."""
    stmt = (
        visible(select(Ticket).where(Ticket.number.in_(numbers)), actor).order_by(Ticket.id).with_for_update(of=Ticket)
    )
    return {t.number: t for t in (await session.execute(stmt)).scalars()}


async def _cancel_running_deadlines(session: AsyncSession, ticket_ids: Sequence[int]) -> None:
    stmt = (
        update(Deadline)
        .where(Deadline.ticket_id.in_(ticket_ids), Deadline.state == "running")
        .values(state="cancelled")
        .execution_options(synchronize_session="fetch")
    )
    await session.execute(stmt)


async def _secondaries_with_callers(session: AsyncSession, primary_id: int) -> list[tuple[Ticket, Caller]]:
    stmt = (
        select(Ticket, Caller)
        .join(Caller, Caller.id == Ticket.caller_id)
        .where(Ticket.merged_into_id == primary_id)
        .order_by(Ticket.id)
    )
    return [(t, c) for t, c in await session.execute(stmt)]

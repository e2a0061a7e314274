"""Actions of the handling unit and of the centre on one ticket (实施方案第10–13条、第20条).

派单 → 签收 → 办理 → 答复, with 退单争议审核, 延期申请, 主办/协办 and dispatch down the
市 / 区（市）/ 镇（街）/ 村（居）network. Each function is one use case: it loads the ticket through
the single scope check, enforces the rulebook's limits, changes the rows and records one event.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dispatcher.calendar import LOCAL_TZ
from dispatcher.calendar import Deadline as Due
from dispatcher.lifecycle import Action
from hotline.dispatch.labels import dispatchable, record_label
from hotline.errors import Conflict, Forbidden, InvalidInput, NotFound
from hotline.models import (
    Deadline,
    Extension,
    HandlingUnit,
    Notification,
    Reply,
    Ticket,
    TicketReturn,
    TicketTask,
    TicketUnit,
)
from hotline.runtime import Runtime
from hotline.tickets import repository as tickets_repo
from hotline.tickets.service import working_days_for
from hotline.users import Actor, Role
from hotline.workflow.common import CENTRE, calendar, load, record, require_lead, require_role
from routing_rules.schema import CallerType

PUNCTUATION = re.compile(r"[\s，。、,.!！?？;；:：…—\-~～\"'“”‘’()（）]+")


async def _reply_deadline(session: AsyncSession, ticket: Ticket) -> Deadline:
    deadline = await tickets_repo.running_deadline(session, ticket.id, "reply")
    if deadline is None:
        raise Conflict("该工单没有正在计时的办理时限", code="ticket.no_running_deadline")
    return deadline


def _due(deadline: Deadline) -> Due:
    return Due(
        due_date=deadline.due_date,
        due_at=deadline.due_at,
        working_days=deadline.working_days + deadline.extension_days,
        provisional=deadline.provisional,
    )


async def _unit(session: AsyncSession, code: str, field: str) -> HandlingUnit:
    unit = await session.get(HandlingUnit, code)
    if unit is None or not unit.active:
        raise InvalidInput.one(field, "unit.unknown", f"承办单位编码不存在：{code}")
    if unit.level == "centre":
        raise InvalidInput.one(field, "unit.is_centre", "热线中心不是承办单位，不能承担协办或下派任务")
    return unit


def _limit_day(due_at: datetime) -> str:
    """A limit's last day (24:00 is 00:00 of the next, Beijing time) as ``12月8日``."""
    day = (due_at.astimezone(LOCAL_TZ) - timedelta(microseconds=1)).date()
    return f"{day.month}月{day.day}日"


# ---------------------------------------------------------------- 签收 accept


async def accept(session: AsyncSession, rt: Runtime, actor: Actor, number: str) -> dict[str, Any]:
    """签收. The sign-for limit (workflow.toml) is recorded; a late acceptance stays visible."""
    ticket = await load(session, actor, number)
    unit = await require_lead(session, actor, ticket, "签收")
    now = rt.clock()
    limit = await tickets_repo.running_deadline(session, ticket.id, "accept")
    late = limit is not None and now > limit.due_at
    if limit is not None:
        limit.state = "met"
    ticket.accepted_at = now
    await record(
        session,
        ticket,
        actor,
        Action.ACCEPT,
        now,
        unit=unit,
        note="超时签收" if late else "签收",
        data={"late": late, "accept_due_at": limit.due_at.isoformat() if limit else None},
    )
    return {"number": ticket.number, "status": ticket.status, "accepted_at": now, "late": late}


# ---------------------------------------------------------------- 答复 reply


@dataclass(frozen=True, slots=True)
class ReplyInput:
    content: str
    outcome: str
    reason: str | None
    attachments: list[dict[str, Any]]


def check_reply_quality(rt: Runtime, content: str) -> None:
    """A reply must say what was done: not empty, not boilerplate (已处理、收到…), not too short."""
    policy = rt.rulebook.workflow
    bare = PUNCTUATION.sub("", content)
    if not bare:
        raise InvalidInput.one("content", "reply.empty", "答复内容不能为空")
    boilerplate = {PUNCTUATION.sub("", b) for b in policy.boilerplate_replies}
    if bare in boilerplate:
        raise InvalidInput.one(
            "content", "reply.boilerplate", f"答复内容“{content.strip()}”过于笼统，请写明办理过程、结果和依据"
        )
    if len(bare) < policy.min_reply_chars:
        raise InvalidInput.one(
            "content", "reply.too_short", f"答复内容不少于{policy.min_reply_chars}个字，请写明办理过程、结果和依据"
        )


async def reply(session: AsyncSession, rt: Runtime, actor: Actor, number: str, data: ReplyInput) -> dict[str, Any]:
    """答复 to the centre. Only the lead unit replies, after every assisting unit and every lower
    level it dispatched to has answered or been released; the reply time is what 及时办结率 measures."""
    check_reply_quality(rt, data.content)
    if data.outcome == "cannot_resolve":
        codes = {r.code for r in rt.rulebook.workflow.cannot_resolve_reasons}
        if data.reason not in codes:
            raise InvalidInput.one(
                "reason", "reply.reason_required", f"无法解决时须说明原因，取值：{', '.join(sorted(codes))}"
            )
    ticket = await load(session, actor, number)
    unit = await require_lead(session, actor, ticket, "答复")
    pending = (
        (
            await session.execute(
                select(TicketTask.unit_code).where(TicketTask.ticket_id == ticket.id, TicketTask.state == "open")
            )
        )
        .scalars()
        .all()
    )
    if pending:
        raise Conflict(
            f"尚有协办或下级单位未答复：{'、'.join(sorted(set(pending)))}；全部答复或解除后主办单位方可答复",
            code="reply.tasks_pending",
        )
    now = rt.clock()
    deadline = await _reply_deadline(session, ticket)
    on_time = now <= deadline.due_at
    deadline.state = "met"
    session.add(
        Reply(
            ticket_id=ticket.id,
            unit_code=unit,
            outcome=data.outcome,
            reason_code=data.reason,
            content=data.content,
            attachments=data.attachments,
            replied_at=now,
            due_at=deadline.due_at,
            on_time=on_time,
            actor_id=actor.id,
        )
    )
    ticket.replied_at = now
    await record(
        session,
        ticket,
        actor,
        Action.REPLY,
        now,
        unit=unit,
        due_before=deadline.due_at,
        note=data.content[:200],
        data={"outcome": data.outcome, "reason": data.reason, "on_time": on_time, "attachments": len(data.attachments)},
    )
    return {"number": ticket.number, "status": ticket.status, "replied_at": now, "on_time": on_time}


# ---------------------------------------------------------------- 退单 return and review


async def request_return(
    session: AsyncSession,
    rt: Runtime,
    actor: Actor,
    number: str,
    reason: str,
    explanation: str,
    suggested_unit: str | None,
) -> dict[str, Any]:
    """退单: within the return window of the dispatch to this unit, with a reason and a suggested
    owner. Beyond the escalation threshold the return goes straight to arbitration; after an
    arbitration (final) the unit can no longer return the ticket."""
    policy = rt.rulebook.workflow
    if reason not in {r.code for r in policy.return_reasons}:
        raise InvalidInput.one("reason", "return.unknown_reason", f"退单原因编码无效：{reason}")
    if not explanation.strip():
        raise InvalidInput.one("explanation", "return.explanation_required", "退单须说明理由")
    if suggested_unit is not None:
        await _unit(session, suggested_unit, "suggested_unit")
    ticket = await load(session, actor, number)
    unit = await require_lead(session, actor, ticket, "退单")
    if ticket.arbitrated:
        raise Conflict("该工单的承办单位已由机构编制部门裁定，裁定为终局，不能再退单", code="return.arbitrated_final")
    now = rt.clock()
    assigned_at = (
        await session.execute(
            select(TicketUnit.assigned_at).where(TicketUnit.ticket_id == ticket.id, TicketUnit.unit_code == unit)
        )
    ).scalar_one()
    cal = await calendar(session, rt)
    window = cal.deadline(assigned_at, policy.return_window_working_days)
    if now > window.due_at:
        raise Conflict(
            f"退单须在派单后{policy.return_window_working_days}个工作日内提出（截至{window.due_date.isoformat()}），已超过退单时限",
            code="return.window_closed",
        )
    ticket.return_count += 1
    escalate = ticket.return_count > policy.max_returns_before_escalation
    ret = TicketReturn(
        ticket_id=ticket.id,
        unit_code=unit,
        reason_code=reason,
        explanation=explanation,
        suggested_unit=suggested_unit,
        requested_at=now,
        requested_by=actor.id,
        state="arbitration" if escalate else "pending",
        escalated=escalate,
    )
    session.add(ret)
    await session.flush()
    if escalate:
        ticket.escalated = True
        await record(
            session,
            ticket,
            actor,
            Action.ESCALATE_RETURN,
            now,
            unit=unit,
            note=f"第{ticket.return_count}次退单，超过{policy.max_returns_before_escalation}次，提请机构编制部门裁定",
            data={"return_id": ret.id, "reason": reason, "suggested_unit": suggested_unit},
        )
    else:
        await record(
            session,
            ticket,
            actor,
            Action.REQUEST_RETURN,
            now,
            unit=unit,
            note=explanation[:200],
            data={"return_id": ret.id, "reason": reason, "suggested_unit": suggested_unit},
        )
    return {"number": ticket.number, "status": ticket.status, "return_id": ret.id, "escalated": escalate}


async def _pending_return(session: AsyncSession, ticket: Ticket, states: tuple[str, ...]) -> TicketReturn:
    stmt = (
        select(TicketReturn)
        .where(TicketReturn.ticket_id == ticket.id, TicketReturn.state.in_(states))
        .order_by(TicketReturn.id.desc())
        .limit(1)
    )
    ret = (await session.execute(stmt)).scalar_one_or_none()
    if ret is None:
        raise Conflict("该工单没有待审核的退单申请", code="return.none_pending")
    return ret


def _deadline(ticket_id: int, unit: str, kind: str, now: datetime, due: Due, *, task_id: int | None = None) -> Deadline:
    return Deadline(
        ticket_id=ticket_id,
        unit_code=unit,
        kind=kind,
        task_id=task_id,
        start_at=now,
        working_days=due.working_days,
        due_date=due.due_date,
        due_at=due.due_at,
        provisional=due.provisional,
        created_at=now,
    )


async def start_clock(session: AsyncSession, rt: Runtime, ticket: Ticket, unit: str, now: datetime) -> Due:
    """A fresh time limit (实施方案第11条: 5 working days for citizens, 10 for enterprises) and
    sign-for limit for ``unit`` from ``now``: after a re-dispatch, an arbitration or a redo."""
    cal = await calendar(session, rt)
    category = rt.rulebook.categories.get(ticket.category) if ticket.category else None
    if category is not None and category.working_days is not None:
        days = category.working_days  # the catalogue leaf's own limit
    else:
        days = working_days_for(rt, CallerType(ticket.caller_type))
    fresh = cal.deadline(now, days)
    accept_days = rt.rulebook.workflow.accept_within_working_days
    accept_due = cal.deadline(now, accept_days)
    session.add_all(
        [_deadline(ticket.id, unit, "reply", now, fresh), _deadline(ticket.id, unit, "accept", now, accept_due)]
    )
    return fresh


async def redispatch(
    session: AsyncSession, rt: Runtime, ticket: Ticket, new_unit: str, now: datetime
) -> tuple[datetime | None, datetime]:
    """Move the ticket to another lead unit with a fresh time limit for it (the ticket keeps its
    intake time, so the total elapsed time stays visible); every other unit becomes ``former``
    and loses access (``tickets.repository.visible``)."""
    old = await tickets_repo.running_deadline(session, ticket.id, "reply")
    before = old.due_at if old else None
    await session.execute(
        update(Deadline).where(Deadline.ticket_id == ticket.id, Deadline.state == "running").values(state="cancelled")
    )
    await session.execute(
        update(TicketTask).where(TicketTask.ticket_id == ticket.id, TicketTask.state == "open").values(state="released")
    )
    await session.execute(
        update(TicketUnit)
        .where(TicketUnit.ticket_id == ticket.id, TicketUnit.unit_code != new_unit)
        .values(role="former")
    )
    existing = await session.get(TicketUnit, (ticket.id, new_unit))
    if existing is None:
        session.add(TicketUnit(ticket_id=ticket.id, unit_code=new_unit, role="lead", assigned_at=now))
    else:
        existing.role, existing.assigned_at = "lead", now
    ticket.lead_unit_code = new_unit
    ticket.accepted_at = None
    fresh = await start_clock(session, rt, ticket, new_unit, now)
    await session.flush()
    return before, fresh.due_at


async def decide_return(
    session: AsyncSession,
    rt: Runtime,
    actor: Actor,
    number: str,
    decision: str,
    new_unit: str | None,
    note: str,
    category: str | None = None,
) -> dict[str, Any]:
    """退单争议审核 by the centre: approve → re-dispatch to the right unit with a fresh limit;
    reject → back to the same unit with its original deadline running (不当退单);
    arbitrate → the 机构编制部门 decides (实施方案第10条). An approval may name the right catalogue
    leaf (``category``): the ticket's category is corrected and the choice becomes a training label."""
    require_role(actor, *CENTRE)
    ticket = await load(session, actor, number)
    ret = await _pending_return(session, ticket, ("pending",))
    now = rt.clock()
    ret.decided_at, ret.decided_by, ret.note = now, actor.id, note
    if decision == "approve":
        if not new_unit:
            raise InvalidInput.one("new_unit", "return.new_unit_required", "同意退单须指定改派的承办单位")
        if new_unit == ret.unit_code:
            raise InvalidInput.one("new_unit", "return.same_unit", "改派单位不能是退单单位本身")
        await _unit(session, new_unit, "new_unit")
        await _correct_category(session, rt, actor, ticket, category, now)
        ret.state, ret.new_unit = "approved", new_unit
        before, after = await redispatch(session, rt, ticket, new_unit, now)
        await record(
            session,
            ticket,
            actor,
            Action.APPROVE_RETURN,
            now,
            unit=new_unit,
            due_before=before,
            due_after=after,
            note=note or f"退单审核通过，改派{_unit_name(rt, new_unit)}",
            data={"return_id": ret.id, "from_unit": ret.unit_code, "to_unit": new_unit},
        )
    elif decision == "reject":
        ret.state, ret.improper = "rejected", True
        deadline = await _reply_deadline(session, ticket)
        await record(
            session,
            ticket,
            actor,
            Action.REJECT_RETURN,
            now,
            unit=ret.unit_code,
            due_before=deadline.due_at,
            due_after=deadline.due_at,
            note=note or "退单驳回（不当退单），原办理时限继续计算",
            data={"return_id": ret.id, "improper": True},
        )
    elif decision == "arbitrate":
        ret.state = "arbitration"
        await record(
            session,
            ticket,
            actor,
            Action.REFER_ARBITRATION,
            now,
            unit=ret.unit_code,
            note=note or "职责争议，提请机构编制部门裁定",
            data={"return_id": ret.id},
        )
    else:
        raise InvalidInput.one("decision", "return.bad_decision", "decision 取值须为 approve、reject 或 arbitrate")
    return {"number": ticket.number, "status": ticket.status, "return_id": ret.id, "decision": ret.state}


async def _correct_category(
    session: AsyncSession, rt: Runtime, actor: Actor, ticket: Ticket, category: str | None, now: datetime
) -> None:
    """The leaf named with a return's approval or an arbitration: the ticket's category and a label.
    ``None`` leaves the category as it is; a blank one is refused (``category.required``)."""
    if category is None:
        return
    ticket.category = dispatchable(rt.rulebook, category).code
    await record_label(session, rt.rulebook, ticket.id, ticket.content, category, "return", actor.username, now)


async def arbitrate(
    session: AsyncSession,
    rt: Runtime,
    actor: Actor,
    number: str,
    unit_code: str,
    note: str,
    category: str | None = None,
) -> dict[str, Any]:
    """机构编制部门裁定: names the responsible unit; final — that unit can no longer return it.
    ``category`` (optional) corrects the ticket's catalogue leaf and becomes a training label."""
    require_role(actor, Role.ARBITRATOR, Role.ADMIN)
    if not note.strip():
        raise InvalidInput.one("note", "arbitration.note_required", "裁定须写明依据")
    ticket = await load(session, actor, number)
    ret = await _pending_return(session, ticket, ("arbitration",))
    await _unit(session, unit_code, "unit")
    now = rt.clock()
    await _correct_category(session, rt, actor, ticket, category, now)
    ret.state, ret.new_unit, ret.decided_at, ret.decided_by, ret.note = "arbitrated", unit_code, now, actor.id, note
    ticket.arbitrated = True
    before, after = await redispatch(session, rt, ticket, unit_code, now)
    await record(
        session,
        ticket,
        actor,
        Action.ARBITRATE,
        now,
        unit=unit_code,
        due_before=before,
        due_after=after,
        note=f"机构编制部门裁定由{_unit_name(rt, unit_code)}承办（终局）：{note}",
        data={"return_id": ret.id, "unit": unit_code, "final": True},
    )
    return {"number": ticket.number, "status": ticket.status, "unit": unit_code, "final": True}


# ---------------------------------------------------------------- 延期 extension


async def request_extension(
    session: AsyncSession, rt: Runtime, actor: Actor, number: str, working_days: int, reason: str
) -> dict[str, Any]:
    """延期申请 by the lead unit before its deadline; the total per ticket is capped by the rulebook
    (实施方案第11条：延期时限一般不超过10个工作日)."""
    cap = rt.rulebook.policy.time_limits.extension_max_working_days
    if working_days < 1:
        raise InvalidInput.one("working_days", "extension.bad_days", "延期工作日数至少为1")
    if not reason.strip():
        raise InvalidInput.one("reason", "extension.reason_required", "延期须说明理由")
    ticket = await load(session, actor, number)
    unit = await require_lead(session, actor, ticket, "申请延期")
    now = rt.clock()
    deadline = await _reply_deadline(session, ticket)
    if now > deadline.due_at:
        raise Conflict(
            f"延期申请须在办理时限届满前提出（时限截至{deadline.due_date.isoformat()} 24:00），已超期",
            code="extension.after_deadline",
        )
    pending = await session.scalar(
        select(func.count())
        .select_from(Extension)
        .where(Extension.ticket_id == ticket.id, Extension.state == "pending")
    )
    if pending:
        raise Conflict("已有待审核的延期申请", code="extension.pending_exists")
    used = deadline.extension_days
    if used + working_days > cap:
        raise Conflict(
            f"延期时限一般不超过{cap}个工作日（实施方案第11条）：本件已延期{used}个工作日，最多还可申请{cap - used}个工作日",
            code="extension.over_cap",
        )
    ext = Extension(
        ticket_id=ticket.id,
        unit_code=unit,
        working_days=working_days,
        reason=reason,
        requested_at=now,
        requested_by=actor.id,
        due_before=deadline.due_at,
    )
    session.add(ext)
    await session.flush()
    await record(
        session,
        ticket,
        actor,
        Action.REQUEST_EXTENSION,
        now,
        unit=unit,
        due_before=deadline.due_at,
        due_after=deadline.due_at,
        note=f"申请延期{working_days}个工作日：{reason[:150]}",
        data={"extension_id": ext.id, "working_days": working_days},
    )
    return {"number": ticket.number, "extension_id": ext.id, "state": ext.state}


async def decide_extension(
    session: AsyncSession, rt: Runtime, actor: Actor, number: str, approve: bool, note: str
) -> dict[str, Any]:
    """The centre approves or rejects; approval moves the deadline by that many working days
    counted from the current deadline, and the caller is to be told the new date."""
    require_role(actor, *CENTRE)
    ticket = await load(session, actor, number)
    ext = (
        await session.execute(
            select(Extension).where(Extension.ticket_id == ticket.id, Extension.state == "pending").with_for_update()
        )
    ).scalar_one_or_none()
    if ext is None:
        raise Conflict("该工单没有待审核的延期申请", code="extension.none_pending")
    now = rt.clock()
    deadline = await _reply_deadline(session, ticket)
    ext.decided_at, ext.decided_by, ext.note = now, actor.id, note
    before = deadline.due_at
    if approve:
        cap = rt.rulebook.policy.time_limits.extension_max_working_days
        if deadline.extension_days + ext.working_days > cap:
            raise Conflict(f"延期时限一般不超过{cap}个工作日（实施方案第11条）", code="extension.over_cap")
        cal = await calendar(session, rt)
        moved = cal.extend(_due(deadline), ext.working_days)
        deadline.due_date, deadline.due_at, deadline.provisional = moved.due_date, moved.due_at, moved.provisional
        deadline.extension_days += ext.working_days
        deadline.plan_version += 1  # the SLA sweep re-plans reminders and overdue marks
        ext.state, ext.due_after = "approved", moved.due_at
        session.add(
            Notification(
                ticket_id=ticket.id,
                recipient="caller",
                template="extension_approved",
                payload={"number": ticket.number, "due_date": moved.due_date.isoformat(), "days": ext.working_days},
                dedupe_key=f"extension:{ext.id}",
                created_at=now,
            )
        )
    else:
        ext.state, ext.due_after = "rejected", before
    await record(
        session,
        ticket,
        actor,
        Action.DECIDE_EXTENSION,
        now,
        unit=ext.unit_code,
        due_before=before,
        due_after=deadline.due_at,
        note=("同意延期" if approve else "不同意延期") + (f"：{note}" if note else ""),
        data={"extension_id": ext.id, "approved": approve, "working_days": ext.working_days},
    )
    return {
        "number": ticket.number,
        "extension_id": ext.id,
        "state": ext.state,
        "due_date": deadline.due_date,
        "due_at": deadline.due_at,
    }


# ---------------------------------------------------------------- 主办/协办 and 下派 sub-tasks


async def _task_due(session: AsyncSession, rt: Runtime, parent_due: datetime, now: datetime, working_days: int) -> Due:
    cal = await calendar(session, rt)
    due = cal.deadline(now, working_days)
    if due.due_at > parent_due:
        raise Conflict(
            f"子任务时限（{due.due_date.month}月{due.due_date.day}日24:00）不能晚于上级时限"
            f"（{_limit_day(parent_due)}24:00），请减少工作日数",
            code="task.beyond_parent",
        )
    return due


async def _add_task(
    session: AsyncSession,
    ticket: Ticket,
    actor: Actor,
    kind: str,
    unit: str,
    by_unit: str | None,
    parent_task: TicketTask | None,
    due: Due,
    instructions: str,
    now: datetime,
) -> TicketTask:
    if await session.get(TicketUnit, (ticket.id, unit)) is not None:
        unit_row = await session.get(HandlingUnit, unit)
        name = unit_row.name if unit_row is not None else unit
        raise Conflict(f"{name}已在该工单中承担任务", code="task.unit_already_on_ticket")
    task = TicketTask(
        ticket_id=ticket.id,
        kind=kind,
        unit_code=unit,
        assigned_by_unit=by_unit,
        parent_task_id=parent_task.id if parent_task else None,
        instructions=instructions,
        due_date=due.due_date,
        due_at=due.due_at,
        created_at=now,
        created_by=actor.id,
    )
    session.add(task)
    session.add(TicketUnit(ticket_id=ticket.id, unit_code=unit, role=kind, assigned_at=now))
    await session.flush()
    session.add(_deadline(ticket.id, unit, "task", now, due, task_id=task.id))
    return task


async def add_assist(
    session: AsyncSession, rt: Runtime, actor: Actor, number: str, unit: str, working_days: int, instructions: str
) -> dict[str, Any]:
    """主办/协办: the centre adds an assisting unit with its own sub-deadline inside the lead's."""
    require_role(actor, *CENTRE)
    await _unit(session, unit, "unit")
    ticket = await load(session, actor, number)
    if unit == ticket.lead_unit_code:
        raise InvalidInput.one("unit", "assist.is_lead", "协办单位不能是主办单位")
    now = rt.clock()
    deadline = await _reply_deadline(session, ticket)
    due = await _task_due(session, rt, deadline.due_at, now, working_days)
    task = await _add_task(session, ticket, actor, "assist", unit, None, None, due, instructions, now)
    await record(
        session,
        ticket,
        actor,
        Action.ADD_ASSIST,
        now,
        unit=unit,
        due_after=due.due_at,
        note=f"增加协办单位{_unit_name(rt, unit)}：{instructions[:150]}",
        data={"task_id": task.id, "kind": "assist"},
    )
    return {"number": ticket.number, "task_id": task.id, "unit": unit, "due_date": due.due_date, "due_at": due.due_at}


async def dispatch_down(
    session: AsyncSession, rt: Runtime, actor: Actor, number: str, unit: str, working_days: int, instructions: str
) -> dict[str, Any]:
    """下派: a district platform or town sub-centre holding the ticket (as lead, or through a task
    from above) dispatches it one level down with a sub-deadline inside its own. The lead unit
    stays the holder for the city-level KPIs."""
    require_role(actor, Role.UNIT_HANDLER)
    assert actor.unit_code is not None
    ticket = await load(session, actor, number)
    me = await session.get(HandlingUnit, actor.unit_code)
    target = await _unit(session, unit, "unit")
    assert me is not None
    if me.level not in ("district", "town") or target.parent_code != me.code:
        raise InvalidInput.one("unit", "dispatch_down.not_child", "只能向本单位的直属下一级（区→镇街→村居）派单")
    now = rt.clock()
    parent_task: TicketTask | None = None
    if ticket.lead_unit_code == me.code:
        parent_due = (await _reply_deadline(session, ticket)).due_at
    else:
        parent_task = (
            await session.execute(
                select(TicketTask).where(
                    TicketTask.ticket_id == ticket.id, TicketTask.unit_code == me.code, TicketTask.state == "open"
                )
            )
        ).scalar_one_or_none()
        if parent_task is None:
            raise Forbidden("本单位未承办该工单，不能向下派单", code="dispatch_down.not_holder")
        parent_due = parent_task.due_at
    due = await _task_due(session, rt, parent_due, now, working_days)
    task = await _add_task(session, ticket, actor, "lower", unit, me.code, parent_task, due, instructions, now)
    await record(
        session,
        ticket,
        actor,
        Action.DISPATCH_DOWN,
        now,
        unit=unit,
        due_after=due.due_at,
        note=f"{me.name}下派{target.name}：{instructions[:150]}",
        data={"task_id": task.id, "kind": "lower", "from_unit": me.code},
    )
    return {"number": ticket.number, "task_id": task.id, "unit": unit, "due_date": due.due_date, "due_at": due.due_at}


async def _task(session: AsyncSession, ticket: Ticket, task_id: int) -> TicketTask:
    task = (
        await session.execute(
            select(TicketTask).where(TicketTask.id == task_id, TicketTask.ticket_id == ticket.id).with_for_update()
        )
    ).scalar_one_or_none()
    if task is None:
        raise NotFound("子任务不存在", code="task.not_found")
    if task.state != "open":
        raise Conflict("该子任务已答复或已解除", code="task.closed")
    return task


async def answer_task(
    session: AsyncSession, rt: Runtime, actor: Actor, number: str, task_id: int, content: str
) -> dict[str, Any]:
    """An assisting unit answers the lead, or a lower level replies up to the level above it."""
    check_reply_quality(rt, content)
    require_role(actor, Role.UNIT_HANDLER)
    ticket = await load(session, actor, number)
    task = await _task(session, ticket, task_id)
    if task.unit_code != actor.unit_code:
        raise NotFound("子任务不存在", code="task.not_found")
    open_children = await session.scalar(
        select(func.count())
        .select_from(TicketTask)
        .where(TicketTask.parent_task_id == task.id, TicketTask.state == "open")
    )
    if open_children:
        raise Conflict("本单位下派的下级任务尚未答复", code="reply.tasks_pending")
    now = rt.clock()
    task.state, task.answer, task.answered_at = "answered", content, now
    await tickets_repo.end_task_deadline(session, task.id, "met")
    await record(
        session,
        ticket,
        actor,
        Action.ANSWER_TASK,
        now,
        unit=task.unit_code,
        note=content[:200],
        data={"task_id": task.id, "kind": task.kind, "on_time": now <= task.due_at},
    )
    return {"number": ticket.number, "task_id": task.id, "state": task.state, "on_time": now <= task.due_at}


async def release_task(
    session: AsyncSession, rt: Runtime, actor: Actor, number: str, task_id: int, note: str
) -> dict[str, Any]:
    """Release a sub-task: the centre for assisting units, the assigning unit for a lower level."""
    ticket = await load(session, actor, number)
    task = await _task(session, ticket, task_id)
    allowed = actor.role in CENTRE or (actor.role is Role.UNIT_HANDLER and task.assigned_by_unit == actor.unit_code)
    if not allowed:
        raise Forbidden("只有热线中心或派出该任务的单位可以解除", code="task.release_forbidden")
    now = rt.clock()
    task.state = "released"
    await tickets_repo.end_task_deadline(session, task.id, "cancelled")
    await tickets_repo.retire_unit_if_done(session, ticket.id, task.unit_code)
    await record(
        session,
        ticket,
        actor,
        Action.RELEASE_TASK,
        now,
        unit=task.unit_code,
        note=note or "解除子任务",
        data={"task_id": task.id, "kind": task.kind},
    )
    return {"number": ticket.number, "task_id": task.id, "state": task.state}


def _unit_name(rt: Runtime, code: str) -> str:
    """A unit as people know it, for timeline notes (its code stays in the event's data)."""
    unit = rt.rulebook.units.get(code)
    return unit.name if unit is not None else code

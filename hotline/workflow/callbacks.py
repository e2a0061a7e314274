"""答复审核、回访、重办 (实施方案第12条) and the supervision that follows exhausted redo rounds
(第13条); an unreasonable dissatisfaction is recorded for 无理重复诉求处置 (第20条).

* 答复审核: the centre approves a unit's reply (the ticket waits for its callback, due within
  ``callback_within_working_days``) or sends it back to the unit, whose original deadline keeps
  running.
* 回访: an agent calls every caller of the ticket (a primary's merged secondaries too). Not
  reached on ``callback_max_attempts`` different days → closed as unreachable. Reached → an
  evaluation; satisfied closes; reasonably unsatisfied is redone by the same lead unit with a
  fresh time limit, up to ``redo_max_rounds``, after which the ticket closes unsatisfied and the
  unit gets a 督办单; unreasonably unsatisfied closes as unreasonable.
* 抽样回访: direct answers (``answered``) and emergency transfers (``transferred``) need no
  callback; ``[workflow.sla] callback_sampling`` may still send a deterministic share of them to
  the callback queue (:func:`sample_direct_callbacks`, run by the scheduler, never at intake).
  Their callback only records what the caller says: the ticket's status stays final.

SQL of these use cases is kept in the clearly marked section at the end of this module.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, and_, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from dispatcher.calendar import LOCAL_TZ
from dispatcher.lifecycle import Action, Status, transition
from hotline.errors import Conflict, InvalidInput
from hotline.models import (
    Callback,
    Caller,
    Deadline,
    Evaluation,
    HandlingUnit,
    Notification,
    Reply,
    Ticket,
    TicketEvent,
)
from hotline.redaction import personal_values, redact
from hotline.runtime import Runtime
from hotline.tickets import repository as tickets_repo
from hotline.tickets.schemas import Input, LocalDatetime
from hotline.users import Actor, Role
from hotline.workflow.actions import start_clock
from hotline.workflow.common import CENTRE, calendar, load, record, require_role
from hotline.workflow.supervision import open_order

CALLBACK_ROLES = (Role.AGENT, *CENTRE)
EXCERPT = 200

SAMPLED_STATUSES: dict[str, str] = {
    Status.ANSWERED.value: "direct_answer",
    Status.TRANSFERRED.value: "emergency_transfer",
}
"""Final statuses set at intake whose tickets may be sampled for a callback -> their disposition
(the key of ``[workflow.sla] callback_sampling``)."""
SAMPLED_LABELS = {"direct_answer": "直接答复", "emergency_transfer": "紧急转接"}
SAMPLE_EVENT = "callback_sampled"
SAMPLED_CALLBACK_EVENT = "sampled_callback"

Satisfaction = Literal["satisfied", "basically_satisfied", "unsatisfied"]
Resolution = Literal["resolved", "partly_resolved", "unresolved"]


# ---------------------------------------------------------------- shapes


class ReplyDecisionIn(Input):
    approve: bool
    note: str = Field(default="", max_length=2000)
    public_text: str | None = Field(default=None, max_length=10_000)
    """On approval: the text 办理情况公开 publishes, as the reviewer corrected it from the redacted
    proposal (``GET`` of the review list); redacted again before it is stored. Unset: the reply
    redacted as proposed."""


class ReplyDecisionOut(BaseModel):
    number: str
    status: str
    callback_id: int | None = None
    callback_due_at: LocalDatetime | None = None
    due_at: LocalDatetime | None = None
    """After a rejection: the unit's reply deadline, which keeps running."""


class CallbackIn(Input):
    reached: bool
    satisfaction: Satisfaction | None = None
    resolution: Resolution | None = None
    reasonable: bool | None = None
    """When unsatisfied: is the dissatisfaction reasonable (the unit should have acted and did not)?"""
    note: str = Field(default="", max_length=2000)


class CallbackOut(BaseModel):
    number: str
    status: str
    callback_id: int
    callback_state: str
    attempts: int
    attempt_days: list[str]
    final_outcome: str | None
    redo_count: int
    due_at: LocalDatetime | None = None
    """After a redo: the fresh reply deadline of the lead unit."""
    supervision_id: int | None = None


class CallbackCaller(BaseModel):
    number: str
    """The ticket the caller called about (a secondary merged into the primary, or the primary)."""
    type: str
    name: str | None
    phone: str | None
    enterprise_name: str | None
    confidential: bool


class CallbackItem(BaseModel):
    id: int
    number: str
    round: int
    due_at: LocalDatetime
    overdue: bool
    attempts: int
    attempt_days: list[str]
    callers: list[CallbackCaller]
    lead_unit: str | None
    lead_unit_name: str | None
    reply_outcome: str | None
    reply_excerpt: str | None
    replied_at: LocalDatetime | None


class CallbackPage(BaseModel):
    items: list[CallbackItem]
    total: int
    page: int
    page_size: int


# ---------------------------------------------------------------- 答复审核 reply review


async def decide_reply(
    session: AsyncSession, rt: Runtime, actor: Actor, number: str, data: ReplyDecisionIn
) -> ReplyDecisionOut:
    """答复审核 by the centre (实施方案第12条). Approve → the reply's public text is fixed (the
    reviewer's correction or the reply itself, redacted of personal data: ``hotline.redaction``)
    and may be published; the ticket waits for its callback, due
    ``callback_within_working_days`` working days from now, and the caller is told the reply is
    available. Reject → back to the lead unit; its original reply deadline runs again (re-planned
    by the SLA sweep), it is not restarted."""
    require_role(actor, *CENTRE)
    ticket = await load(session, actor, number)
    transition(Status(ticket.status), Action.APPROVE_REPLY if data.approve else Action.REJECT_REPLY)
    now = rt.clock()
    if not data.approve:
        deadline = await tickets_repo.latest_deadline(session, ticket.id)
        if deadline is not None:
            deadline.state = "running"
            deadline.plan_version += 1
        due = deadline.due_at if deadline else None
        await record(
            session,
            ticket,
            actor,
            Action.REJECT_REPLY,
            now,
            unit=ticket.lead_unit_code,
            due_before=due,
            due_after=due,
            note=data.note or "答复不合格，退回承办单位，原办理时限继续计算",
            data={"approved": False},
        )
        await session.flush()
        return ReplyDecisionOut(number=ticket.number, status=ticket.status, due_at=due)

    reply = await tickets_repo.latest_reply(session, ticket.id)
    if reply is not None:
        # published only now, and only as redacted (issue 10, item 3)
        caller = await tickets_repo.caller(session, ticket.caller_id)
        source = data.public_text if data.public_text is not None and data.public_text.strip() else reply.content
        reply.public_text = redact(source, *personal_values(caller, ticket))
    cal = await calendar(session, rt)
    due_at = cal.deadline(now, rt.rulebook.workflow.sla.callback_within_working_days).due_at
    callback = Callback(ticket_id=ticket.id, round=ticket.redo_count + 1, due_at=due_at, created_at=now)
    session.add(callback)
    await session.flush()
    await record(
        session,
        ticket,
        actor,
        Action.APPROVE_REPLY,
        now,
        unit=ticket.lead_unit_code,
        note=data.note or "答复审核通过，待回访",
        data={
            "approved": True,
            "callback_id": callback.id,
            "round": callback.round,
            "callback_due_at": due_at.isoformat(),
        },
    )
    session.add(
        Notification(
            ticket_id=ticket.id,
            recipient="caller",
            template="reply_available",
            payload={"number": ticket.number},
            dedupe_key=f"reply_available:{ticket.id}:{callback.round}",
            created_at=now,
        )
    )
    await session.flush()
    return ReplyDecisionOut(number=ticket.number, status=ticket.status, callback_id=callback.id, callback_due_at=due_at)


# ---------------------------------------------------------------- 回访 callback queue


async def list_callbacks(
    session: AsyncSession, rt: Runtime, actor: Actor, due: Literal["today", "all"], page: int, page_size: int
) -> CallbackPage:
    """The agents' callback queue: pending callbacks, earliest due first. The agent must call, so
    every caller is shown unmasked — confidential ones too (only units never see them) — and each
    disclosure is audited (purpose ``callback``)."""
    require_role(actor, *CALLBACK_ROLES)
    now = rt.clock()
    until = None
    if due == "today":
        until = datetime.combine(now.astimezone(LOCAL_TZ).date() + timedelta(days=1), time(), tzinfo=LOCAL_TZ)
    rows, total = await _pending_page(session, until, page, page_size)
    ticket_ids = [t.id for _, t, _ in rows]
    callers = await _callers_of(session, ticket_ids)
    replies = await _latest_replies(session, ticket_ids)
    items = []
    for cb, ticket, unit_name in rows:
        shown = callers.get(ticket.id, [])
        for caller_ticket, _caller in shown:
            tickets_repo.audit_personal_data(session, actor, caller_ticket, "callback")
        reply = replies.get(ticket.id)
        items.append(
            CallbackItem(
                id=cb.id,
                number=ticket.number,
                round=cb.round,
                due_at=cb.due_at,
                overdue=now > cb.due_at,
                attempts=cb.attempts,
                attempt_days=list(cb.attempt_days),
                callers=[
                    CallbackCaller(
                        number=t.number,
                        type=c.type,
                        name=c.name,
                        phone=c.phone,
                        enterprise_name=c.enterprise_name,
                        confidential=c.confidential,
                    )
                    for t, c in shown
                ],
                lead_unit=ticket.lead_unit_code,
                lead_unit_name=unit_name,
                reply_outcome=reply.outcome if reply else None,
                reply_excerpt=reply.content[:EXCERPT] if reply else None,
                replied_at=reply.replied_at if reply else None,
            )
        )
    await session.flush()
    return CallbackPage(items=items, total=total, page=page, page_size=page_size)


# ---------------------------------------------------------------- 回访 callback result


async def record_callback(
    session: AsyncSession, rt: Runtime, actor: Actor, number: str, data: CallbackIn
) -> CallbackOut:
    """回访 result (实施方案第12条). Not reached: one more attempt; attempts on the same local day
    count once, and on the ``callback_max_attempts``-th different day the ticket closes as
    unreachable. Reached: an evaluation, then close (satisfied / basically satisfied), redo by the
    same lead unit (reasonably unsatisfied, up to ``redo_max_rounds``), close unsatisfied with a
    督办单 (rounds exhausted), or close as unreasonable (无理诉求, 第20条).

    A sampled callback of a direct answer or an emergency transfer (see
    :func:`sample_direct_callbacks`) never changes the ticket: ``answered`` and ``transferred``
    are final and nothing can be redone. Not reached counts attempts the same way and, on the
    ``callback_max_attempts``-th different day, ends the callback as ``unreachable``; reached
    records the evaluation and ends the callback as ``done`` — whatever the satisfaction, also
    unsatisfied and reasonable (no redo, no 督办单); the timeline event carries
    ``{"sampled": true}``."""
    require_role(actor, *CALLBACK_ROLES)
    _check(data)
    ticket = await load(session, actor, number)
    if ticket.status in SAMPLED_STATUSES:
        return await _record_sampled(session, rt, actor, ticket, data)
    transition(Status(ticket.status), Action.CLOSE if data.reached else Action.CALLBACK_ATTEMPT)
    callback = await _pending_callback(session, ticket.id)
    if callback is None:
        raise Conflict("该工单没有待回访任务", code="callback.none_pending")
    now = rt.clock()
    sla = rt.rulebook.workflow.sla
    out_due: datetime | None = None
    order_id: int | None = None

    if not data.reached:
        days = _count_attempt(callback, now)
        await record(
            session,
            ticket,
            actor,
            Action.CALLBACK_ATTEMPT,
            now,
            unit=ticket.lead_unit_code,
            note=data.note or f"回访未接通（第{callback.attempts}次，{days}个不同日期）",
            data={"callback_id": callback.id, "attempt": callback.attempts, "days": days},
        )
        if days >= sla.callback_max_attempts:
            callback.state, callback.done_at = "unreachable", now
            await _close(session, ticket, actor, now, "unreachable", f"{days}个不同日期回访均未接通，按无法联系办结")
    else:
        _evaluate(session, ticket, callback, actor, data, now)
        assert data.satisfaction is not None  # _check: a reached callback carries its evaluation
        if data.satisfaction != "unsatisfied":
            await _close(session, ticket, actor, now, data.satisfaction, data.note or "回访满意，办结")
        elif not data.reasonable:
            await _close(
                session,
                ticket,
                actor,
                now,
                "unreasonable",
                data.note or "诉求人不满意但诉求不合理，办结",
                unreasonable=True,
            )
        elif ticket.redo_count < sla.redo_max_rounds:
            out_due = await _redo(session, rt, ticket, actor, now, data.note)
        else:
            order_id = await _supervise(session, rt, ticket, actor, now)
            await _close(
                session, ticket, actor, now, "unsatisfied", f"重办{ticket.redo_count}轮后诉求人仍不满意，办结并督办"
            )
    await session.flush()
    return _callback_out(ticket, callback, due_at=out_due, supervision_id=order_id)


async def _record_sampled(
    session: AsyncSession, rt: Runtime, actor: Actor, ticket: Ticket, data: CallbackIn
) -> CallbackOut:
    """The result of a sampled callback: evaluation and callback state only, the status stays."""
    callback = await _pending_callback(session, ticket.id)
    if callback is None:
        raise Conflict("该工单没有待回访任务", code="callback.none_pending")
    now = rt.clock()
    label = SAMPLED_LABELS[SAMPLED_STATUSES[ticket.status]]
    base: dict[str, Any] = {"sampled": True, "callback_id": callback.id}
    if not data.reached:
        days = _count_attempt(callback, now)
        note = data.note or f"抽样回访未接通（第{callback.attempts}次，{days}个不同日期）"
        if days >= rt.rulebook.workflow.sla.callback_max_attempts:
            callback.state, callback.done_at = "unreachable", now
            note = data.note or f"抽样回访{days}个不同日期均未接通，结束回访（{label}工单状态不变）"
        _timeline(
            session,
            ticket,
            actor,
            Action.CALLBACK_ATTEMPT.value,
            now,
            note,
            {**base, "attempt": callback.attempts, "days": days, "callback_state": callback.state},
        )
    else:
        reasonable = _evaluate(session, ticket, callback, actor, data, now)
        _timeline(
            session,
            ticket,
            actor,
            SAMPLED_CALLBACK_EVENT,
            now,
            data.note or f"{label}抽样回访已记录评价（工单状态不变，不重办）",
            {**base, "satisfaction": data.satisfaction, "resolution": data.resolution, "reasonable": reasonable},
        )
    await session.flush()
    return _callback_out(ticket, callback)


def _count_attempt(callback: Callback, now: datetime) -> int:
    """One unanswered call; returns the number of different local days tried (what the limit counts)."""
    today = now.astimezone(LOCAL_TZ).date().isoformat()
    callback.attempts += 1
    if today not in callback.attempt_days:
        callback.attempt_days = [*callback.attempt_days, today]
    return len(callback.attempt_days)


def _evaluate(
    session: AsyncSession, ticket: Ticket, callback: Callback, actor: Actor, data: CallbackIn, now: datetime
) -> bool | None:
    """The caller was reached: record the evaluation and end the callback. Returns ``reasonable``,
    which only an unsatisfied evaluation carries."""
    assert data.satisfaction is not None and data.resolution is not None
    reasonable = data.reasonable if data.satisfaction == "unsatisfied" else None
    session.add(
        Evaluation(
            ticket_id=ticket.id,
            callback_id=callback.id,
            caller_id=ticket.caller_id,
            satisfaction=data.satisfaction,
            resolution=data.resolution,
            reasonable=reasonable,
            note=data.note,
            at=now,
            actor_id=actor.id,
        )
    )
    callback.state, callback.done_at = "done", now
    return reasonable


def _timeline(
    session: AsyncSession,
    ticket: Ticket,
    actor: Actor | None,
    action: str,
    now: datetime,
    note: str,
    data: dict[str, Any],
) -> None:
    """A timeline event that keeps the status (outside the lifecycle table, like ``close_with_primary``)."""
    ticket.updated_at = now
    session.add(
        TicketEvent(
            ticket_id=ticket.id,
            at=now,
            actor_id=actor.id if actor else None,
            action=action,
            from_status=ticket.status,
            to_status=ticket.status,
            unit_code=ticket.lead_unit_code,
            note=note,
            data=data,
        )
    )


# ---------------------------------------------------------------- 抽样回访 sampling


def sampling_threshold(rate: float) -> int:
    """How many of every 1000 ticket ids are sampled: ``id % 1000 < threshold`` is exactly
    ``id % 1000 < rate * 1000`` (rounded to spare float noise such as 0.3 * 1000)."""
    return min(1000, max(0, math.ceil(round(rate * 1000, 6))))


async def sample_direct_callbacks(session: AsyncSession, rt: Runtime, now: datetime, since: datetime) -> int:
    """抽样回访: open a round-1 callback for the configured share of the direct answers
    (``answered``) and emergency transfers (``transferred``) created at or after ``since`` that
    have no callback yet; returns how many were opened.

    The share is ``[workflow.sla] callback_sampling`` by disposition (default 0.0: none). The
    choice is deterministic — ``ticket.id % 1000 < rate * 1000`` — so a rerun picks the same
    tickets and never duplicates (a ticket with any callback is skipped, and the insert ignores a
    concurrent one), and several schedulers may run it at once. Each callback is due
    ``callback_within_working_days`` working days after the ticket's intake and appears in the
    callback queue; its result never changes the ticket (see :func:`record_callback`). At most
    the sweep batch is opened per call; the rest follow on the next call. Does not commit."""
    rates = rt.rulebook.workflow.sla.callback_sampling
    terms: list[ColumnElement[bool]] = []
    for status, disposition in SAMPLED_STATUSES.items():
        threshold = sampling_threshold(rates.get(disposition, 0.0))
        if threshold > 0:
            terms.append(and_(Ticket.status == status, Ticket.disposition == disposition, Ticket.id % 1000 < threshold))
    if not terms:
        return 0
    batch = rt.settings.sweep_batch or rt.rulebook.workflow.sla.sweep_batch
    candidates = await _sampling_candidates(session, or_(*terms), since, batch)
    if not candidates:
        return 0
    cal = await calendar(session, rt)
    days = rt.rulebook.workflow.sla.callback_within_working_days
    rows = [
        {"ticket_id": t.id, "round": 1, "due_at": cal.deadline(t.created_at, days).due_at, "created_at": now}
        for t in candidates
    ]
    opened = await _insert_callbacks(session, rows)
    for ticket in candidates:
        callback_id = opened.get(ticket.id)
        if callback_id is None:
            continue
        disposition = SAMPLED_STATUSES[ticket.status]
        _timeline(
            session,
            ticket,
            None,
            SAMPLE_EVENT,
            now,
            f"{SAMPLED_LABELS[disposition]}按比例抽样回访，待回访",
            {"sampled": True, "callback_id": callback_id, "rate": rates.get(disposition, 0.0)},
        )
    await session.flush()
    return len(opened)


def _check(data: CallbackIn) -> None:
    if not data.reached:
        return
    for field, label in (("satisfaction", "满意度"), ("resolution", "解决情况")):
        if getattr(data, field) is None:
            raise InvalidInput.one(field, f"callback.{field}_required", f"回访接通时必须填写{label}")
    if data.satisfaction == "unsatisfied" and data.reasonable is None:
        raise InvalidInput.one("reasonable", "callback.reasonable_required", "诉求人不满意时须判断其不满意是否合理")


async def _close(
    session: AsyncSession,
    ticket: Ticket,
    actor: Actor,
    now: datetime,
    outcome: str,
    note: str,
    *,
    unreasonable: bool = False,
) -> None:
    """办结 with its outcome; merged secondaries keep status ``merged`` and take the primary's outcome."""
    ticket.final_outcome, ticket.closed_at = outcome, now
    data: dict[str, Any] = {"final_outcome": outcome}
    if unreasonable:
        data["unreasonable"] = True
    await record(session, ticket, actor, Action.CLOSE, now, unit=ticket.lead_unit_code, note=note, data=data)
    for secondary in await _secondaries(session, ticket.id):
        secondary.final_outcome, secondary.closed_at = outcome, now
        session.add(
            TicketEvent(
                ticket_id=secondary.id,
                at=now,
                actor_id=actor.id,
                action="close_with_primary",
                from_status=secondary.status,
                to_status=secondary.status,
                unit_code=secondary.lead_unit_code,
                note=f"随主单 {ticket.number} 办结",
                data={"primary": ticket.number, "final_outcome": outcome},
            )
        )


async def _redo(session: AsyncSession, rt: Runtime, ticket: Ticket, actor: Actor, now: datetime, note: str) -> datetime:
    """重办 by the same lead unit with a fresh time limit (5 / 10 working days) and sign-for limit
    from now; the previous reply stays on record."""
    unit = ticket.lead_unit_code
    if unit is None:
        raise Conflict("该工单没有主办单位，不能重办", code="redo.no_lead_unit")
    old = await tickets_repo.latest_deadline(session, ticket.id)
    await _cancel_running_deadlines(session, ticket.id)
    fresh = await start_clock(session, rt, ticket, unit, now)
    ticket.redo_count += 1
    ticket.accepted_at = None
    await record(
        session,
        ticket,
        actor,
        Action.REDO,
        now,
        unit=unit,
        due_before=old.due_at if old else None,
        due_after=fresh.due_at,
        note=note or f"诉求人不满意，第{ticket.redo_count}轮重办",
        data={"round": ticket.redo_count, "working_days": fresh.working_days},
    )
    session.add(
        Notification(
            ticket_id=ticket.id,
            recipient=f"unit:{unit}",
            template="redo",
            payload={"number": ticket.number, "round": ticket.redo_count, "due_date": fresh.due_date.isoformat()},
            dedupe_key=f"redo:{ticket.id}:{ticket.redo_count}",
            created_at=now,
        )
    )
    await session.flush()
    return fresh.due_at


async def _supervise(session: AsyncSession, rt: Runtime, ticket: Ticket, actor: Actor, now: datetime) -> int:
    """督办 (实施方案第13条) when the redo rounds are exhausted and the caller is still unsatisfied."""
    unit = ticket.lead_unit_code
    if unit is None:
        raise Conflict("该工单没有主办单位，不能督办", code="supervision.unit_required")
    cal = await calendar(session, rt)
    reply_by: date = cal.deadline(now, rt.rulebook.workflow.sla.supervision_reply_working_days).due_date
    content = f"重办{ticket.redo_count}轮后诉求人仍不满意"
    order = await open_order(session, ticket, actor, unit, "poor_quality", "办理质量不高", content, reply_by, now)
    return order.id


def _callback_out(ticket: Ticket, callback: Callback, **extra: Any) -> CallbackOut:
    return CallbackOut(
        number=ticket.number,
        status=ticket.status,
        callback_id=callback.id,
        callback_state=callback.state,
        attempts=callback.attempts,
        attempt_days=list(callback.attempt_days),
        final_outcome=ticket.final_outcome,
        redo_count=ticket.redo_count,
        **extra,
    )


# ---------------------------------------------------------------- SQL


async def _pending_callback(session: AsyncSession, ticket_id: int) -> Callback | None:
    stmt = (
        select(Callback)
        .where(Callback.ticket_id == ticket_id, Callback.state == "pending")
        .order_by(Callback.round.desc())
        .limit(1)
        .with_for_update()
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def _sampling_candidates(
    session: AsyncSession, sampled: ColumnElement[bool], since: datetime, batch: int
) -> list[Ticket]:
    has_callback = exists().where(Callback.ticket_id == Ticket.id)
    stmt = (
        select(Ticket)
        .where(sampled, Ticket.created_at >= since, ~has_callback)
        .order_by(Ticket.id)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    return list((await session.execute(stmt)).scalars())


async def _insert_callbacks(session: AsyncSession, rows: list[dict[str, Any]]) -> dict[int, int]:
    """ticket id -> id of the callback opened; a ticket that got its round-1 callback meanwhile is skipped."""
    stmt = (
        insert(Callback)
        .values(rows)
        .on_conflict_do_nothing(index_elements=[Callback.ticket_id, Callback.round])
        .returning(Callback.ticket_id, Callback.id)
    )
    return {row[0]: row[1] for row in await session.execute(stmt)}


async def _pending_page(
    session: AsyncSession, until: datetime | None, page: int, page_size: int
) -> tuple[list[tuple[Callback, Ticket, str | None]], int]:
    where = [Callback.state == "pending"]
    if until is not None:
        where.append(Callback.due_at <= until)
    total = int(await session.scalar(select(func.count()).select_from(Callback).where(*where)) or 0)
    stmt = (
        select(Callback, Ticket, HandlingUnit.name)
        .join(Ticket, Ticket.id == Callback.ticket_id)
        .outerjoin(HandlingUnit, HandlingUnit.code == Ticket.lead_unit_code)
        .where(*where)
        .order_by(Callback.due_at, Callback.id)
        .offset((page - 1) * page_size)
        .limit(page_size)
    )
    return [(c, t, n) for c, t, n in await session.execute(stmt)], total


async def _callers_of(session: AsyncSession, primary_ids: Sequence[int]) -> dict[int, list[tuple[Ticket, Caller]]]:
    """Per primary: its own caller first, then the callers of the tickets merged into it."""
    if not primary_ids:
        return {}
    stmt = (
        select(Ticket, Caller)
        .join(Caller, Caller.id == Ticket.caller_id)
        .where(Ticket.id.in_(primary_ids) | Ticket.merged_into_id.in_(primary_ids))
        .order_by(Ticket.merged_into_id.is_not(None), Ticket.id)
    )
    out: dict[int, list[tuple[Ticket, Caller]]] = {}
    for t, c in await session.execute(stmt):
        out.setdefault(t.merged_into_id or t.id, []).append((t, c))
    return out


async def _latest_replies(session: AsyncSession, ticket_ids: Sequence[int]) -> dict[int, Reply]:
    if not ticket_ids:
        return {}
    latest = select(func.max(Reply.id)).where(Reply.ticket_id.in_(ticket_ids)).group_by(Reply.ticket_id)
    stmt = select(Reply).where(Reply.id.in_(latest))
    return {r.ticket_id: r for r in (await session.execute(stmt)).scalars()}


async def _secondaries(session: AsyncSession, primary_id: int) -> list[Ticket]:
    stmt = select(Ticket).where(Ticket.merged_into_id == primary_id).order_by(Ticket.id).with_for_update()
    return list((await session.execute(stmt)).scalars())


async def _cancel_running_deadlines(session: AsyncSession, ticket_id: int) -> None:
    await session.execute(
        update(Deadline)
        .where(Deadline.ticket_id == ticket_id, Deadline.state == "running")
        .values(state="cancelled")
        .execution_options(synchronize_session="fetch")
    )

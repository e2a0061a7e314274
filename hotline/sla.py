"""时限自动执行: reminders (催办), overdue marks (超期), supervision orders (督办单) and notices (通报).

Deadlines are rows; so are the steps that enforce them. A sweep (Celery beat every minute, or the
embedded scheduler) first plans the steps of every deadline whose plan is stale, then claims the
steps that are due with ``FOR UPDATE SKIP LOCKED`` and acts on each once: check-then-act against
the deadline's current plan version, so a moved or met deadline never fires an old step, two
sweeps never act twice, and a crashed sweep's rows are picked up by the next one.

Times follow the working calendar (实施方案第11条): a reminder at 00:00 of the last working day
(optionally also at the middle of the limit), the overdue mark at 24:00 of the last day, a
supervision order when still unreplied N working days after the deadline, a notice after M.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, NamedTuple, Protocol

from sqlalchemy import and_, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dispatcher.calendar import LOCAL_TZ, WorkingCalendar
from dispatcher.lifecycle import TRANSITIONS, Action, Status, transition
from hotline import sla_repository as repo
from hotline.clock import utc_now
from hotline.db import unit_of_work
from hotline.models import Deadline, Notification, SlaStep, SupervisionOrder, Ticket, TicketEvent
from hotline.runtime import Runtime
from hotline.tickets import repository as tickets_repo
from hotline.users import Actor
from hotline.workflow.common import record
from routing_rules.schema import ReminderPoint, SlaPolicy

log = logging.getLogger(__name__)

STEP_LABELS = {
    "reminder": "催办",
    "overdue": "超期",
    "supervision": "超期督办",
    "notice": "超期通报",
    "accept_overdue": "超时未签收",
    "task_reminder": "子任务催办",
    "task_overdue": "子任务超期",
    "order_overdue": "督办单逾期未回复",
}


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=LOCAL_TZ)


class Plannable(Protocol):
    """What planning reads of a deadline (a ``Deadline`` row or its columns)."""

    @property
    def kind(self) -> str: ...
    @property
    def start_at(self) -> datetime: ...
    @property
    def working_days(self) -> int: ...
    @property
    def extension_days(self) -> int: ...
    @property
    def due_date(self) -> date: ...
    @property
    def due_at(self) -> datetime: ...


class _Stale(NamedTuple):
    id: int
    ticket_id: int
    plan_version: int
    kind: str
    start_at: datetime
    working_days: int
    extension_days: int
    due_date: date
    due_at: datetime


def steps_for(
    deadline: Plannable,
    calendar: WorkingCalendar,
    policy: SlaPolicy,
    memo: dict[tuple[date, int], datetime] | None = None,
) -> list[tuple[str, datetime]]:
    """The enforcement steps of one deadline and when each is due. ``memo`` keeps the instants
    "N working days after a due date" across the deadlines of one planning batch."""
    memo = {} if memo is None else memo

    def after_due(n: int) -> datetime:
        key = (deadline.due_date, n)
        if key not in memo:
            memo[key] = calendar.deadline(_midnight(deadline.due_date), n).due_at
        return memo[key]

    total = deadline.working_days + deadline.extension_days
    last_day_start = _midnight(deadline.due_date)
    if deadline.kind == "accept":
        return [("accept_overdue", deadline.due_at)]
    if deadline.kind == "task":
        return [("task_reminder", last_day_start), ("task_overdue", deadline.due_at)]
    steps: list[tuple[str, datetime]] = []
    for point in policy.reminders:
        if point is ReminderPoint.LAST_WORKING_DAY:
            steps.append(("reminder", last_day_start))
        elif total >= 2:
            start_day = deadline.start_at.astimezone(LOCAL_TZ).date()
            middle, _ = calendar.add_working_days(start_day, (total + 1) // 2)
            if middle < deadline.due_date:
                steps.append(("reminder", _midnight(middle)))
    steps.append(("overdue", deadline.due_at))
    after = policy.supervision_after_overdue_working_days
    # "N working days after the deadline": 24:00 of the N-th working day after the due date.
    supervise_at = after_due(after) if after else deadline.due_at
    steps.append(("supervision", supervise_at))
    steps.append(("notice", after_due(policy.notice_after_overdue_working_days)))
    return list(dict.fromkeys(steps))  # two reminders on one instant (a one-day limit) are one


@dataclass
class SweepReport:
    planned: int = 0
    acted: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    failed: int = 0
    """Rows that could not be planned or acted on: logged, noticed to the centre, and passed over."""

    @property
    def total_acted(self) -> int:
        return sum(self.acted.values())


FAILURE_RECIPIENT = "unit:centre.dispatch"


@dataclass(frozen=True, slots=True)
class Failure:
    """A row the sweep passed over: its ticket, what could not be done, why, and the notice's key."""

    ticket_id: int
    what: str
    why: str
    key: str


def _failure(ticket_id: int, what: str, exc: Exception, key: str) -> Failure:
    log.exception("sla sweep: ticket id %s: %s failed; passed over, the sweep goes on", ticket_id, what)
    return Failure(ticket_id, what, (str(exc) or type(exc).__name__)[:200], key)


async def alert_failures(session: AsyncSession, failures: list[Failure], now: datetime, report: SweepReport) -> None:
    """Tell the centre (an outbox notice, ``sweep_failure``) about each row passed over; counted in
    ``report.failed``. The rest of the batch is written as usual."""
    if not failures:
        return
    report.failed += len(failures)
    numbers = await repo.ticket_numbers(session, sorted({f.ticket_id for f in failures}))
    notices = [
        repo.NoticeRow(
            f.ticket_id,
            FAILURE_RECIPIENT,
            "sweep_failure",
            {"number": numbers.get(f.ticket_id, str(f.ticket_id)), "what": f.what, "why": f.why},
            f.key,
        )
        for f in failures
    ]
    await repo.insert_notices(session, notices, now)


async def plan_batch(
    session: AsyncSession, rt: Runtime, batch: int, now: datetime | None = None, report: SweepReport | None = None
) -> int:
    """Plan the steps of deadlines whose plan is stale (new, moved by an extension or a calendar
    import, or re-opened); older pending steps of those deadlines are skipped.

    A deadline whose steps cannot be computed (a date beyond the calendar's range) gets none, is
    marked planned so that it is not tried again until it changes, and is reported to the centre
    (:func:`alert_failures`); the other deadlines of the batch are planned as usual."""
    policy = rt.rulebook.workflow.sla
    d = Deadline
    result = await session.execute(
        select(
            d.id,
            d.ticket_id,
            d.plan_version,
            d.kind,
            d.start_at,
            d.working_days,
            d.extension_days,
            d.due_date,
            d.due_at,
        )
        .where(d.state == "running", d.planned_version != d.plan_version)
        .order_by(d.id)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    stale = [_Stale(*row) for row in result]
    if not stale:
        return 0
    calendar = await rt.calendar.get(session)
    memo: dict[tuple[date, int], datetime] = {}
    rows: list[dict[str, Any]] = []
    failures: list[Failure] = []
    for dl in stale:
        try:
            planned = steps_for(dl, calendar, policy, memo)
        except Exception as exc:  # one bad row never stops the sweep
            key = f"sweep_failure:deadline:{dl.id}:{dl.plan_version}"
            failures.append(_failure(dl.ticket_id, "办理时限的催办、超期和督办节点", exc, key))
            continue
        for kind, due_at in planned:
            rows.append(
                {
                    "ticket_id": dl.ticket_id,
                    "deadline_id": dl.id,
                    "kind": kind,
                    "plan_version": dl.plan_version,
                    "due_at": due_at,
                }
            )
    if rows:
        await session.execute(insert(SlaStep).on_conflict_do_nothing(), rows)
    ids = [dl.id for dl in stale]
    # Core-style bulk statements: nothing of these rows is in the session to synchronize.
    await session.execute(
        update(SlaStep)
        .where(
            SlaStep.deadline_id.in_(ids),
            SlaStep.state == "pending",
            SlaStep.plan_version
            < select(Deadline.plan_version).where(Deadline.id == SlaStep.deadline_id).scalar_subquery(),
        )
        .values(state="skipped", outcome="replanned")
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(Deadline)
        .where(Deadline.id.in_(ids))
        .values(planned_version=Deadline.plan_version)
        .execution_options(synchronize_session=False)
    )
    await alert_failures(session, failures, now or utc_now(), report or SweepReport())
    return len(stale)


async def plan_orders(
    session: AsyncSession, batch: int, now: datetime | None = None, report: SweepReport | None = None
) -> int:
    """Each open supervision order gets one step at 24:00 of its reply-by date.

    An order whose reply-by date cannot be counted to (stored before dates were bounded) gets a
    step already skipped (outcome ``invalid_date``), so it is not tried again, and is reported to
    the centre; the other orders are planned as usual."""
    missing = (
        await session.execute(
            select(SupervisionOrder.id, SupervisionOrder.ticket_id, SupervisionOrder.reply_by)
            .outerjoin(SlaStep, and_(SlaStep.order_id == SupervisionOrder.id, SlaStep.kind == "order_overdue"))
            .where(SupervisionOrder.state == "open", SlaStep.id.is_(None))
            .order_by(SupervisionOrder.id)
            .limit(batch)
        )
    ).all()
    if not missing:
        return 0
    now = now or utc_now()
    rows: list[dict[str, Any]] = []
    failures: list[Failure] = []
    for o, t, day in missing:
        row: dict[str, Any] = {"ticket_id": t, "order_id": o, "kind": "order_overdue"}
        try:
            rows.append({**row, "due_at": _midnight(day + timedelta(days=1))})
        except Exception as exc:  # one bad row never stops the sweep
            failures.append(_failure(t, f"督办单答复期限（{day.isoformat()}）", exc, f"sweep_failure:order:{o}"))
            rows.append({**row, "due_at": now, "state": "skipped", "outcome": "invalid_date", "done_at": now})
    await session.execute(insert(SlaStep).on_conflict_do_nothing(), rows)
    await alert_failures(session, failures, now, report or SweepReport())
    return len(rows)


def notify(
    session: AsyncSession, ticket: Ticket, recipient: str, template: str, key: str, now: datetime, **payload: Any
) -> None:
    session.add(
        Notification(
            ticket_id=ticket.id,
            recipient=recipient,
            template=template,
            payload={"number": ticket.number, **payload},
            dedupe_key=key,
            created_at=now,
        )
    )


async def remind(
    session: AsyncSession,
    ticket: Ticket,
    actor: Actor | None,
    now: datetime,
    *,
    unit: str | None,
    note: str,
    key: str,
    due_date: date | None,
) -> None:
    """催办 (automatic or by a supervisor): counted on the ticket for 催办率, noticed to the unit
    with the due date of the limit it is reminded of."""
    await record(session, ticket, actor, Action.REMIND, now, unit=unit, note=note, data={"manual": actor is not None})
    ticket.reminder_count += 1
    if unit:
        notify(
            session, ticket, f"unit:{unit}", "reminder", key, now, due_date=due_date.isoformat() if due_date else "—"
        )


_OVERDUE_REASON, _OVERDUE_REASON_TITLE = "overdue", "超期未办"
"""The supervision reason of the sweep's 督办单 (code, title)."""

_ACTIONS: dict[str, Action] = {
    "reminder": Action.REMIND,
    "task_reminder": Action.REMIND,
    "overdue": Action.MARK_OVERDUE,
    "supervision": Action.SUPERVISE,
    "notice": Action.NOTICE,
}
"""The lifecycle action of each kind of step; any other kind (签收超时, 子任务超期, 督办单逾期) alerts."""
assert all(TRANSITIONS[a].target is None for a in (*_ACTIONS.values(), Action.ALERT)), "the sweep keeps statuses"


@dataclass
class _Batch:
    """The rows a batch of steps writes, in the order of the steps."""

    now: datetime
    tickets: dict[int, repo.LockedTicket]
    events: list[repo.EventRow] = field(default_factory=list)
    notices: list[repo.NoticeRow] = field(default_factory=list)
    changes: dict[int, tuple[str, int, bool]] = field(default_factory=dict)
    overdue_deadlines: list[int] = field(default_factory=list)

    def record(
        self,
        ticket_id: int,
        action: Action,
        *,
        unit: str | None,
        note: str,
        due_before: datetime | None = None,
        data: dict[str, Any] | None = None,
        reminder: bool = False,
        overdue: bool = False,
    ) -> None:
        """``hotline.workflow.common.record`` for a locked ticket row: the transition (checked
        before by the caller), the timeline event and the ticket's counters."""
        ticket = self.tickets[ticket_id]
        before = Status(ticket.status)
        after = transition(before, action)
        self.tickets[ticket_id] = repo.LockedTicket(after.value, ticket.number)
        self.events.append(
            repo.EventRow(ticket_id, action.value, before.value, after.value, unit, due_before, note, data or {})
        )
        _, reminders, marked = self.changes.get(ticket_id, (after.value, 0, False))
        self.changes[ticket_id] = (after.value, reminders + reminder, marked or overdue)

    def notify(self, ticket_id: int, recipient: str, template: str, key: str, **payload: Any) -> None:
        number = self.tickets[ticket_id].number
        self.notices.append(repo.NoticeRow(ticket_id, recipient, template, {"number": number, **payload}, key))


def _allowed(batch: _Batch, ticket_id: int, action: Action) -> bool:
    return Status(batch.tickets[ticket_id].status) in TRANSITIONS[action].sources


def _check(step: repo.ClaimedStep, ctx: repo.StepContext, batch: _Batch) -> str:
    """Check-then-act, first half: the outcome of a step that does not act, or ``done``."""
    if step.order_id is not None:
        if ctx.order_state != "open":
            return "order_closed"
        action = Action.ALERT
    else:
        if ctx.deadline_state != "running":
            return "deadline_closed"
        if ctx.deadline_plan_version != step.plan_version:
            return "replanned"
        if step.kind in ("reminder", "task_reminder"):
            assert ctx.deadline_due_at is not None
            if batch.now > ctx.deadline_due_at:
                return "too_late"
        if step.kind in ("supervision", "notice") and ctx.deadline_unit == tickets_repo.MANUAL_DISPATCH_UNIT:
            # the centre's own manual-dispatch queue: it is reminded and marked overdue, but a
            # 督办单 or a 通报 to itself has nobody to answer it
            return "not_applicable"
        action = _ACTIONS.get(step.kind, Action.ALERT)
    return "done" if _allowed(batch, step.ticket_id, action) else "not_applicable"


async def execute_batch(session: AsyncSession, rt: Runtime, now: datetime, batch: int, report: SweepReport) -> int:
    """Claim due steps (SKIP LOCKED) and act on each exactly once, set-based: the batch costs a
    fixed number of statements, whatever its size.

    The tickets of the claimed steps are locked in id order, then each step is checked against
    its deadline's current plan (or its order's state) and the ticket's status, as one
    ``hotline.workflow.common.record`` per step would; every step acts with a status-preserving
    lifecycle action. The rows written are those the single-ticket paths write (``remind``,
    ``hotline.workflow.supervision.open_order``, ``notify``), in the order of the steps."""
    steps = await repo.claim_due(session, now, batch)
    if not steps:
        return 0
    policy = rt.rulebook.workflow.sla
    work = _Batch(now, await repo.lock_tickets(session, sorted({s.ticket_id for s in steps})))
    contexts = await repo.step_contexts(session, [s.id for s in steps])
    failures: list[Failure] = []
    outcomes = [(s, _safe_check(s, contexts[s.id], work, failures)) for s in steps]

    # 督办单 first: their events and notices carry the orders' ids.
    supervising = [s for s, outcome in outcomes if outcome == "done" and s.kind == "supervision"]
    orders: dict[int, tuple[int, repo.OrderRow]] = {}
    if supervising:
        calendar = await rt.calendar.get(session)
        reply_by = calendar.deadline(now, policy.supervision_reply_working_days).due_date
        content = f"工单超期{policy.supervision_after_overdue_working_days}个工作日仍未答复，请立即办理并回复督办意见。"
        rows = []
        for s in supervising:
            unit = contexts[s.id].deadline_unit
            assert unit is not None
            rows.append(repo.OrderRow(s.ticket_id, unit, _OVERDUE_REASON, content, reply_by))
        ids = await repo.insert_orders(session, rows, now)
        orders = {s.id: (i, row) for s, i, row in zip(supervising, ids, rows, strict=True)}

    for step, outcome in outcomes:
        if outcome != "done":
            report.skipped += 1
            continue
        try:
            _act(step, contexts[step.id], work, rt, orders)
        except Exception as exc:  # one bad row never stops the sweep
            failures.append(_failure(step.ticket_id, STEP_LABELS[step.kind], exc, f"sweep_failure:step:{step.id}"))
            continue
        report.acted[step.kind] = report.acted.get(step.kind, 0) + 1

    await repo.insert_events(session, work.events, now)
    await repo.update_tickets(session, work.changes, now)
    await repo.mark_deadlines_overdue(session, work.overdue_deadlines, now)
    await repo.insert_notices(session, work.notices, now)
    await repo.finish_steps(session, [(s.id, outcome) for s, outcome in outcomes], now)
    await alert_failures(session, failures, now, report)
    return len(steps)


def _safe_check(step: repo.ClaimedStep, ctx: repo.StepContext, work: _Batch, failures: list[Failure]) -> str:
    """:func:`_check`, a row that cannot be checked being passed over (outcome ``failed``)."""
    try:
        return _check(step, ctx, work)
    except Exception as exc:  # one bad row never stops the sweep
        failures.append(_failure(step.ticket_id, STEP_LABELS[step.kind], exc, f"sweep_failure:step:{step.id}"))
        return "failed"


def _act(
    step: repo.ClaimedStep,
    ctx: repo.StepContext,
    work: _Batch,
    rt: Runtime,
    orders: dict[int, tuple[int, repo.OrderRow]],
) -> None:
    """Check-then-act, second half: the rows of one step that acts."""
    policy = rt.rulebook.workflow.sla
    label = STEP_LABELS[step.kind]
    key = f"sla:{step.id}"
    tid = step.ticket_id
    if step.order_id is not None:
        work.record(tid, Action.ALERT, unit=ctx.order_unit, note=label, data={"order_id": step.order_id})
        work.notify(tid, "unit:centre.dispatch", "overdue", key)
        return
    unit = ctx.deadline_unit
    assert ctx.deadline_due_at is not None and ctx.deadline_due_date is not None and step.deadline_id is not None
    if step.kind in ("reminder", "task_reminder"):
        # remind(): 催办 counted on the ticket for 催办率, noticed to the unit.
        note = f"{label}：办理时限{ctx.deadline_due_date.isoformat()}届满"
        work.record(tid, Action.REMIND, unit=unit, note=note, data={"manual": False}, reminder=True)
        if unit:
            work.notify(tid, f"unit:{unit}", "reminder", key, due_date=ctx.deadline_due_date.isoformat())
    elif step.kind == "overdue":
        pending = ctx.extension_pending
        note = "超期未答复" + ("（延期申请待审核，请中心尽快决定）" if pending else "")
        work.record(
            tid,
            Action.MARK_OVERDUE,
            unit=unit,
            due_before=ctx.deadline_due_at,
            note=note,
            data={"extension_pending": pending},
            overdue=True,
        )
        work.overdue_deadlines.append(step.deadline_id)
        work.notify(tid, f"unit:{unit}", "overdue", key)
        if pending:
            work.notify(tid, "unit:centre.dispatch", "overdue", f"{key}:centre")
    elif step.kind == "supervision":
        # The bulk twin of hotline.workflow.supervision.open_order (order row written already).
        order_id, order = orders[step.id]
        work.record(
            tid,
            Action.SUPERVISE,
            unit=unit,
            note=f"督办（{_OVERDUE_REASON_TITLE}）：{order.content}",
            data={"order_id": order_id, "reason": order.reason_code, "reply_by": order.reply_by.isoformat()},
        )
        work.notify(
            tid,
            f"unit:{unit}",
            "supervision_issued",
            f"supervision:{order_id}",
            reason=order.reason_code,
            reply_by=order.reply_by.isoformat(),
        )
    elif step.kind == "notice":
        note = f"超期{policy.notice_after_overdue_working_days}个工作日仍未答复，予以通报"
        work.record(tid, Action.NOTICE, unit=unit, note=note)
        work.notify(tid, f"unit:{unit}", "notice", key)
    else:  # accept_overdue, task_overdue
        data = {"step": step.kind}
        work.record(tid, Action.ALERT, unit=unit, due_before=ctx.deadline_due_at, note=label, data=data)
        work.notify(tid, f"unit:{unit}", "overdue", key)


async def sweep(sessions: async_sessionmaker[AsyncSession], rt: Runtime, now: datetime | None = None) -> SweepReport:
    """One sweep: plan what is stale, then act on what is due; each batch is its own transaction."""
    now = now or rt.clock()
    batch = rt.settings.sweep_batch or rt.rulebook.workflow.sla.sweep_batch
    report = SweepReport()
    for _ in range(1000):
        async with unit_of_work(sessions) as session:
            n = await plan_batch(session, rt, batch, now, report)
            n += await plan_orders(session, batch, now, report)
        report.planned += n
        if n < batch:
            break
    for _ in range(1000):
        async with unit_of_work(sessions) as session:
            n = await execute_batch(session, rt, now, batch, report)
        if n < batch:
            break
    if report.total_acted:
        log.info("sla sweep: %s", report)
    return report


async def manual_remind(session: AsyncSession, rt: Runtime, actor: Actor, number: str, note: str) -> dict[str, Any]:
    """A supervisor's 催办 counts like an automatic one. One per ticket per day (Beijing time):
    a second one the same day is a :class:`Conflict` (``remind.already_today``) — clicked twice, it
    would count twice against the unit and send it the same notice again."""
    from hotline.errors import Conflict
    from hotline.workflow.common import CENTRE, load, require_role

    require_role(actor, *CENTRE)
    ticket = await load(session, actor, number)
    now = rt.clock()
    today = datetime.combine(now.astimezone(LOCAL_TZ).date(), time(), LOCAL_TZ)
    earlier = await session.scalar(
        select(func.count())
        .select_from(TicketEvent)
        .where(
            TicketEvent.ticket_id == ticket.id,
            TicketEvent.action == Action.REMIND.value,
            TicketEvent.actor_id.is_not(None),
            TicketEvent.at >= today,
        )
    )
    if earlier:
        raise Conflict("该工单今天已人工催办过，请勿重复催办（每件每天一次）", code="remind.already_today")
    count = await session.scalar(
        select(func.count()).select_from(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
    )
    limit = await tickets_repo.running_deadline(session, ticket.id, "reply") or await tickets_repo.latest_deadline(
        session, ticket.id
    )
    await remind(
        session,
        ticket,
        actor,
        now,
        unit=ticket.lead_unit_code,
        note=note or "人工催办",
        key=f"manual:{ticket.id}:{count}",
        due_date=limit.due_date if limit else None,
    )
    return {"number": ticket.number, "reminder_count": ticket.reminder_count}

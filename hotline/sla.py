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
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dispatcher.calendar import LOCAL_TZ, WorkingCalendar
from dispatcher.lifecycle import Action, IllegalTransition
from hotline.db import unit_of_work
from hotline.models import Deadline, Extension, Notification, SlaStep, SupervisionOrder, Ticket, TicketEvent
from hotline.runtime import Runtime
from hotline.users import Actor
from hotline.workflow.common import record
from hotline.workflow.supervision import open_order
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


def steps_for(deadline: Deadline, calendar: WorkingCalendar, policy: SlaPolicy) -> list[tuple[str, datetime]]:
    """The enforcement steps of one deadline and when each is due."""
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
    supervise_at = calendar.deadline(_midnight(deadline.due_date), after).due_at if after else deadline.due_at
    steps.append(("supervision", supervise_at))
    notice = calendar.deadline(_midnight(deadline.due_date), policy.notice_after_overdue_working_days)
    steps.append(("notice", notice.due_at))
    return list(dict.fromkeys(steps))  # two reminders on one instant (a one-day limit) are one


@dataclass
class SweepReport:
    planned: int = 0
    acted: dict[str, int] = field(default_factory=dict)
    skipped: int = 0

    @property
    def total_acted(self) -> int:
        return sum(self.acted.values())


async def plan_batch(session: AsyncSession, rt: Runtime, batch: int) -> int:
    """Plan the steps of deadlines whose plan is stale (new, moved by an extension or a calendar
    import, or re-opened); older pending steps of those deadlines are skipped."""
    policy = rt.rulebook.workflow.sla
    stale = (
        (
            await session.execute(
                select(Deadline)
                .where(Deadline.state == "running", Deadline.planned_version != Deadline.plan_version)
                .order_by(Deadline.id)
                .limit(batch)
                .with_for_update(skip_locked=True)
            )
        )
        .scalars()
        .all()
    )
    if not stale:
        return 0
    calendar = await rt.calendar.get(session)
    rows: list[dict[str, Any]] = []
    for d in stale:
        for kind, due_at in steps_for(d, calendar, policy):
            rows.append(
                {
                    "ticket_id": d.ticket_id,
                    "deadline_id": d.id,
                    "kind": kind,
                    "plan_version": d.plan_version,
                    "due_at": due_at,
                }
            )
    if rows:
        await session.execute(insert(SlaStep).on_conflict_do_nothing(), rows)
    ids = [d.id for d in stale]
    await session.execute(
        update(SlaStep)
        .where(
            SlaStep.deadline_id.in_(ids),
            SlaStep.state == "pending",
            SlaStep.plan_version
            < select(Deadline.plan_version).where(Deadline.id == SlaStep.deadline_id).scalar_subquery(),
        )
        .values(state="skipped", outcome="replanned")
    )
    await session.execute(update(Deadline).where(Deadline.id.in_(ids)).values(planned_version=Deadline.plan_version))
    return len(stale)


async def plan_orders(session: AsyncSession, batch: int) -> int:
    """Each open supervision order gets one step at 24:00 of its reply-by date."""
    missing = (
        await session.execute(
            select(SupervisionOrder.id, SupervisionOrder.ticket_id, SupervisionOrder.reply_by)
            .outerjoin(SlaStep, and_(SlaStep.order_id == SupervisionOrder.id, SlaStep.kind == "order_overdue"))
            .where(SupervisionOrder.state == "open", SlaStep.id.is_(None))
            .limit(batch)
        )
    ).all()
    if not missing:
        return 0
    rows = [
        {"ticket_id": t, "order_id": o, "kind": "order_overdue", "due_at": _midnight(day + timedelta(days=1))}
        for o, t, day in missing
    ]
    await session.execute(insert(SlaStep).on_conflict_do_nothing(), rows)
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
    session: AsyncSession, ticket: Ticket, actor: Actor | None, now: datetime, *, unit: str | None, note: str, key: str
) -> None:
    """催办 (automatic or by a supervisor): counted on the ticket for 催办率, noticed to the unit."""
    await record(session, ticket, actor, Action.REMIND, now, unit=unit, note=note, data={"manual": actor is not None})
    ticket.reminder_count += 1
    if unit:
        notify(session, ticket, f"unit:{unit}", "reminder", key, now)


async def _act(session: AsyncSession, rt: Runtime, step: SlaStep, now: datetime) -> str:
    ticket = (await session.execute(select(Ticket).where(Ticket.id == step.ticket_id).with_for_update())).scalar_one()
    policy = rt.rulebook.workflow.sla
    label = STEP_LABELS[step.kind]
    if step.order_id is not None:
        order = await session.get(SupervisionOrder, step.order_id)
        if order is None or order.state != "open":
            return "order_closed"
        await record(
            session, ticket, None, Action.ALERT, now, unit=order.unit_code, note=label, data={"order_id": order.id}
        )
        notify(session, ticket, "unit:centre.dispatch", "overdue", f"sla:{step.id}", now)
        return "done"
    deadline = await session.get(Deadline, step.deadline_id)
    if deadline is None or deadline.state != "running":
        return "deadline_closed"
    if deadline.plan_version != step.plan_version:
        return "replanned"
    unit = deadline.unit_code
    if step.kind in ("reminder", "task_reminder"):
        if now > deadline.due_at:
            return "too_late"
        await remind(
            session,
            ticket,
            None,
            now,
            unit=unit,
            note=f"{label}：办理时限{deadline.due_date.isoformat()}届满",
            key=f"sla:{step.id}",
        )
    elif step.kind == "overdue":
        pending = await session.scalar(
            select(func.count())
            .select_from(Extension)
            .where(Extension.ticket_id == ticket.id, Extension.state == "pending")
        )
        note = "超期未答复" + ("（延期申请待审核，请中心尽快决定）" if pending else "")
        await record(
            session,
            ticket,
            None,
            Action.MARK_OVERDUE,
            now,
            unit=unit,
            due_before=deadline.due_at,
            note=note,
            data={"extension_pending": bool(pending)},
        )
        deadline.overdue_at = now
        ticket.overdue_marked = True
        notify(session, ticket, f"unit:{unit}", "overdue", f"sla:{step.id}", now)
        if pending:
            notify(session, ticket, "unit:centre.dispatch", "overdue", f"sla:{step.id}:centre", now)
    elif step.kind == "supervision":
        calendar = await rt.calendar.get(session)
        reply_by = calendar.deadline(now, policy.supervision_reply_working_days).due_date
        content = f"工单超期{policy.supervision_after_overdue_working_days}个工作日仍未答复，请立即办理并回复督办意见。"
        await open_order(session, ticket, None, unit, "overdue", "超期未办", content, reply_by, now)
    elif step.kind == "notice":
        await record(
            session,
            ticket,
            None,
            Action.NOTICE,
            now,
            unit=unit,
            note=f"超期{policy.notice_after_overdue_working_days}个工作日仍未答复，予以通报",
        )
        notify(session, ticket, f"unit:{unit}", "notice", f"sla:{step.id}", now)
    else:  # accept_overdue, task_overdue
        await record(
            session,
            ticket,
            None,
            Action.ALERT,
            now,
            unit=unit,
            due_before=deadline.due_at,
            note=label,
            data={"step": step.kind},
        )
        notify(session, ticket, f"unit:{unit}", "overdue", f"sla:{step.id}", now)
    return "done"


async def execute_batch(session: AsyncSession, rt: Runtime, now: datetime, batch: int, report: SweepReport) -> int:
    """Claim due steps (SKIP LOCKED) and act on each exactly once."""
    steps = (
        (
            await session.execute(
                select(SlaStep)
                .where(SlaStep.state == "pending", SlaStep.due_at <= now)
                .order_by(SlaStep.due_at, SlaStep.id)
                .limit(batch)
                .with_for_update(skip_locked=True)
            )
        )
        .scalars()
        .all()
    )
    for step in steps:
        try:
            async with session.begin_nested():
                outcome = await _act(session, rt, step, now)
        except IllegalTransition:
            outcome = "not_applicable"
        step.state = "done" if outcome == "done" else "skipped"
        step.done_at, step.outcome = now, outcome
        if outcome == "done":
            report.acted[step.kind] = report.acted.get(step.kind, 0) + 1
        else:
            report.skipped += 1
    await session.flush()
    return len(steps)


async def sweep(sessions: async_sessionmaker[AsyncSession], rt: Runtime, now: datetime | None = None) -> SweepReport:
    """One sweep: plan what is stale, then act on what is due; each batch is its own transaction."""
    now = now or rt.clock()
    batch = rt.settings.sweep_batch or rt.rulebook.workflow.sla.sweep_batch
    report = SweepReport()
    for _ in range(1000):
        async with unit_of_work(sessions) as session:
            n = await plan_batch(session, rt, batch)
            n += await plan_orders(session, batch)
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
    """A supervisor's 催办 counts like an automatic one."""
    from hotline.workflow.common import CENTRE, load, require_role

    require_role(actor, *CENTRE)
    ticket = await load(session, actor, number)
    now = rt.clock()
    count = await session.scalar(
        select(func.count()).select_from(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
    )
    await remind(
        session,
        ticket,
        actor,
        now,
        unit=ticket.lead_unit_code,
        note=note or "人工催办",
        key=f"manual:{ticket.id}:{count}",
    )
    return {"number": ticket.number, "reminder_count": ticket.reminder_count}

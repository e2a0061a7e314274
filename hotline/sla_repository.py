"""SQL of the SLA sweep's execution (``hotline.sla.execute_batch``): a batch of due steps costs a
fixed number of round trips, whatever its size.

Rows travel as parallel arrays (``unnest(...) WITH ORDINALITY``) and are written in the order
given, so identity values (timeline events, notices) follow the order of the steps, as they did
when each step wrote its own rows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True, slots=True)
class ClaimedStep:
    id: int
    ticket_id: int
    deadline_id: int | None
    order_id: int | None
    kind: str
    plan_version: int


@dataclass(frozen=True, slots=True)
class StepContext:
    """What a step's check-then-act reads, after its ticket is locked."""

    deadline_state: str | None
    deadline_plan_version: int | None
    deadline_unit: str | None
    deadline_due_at: datetime | None
    deadline_due_date: date | None
    order_state: str | None
    order_unit: str | None
    extension_pending: bool


@dataclass(frozen=True, slots=True)
class LockedTicket:
    status: str
    number: str


@dataclass(slots=True)
class EventRow:
    ticket_id: int
    action: str
    from_status: str
    to_status: str
    unit_code: str | None
    due_before: datetime | None
    note: str
    data: dict[str, Any]


@dataclass(slots=True)
class NoticeRow:
    ticket_id: int
    recipient: str
    template: str
    payload: dict[str, Any]
    dedupe_key: str


@dataclass(slots=True)
class OrderRow:
    ticket_id: int
    unit_code: str
    reason_code: str
    content: str
    reply_by: date


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False)


async def claim_due(session: AsyncSession, now: datetime, batch: int) -> list[ClaimedStep]:
    """Pending steps due by ``now``, oldest first, taken ``FOR UPDATE SKIP LOCKED``."""
    rows = await session.execute(
        text(
            "SELECT id, ticket_id, deadline_id, order_id, kind, plan_version FROM sla_steps"
            " WHERE state = 'pending' AND due_at <= :now ORDER BY due_at, id LIMIT :batch"
            " FOR UPDATE SKIP LOCKED"
        ),
        {"now": now, "batch": batch},
    )
    return [ClaimedStep(*r) for r in rows]


async def lock_tickets(session: AsyncSession, ticket_ids: Sequence[int]) -> dict[int, LockedTicket]:
    """Lock the tickets in id order (every action on a ticket locks its row first; one order for
    all lockers avoids deadlocks)."""
    rows = await session.execute(
        text("SELECT id, status, number FROM tickets WHERE id = ANY(CAST(:ids AS bigint[])) ORDER BY id FOR UPDATE"),
        {"ids": list(ticket_ids)},
    )
    return {i: LockedTicket(status, number) for i, status, number in rows}


async def step_contexts(session: AsyncSession, step_ids: Sequence[int]) -> dict[int, StepContext]:
    """Each step's deadline, supervision order and (for overdue marks) whether an extension of its
    ticket awaits the centre's decision; read after the tickets are locked."""
    rows = await session.execute(
        text(
            "SELECT s.id, d.state, d.plan_version, d.unit_code, d.due_at, d.due_date, o.state, o.unit_code,"
            " s.kind = 'overdue' AND EXISTS (SELECT 1 FROM extensions e"
            "  WHERE e.ticket_id = s.ticket_id AND e.state = 'pending')"
            " FROM sla_steps s"
            " LEFT JOIN deadlines d ON d.id = s.deadline_id"
            " LEFT JOIN supervision_orders o ON o.id = s.order_id"
            " WHERE s.id = ANY(CAST(:ids AS bigint[]))"
        ),
        {"ids": list(step_ids)},
    )
    return {
        i: StepContext(d_state, d_version, d_unit, d_due_at, d_due_date, o_state, o_unit, bool(pending))
        for i, d_state, d_version, d_unit, d_due_at, d_due_date, o_state, o_unit, pending in rows
    }


async def insert_orders(session: AsyncSession, orders: Sequence[OrderRow], now: datetime) -> list[int]:
    """督办单 in bulk; their ids, in the order given (ascending, as one by one)."""
    if not orders:
        return []
    ids = sorted(
        (
            await session.execute(
                text("SELECT nextval(pg_get_serial_sequence('supervision_orders', 'id')) FROM generate_series(1, :n)"),
                {"n": len(orders)},
            )
        ).scalars()
    )
    await session.execute(
        text(
            "INSERT INTO supervision_orders"
            " (id, ticket_id, unit_code, reason_code, content, reply_by, issued_at, issued_by, state)"
            " SELECT v.id, v.ticket_id, v.unit_code, v.reason_code, v.content, v.reply_by, CAST(:now AS timestamptz),"
            " CAST(NULL AS bigint), 'open'"
            " FROM unnest(CAST(:ids AS bigint[]), CAST(:tickets AS bigint[]), CAST(:units AS text[]),"
            "  CAST(:reasons AS text[]), CAST(:contents AS text[]), CAST(:reply_by AS date[]))"
            " WITH ORDINALITY AS v(id, ticket_id, unit_code, reason_code, content, reply_by, ord)"
            " ORDER BY v.ord"
        ),
        {
            "now": now,
            "ids": ids,
            "tickets": [o.ticket_id for o in orders],
            "units": [o.unit_code for o in orders],
            "reasons": [o.reason_code for o in orders],
            "contents": [o.content for o in orders],
            "reply_by": [o.reply_by for o in orders],
        },
    )
    return [int(i) for i in ids]


async def insert_events(session: AsyncSession, events: Sequence[EventRow], now: datetime) -> None:
    if not events:
        return
    await session.execute(
        text(
            "INSERT INTO ticket_events"
            " (ticket_id, at, actor_id, action, from_status, to_status, unit_code, due_before, due_after, note, data)"
            " SELECT v.ticket_id, CAST(:now AS timestamptz), CAST(NULL AS bigint), v.action, v.from_status, v.to_status, v.unit_code, v.due_before,"
            "  CAST(NULL AS timestamptz), v.note, CAST(v.data AS jsonb)"
            " FROM unnest(CAST(:tickets AS bigint[]), CAST(:actions AS text[]), CAST(:froms AS text[]),"
            "  CAST(:tos AS text[]), CAST(:units AS text[]), CAST(:due_before AS timestamptz[]),"
            "  CAST(:notes AS text[]), CAST(:data AS text[]))"
            " WITH ORDINALITY AS v(ticket_id, action, from_status, to_status, unit_code, due_before, note, data, ord)"
            " ORDER BY v.ord"
        ),
        {
            "now": now,
            "tickets": [e.ticket_id for e in events],
            "actions": [e.action for e in events],
            "froms": [e.from_status for e in events],
            "tos": [e.to_status for e in events],
            "units": [e.unit_code for e in events],
            "due_before": [e.due_before for e in events],
            "notes": [e.note for e in events],
            "data": [_json(e.data) for e in events],
        },
    )


async def insert_notices(session: AsyncSession, notices: Sequence[NoticeRow], now: datetime) -> None:
    """Outbox rows; a dedupe key already written is not written again."""
    if not notices:
        return
    await session.execute(
        text(
            "INSERT INTO notifications (ticket_id, recipient, template, payload, dedupe_key, state, created_at)"
            " SELECT v.ticket_id, v.recipient, v.template, CAST(v.payload AS jsonb), v.dedupe_key, 'pending',"
            " CAST(:now AS timestamptz)"
            " FROM unnest(CAST(:tickets AS bigint[]), CAST(:recipients AS text[]), CAST(:templates AS text[]),"
            "  CAST(:payloads AS text[]), CAST(:keys AS text[]))"
            " WITH ORDINALITY AS v(ticket_id, recipient, template, payload, dedupe_key, ord)"
            " ORDER BY v.ord"
            " ON CONFLICT (dedupe_key) DO NOTHING"
        ),
        {
            "now": now,
            "tickets": [n.ticket_id for n in notices],
            "recipients": [n.recipient for n in notices],
            "templates": [n.template for n in notices],
            "payloads": [_json(n.payload) for n in notices],
            "keys": [n.dedupe_key for n in notices],
        },
    )


async def update_tickets(session: AsyncSession, changes: dict[int, tuple[str, int, bool]], now: datetime) -> None:
    """Per ticket acted on: its status after the batch, 催办 received, whether marked overdue."""
    if not changes:
        return
    ids = sorted(changes)
    await session.execute(
        text(
            "UPDATE tickets t SET status = v.status, updated_at = CAST(:now AS timestamptz),"
            " reminder_count = t.reminder_count + v.reminders, overdue_marked = t.overdue_marked OR v.overdue"
            " FROM unnest(CAST(:ids AS bigint[]), CAST(:statuses AS text[]), CAST(:reminders AS int[]),"
            "  CAST(:overdue AS boolean[])) AS v(id, status, reminders, overdue)"
            " WHERE t.id = v.id"
        ),
        {
            "now": now,
            "ids": ids,
            "statuses": [changes[i][0] for i in ids],
            "reminders": [changes[i][1] for i in ids],
            "overdue": [changes[i][2] for i in ids],
        },
    )


async def mark_deadlines_overdue(session: AsyncSession, deadline_ids: Sequence[int], now: datetime) -> None:
    if not deadline_ids:
        return
    await session.execute(
        text("UPDATE deadlines SET overdue_at = CAST(:now AS timestamptz) WHERE id = ANY(CAST(:ids AS bigint[]))"),
        {"now": now, "ids": sorted(set(deadline_ids))},
    )


async def ticket_numbers(session: AsyncSession, ids: Sequence[int]) -> dict[int, str]:
    """Ticket id -> its number."""
    if not ids:
        return {}
    rows = await session.execute(
        text("SELECT id, number FROM tickets WHERE id = ANY(CAST(:ids AS bigint[]))"), {"ids": list(ids)}
    )
    return {row.id: row.number for row in rows}


async def finish_steps(session: AsyncSession, outcomes: Sequence[tuple[int, str]], now: datetime) -> None:
    """Each claimed step done (``outcome`` done) or skipped (any other outcome), once."""
    if not outcomes:
        return
    await session.execute(
        text(
            "UPDATE sla_steps s SET state = CASE WHEN v.outcome = 'done' THEN 'done' ELSE 'skipped' END,"
            " done_at = CAST(:now AS timestamptz), outcome = v.outcome"
            " FROM unnest(CAST(:ids AS bigint[]), CAST(:outcomes AS text[])) AS v(id, outcome)"
            " WHERE s.id = v.id"
        ),
        {"now": now, "ids": [i for i, _ in outcomes], "outcomes": [o for _, o in outcomes]},
    )

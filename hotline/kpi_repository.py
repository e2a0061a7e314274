"""SQL of the KPI engine (docs/kpi.md): one pass per source table, every breakdown at once.

Each query scans its rows once for the period and aggregates with ``FILTER`` clauses over
``GROUPING SETS`` (one set per requested dimension, plus ``()`` for the overall figures), so the
dashboard's seven breakdowns cost one scan of the period's tickets, not seven.

* tickets received in the period (``ix_tickets_created_at``);
* reply deadlines due in the period (办理时限, for 及时办结率);
* returns requested in the period (退单, for 不当退单率).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, and_, cast, false, func, literal_column, select, true, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from hotline.models import Deadline, Evaluation, Reply, Ticket, TicketReturn

DIMENSIONS = ("unit", "district", "kind", "channel", "line", "caller_type", "category", "place", "day")
"""Breakdowns the engine knows. ``place`` is (district, town); ``day`` the local date."""

EVALUATED = ("satisfied", "basically_satisfied", "unsatisfied")
SATISFIED = ("satisfied", "basically_satisfied")
DECIDED_RETURNS = ("approved", "rejected", "arbitrated")
NOT_ACCEPTED = ("not_accepted", "transferred")

Key = tuple[str | None, ...]
Counts = dict[str, int]


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime
    """Exclusive."""
    now: datetime
    unit: str | None = None
    """Restrict to one handling unit (a unit handler's own figures)."""


def _local_day(col: Any) -> ColumnElement[Any]:
    # A literal (not a bind parameter), so the SELECT and GROUP BY expressions are identical.
    return cast(func.timezone(literal_column("'Asia/Shanghai'"), col), Date)


def _dimension_columns(unit_col: Any, day_col: Any) -> dict[str, tuple[ColumnElement[Any], ...]]:
    return {
        "unit": (unit_col,),
        "district": (Ticket.area_district,),
        "kind": (Ticket.kind,),
        "channel": (Ticket.channel,),
        "line": (Ticket.line,),
        "caller_type": (Ticket.caller_type,),
        "category": (Ticket.category,),
        "place": (Ticket.area_district, Ticket.area_town),
        "day": (_local_day(day_col),),
    }


def _count(condition: ColumnElement[bool] | None = None) -> Any:
    return func.count() if condition is None else func.count().filter(condition)


async def _grouped(
    session: AsyncSession,
    dims: Sequence[str],
    unit_col: Any,
    day_col: Any,
    measures: dict[str, Any],
    build: Any,
) -> dict[str, dict[Key, Counts]]:
    """Run ``build(select)`` grouped by every dimension in ``dims`` and overall (dimension ``""``)."""
    columns = _dimension_columns(unit_col, day_col)
    exprs: list[ColumnElement[Any]] = []
    positions: dict[str, list[int]] = {}
    for dim in dims:
        idx = []
        for col in columns[dim]:
            found = next((i for i, e in enumerate(exprs) if e is col), None)
            if found is None:
                exprs.append(col)
                found = len(exprs) - 1
            idx.append(found)
        positions[dim] = idx
    n = len(exprs)
    full = (1 << n) - 1
    # grouping(e0..en-1): bit (n-1-i) is 1 when e_i is aggregated away in that row's set.
    mask_of = {full & ~sum(1 << (n - 1 - i) for i in idx): dim for dim, idx in positions.items()}
    mask_of[full] = ""
    sets = [tuple_(*(exprs[i] for i in idx)) for idx in positions.values()] + [tuple_()]
    labels = list(measures)
    grouping = func.grouping(*exprs) if exprs else literal_column("0")
    stmt = build(select(grouping.label("g"), *exprs, *(measures[m].label(m) for m in labels)))
    stmt = stmt.group_by(func.grouping_sets(*sets)) if exprs else stmt
    out: dict[str, dict[Key, Counts]] = {dim: {} for dim in [*dims, ""]}
    for row in (await session.execute(stmt)).all():
        g = int(row[0]) if exprs else full
        which = mask_of.get(g)
        if which is None:  # pragma: no cover - a set is identified by its mask
            continue
        values = [row[1 + i] for i in positions[which]] if which else []
        key: Key = tuple(v.isoformat() if isinstance(v, date) else v for v in values)
        out[which][key] = {m: int(row[1 + n + j] or 0) for j, m in enumerate(labels)}
    return out


async def ticket_counts(session: AsyncSession, w: Window, dims: Sequence[str]) -> dict[str, dict[Key, Counts]]:
    """Tickets received (受理) in the period: every ticket-based numerator and denominator."""
    t = Ticket
    once = and_(t.merged_into_id.is_(None), t.status != "repeat")
    dispatched = and_(once, t.lead_unit_code.is_not(None))
    evaluated = and_(once, t.final_outcome.in_(EVALUATED))
    accept = (
        select(Deadline.due_at.label("due_at"))
        .where(Deadline.ticket_id == t.id, Deadline.kind == "accept", t.accepted_at.is_not(None))
        .order_by(Deadline.id.desc())
        .limit(1)
        .correlate(t)
        .lateral("acc")
    )
    latest_eval = (
        select(Evaluation.resolution.label("resolution"))
        .where(Evaluation.ticket_id == t.id, t.final_outcome.in_(EVALUATED))
        .order_by(Evaluation.id.desc())
        .limit(1)
        .correlate(t)
        .lateral("ev")
    )
    signed = and_(dispatched, t.accepted_at.is_not(None), accept.c.due_at.is_not(None))
    measures = {
        "intake": _count(),
        "merged": _count(t.merged_into_id.is_not(None)),
        "repeat": _count(t.status == "repeat"),
        "accepted_intake": _count(and_(once, t.status.not_in(NOT_ACCEPTED))),
        "direct": _count(and_(once, t.disposition == "direct_answer")),
        "dispatched": _count(dispatched),
        "reminded": _count(and_(dispatched, t.reminder_count > 0)),
        "redone": _count(and_(dispatched, t.redo_count > 0)),
        "returned": _count(and_(dispatched, t.return_count > 0)),
        "overdue": _count(and_(dispatched, t.overdue_marked)),
        "accepted": _count(signed),
        "accepted_on_time": _count(and_(signed, t.accepted_at <= accept.c.due_at)),
        "evaluated": _count(evaluated),
        "satisfied": _count(and_(once, t.final_outcome.in_(SATISFIED))),
        "resolved": _count(and_(evaluated, latest_eval.c.resolution == "resolved")),
        "partly_resolved": _count(and_(evaluated, latest_eval.c.resolution == "partly_resolved")),
        "unreachable": _count(and_(once, t.final_outcome == "unreachable")),
    }

    def build(stmt: Any) -> Any:
        stmt = (
            stmt.select_from(t)
            .outerjoin(accept, true())
            .outerjoin(latest_eval, true())
            .where(t.created_at >= w.start, t.created_at < w.end)
        )
        return stmt.where(t.lead_unit_code == w.unit) if w.unit else stmt

    return await _grouped(session, dims, t.lead_unit_code, t.created_at, measures, build)


async def deadline_counts(session: AsyncSession, w: Window, dims: Sequence[str]) -> dict[str, dict[Key, Counts]]:
    """Reply deadlines (办理时限) that fell due in the period, up to now, and whether they were met in time."""
    d, t = Deadline, Ticket
    end = min(w.end, w.now)
    last_reply = (
        select(Reply.on_time.label("on_time"))
        .where(Reply.ticket_id == d.ticket_id, Reply.replied_at >= d.start_at, d.state == "met")
        .order_by(Reply.id.desc())
        .limit(1)
        .correlate(d)
        .lateral("rep")
    )
    measures = {"due": _count(), "replied_on_time": _count(last_reply.c.on_time.is_(True))}

    def build(stmt: Any) -> Any:
        stmt = (
            stmt.select_from(d)
            .join(t, t.id == d.ticket_id)
            .outerjoin(last_reply, true())
            .where(
                d.kind == "reply",
                d.state != "cancelled",
                d.due_at >= w.start,
                d.due_at < end,
                t.merged_into_id.is_(None),
            )
        )
        if w.start >= end:
            stmt = stmt.where(false())
        return stmt.where(d.unit_code == w.unit) if w.unit else stmt

    return await _grouped(session, dims, d.unit_code, d.due_at, measures, build)


async def return_counts(session: AsyncSession, w: Window, dims: Sequence[str]) -> dict[str, dict[Key, Counts]]:
    """Returns (退单) requested in the period; improper ones are those the review rejected."""
    r, t = TicketReturn, Ticket
    decided = r.state.in_(DECIDED_RETURNS)
    measures = {
        "returns": _count(),
        "decided_returns": _count(decided),
        "improper_returns": _count(and_(decided, r.improper)),
    }

    def build(stmt: Any) -> Any:
        stmt = (
            stmt.select_from(r)
            .join(t, t.id == r.ticket_id)
            .where(r.requested_at >= w.start, r.requested_at < w.end, t.merged_into_id.is_(None))
        )
        return stmt.where(r.unit_code == w.unit) if w.unit else stmt

    return await _grouped(session, dims, r.unit_code, r.requested_at, measures, build)


async def overdue_open(session: AsyncSession, now: datetime, unit: str | None, limit: int) -> list[dict[str, Any]]:
    """Open tickets whose running reply deadline has passed (uses ``ix_deadlines_running_due``)."""
    d, t = Deadline, Ticket
    stmt = (
        select(
            t.number,
            t.kind,
            t.category,
            t.area_district,
            t.status,
            t.reminder_count,
            d.unit_code,
            d.due_at,
            d.extension_days,
        )
        .join(t, t.id == d.ticket_id)
        .where(d.state == "running", d.kind == "reply", d.due_at < now, t.merged_into_id.is_(None))
        .order_by(d.due_at, t.number)
        .limit(limit)
    )
    if unit:
        stmt = stmt.where(d.unit_code == unit)
    return [dict(row._mapping) for row in (await session.execute(stmt)).all()]

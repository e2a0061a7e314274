"""SQL of the KPI engine (docs/kpi.md): one pass per source table, every breakdown at once.

Each query scans its rows once for the period and aggregates with ``FILTER`` clauses over
``GROUPING SETS`` (one set per requested dimension, plus ``()`` for the overall figures), so the
dashboard's seven breakdowns cost one scan of the period's tickets, not seven.

* tickets received in the period (``ix_tickets_created_at``);
* reply deadlines due in the period (办理时限, for 及时办结率);
* returns requested in the period (退单, for 不当退单率).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Date,
    String,
    and_,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
    true,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from dispatcher.calendar import LOCAL_TZ
from hotline.models import (
    KPI_MEASURES,
    Deadline,
    Evaluation,
    KpiDaily,
    KpiDirtyDay,
    KpiMonthly,
    KpiRollupState,
    Reply,
    Ticket,
    TicketReturn,
)

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

    @property
    def days(self) -> tuple[date, date]:
        """The local dates of the window, both inclusive."""
        return self.start.astimezone(LOCAL_TZ).date(), (self.end - timedelta(microseconds=1)).astimezone(
            LOCAL_TZ
        ).date()


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
        "day": (day_col,),
    }


GroupSet = tuple[str, ...]
"""Dimensions grouped together, e.g. ``()`` (overall), ``("kind",)``, ``("day", "unit", "kind")``."""


async def _grouped(
    session: AsyncSession,
    sets: Sequence[GroupSet],
    unit_col: Any,
    day_col: Any,
    measures: dict[str, Any],
    build: Any,
) -> dict[GroupSet, dict[Key, Counts]]:
    """Run ``build(select)`` grouped by each of ``sets`` at once (``GROUPING SETS``). A measure is
    the number of rows where its condition holds (every row when the condition is ``None``).

    The key of a row is the values of its set's columns, in the set's order (``place`` gives two).
    """
    columns = _dimension_columns(unit_col, day_col)
    exprs: list[ColumnElement[Any]] = []
    positions: dict[GroupSet, list[int]] = {}
    for group in dict.fromkeys(sets):
        idx = []
        for dim in group:
            for col in columns[dim]:
                found = next((i for i, e in enumerate(exprs) if e is col), None)
                if found is None:
                    exprs.append(col)
                    found = len(exprs) - 1
                idx.append(found)
        positions[group] = idx
    n = len(exprs)
    full = (1 << n) - 1
    # grouping(e0..en-1): bit (n-1-i) is 1 when e_i is aggregated away in that row's set.
    mask_of: dict[int, GroupSet] = {}
    for group, idx in positions.items():
        mask = full & ~sum(1 << (n - 1 - i) for i in set(idx))
        if mask in mask_of:  # pragma: no cover - the same columns in another order
            raise ValueError(f"grouping sets {mask_of[mask]} and {group} group the same columns")
        mask_of[mask] = group
    labels = list(measures)
    # Two stages. (1) Each row's conditions are evaluated once, in a subquery the planner may not
    # flatten (OFFSET 0), and counted per combination of all the keys: one aggregate per measure
    # and row. (2) The grouping sets sum those partial counts: the per-set work follows the number
    # of distinct combinations, not the number of rows. Counting in the sets directly costs
    # rows x sets x measures; with 16 sets that was most of the refresh.
    inner = build(
        select(
            *(e.label(f"k{i}") for i, e in enumerate(exprs)),
            *(measures[m].label(f"m{j}") for j, m in enumerate(labels) if measures[m] is not None),
        )
    )
    base = inner.offset(0).subquery("base")
    base_keys = [base.c[f"k{i}"] for i in range(n)]
    partial = (
        select(
            *base_keys,
            *(
                (func.count() if measures[m] is None else func.count().filter(base.c[f"m{j}"])).label(f"c{j}")
                for j, m in enumerate(labels)
            ),
        )
        .group_by(*base_keys)
        .subquery("partial")
    )
    keys = [partial.c[f"k{i}"] for i in range(n)]
    sums = [func.sum(partial.c[f"c{j}"]).label(m) for j, m in enumerate(labels)]
    grouping = func.grouping(*keys) if keys else literal_column("0")
    stmt = select(grouping.label("g"), *keys, *sums).select_from(partial)
    if keys:
        stmt = stmt.group_by(func.grouping_sets(*(tuple_(*(keys[i] for i in idx)) for idx in positions.values())))
    out: dict[GroupSet, dict[Key, Counts]] = {group: {} for group in positions}
    for row in (await session.execute(stmt)).all():
        which = mask_of.get(int(row[0]) if exprs else 0)
        if which is None:  # pragma: no cover - a set is identified by its mask
            continue
        key: Key = tuple(_key_value(row[1 + i]) for i in positions[which])
        out[which][key] = {m: int(row[1 + n + j] or 0) for j, m in enumerate(labels)}
    return out


def _key_value(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, date) else value


def by_dimension(result: dict[GroupSet, dict[Key, Counts]]) -> dict[str, dict[Key, Counts]]:
    """Single-dimension sets keyed by the dimension's name; ``()`` becomes ``""`` (overall)."""
    return {"".join(group): rows for group, rows in result.items() if len(group) <= 1}


def dimension_sets(dims: Sequence[str]) -> list[GroupSet]:
    return [(dim,) for dim in dims] + [()]


async def ticket_counts(
    session: AsyncSession, w: Window, sets: Sequence[GroupSet]
) -> dict[GroupSet, dict[Key, Counts]]:
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
        "intake": None,
        "merged": t.merged_into_id.is_not(None),
        "repeat": t.status == "repeat",
        "accepted_intake": and_(once, t.status.not_in(NOT_ACCEPTED)),
        "direct": and_(once, t.disposition == "direct_answer"),
        "dispatched": dispatched,
        "reminded": and_(dispatched, t.reminder_count > 0),
        "redone": and_(dispatched, t.redo_count > 0),
        "returned": and_(dispatched, t.return_count > 0),
        "overdue": and_(dispatched, t.overdue_marked),
        "accepted": signed,
        "accepted_on_time": and_(signed, t.accepted_at <= accept.c.due_at),
        "evaluated": evaluated,
        "satisfied": and_(once, t.final_outcome.in_(SATISFIED)),
        "resolved": and_(evaluated, latest_eval.c.resolution == "resolved"),
        "partly_resolved": and_(evaluated, latest_eval.c.resolution == "partly_resolved"),
        "unreachable": and_(once, t.final_outcome == "unreachable"),
    }

    def build(stmt: Any) -> Any:
        stmt = (
            stmt.select_from(t)
            .outerjoin(accept, true())
            .outerjoin(latest_eval, true())
            .where(t.created_at >= w.start, t.created_at < w.end)
        )
        return stmt.where(t.lead_unit_code == w.unit) if w.unit else stmt

    return await _grouped(session, sets, t.lead_unit_code, _local_day(t.created_at), measures, build)


async def deadline_counts(
    session: AsyncSession, w: Window, sets: Sequence[GroupSet]
) -> dict[GroupSet, dict[Key, Counts]]:
    """Reply deadlines (办理时限) whose due date is in the period and whose due instant has passed, and
    whether they were met in time. A limit ending at 24:00 on the last day of a month is that month's."""
    d, t = Deadline, Ticket
    first, last = w.days
    last_reply = (
        select(Reply.on_time.label("on_time"))
        .where(Reply.ticket_id == d.ticket_id, Reply.replied_at >= d.start_at, d.state == "met")
        .order_by(Reply.id.desc())
        .limit(1)
        .correlate(d)
        .lateral("rep")
    )
    measures = {"due": None, "replied_on_time": last_reply.c.on_time.is_(True)}

    def build(stmt: Any) -> Any:
        stmt = (
            stmt.select_from(d)
            .join(t, t.id == d.ticket_id)
            .outerjoin(last_reply, true())
            .where(
                d.kind == "reply",
                d.state != "cancelled",
                d.due_date >= first,
                d.due_date <= last,
                d.due_at <= w.now,
                t.merged_into_id.is_(None),
            )
        )
        return stmt.where(d.unit_code == w.unit) if w.unit else stmt

    return await _grouped(session, sets, d.unit_code, d.due_date, measures, build)


async def return_counts(
    session: AsyncSession, w: Window, sets: Sequence[GroupSet]
) -> dict[GroupSet, dict[Key, Counts]]:
    """Returns (退单) requested in the period; improper ones are those the review rejected."""
    r, t = TicketReturn, Ticket
    decided = r.state.in_(DECIDED_RETURNS)
    measures = {
        "returns": None,
        "decided_returns": decided,
        "improper_returns": and_(decided, r.improper),
    }

    def build(stmt: Any) -> Any:
        stmt = (
            stmt.select_from(r)
            .join(t, t.id == r.ticket_id)
            .where(r.requested_at >= w.start, r.requested_at < w.end, t.merged_into_id.is_(None))
        )
        return stmt.where(r.unit_code == w.unit) if w.unit else stmt

    return await _grouped(session, sets, r.unit_code, _local_day(r.requested_at), measures, build)


async def serial_plans(session: AsyncSession) -> None:
    """For the rest of this transaction: no parallel workers. The rollup reads and the overdue list
    touch a few thousand rows; starting workers costs more than it saves (40 ms against 6 ms for the
    overdue list at 10 million tickets), and the planner, seeing a LIMIT over a big table, asks for them."""
    await session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))


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


# ---------------------------------------------------------------- daily rollup (kpi_daily)

ROLLUP_DIMS = ("unit", "district", "kind", "channel", "line", "caller_type", "category", "place")
"""Breakdowns stored per day; ``day`` itself is the row's day."""
_SCOPED_DIMS = tuple(d for d in ROLLUP_DIMS if d != "unit")
ROLLUP_LOCK = 0x6B70695F726F6C6C
"""Advisory lock key: one refresh at a time (the others skip, their marks stay for the next)."""


def _rollup_sets() -> list[GroupSet]:
    return [("day",), *(("day", d) for d in ROLLUP_DIMS), *(("day", "unit", d) for d in _SCOPED_DIMS)]


RollupKey = tuple[date, str, str, str | None, str | None]
"""(day, scope, dim, key1, key2)."""


def _rollup_targets(group: GroupSet, key: Key) -> list[tuple[str, str, str | None, str | None]]:
    """Where one grouped row goes: (scope, dim, key1, key2) rows of ``kpi_daily``."""
    rest = [*key[1:], None, None]
    if len(group) == 1:
        return [("", "", None, None)]
    if len(group) == 2:
        dim = group[1]
        out = [("", dim, rest[0], rest[1])]
        if dim == "unit" and rest[0] is not None:
            unit = str(rest[0])
            out += [(unit, "", None, None), (unit, "unit", unit, None)]
        return out
    unit_value = rest[0]
    if unit_value is None:  # not dispatched: no unit's own figures
        return []
    return [(str(unit_value), group[2], rest[1], rest[2])]


async def compute_rollup(session: AsyncSession, start: datetime, end: datetime, now: datetime) -> list[dict[str, Any]]:
    """The ``kpi_daily`` rows of the local days in ``[start, end)``, from the base tables, as of ``now``."""
    w = Window(start, end, now)
    sets = _rollup_sets()
    rows: dict[RollupKey, dict[str, int]] = {}
    for part in (
        await ticket_counts(session, w, sets),
        await deadline_counts(session, w, sets),
        await return_counts(session, w, sets),
    ):
        for group, result in part.items():
            for key, counts in result.items():
                day = date.fromisoformat(str(key[0]))
                for scope, dim, key1, key2 in _rollup_targets(group, key):
                    rows.setdefault((day, scope, dim, key1, key2), {}).update(counts)
    # Written in this order, a day's city-wide rows sit together on a few heap pages: a month of
    # the dashboard then reads some hundred pages, not every page of every unit's rows.
    ordered = sorted(rows.items(), key=lambda kc: (kc[0][1] != "", kc[0][1], kc[0][0]))
    return [
        {"day": k[0], "scope": k[1], "dim": k[2], "key1": k[3], "key2": k[4], **{m: c.get(m, 0) for m in KPI_MEASURES}}
        for k, c in ordered
    ]


async def replace_rollup_days(session: AsyncSession, first: date, last: date, rows: list[dict[str, Any]]) -> None:
    await session.execute(delete(KpiDaily).where(KpiDaily.day >= first, KpiDaily.day <= last))
    if rows:
        # COPY on the session's own connection (same transaction): a year's build writes about a
        # million rows, which an INSERT ... VALUES round trip per thousand rows makes minutes.
        raw = (await (await session.connection()).get_raw_connection()).driver_connection
        assert raw is not None
        columns = list(rows[0])
        await raw.copy_records_to_table(
            "kpi_daily", records=[tuple(r[c] for c in columns) for r in rows], columns=columns
        )


async def replace_rollup_month(session: AsyncSession, month: date) -> None:
    """Rewrite ``kpi_monthly`` for the month starting on ``month`` from its ``kpi_daily`` rows."""
    following = _next_month(month)
    d, m = KpiDaily, KpiMonthly
    await session.execute(delete(m).where(m.month == month))
    sums = [func.sum(getattr(d, c)) for c in KPI_MEASURES]
    rows = (
        select(literal_column(f"DATE '{month.isoformat()}'"), d.scope, d.dim, d.key1, d.key2, *sums)
        .where(d.day >= month, d.day < following)
        .group_by(d.scope, d.dim, d.key1, d.key2)
    )
    columns = ["month", "scope", "dim", "key1", "key2", *KPI_MEASURES]
    await session.execute(insert(m).from_select(columns, rows))


def _next_month(month: date) -> date:
    return (month.replace(day=1) + timedelta(days=32)).replace(day=1)


async def clear_rollup(session: AsyncSession) -> None:
    await session.execute(text("TRUNCATE kpi_daily, kpi_monthly"))


async def try_rollup_lock(session: AsyncSession) -> bool:
    """Transaction-scoped: released at commit or rollback."""
    return bool((await session.execute(select(func.pg_try_advisory_xact_lock(ROLLUP_LOCK)))).scalar_one())


async def claim_dirty_days(session: AsyncSession) -> set[date]:
    """Take every mark committed so far. Marks of transactions still open stay for the next refresh."""
    result = await session.execute(delete(KpiDirtyDay).returning(KpiDirtyDay.day))
    return set(result.scalars().all())


async def rollup_state(session: AsyncSession) -> KpiRollupState | None:
    return await session.get(KpiRollupState, 1, populate_existing=True)


async def save_rollup_state(session: AsyncSession, refreshed_at: datetime, built_at: datetime) -> None:
    state = await session.get(KpiRollupState, 1)
    if state is None:
        session.add(KpiRollupState(id=1, refreshed_at=refreshed_at, built_at=built_at))
    else:
        state.refreshed_at = refreshed_at
        state.built_at = built_at
    await session.flush()


async def first_data_day(session: AsyncSession) -> date | None:
    """The earliest local day any rollup source counts on (each through its own index)."""
    instants = [
        (await session.execute(select(func.min(Ticket.created_at)))).scalar_one(),
        (await session.execute(select(func.min(TicketReturn.requested_at)))).scalar_one(),
    ]
    days = [i.astimezone(LOCAL_TZ).date() for i in instants if i is not None]
    due = (await session.execute(select(func.min(Deadline.due_date)).where(Deadline.kind == "reply"))).scalar_one()
    return min([*days, due] if due else days, default=None)


def split_months(first: date, last: date) -> tuple[list[date], list[tuple[date, date]]]:
    """The whole calendar months inside ``[first, last]`` and the day ranges left over."""
    start = first if first.day == 1 else _next_month(first)
    months = []
    while _next_month(start) - timedelta(days=1) <= last:
        months.append(start)
        start = _next_month(start)
    if not months:
        return [], [(first, last)]
    ranges = []
    if first < months[0]:
        ranges.append((first, months[0] - timedelta(days=1)))
    if start <= last:
        ranges.append((start, last))
    return months, ranges


def _scope_is(col: Any, city: bool) -> Any:
    # The city-wide scope as a literal: a generic prepared plan then still matches the partial
    # index ix_kpi_daily_city (scope = ''), which a bound parameter would not.
    return col == literal_column("''") if city else col == bindparam("scope", type_=String())


@functools.cache
def _rollup_statements(city: bool, months: bool, ranges: int) -> tuple[Any, Any]:
    """The two read statements for a shape of period, built once: constructing 50 column
    expressions per request cost more than PostgreSQL takes to answer (about 2 ms at 10 M tickets).
    Parameters: ``scope`` (unless city-wide), ``dims``, ``months``, ``a0``/``b0``..., ``first``/``last``."""
    d, mo = KpiDaily, KpiMonthly
    dims: Any = bindparam("dims", expanding=True)
    parts: list[Any] = []
    if months:
        parts.append(
            select(mo.dim, mo.key1, mo.key2, *(getattr(mo, c) for c in KPI_MEASURES)).where(
                _scope_is(mo.scope, city),
                mo.month.in_(bindparam("months", expanding=True)),
                mo.dim.in_(dims),
            )
        )
    if ranges:
        days = or_(*(and_(d.day >= bindparam(f"a{i}"), d.day <= bindparam(f"b{i}")) for i in range(ranges)))
        parts.append(
            select(d.dim, d.key1, d.key2, *(getattr(d, c) for c in KPI_MEASURES)).where(
                _scope_is(d.scope, city), days, d.dim.in_(dims)
            )
        )
    query: Any = parts[0]
    if len(parts) > 1:
        query = parts[0].union_all(parts[1])
    both: Any = query.subquery("rows")
    sums: list[Any] = [func.sum(both.c[c]).label(c) for c in KPI_MEASURES]
    by_key = select(both.c.dim, both.c.key1, both.c.key2, *sums).group_by(both.c.dim, both.c.key1, both.c.key2)
    day_sums = [func.sum(getattr(d, c)).label(c) for c in KPI_MEASURES]
    in_period = and_(_scope_is(d.scope, city), d.day >= bindparam("first"), d.day <= bindparam("last"), d.dim == "")
    by_day = select(d.day, *day_sums).where(in_period).group_by(d.day)
    return by_key, by_day


async def rollup_counts(
    session: AsyncSession, first: date, last: date, scope: str, dims: Sequence[str]
) -> dict[str, dict[Key, Counts]]:
    """Sums over ``[first, last]`` for ``scope``: overall (``""``) and each of ``dims``. Whole months
    come from ``kpi_monthly``, the days around them from ``kpi_daily``."""
    months, ranges = split_months(first, last)
    by_key, by_day = _rollup_statements(scope == "", bool(months), len(ranges))
    params: dict[str, Any] = {"dims": ["", *(x for x in dims if x in ROLLUP_DIMS)], "first": first, "last": last}
    if scope:
        params["scope"] = scope
    if months:
        params["months"] = months
    for i, (a, b) in enumerate(ranges):
        params[f"a{i}"], params[f"b{i}"] = a, b
    out: dict[str, dict[Key, Counts]] = {x: {} for x in [*dims, ""]}
    n = len(KPI_MEASURES)
    key_params = {k: v for k, v in params.items() if k not in ("first", "last")}
    for row in (await session.execute(by_key, key_params)).all():
        dim = row[0]
        key: Key = () if dim == "" else (row[1], row[2]) if dim == "place" else (row[1],)
        out[dim][key] = dict(zip(KPI_MEASURES, (int(v or 0) for v in row[3 : 3 + n]), strict=True))
    if "day" in dims:
        day_params: dict[str, Any] = {k: params[k] for k in ("first", "last", "scope") if k in params}
        for row in (await session.execute(by_day, day_params)).all():
            out["day"][(row[0].isoformat(),)] = dict(
                zip(KPI_MEASURES, (int(v or 0) for v in row[1 : 1 + n]), strict=True)
            )
    return out

"""SQL of tickets. The unit-scope rule lives here, in one place: :func:`visible`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, cast, exists, func, select, text, true, update
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from hotline.models import (
    Caller,
    Deadline,
    PersonalDataAccess,
    Reply,
    RoutingDecision,
    SupervisionOrder,
    Ticket,
    TicketEvent,
    TicketTask,
    TicketUnit,
    User,
)
from hotline.textsearch import query_literal, vector_literal
from hotline.users import Actor

S = TypeVar("S", bound=Select[Any])

MANUAL_DISPATCH_UNIT = "centre.dispatch"
"""The centre's manual-dispatch queue: the lead unit of a ticket no rule or model could place."""
REDO_OPEN = ("dispatched", "accepted", "return_requested", "arbitration", "replied")
"""Statuses of a ticket still being handled (a redo runs through them again)."""


def visible(stmt: S, actor: Actor) -> S:
    """Unit handlers see the tickets their unit has a part in *now* (lead, assisting, a lower level
    with its task open); other roles see all.

    Access ends when involvement ends (issue 10, item 7): a unit whose return was approved, or
    that the centre re-dispatched away from, and a unit whose sub-task was released, become
    ``former`` and no longer read the ticket, nor the next unit's reply. Their past work stays on
    the ticket's timeline and in the unit KPIs, which the centre sees."""
    if actor.is_unit_handler:
        stmt = stmt.where(
            exists().where(
                TicketUnit.ticket_id == Ticket.id, TicketUnit.unit_code == actor.unit_code, TicketUnit.role != "former"
            )
        )
    return stmt


async def retire_unit_if_done(session: AsyncSession, ticket_id: int, unit_code: str) -> None:
    """A unit whose last open sub-task on a ticket was released, and that does not lead it, becomes
    ``former`` (it no longer reads the ticket: :func:`visible`)."""
    open_tasks = exists().where(
        TicketTask.ticket_id == ticket_id, TicketTask.unit_code == unit_code, TicketTask.state == "open"
    )
    await session.execute(
        update(TicketUnit)
        .where(
            TicketUnit.ticket_id == ticket_id,
            TicketUnit.unit_code == unit_code,
            TicketUnit.role != "lead",
            ~open_tasks,
        )
        .values(role="former")
        .execution_options(synchronize_session=False)
    )


async def latest_reply(session: AsyncSession, ticket_id: int) -> Reply | None:
    """The ticket's most recent reply (``None`` before any)."""
    stmt = select(Reply).where(Reply.ticket_id == ticket_id).order_by(Reply.id.desc()).limit(1)
    return (await session.execute(stmt)).scalar_one_or_none()


async def next_number_seq(session: AsyncSession) -> int:
    return int((await session.execute(text("SELECT nextval('ticket_number_seq')"))).scalar_one())


async def by_idempotency_key(session: AsyncSession, user_id: int, key: str) -> Ticket | None:
    stmt = select(Ticket).where(Ticket.created_by == user_id, Ticket.idempotency_key == key)
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_visible(session: AsyncSession, number: str, actor: Actor) -> Ticket | None:
    stmt = visible(select(Ticket).where(Ticket.number == number), actor)
    return (await session.execute(stmt)).scalar_one_or_none()


async def caller(session: AsyncSession, caller_id: int) -> Caller:
    found = await session.get(Caller, caller_id)
    assert found is not None
    return found


async def running_deadline(session: AsyncSession, ticket_id: int, kind: str = "reply") -> Deadline | None:
    stmt = (
        select(Deadline)
        .where(Deadline.ticket_id == ticket_id, Deadline.state == "running", Deadline.kind == kind)
        .order_by(Deadline.id.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def end_task_deadline(session: AsyncSession, task_id: int, state: str) -> None:
    """A sub-task's running limit ends: ``met`` when answered, ``cancelled`` when released."""
    await session.execute(
        update(Deadline).where(Deadline.task_id == task_id, Deadline.state == "running").values(state=state)
    )


async def latest_deadline(session: AsyncSession, ticket_id: int) -> Deadline | None:
    stmt = (
        select(Deadline)
        .where(Deadline.ticket_id == ticket_id, Deadline.kind == "reply")
        .order_by(Deadline.id.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def decision(session: AsyncSession, ticket_id: int) -> RoutingDecision | None:
    stmt = (
        select(RoutingDecision)
        .where(RoutingDecision.ticket_id == ticket_id)
        .order_by(RoutingDecision.id.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def events(session: AsyncSession, ticket_id: int) -> list[tuple[TicketEvent, str | None]]:
    stmt = (
        select(TicketEvent, User.username)
        .outerjoin(User, User.id == TicketEvent.actor_id)
        .where(TicketEvent.ticket_id == ticket_id)
        .order_by(TicketEvent.id)
    )
    return [(e, u) for e, u in (await session.execute(stmt))]


def audit_personal_data(session: AsyncSession, actor: Actor, ticket: Ticket, purpose: str) -> None:
    session.add(PersonalDataAccess(user_id=actor.id, caller_id=ticket.caller_id, ticket_id=ticket.id, purpose=purpose))


@dataclass(frozen=True, slots=True)
class TicketFilter:
    """The filters of the ticket list (``GET /api/v1/tickets`` and the ``/tickets`` page); every
    one given must hold. Times are instants (UTC in the database); ``created_to`` is exclusive."""

    status: str | None = None
    kind: str | None = None
    channel: str | None = None
    line: str | None = None
    unit: str | None = None
    district: str | None = None
    caller_type: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    number: str | None = None
    """A ticket number or its beginning (numbers start with the date: ``20261201``)."""
    q: str | None = None
    """Words of the content: each word (split at spaces and punctuation) must occur as written."""
    phone: tuple[str, ...] = ()
    """The caller's phone in its stored forms (:func:`hotline.tickets.search.phone_forms`)."""
    caller_name: str | None = None
    categories: tuple[str, ...] = ()
    """Any of these catalogue leaves (a node asked for stands for the leaves under it)."""
    statuses: tuple[str, ...] = ()
    """Any of these statuses (the saved views and the unit's 待办 / 已办)."""
    manual: bool | None = None
    """In the centre's manual-dispatch queue (待派单)."""
    overdue: bool | None = None
    """The running reply deadline has passed (at ``now``)."""
    supervised: bool | None = None
    """An open 督办单."""
    redo: bool | None = None
    """Sent back for 重办 at least once and still open."""
    now: datetime | None = None
    sort: str = "newest"
    """``newest`` / ``oldest`` (created), ``due`` (running deadline, soonest first)."""


SORTS = ("newest", "oldest", "due")
COUNT_CAP = 1000
"""A list counts its matches up to this many; ``total == COUNT_CAP + 1`` means "more"."""


async def page(
    session: AsyncSession, actor: Actor, flt: TicketFilter, page: int, page_size: int
) -> tuple[list[tuple[Ticket, Deadline | None]], int]:
    """One page of the tickets ``actor`` may see that pass ``flt``, and how many pass, counted up
    to ``COUNT_CAP + 1`` (that value means more than ``COUNT_CAP``)."""
    stmt = visible(select(Ticket), actor)
    for column, value in (
        (Ticket.status, flt.status),
        (Ticket.kind, flt.kind),
        (Ticket.channel, flt.channel),
        (Ticket.line, flt.line),
        (Ticket.lead_unit_code, flt.unit),
        (Ticket.area_district, flt.district),
        (Ticket.caller_type, flt.caller_type),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if flt.statuses:
        stmt = stmt.where(Ticket.status.in_(flt.statuses))
    if flt.created_from is not None:
        stmt = stmt.where(Ticket.created_at >= flt.created_from)
    if flt.created_to is not None:
        stmt = stmt.where(Ticket.created_at < flt.created_to)
    if flt.number:
        stmt = stmt.where(Ticket.number.startswith(flt.number, autoescape=True))
    if flt.q:
        stmt = stmt.where(*content_matches(flt.q))
    if flt.phone or flt.caller_name:
        callers = select(Caller.id)
        if flt.phone:
            callers = callers.where(Caller.phone.in_(flt.phone))
        if flt.caller_name:
            callers = callers.where(Caller.name == flt.caller_name)
        stmt = stmt.where(Ticket.caller_id.in_(callers))
    if flt.categories:
        stmt = stmt.where(Ticket.category.in_(flt.categories))
    if flt.manual is not None:
        waiting = (Ticket.lead_unit_code == MANUAL_DISPATCH_UNIT) & Ticket.status.in_(("dispatched", "accepted"))
        stmt = stmt.where(waiting if flt.manual else ~waiting)
    if flt.overdue is not None:
        late = exists().where(
            Deadline.ticket_id == Ticket.id,
            Deadline.state == "running",
            Deadline.kind == "reply",
            Deadline.due_at < (flt.now or func.now()),
        )
        stmt = stmt.where(late if flt.overdue else ~late)
    if flt.supervised is not None:
        open_order = exists().where(SupervisionOrder.ticket_id == Ticket.id, SupervisionOrder.state == "open")
        stmt = stmt.where(open_order if flt.supervised else ~open_order)
    if flt.redo is not None:
        redoing = (Ticket.redo_count > 0) & Ticket.status.in_(REDO_OPEN)
        stmt = stmt.where(redoing if flt.redo else ~redoing)
    # counted up to COUNT_CAP: an exact count of a common word's 87,000 matches took 0.9 s at a
    # million tickets (bench/search.py); past the cap the page says "more than"
    capped = stmt.limit(COUNT_CAP + 1).subquery()
    total = int((await session.execute(select(func.count()).select_from(capped))).scalar_one())
    lateral = (
        select(Deadline)
        .where(Deadline.ticket_id == Ticket.id, Deadline.state == "running", Deadline.kind == "reply")
        .order_by(Deadline.id.desc())
        .limit(1)
        .lateral()
    )
    running = aliased(Deadline, lateral)
    walk = flt.q is not None and total > COUNT_CAP and flt.sort != "due"
    if walk:
        # Many matches of a word: walking the creation-time index and testing each row finds a
        # page after a few hundred rows. PostgreSQL estimates a phrase of bigrams as if they were
        # independent (12,123 matches of 公积金 estimated as 135) and would fetch every match to
        # sort them (0.13 s at a million tickets).
        await session.execute(text("SELECT set_config('enable_bitmapscan', 'off', true)"))
    rows = await session.execute(
        stmt.add_columns(running)
        .outerjoin(running, true())
        .order_by(*_order(flt.sort, running))
        .offset((page - 1) * page_size)
        .limit(page_size)
    )
    if walk:
        await session.execute(text("SELECT set_config('enable_bitmapscan', 'on', true)"))
    return [(t, d) for t, d in rows], total


def _order(sort: str, running: Any) -> tuple[Any, ...]:
    if sort == "oldest":
        return (Ticket.created_at.asc(), Ticket.id.asc())
    if sort == "due":
        return (running.due_at.asc().nulls_last(), Ticket.created_at.asc(), Ticket.id.asc())
    return (Ticket.created_at.desc(), Ticket.id.desc())


def content_matches(q: str) -> list[ColumnElement[bool]]:
    """Conditions for ``q``: every word (split at spaces and punctuation) occurs in the content as
    written. Words of two or more characters are matched through the bigram index
    (``tickets.search_vector``, :mod:`hotline.textsearch`) as phrases of their bigrams, an exact
    substring match; a single character has no bigram and is matched by ``LIKE``."""
    phrases, singles = query_literal(q)
    out: list[ColumnElement[bool]] = []
    if phrases is not None:
        out.append(Ticket.search_vector.op("@@")(cast(phrases, TSQUERY)))
    out.extend(func.lower(Ticket.content).contains(ch, autoescape=True) for ch in singles)
    return out


@dataclass(frozen=True, slots=True)
class IntakeRow:
    """Everything one intake writes: caller, ticket, decision, units, deadline and the first event."""

    now: datetime
    number_prefix: str
    caller: tuple[str, str | None, str | None, str | None, str | None, bool]
    channel: str
    line: str
    kind: str
    category: str | None
    content: str
    address: str | None
    area_district: str | None
    area_town: str | None
    area_village: str | None
    caller_type: str
    status: str
    disposition: str
    lead_unit: str | None
    reason_code: str | None
    transfer_to: str | None
    answer: str | None
    rulebook_version: str
    created_by: int
    idempotency_key: str | None
    request_hash: str
    rule_id: str
    model_version: str | None
    decision_json: str
    unit_codes: list[str]
    unit_roles: list[str]
    deadlines: list[tuple[str, int, date, datetime, bool]]
    """(kind, working days, due date, due instant, provisional): the reply limit and the sign-for limit."""
    event_note: str
    event_json: str


@dataclass(frozen=True, slots=True)
class Inserted:
    ticket_id: int
    number: str
    calendar_stamp: tuple[int, datetime | None]


# One round trip for the whole intake (with the caller's SMS receipt and the unit's new-ticket notice
# in the outbox): the ticket takes its caller id from the sequence so that a
# replayed Idempotency-Key (ON CONFLICT DO NOTHING) writes nothing at all, not even the caller.
# Foreign keys are checked at the end of the statement, after every sub-statement has run.
_INTAKE_SQL = """
WITH ids AS (
    SELECT nextval(pg_get_serial_sequence('callers', 'id')) AS caller_id, nextval('ticket_number_seq') AS n
), t AS (
    INSERT INTO tickets (number, channel, line, kind, category, content, address, area_district, area_town,
        area_village, caller_id, caller_type, status, disposition, lead_unit_code, reason_code, transfer_to,
        answer, rulebook_version, created_by, idempotency_key, request_hash, created_at, updated_at, search_vector)
    SELECT $1 || lpad(ids.n::text, greatest(7, length(ids.n::text)), '0'), $2, $3, $4, $5, $6, $7, $8, $9, $10,
        ids.caller_id, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $22, $42::text::tsvector
    FROM ids
    ON CONFLICT ON CONSTRAINT uq_tickets_idempotency DO NOTHING
    RETURNING id, number, caller_id
), c AS (
    INSERT INTO callers (id, type, name, phone, enterprise_name, credit_code, confidential, created_at)
    SELECT t.caller_id, $23, $24, $25, $26, $27, $28, $22 FROM t
), d AS (
    INSERT INTO routing_decisions (ticket_id, rulebook_version, rule_id, disposition, decision, created_at,
        model_version)
    SELECT t.id, $18, $29, $13, $30::jsonb, $22, $41 FROM t
), u AS (
    INSERT INTO ticket_units (ticket_id, unit_code, role, assigned_at)
    SELECT t.id, x.code, x.role, $22 FROM t, unnest($31::text[], $32::text[]) AS x(code, role)
), dl AS (
    INSERT INTO deadlines (ticket_id, unit_code, kind, start_at, working_days, due_date, due_at, provisional,
        created_at)
    SELECT t.id, $14, x.kind, $22, x.days, x.due_date, x.due_at, x.provisional, $22
    FROM t, unnest($39::text[], $33::int[], $34::date[], $35::timestamptz[], $36::bool[])
        AS x(kind, days, due_date, due_at, provisional)
), e AS (
    INSERT INTO ticket_events (ticket_id, at, actor_id, action, from_status, to_status, unit_code, due_before,
        due_after, note, data)
    SELECT t.id, $22, $19, 'intake', NULL, $12, $14, NULL, $40, $37, $38::jsonb FROM t
), n AS (
    INSERT INTO notifications (ticket_id, recipient, template, payload, dedupe_key, created_at)
    SELECT t.id, 'caller', 'ticket_accepted', jsonb_build_object('number', t.number), 'ticket_accepted:' || t.id, $22
    FROM t WHERE $25::text IS NOT NULL AND $12 = 'dispatched'
    UNION ALL
    SELECT t.id, 'unit:' || $14, 'new_ticket', jsonb_build_object('number', t.number), 'new_ticket:' || t.id, $22
    FROM t WHERE $14::text IS NOT NULL
)
SELECT t.id, t.number, (SELECT count(*) FROM calendar_years) AS years,
    (SELECT max(loaded_at) FROM calendar_years) AS loaded
FROM t
"""


async def insert_intake(session: AsyncSession, row: IntakeRow) -> Inserted | None:
    """Write one intake in a single statement; ``None`` when its Idempotency-Key was already used.

    Through the session's connection (``exec_driver_sql``), so that the statement runs inside the
    request's transaction: the driver's own connection would run it before SQLAlchemy has begun
    one, committed on its own, and a later step of the same intake (a deadline corrected for a
    changed calendar, a training label) would then fail alone (issue 10, item 11)."""
    connection = await session.connection()
    caller_type, name, phone, enterprise, credit, confidential = row.caller
    result = await connection.exec_driver_sql(
        _INTAKE_SQL,
        (
            row.number_prefix,
            row.channel,
            row.line,
            row.kind,
            row.category,
            row.content,
            row.address,
            row.area_district,
            row.area_town,
            row.area_village,
            row.caller_type,
            row.status,
            row.disposition,
            row.lead_unit,
            row.reason_code,
            row.transfer_to,
            row.answer,
            row.rulebook_version,
            row.created_by,
            row.idempotency_key,
            row.request_hash,
            row.now,
            caller_type,
            name,
            phone,
            enterprise,
            credit,
            confidential,
            row.rule_id,
            row.decision_json,
            row.unit_codes,
            row.unit_roles,
            [d[1] for d in row.deadlines],
            [d[2] for d in row.deadlines],
            [d[3] for d in row.deadlines],
            [d[4] for d in row.deadlines],
            row.event_note,
            row.event_json,
            [d[0] for d in row.deadlines],
            next((d[3] for d in row.deadlines if d[0] == "reply"), None),
            row.model_version,
            vector_literal(row.content),
        ),
    )
    record = result.mappings().first()
    if record is None:
        return None
    return Inserted(int(record["id"]), str(record["number"]), (int(record["years"]), record["loaded"]))


async def update_intake_deadline(
    session: AsyncSession, ticket_id: int, kind: str, due_date: date, due_at: datetime, provisional: bool
) -> None:
    """Correct a first deadline when the calendar changed between computing and writing it."""
    deadline = await running_deadline(session, ticket_id, kind)
    assert deadline is not None
    deadline.due_date, deadline.due_at, deadline.provisional = due_date, due_at, provisional
    if kind != "reply":
        await session.flush()
        return
    event = (
        await session.execute(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket_id, TicketEvent.action == "intake")
        )
    ).scalar_one()
    event.due_after = due_at
    await session.flush()

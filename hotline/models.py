"""ORM models. The schema itself comes from the Alembic migrations, never ``create_all``."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    cast,
    text,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from hotline.textsearch import vector_literal

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

TZ = DateTime(timezone=True)
NOW = text("now()")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: TZ, dict[str, Any]: JSONB, list[dict[str, Any]]: JSONB, list[str]: JSONB}  # noqa: RUF012 (SQLAlchemy reads it)


class HandlingUnit(Base):
    """承办单位, loaded from the rulebook (codes are stable)."""

    __tablename__ = "handling_units"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("handling_units.code"))
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('agent','unit_handler','supervisor','arbitrator','admin')", name="role"),
        CheckConstraint("role <> 'unit_handler' OR unit_code IS NOT NULL", name="handler_has_unit"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))
    unit_code: Mapped[str | None] = mapped_column(ForeignKey("handling_units.code"))
    display_name: Mapped[str] = mapped_column(String(100), server_default="")
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(server_default=NOW)
    session_generation: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    """Carried by every token issued; logging out increments it, which ends every session
    (cookie or bearer token) issued before."""


class Caller(Base):
    """诉求人: all personal data of a ticket lives here, so it can be masked and audited."""

    __tablename__ = "callers"
    __table_args__ = (CheckConstraint("type IN ('citizen','enterprise')", name="type"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    type: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(32), index=True)
    """Stored as normalised at intake (11 digits for a mobile); indexed for caller history."""
    enterprise_name: Mapped[str | None] = mapped_column(String(200))
    credit_code: Mapped[str | None] = mapped_column(String(18))
    confidential: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(server_default=NOW)


def _search_vector(context: Any) -> str:
    """The ORM's default for ``tickets.search_vector``: the bigrams of the row's content."""
    return vector_literal(context.get_current_parameters()["content"])


class BigramVector(TypeDecorator[str]):
    """A ``tsvector`` written as its text (:func:`hotline.textsearch.vector_literal`), cast by the
    database: the driver has no binary form for it."""

    impl = TSVECTOR
    cache_ok = True

    def bind_expression(self, bindvalue: Any) -> Any:
        return cast(type_coerce(bindvalue, Text), TSVECTOR)


class Ticket(Base):
    """工单."""

    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("created_by", "idempotency_key", name="uq_tickets_idempotency"),
        Index("ix_tickets_status_created", "status", "created_at"),
        Index("ix_tickets_lead_unit_status", "lead_unit_code", "status"),
        Index("ix_tickets_created_at", "created_at"),
        Index("ix_tickets_search_vector", "search_vector", postgresql_using="gin"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    channel: Mapped[str] = mapped_column(String(32))
    line: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(16))
    category: Mapped[str | None] = mapped_column(String(64))
    content: Mapped[str] = mapped_column(Text)
    search_vector: Mapped[Any] = mapped_column(BigramVector, default=_search_vector, deferred=True, nullable=True)
    """The content's character bigrams (:mod:`hotline.textsearch`), for ``q`` searches; written
    with the content by every path that inserts a ticket."""
    address: Mapped[str | None] = mapped_column(Text)
    area_district: Mapped[str | None] = mapped_column(ForeignKey("handling_units.code"))
    area_town: Mapped[str | None] = mapped_column(String(64))
    area_village: Mapped[str | None] = mapped_column(String(100))
    caller_id: Mapped[int] = mapped_column(ForeignKey("callers.id"), index=True)
    caller_type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(24))
    disposition: Mapped[str] = mapped_column(String(24))
    lead_unit_code: Mapped[str | None] = mapped_column(ForeignKey("handling_units.code"))
    reason_code: Mapped[str | None] = mapped_column(String(64))
    transfer_to: Mapped[str | None] = mapped_column(String(8))
    answer: Mapped[str | None] = mapped_column(Text)
    rulebook_version: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(server_default=NOW)
    updated_at: Mapped[datetime] = mapped_column(server_default=NOW)
    accepted_at: Mapped[datetime | None]
    replied_at: Mapped[datetime | None]
    return_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    redo_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    escalated: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    arbitrated: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    repeat_of_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    reminder_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    """催办 received (automatic and manual); 催办率 counts tickets with at least one."""
    overdue_marked: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    closed_at: Mapped[datetime | None]
    final_outcome: Mapped[str | None] = mapped_column(String(32))
    """satisfied, basically_satisfied, unsatisfied, unreasonable, unreachable, no_callback."""

    caller: Mapped[Caller] = relationship(lazy="raise")


class TicketUnit(Base):
    """A handling unit's part in a ticket (主办 lead / 协办 assist); the unit-scope check uses it."""

    __tablename__ = "ticket_units"
    __table_args__ = (
        CheckConstraint("role IN ('lead','assist','lower','former')", name="role"),
        Index("ix_ticket_units_unit_ticket", "unit_code", "ticket_id"),
    )

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    unit_code: Mapped[str] = mapped_column(ForeignKey("handling_units.code"), primary_key=True)
    role: Mapped[str] = mapped_column(String(8))
    assigned_at: Mapped[datetime] = mapped_column(server_default=NOW)


class RoutingDecision(Base):
    """The routing decision as made, with rule and rulebook version (kept for "why this unit?")."""

    __tablename__ = "routing_decisions"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    rulebook_version: Mapped[str] = mapped_column(String(64))
    rule_id: Mapped[str] = mapped_column(String(64))
    disposition: Mapped[str] = mapped_column(String(24))
    decision: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(server_default=NOW)
    model_version: Mapped[str | None] = mapped_column(String(64))
    """The dispatch classifier that took part, next to the rulebook version (issue 9)."""


class Deadline(Base):
    """A running time limit (办理时限) of a handling unit on a ticket: a row, never a timer."""

    __tablename__ = "deadlines"
    __table_args__ = (
        CheckConstraint("state IN ('running','met','cancelled')", name="state"),
        Index("ix_deadlines_running_due", "due_at", postgresql_where=text("state = 'running'")),
        Index("ix_deadlines_kind_due_date", "kind", "due_date"),
        Index(
            "ix_deadlines_unplanned",
            "id",
            postgresql_where=text("state = 'running' AND planned_version <> plan_version"),
        ),
        Index("ix_deadlines_ticket", "ticket_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    unit_code: Mapped[str] = mapped_column(ForeignKey("handling_units.code"))
    kind: Mapped[str] = mapped_column(String(16), server_default="reply")
    """reply (办理答复), accept (签收), task (协办/下派子任务)."""
    task_id: Mapped[int | None] = mapped_column(ForeignKey("ticket_tasks.id", ondelete="CASCADE"))
    start_at: Mapped[datetime]
    working_days: Mapped[int] = mapped_column(Integer)
    extension_days: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    due_date: Mapped[date] = mapped_column(Date)
    due_at: Mapped[datetime]
    provisional: Mapped[bool] = mapped_column(Boolean)
    state: Mapped[str] = mapped_column(String(16), server_default="running")
    created_at: Mapped[datetime] = mapped_column(server_default=NOW)
    plan_version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    """Bumped whenever the deadline moves; the sweep (re)plans its steps when planned_version lags."""
    planned_version: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    overdue_at: Mapped[datetime | None]


class SlaStep(Base):
    """One planned enforcement step of a deadline (催办, 超期, 督办, 通报...): a row, found by the sweep."""

    __tablename__ = "sla_steps"
    __table_args__ = (
        CheckConstraint("state IN ('pending','done','skipped')", name="state"),
        UniqueConstraint("deadline_id", "kind", "plan_version", name="uq_sla_steps_deadline_kind_version"),
        UniqueConstraint("order_id", "kind", name="uq_sla_steps_order_kind"),
        Index("ix_sla_steps_pending_due", "due_at", postgresql_where=text("state = 'pending'")),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    deadline_id: Mapped[int | None] = mapped_column(ForeignKey("deadlines.id", ondelete="CASCADE"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("supervision_orders.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    plan_version: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    due_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), server_default="pending")
    done_at: Mapped[datetime | None]
    outcome: Mapped[str] = mapped_column(String(32), server_default="")


class Callback(Base):
    """回访 task of the agents' callback queue, one per reply round."""

    __tablename__ = "callbacks"
    __table_args__ = (
        CheckConstraint("state IN ('pending','done','unreachable','cancelled')", name="state"),
        UniqueConstraint("ticket_id", "round", name="uq_callbacks_ticket_round"),
        Index("ix_callbacks_pending_due", "due_at", postgresql_where=text("state = 'pending'")),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    round: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    attempt_days: Mapped[list[str]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None]


class Evaluation(Base):
    """评价 recorded at a callback: satisfaction and resolution (实施方案第12条)."""

    __tablename__ = "evaluations"
    __table_args__ = (
        CheckConstraint("satisfaction IN ('satisfied','basically_satisfied','unsatisfied')", name="satisfaction"),
        CheckConstraint("resolution IN ('resolved','partly_resolved','unresolved')", name="resolution"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    callback_id: Mapped[int] = mapped_column(ForeignKey("callbacks.id", ondelete="CASCADE"))
    caller_id: Mapped[int] = mapped_column(ForeignKey("callers.id"))
    satisfaction: Mapped[str] = mapped_column(String(24))
    resolution: Mapped[str] = mapped_column(String(24))
    reasonable: Mapped[bool | None]
    note: Mapped[str] = mapped_column(Text, server_default="")
    at: Mapped[datetime]
    actor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))


class TicketEvent(Base):
    """Append-only timeline: every change of a ticket, who, when, status and deadline before/after."""

    __tablename__ = "ticket_events"
    __table_args__ = (Index("ix_ticket_events_ticket_at", "ticket_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(server_default=NOW)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str | None] = mapped_column(String(24))
    unit_code: Mapped[str | None] = mapped_column(String(64))
    due_before: Mapped[datetime | None]
    due_after: Mapped[datetime | None]
    note: Mapped[str] = mapped_column(Text, server_default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))


class CalendarYear(Base):
    """A year whose official holiday schedule is loaded; days of other years are provisional."""

    __tablename__ = "calendar_years"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(String(32))
    loaded_at: Mapped[datetime] = mapped_column(server_default=NOW)
    loaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class CalendarDay(Base):
    """A statutory holiday or a make-up working day (调休)."""

    __tablename__ = "calendar_days"
    __table_args__ = (CheckConstraint("kind IN ('holiday','makeup_workday')", name="kind"),)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    year: Mapped[int] = mapped_column(ForeignKey("calendar_years.year", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64))


class PersonalDataAccess(Base):
    """Audit of every read of a caller's unmasked personal data."""

    __tablename__ = "personal_data_access"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    at: Mapped[datetime] = mapped_column(server_default=NOW)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    caller_id: Mapped[int] = mapped_column(ForeignKey("callers.id"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    purpose: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    """Why, in the reader's words, where the purpose alone does not say (a unit calling the caller)."""


class TicketTask(Base):
    """A sub-task: an assisting unit's part (协办) or a dispatch one level down (下派), with its sub-deadline."""

    __tablename__ = "ticket_tasks"
    __table_args__ = (
        CheckConstraint("kind IN ('assist','lower')", name="kind"),
        CheckConstraint("state IN ('open','answered','released')", name="state"),
        Index("ix_ticket_tasks_unit_state", "unit_code", "state"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    unit_code: Mapped[str] = mapped_column(ForeignKey("handling_units.code"))
    assigned_by_unit: Mapped[str | None] = mapped_column(ForeignKey("handling_units.code"))
    parent_task_id: Mapped[int | None] = mapped_column(ForeignKey("ticket_tasks.id"))
    instructions: Mapped[str] = mapped_column(Text, server_default="")
    state: Mapped[str] = mapped_column(String(16), server_default="open")
    due_date: Mapped[date] = mapped_column(Date)
    due_at: Mapped[datetime]
    answer: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(server_default=NOW)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Reply(Base):
    """答复: the handling result; its time is what the on-time KPI measures against the deadline."""

    __tablename__ = "replies"
    __table_args__ = (CheckConstraint("outcome IN ('resolved','explained','cannot_resolve')", name="outcome"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    unit_code: Mapped[str] = mapped_column(ForeignKey("handling_units.code"))
    outcome: Mapped[str] = mapped_column(String(16))
    reason_code: Mapped[str | None] = mapped_column(String(64))
    content: Mapped[str] = mapped_column(Text)
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    replied_at: Mapped[datetime]
    due_at: Mapped[datetime | None]
    on_time: Mapped[bool]
    public_text: Mapped[str | None] = mapped_column(Text)
    """What 办理情况公开 publishes of this reply: set at 答复审核 (approved), redacted of personal
    data and corrected by the reviewer; ``None`` until then (unpublished)."""
    actor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))


class TicketReturn(Base):
    """退单 and its review (退单争议审核), up to an arbitration that is final."""

    __tablename__ = "ticket_returns"
    __table_args__ = (
        CheckConstraint("state IN ('pending','approved','rejected','arbitration','arbitrated')", name="state"),
        Index("ix_ticket_returns_unit", "unit_code", "state"),
        Index("ix_ticket_returns_requested_at", "requested_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    unit_code: Mapped[str] = mapped_column(ForeignKey("handling_units.code"))
    reason_code: Mapped[str] = mapped_column(String(64))
    explanation: Mapped[str] = mapped_column(Text)
    suggested_unit: Mapped[str | None] = mapped_column(ForeignKey("handling_units.code"))
    requested_at: Mapped[datetime]
    requested_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    state: Mapped[str] = mapped_column(String(16), server_default="pending")
    improper: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    escalated: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    new_unit: Mapped[str | None] = mapped_column(ForeignKey("handling_units.code"))
    note: Mapped[str] = mapped_column(Text, server_default="")


class Extension(Base):
    """延期申请 (at most the rulebook's cap in total per ticket) and the centre's decision."""

    __tablename__ = "extensions"
    __table_args__ = (CheckConstraint("state IN ('pending','approved','rejected')", name="state"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    unit_code: Mapped[str] = mapped_column(ForeignKey("handling_units.code"))
    working_days: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    requested_at: Mapped[datetime]
    requested_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    state: Mapped[str] = mapped_column(String(16), server_default="pending")
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    due_before: Mapped[datetime | None]
    due_after: Mapped[datetime | None]
    note: Mapped[str] = mapped_column(Text, server_default="")


class SupervisionOrder(Base):
    """督办单: issued by the centre with a reply-by date; the unit must respond."""

    __tablename__ = "supervision_orders"
    __table_args__ = (
        CheckConstraint("state IN ('open','responded')", name="state"),
        Index("ix_supervision_orders_unit_state", "unit_code", "state"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    unit_code: Mapped[str] = mapped_column(ForeignKey("handling_units.code"))
    reason_code: Mapped[str] = mapped_column(String(64))
    content: Mapped[str] = mapped_column(Text)
    reply_by: Mapped[date] = mapped_column(Date)
    issued_at: Mapped[datetime]
    issued_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    state: Mapped[str] = mapped_column(String(16), server_default="open")
    response: Mapped[str | None] = mapped_column(Text)
    responded_at: Mapped[datetime | None]
    responded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class TicketLink(Base):
    """并单 (merged into a primary) and 重复来电 (a repeat call kept as evidence on the original)."""

    __tablename__ = "ticket_links"
    __table_args__ = (
        CheckConstraint("kind IN ('merged','repeat')", name="kind"),
        UniqueConstraint("ticket_id", "linked_ticket_id", "kind", name="uq_ticket_links_pair"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    """The primary / original ticket."""
    linked_ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime]
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Notification(Base):
    """Outbox of messages to callers and units (delivered by the workers; issue 4)."""

    __tablename__ = "notifications"
    __table_args__ = (
        CheckConstraint("state IN ('pending','sending','sent','failed')", name="state"),
        Index("ix_notifications_pending", "id", postgresql_where=text("state = 'pending'")),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    recipient: Mapped[str] = mapped_column(String(80))
    """caller, or unit:<code>."""
    template: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    dedupe_key: Mapped[str] = mapped_column(String(128), unique=True)
    state: Mapped[str] = mapped_column(String(16), server_default="pending")
    created_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(Text, server_default="")


class KpiCounts:
    """A rollup row's key and counts (``kpi_daily``, ``kpi_monthly``): one column per KPI_MEASURES."""

    scope: Mapped[str] = mapped_column(String(32))
    dim: Mapped[str] = mapped_column(String(16))
    key1: Mapped[str | None] = mapped_column(String(64))
    key2: Mapped[str | None] = mapped_column(String(64))
    # tickets received on the day
    intake: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    merged: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    repeat: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    accepted_intake: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    direct: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    dispatched: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    reminded: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    redone: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    returned: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    overdue: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    accepted: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    accepted_on_time: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    evaluated: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    satisfied: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    resolved: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    partly_resolved: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    unreachable: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # reply limits due on the day
    due: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    replied_on_time: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # returns requested on the day
    returns: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    decided_returns: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    improper_returns: Mapped[int] = mapped_column(Integer, server_default=text("0"))


KPI_MEASURES: tuple[str, ...] = tuple(
    name for name in KpiCounts.__annotations__ if name not in ("scope", "dim", "key1", "key2")
)
"""The counts every KPI is computed from (docs/kpi.md), in column order: tickets received on the day
(kpi_repository.ticket_counts), reply limits due on it (deadline_counts), returns requested on it
(return_counts)."""


class KpiDaily(KpiCounts, Base):
    """统计日汇总: the KPI counts of one local day, per breakdown key, rebuilt by the KPI refresh.

    ``scope`` is ``''`` for the whole city or a handling unit's code (that unit's own figures);
    ``dim`` is ``''`` (the day's total) or a breakdown (unit, district, kind, ...); ``key1``/``key2``
    its value (``key2``: the town of a ``place``). Rows are recomputed from the base tables for a
    whole day at a time (hotline.kpi_rollup), never incremented.
    """

    __tablename__ = "kpi_daily"
    __table_args__ = (
        Index("ix_kpi_daily_scope_day", "scope", "day"),
        Index("ix_kpi_daily_day", "day"),
        # The dashboard's reads, answered from this index alone (index-only scan, no heap pages).
        Index(
            "ix_kpi_daily_city",
            "day",
            "dim",
            "key1",
            "key2",
            postgresql_include=list(KPI_MEASURES),
            postgresql_where=text("scope = ''"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    day: Mapped[date] = mapped_column(Date)


class KpiMonthly(KpiCounts, Base):
    """统计月汇总: ``kpi_daily`` summed per calendar month, rewritten with the month's days.

    A period made of whole months (the dashboard's usual view) reads a few hundred of these rows
    instead of thousands of daily ones; partial months still come from ``kpi_daily``.
    """

    __tablename__ = "kpi_monthly"
    __table_args__ = (Index("ix_kpi_monthly_scope_month", "scope", "month"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    month: Mapped[date] = mapped_column(Date)
    """The first day of the month."""


class KpiDirtyDay(Base):
    """A local day whose KPI counts changed since the last refresh (written by triggers, migration 0005).

    Append-only, so a mark written by a transaction still open when the refresh runs survives it.
    """

    __tablename__ = "kpi_dirty_days"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    day: Mapped[date] = mapped_column(Date)


class KpiRollupState(Base):
    """The one row saying up to when ``kpi_daily`` is current (``refreshed_at``: figures as of)."""

    __tablename__ = "kpi_rollup_state"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    refreshed_at: Mapped[datetime]
    built_at: Mapped[datetime]


class PublicLookupHit(Base):
    """Attempts at the public progress lookup per client (keyed hash of the address) and minute:
    the rate limit shared by every API process (hotline.public)."""

    __tablename__ = "public_lookup_hits"

    client_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    bucket: Mapped[datetime] = mapped_column(primary_key=True)
    hits: Mapped[int] = mapped_column(Integer)


class DispatchModelRow(Base):
    """A trained dispatch classifier (skops archive) with its data digest, metrics and status."""

    __tablename__ = "dispatch_models"
    __table_args__ = (
        CheckConstraint("status IN ('current','previous','candidate','retired')", name="status"),
        Index("uq_dispatch_models_one_current", "status", unique=True, postgresql_where=text("status = 'current'")),
        Index("uq_dispatch_models_one_previous", "status", unique=True, postgresql_where=text("status = 'previous'")),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    version: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    blob: Mapped[bytes] = mapped_column(LargeBinary)
    data_digest: Mapped[str] = mapped_column(String(64))
    rulebook_version: Mapped[str] = mapped_column(String(64))
    catalogue_digest: Mapped[str] = mapped_column(String(64))
    n_examples: Mapped[int] = mapped_column(Integer)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB)
    counts: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(server_default=NOW)
    promoted_at: Mapped[datetime | None] = mapped_column(TZ)


class DispatchLabel(Base):
    """A labelled text for training: imported history or a confirmed dispatch of our own.

    ``label`` is a catalogue node code at any level; a ticket keeps one label per source (the
    latest confirmation wins).
    """

    __tablename__ = "dispatch_labels"
    __table_args__ = (
        CheckConstraint("source IN ('import','intake','centre','return')", name="source"),
        Index("uq_dispatch_labels_ticket_source", "ticket_id", "source", unique=True),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    label: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    dataset: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(server_default=NOW)

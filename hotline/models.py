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
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

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
    type_annotation_map = {datetime: TZ, dict[str, Any]: JSONB}  # noqa: RUF012 (SQLAlchemy reads it)


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
        CheckConstraint("role IN ('agent','unit_handler','supervisor','admin')", name="role"),
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


class Caller(Base):
    """诉求人: all personal data of a ticket lives here, so it can be masked and audited."""

    __tablename__ = "callers"
    __table_args__ = (CheckConstraint("type IN ('citizen','enterprise')", name="type"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    type: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(32))
    enterprise_name: Mapped[str | None] = mapped_column(String(200))
    credit_code: Mapped[str | None] = mapped_column(String(18))
    confidential: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(server_default=NOW)


class Ticket(Base):
    """工单."""

    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("created_by", "idempotency_key", name="uq_tickets_idempotency"),
        Index("ix_tickets_status_created", "status", "created_at"),
        Index("ix_tickets_lead_unit_status", "lead_unit_code", "status"),
        Index("ix_tickets_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    channel: Mapped[str] = mapped_column(String(32))
    line: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(16))
    category: Mapped[str | None] = mapped_column(String(64))
    content: Mapped[str] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(Text)
    area_district: Mapped[str | None] = mapped_column(ForeignKey("handling_units.code"))
    area_town: Mapped[str | None] = mapped_column(String(64))
    area_village: Mapped[str | None] = mapped_column(String(100))
    caller_id: Mapped[int] = mapped_column(ForeignKey("callers.id"))
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

    caller: Mapped[Caller] = relationship(lazy="raise")


class TicketUnit(Base):
    """A handling unit's part in a ticket (主办 lead / 协办 assist); the unit-scope check uses it."""

    __tablename__ = "ticket_units"
    __table_args__ = (
        CheckConstraint("role IN ('lead','assist')", name="role"),
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


class Deadline(Base):
    """A running time limit (办理时限) of a handling unit on a ticket: a row, never a timer."""

    __tablename__ = "deadlines"
    __table_args__ = (
        CheckConstraint("state IN ('running','met','cancelled')", name="state"),
        Index("ix_deadlines_running_due", "due_at", postgresql_where=text("state = 'running'")),
        Index("ix_deadlines_ticket", "ticket_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    unit_code: Mapped[str] = mapped_column(ForeignKey("handling_units.code"))
    kind: Mapped[str] = mapped_column(String(16), server_default="reply")
    start_at: Mapped[datetime]
    working_days: Mapped[int] = mapped_column(Integer)
    extension_days: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    due_date: Mapped[date] = mapped_column(Date)
    due_at: Mapped[datetime]
    provisional: Mapped[bool] = mapped_column(Boolean)
    state: Mapped[str] = mapped_column(String(16), server_default="running")
    created_at: Mapped[datetime] = mapped_column(server_default=NOW)


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

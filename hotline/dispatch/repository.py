"""Every SQL statement of the dispatch domain: stored models, training labels, low-confidence tickets."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from hotline.models import DispatchLabel, DispatchModelRow, RoutingDecision, Ticket


async def current_version(session: AsyncSession) -> str | None:
    stmt = select(DispatchModelRow.version).where(DispatchModelRow.status == "current")
    return (await session.execute(stmt)).scalar_one_or_none()


NO_BLOB = defer(DispatchModelRow.blob, raiseload=True)
"""Model rows without their archive (tens of MB), which only loading a model needs."""


async def by_status(session: AsyncSession, status: str) -> DispatchModelRow | None:
    stmt = (
        select(DispatchModelRow)
        .options(NO_BLOB)
        .where(DispatchModelRow.status == status)
        .order_by(DispatchModelRow.id.desc())
    )
    return (await session.execute(stmt.limit(1))).scalar_one_or_none()


async def by_version(
    session: AsyncSession, version: str, *, lock: bool = False, blob: bool = False
) -> DispatchModelRow | None:
    stmt = select(DispatchModelRow).where(DispatchModelRow.version == version)
    if not blob:
        stmt = stmt.options(NO_BLOB)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def lock_statuses(session: AsyncSession) -> list[DispatchModelRow]:
    """The current and previous rows, read after taking the models' transaction lock, so that
    promotions and rollbacks run one at a time and each sees what the one before committed (a
    row lock would miss a row another transaction has just made current)."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('dispatch_models'))"))
    stmt = (
        select(DispatchModelRow)
        .options(NO_BLOB)
        .where(DispatchModelRow.status.in_(("current", "previous")))
        .order_by(DispatchModelRow.id)
        .with_for_update()
    )
    return list((await session.execute(stmt)).scalars())


async def set_status(
    session: AsyncSession, ids: Sequence[int], status: str, promoted_at: datetime | None = None
) -> None:
    if not ids:
        return
    values: dict[str, Any] = {"status": status}
    if promoted_at is not None:
        values["promoted_at"] = promoted_at
    await session.execute(update(DispatchModelRow).where(DispatchModelRow.id.in_(ids)).values(**values))
    await session.flush()


async def add_model(session: AsyncSession, row: DispatchModelRow) -> DispatchModelRow:
    session.add(row)
    await session.flush()
    return row


async def list_models(session: AsyncSession, limit: int = 20) -> list[DispatchModelRow]:
    """Newest first, without loading the archives."""
    stmt = select(DispatchModelRow).options(NO_BLOB).order_by(DispatchModelRow.id.desc()).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def labels(session: AsyncSession) -> list[tuple[str, str, str]]:
    """Every training label as (text, label, source), in insertion order."""
    stmt = select(DispatchLabel.text, DispatchLabel.label, DispatchLabel.source).order_by(DispatchLabel.id)
    return [(t, lab, src) for t, lab, src in (await session.execute(stmt)).all()]


async def label_counts(session: AsyncSession) -> dict[str, int]:
    stmt = select(DispatchLabel.source, func.count()).group_by(DispatchLabel.source)
    return {src: int(n) for src, n in (await session.execute(stmt)).all()}


async def imported_labels(session: AsyncSession) -> dict[str, str]:
    """Text -> label of every imported label (the latest row's, should a text carry several)."""
    stmt = (
        select(DispatchLabel.text, DispatchLabel.label)
        .where(DispatchLabel.source == "import")
        .order_by(DispatchLabel.id)
    )
    rows = await session.execute(stmt)
    return {row.text: row.label for row in rows}


async def drop_import_labels(session: AsyncSession, texts: Sequence[str]) -> None:
    """Remove the imported labels of these texts (before they are imported again, relabelled)."""
    for start in range(0, len(texts), 1000):
        chunk = list(texts[start : start + 1000])
        await session.execute(
            delete(DispatchLabel).where(DispatchLabel.source == "import", DispatchLabel.text.in_(chunk))
        )


async def add_import_labels(
    session: AsyncSession, rows: Sequence[tuple[str, str]], dataset: str, by: str, now: datetime
) -> int:
    """Imported (text, label) rows; returns how many were written."""
    if not rows:
        return 0
    values = [
        {"text": t, "label": lab, "source": "import", "dataset": dataset, "created_by": by, "created_at": now}
        for t, lab in rows
    ]
    for start in range(0, len(values), 1000):
        await session.execute(insert(DispatchLabel).values(values[start : start + 1000]))
    await session.flush()
    return len(values)


async def upsert_ticket_label(
    session: AsyncSession, ticket_id: int, text: str, label: str, source: str, by: str | None, now: datetime
) -> None:
    """A confirmed dispatch of our own: one label per ticket and source, the latest wins."""
    stmt = insert(DispatchLabel).values(
        text=text, label=label, source=source, ticket_id=ticket_id, created_by=by, created_at=now
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[DispatchLabel.ticket_id, DispatchLabel.source],
        set_={"label": stmt.excluded.label, "text": stmt.excluded.text, "created_at": stmt.excluded.created_at},
    )
    await session.execute(stmt)


async def unsure_tickets(session: AsyncSession, limit: int = 20) -> list[tuple[Ticket, RoutingDecision]]:
    """The most recent tickets the classifier was not sure about (sent to manual dispatch)."""
    stmt = (
        select(Ticket, RoutingDecision)
        .join(RoutingDecision, RoutingDecision.ticket_id == Ticket.id)
        .where(RoutingDecision.rule_id == "classifier.unsure")
        .order_by(RoutingDecision.created_at.desc(), RoutingDecision.id.desc())
        .limit(limit)
    )
    return [(t, d) for t, d in (await session.execute(stmt)).all()]


async def manual_queue(session: AsyncSession, limit: int = 100) -> list[tuple[Ticket, RoutingDecision | None]]:
    """Open tickets waiting in the centre's manual-dispatch queue, oldest first, with their decision."""
    latest = (
        select(func.max(RoutingDecision.id))
        .where(RoutingDecision.ticket_id == Ticket.id)
        .correlate(Ticket)
        .scalar_subquery()
    )
    stmt = (
        select(Ticket, RoutingDecision)
        .outerjoin(RoutingDecision, RoutingDecision.id == latest)
        .where(Ticket.lead_unit_code == "centre.dispatch", Ticket.status.in_(("dispatched", "accepted")))
        .order_by(Ticket.created_at, Ticket.id)
        .limit(limit)
    )
    return [(t, d) for t, d in (await session.execute(stmt)).all()]

"""Attempt counters for abuse limits (public progress lookups, logins), kept in PostgreSQL.

Every API process and every restart sees the same counts (table ``public_lookup_hits``: a keyed
hash of who, a time slot, a count), and attempts on one key are counted one after the other (a
transaction-scoped advisory lock), so that concurrent attempts cannot all pass against the same
old count (issue 10, item 5). Redis is not required: the embedded default has none, and
``limits``' storages do not include PostgreSQL.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.models import PublicLookupHit

RETENTION = timedelta(days=1)
"""Attempts older than this are forgotten (longer than any window)."""


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``limit`` attempts per key in any ``window`` seconds, counted per ``bucket``-second
    slot (a slot leaves the window whole)."""

    limit: int = 10
    window: int = 600
    bucket: int = 60


def hashed(secret: str, who: str) -> str:
    """A keyed hash of an address or a user name (personal data is never stored as such)."""
    return hmac.new(secret.encode(), who.encode(), hashlib.sha256).hexdigest()[:32]


def _slot(now: datetime, policy: Limit) -> tuple[datetime, datetime]:
    """(the slot of ``now``, the first slot still inside the window)."""
    epoch = int(now.timestamp())
    bucket = datetime.fromtimestamp(epoch - epoch % policy.bucket, UTC)
    return bucket, bucket - timedelta(seconds=policy.window - policy.bucket)


async def blocked(session: AsyncSession, key: str, now: datetime, policy: Limit) -> float | None:
    """``None`` if ``key`` is under its limit, else the seconds until its next attempt is allowed.
    Takes the key's lock until the transaction ends, so a following :func:`record` is atomic
    with this check."""
    _, since = _slot(now, policy)
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))
    h = PublicLookupHit
    hits, oldest = (
        await session.execute(
            select(func.coalesce(func.sum(h.hits), 0), func.min(h.bucket)).where(h.client_key == key, h.bucket >= since)
        )
    ).one()
    if int(hits) >= policy.limit and oldest is not None:
        return max(1.0, (oldest + timedelta(seconds=policy.window) - now).total_seconds())
    return None


async def record(session: AsyncSession, key: str, now: datetime, policy: Limit) -> None:
    """Count one attempt of ``key`` at ``now``."""
    bucket, _ = _slot(now, policy)
    h = PublicLookupHit
    stmt = insert(h).values(client_key=key, bucket=bucket, hits=1)
    await session.execute(
        stmt.on_conflict_do_update(index_elements=[h.client_key, h.bucket], set_={"hits": h.hits + 1})
    )


async def count(session: AsyncSession, key: str, now: datetime, policy: Limit) -> float | None:
    """Count one attempt if under the limit and return ``None``; else the seconds to wait (a
    refused attempt is not counted: the limit is already reached)."""
    wait = await blocked(session, key, now, policy)
    if wait is None:
        await record(session, key, now, policy)
    return wait


async def forget(session: AsyncSession, key: str) -> int:
    """Forget every attempt of ``key`` (an administrator unlocks an account); how many slots."""
    result = await session.execute(delete(PublicLookupHit).where(PublicLookupHit.client_key == key))
    return int(getattr(result, "rowcount", 0) or 0)


async def prune(session: AsyncSession, now: datetime) -> int:
    """Forget attempts older than :data:`RETENTION`; how many slots."""
    result = await session.execute(delete(PublicLookupHit).where(PublicLookupHit.bucket < now - RETENTION))
    return int(getattr(result, "rowcount", 0) or 0)

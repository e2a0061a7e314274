"""An acknowledged ticket is always one transaction (issue 10, item 11): when the working
calendar changed between computing the deadline and writing the ticket, the deadline's
correction is part of the intake's transaction, so a failure of that second step leaves no
ticket at all (never one with a stale deadline)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from dispatcher.calendar import WorkingCalendar
from hotline.db import make_engine, make_sessionmaker
from hotline.runtime import Runtime
from hotline.tickets import repository as repo
from hotline.tickets import service
from hotline.tickets.schemas import TicketIn
from hotline.users import Actor, Role


async def test_a_failing_deadline_correction_leaves_no_acknowledged_ticket(
    db_url: str, settings, rulebook, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    rt = Runtime(settings=settings, rulebook=rulebook)
    marker = "交易测试" + uuid.uuid4().hex[:8]
    try:
        async with sessions() as session:
            agent_id = (await session.execute(text("SELECT min(id) FROM users"))).scalar()
            if agent_id is None:
                agent_id = (
                    await session.execute(
                        text(
                            "INSERT INTO users (username, password_hash, role) VALUES (:u, 'x', 'agent') RETURNING id"
                        ),
                        {"u": "tx-" + marker},
                    )
                ).scalar_one()
                await session.commit()
            await rt.calendar.get(session)
            await rt.dispatch.get(session)  # warm, as in a running server: intake's first statement is its insert
        actor = Actor(id=int(agent_id), username="tx", role=Role.AGENT, unit_code=None)
        # this process's cached calendar is older than the stored one (an import elsewhere)
        # (no year loaded in it: every deadline it gives is provisional, the stored one's is not)
        rt.calendar._calendar = WorkingCalendar([], [])
        rt.calendar._stamp = (0, datetime(2000, 1, 1, tzinfo=UTC))

        async def fails(*args: object, **kwargs: object) -> None:
            raise RuntimeError("the second step fails")

        monkeypatch.setattr(repo, "update_intake_deadline", fails)
        data = TicketIn.model_validate(
            {
                "channel": "phone",
                "caller": {"type": "citizen", "phone": "13812345678"},
                "kind": "complaint",
                "content": f"{marker} 养老金未按时发放",
                "line": "12333",
            }
        )
        with pytest.raises(RuntimeError):
            async with sessions() as session:
                try:
                    await service.intake(session, rt, actor, data, None)
                    await session.commit()
                except BaseException:
                    await session.rollback()
                    raise
        async with sessions() as session:
            left = (
                await session.execute(text("SELECT count(*) FROM tickets WHERE content LIKE :m"), {"m": f"{marker}%"})
            ).scalar_one()
        assert left == 0
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM tickets WHERE content LIKE :m"), {"m": f"{marker}%"})
            await conn.execute(text("DELETE FROM users WHERE username = :u"), {"u": "tx-" + marker})
        await engine.dispose()

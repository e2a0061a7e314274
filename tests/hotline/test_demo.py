"""Demo data generator: bulk-loaded tickets are what the real intake would have written."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from dispatcher.calendar import LOCAL_TZ
from dispatcher.routing import AreaInput, RequestFacts, route
from hotline.demo import DEMO_USERNAME, credit_code, credit_code_check, generate_tickets, to_asyncpg_dsn
from routing_rules.loader import load_rulebook
from routing_rules.schema import CallerType, Kind

NOW = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)
N = 500


def test_dsn_from_sqlalchemy_url() -> None:
    assert (
        to_asyncpg_dsn("postgresql+asyncpg://postgres@127.0.0.1:5432/db") == "postgresql://postgres@127.0.0.1:5432/db"
    )
    assert to_asyncpg_dsn("postgresql+asyncpg://postgres@/db?host=/tmp/s") == "postgresql://postgres@/db?host=/tmp/s"
    with pytest.raises(ValueError):
        to_asyncpg_dsn("sqlite+aiosqlite:///x.db")


def test_credit_code_checksum() -> None:
    assert credit_code_check("91350100M000100Y4") == "3"  # the example of GB 32100-2015
    code = credit_code("370481", "12345678")
    assert len(code) == 18 and code.startswith("91370481")
    assert code[-1] == credit_code_check(code[:17])


@pytest.fixture(scope="module")
async def generated(db_url: str) -> AsyncIterator[tuple[asyncpg.Connection, int, int]]:
    conn = await asyncpg.connect(to_asyncpg_dsn(db_url))
    try:
        before = await conn.fetchval("SELECT coalesce(max(id), 0) FROM tickets")
        written = await generate_tickets(db_url, N, seed=7, batch=120, progress=False, now=NOW)
        yield conn, before, written
        # the database is shared by the session: remove what was committed here (the rest cascades)
        async with conn.transaction():
            callers = await conn.fetch("SELECT caller_id FROM tickets WHERE id > $1", before)
            await conn.execute("DELETE FROM tickets WHERE id > $1", before)
            await conn.execute("DELETE FROM callers WHERE id = ANY($1::bigint[])", [r["caller_id"] for r in callers])
            await conn.execute(
                """DELETE FROM users u WHERE u.username = $1
                   AND NOT EXISTS (SELECT 1 FROM tickets t WHERE t.created_by = u.id)
                   AND NOT EXISTS (SELECT 1 FROM ticket_events e WHERE e.actor_id = u.id)""",
                DEMO_USERNAME,
            )
    finally:
        await conn.close()


async def _tickets(conn: asyncpg.Connection, before: int, columns: str = "*") -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(f"SELECT {columns} FROM tickets WHERE id > $1 ORDER BY id", before)
    return rows


@pytest.mark.db
async def test_writes_the_requested_tickets(generated: tuple[asyncpg.Connection, int, int]) -> None:
    conn, before, written = generated
    assert written == N
    rows = await _tickets(conn, before)
    assert len(rows) == N
    user = await conn.fetchrow("SELECT id, role, password_hash FROM users WHERE username = $1", DEMO_USERNAME)
    assert user is not None and user["role"] == "agent" and user["password_hash"] == "!"
    assert {r["created_by"] for r in rows} == {user["id"]}
    assert all(r["created_at"] < NOW for r in rows)
    assert min(r["created_at"] for r in rows) >= NOW.replace(year=2025)
    assert {r["caller_type"] for r in rows} == {"citizen", "enterprise"}
    assert len({r["kind"] for r in rows}) == 5
    assert sum(r["line"] == "12345" for r in rows) > N * 0.7


@pytest.mark.db
async def test_numbers_are_unique_dated_and_15_chars(generated: tuple[asyncpg.Connection, int, int]) -> None:
    conn, before, _ = generated
    rows = await _tickets(conn, before, "number, created_at")
    numbers = [r["number"] for r in rows]
    assert len(set(numbers)) == N
    for r in rows:
        assert len(r["number"]) == 15 and r["number"].isdigit()
        assert r["number"][:8] == r["created_at"].astimezone(LOCAL_TZ).strftime("%Y%m%d")


@pytest.mark.db
async def test_status_matches_disposition(generated: tuple[asyncpg.Connection, int, int]) -> None:
    conn, before, _ = generated
    expected = {
        "emergency_transfer": {"transferred"},
        "not_accepted": {"not_accepted"},
        "direct_answer": {"answered"},
        "dispatch": {"dispatched", "accepted", "replied", "callback_pending", "closed"},
        "subcentre": {"dispatched", "accepted", "replied", "callback_pending", "closed"},
    }
    rows = await _tickets(conn, before)
    for r in rows:
        assert r["status"] in expected[r["disposition"]], r["number"]
        assert (r["status"] == "transferred") == (r["transfer_to"] is not None)
        assert (r["status"] == "not_accepted") == (r["reason_code"] is not None)
        assert (r["status"] == "answered") == (r["answer"] is not None)
        assert (r["disposition"] in ("dispatch", "subcentre")) == (r["lead_unit_code"] is not None)
    assert {r["disposition"] for r in rows} >= {"dispatch", "direct_answer", "not_accepted"}
    assert sum(r["status"] == "closed" for r in rows) > N / 2


@pytest.mark.db
async def test_dispatched_tickets_have_lead_unit_and_deadline(generated: tuple[asyncpg.Connection, int, int]) -> None:
    conn, before, _ = generated
    bad = await conn.fetch(
        """
        SELECT t.number FROM tickets t
        WHERE t.id > $1 AND t.lead_unit_code IS NOT NULL AND (
            (SELECT count(*) FROM ticket_units u
              WHERE u.ticket_id = t.id AND u.role = 'lead' AND u.unit_code = t.lead_unit_code) <> 1
         OR (SELECT count(*) FROM deadlines d WHERE d.ticket_id = t.id AND d.unit_code = t.lead_unit_code) <> 1)
        """,
        before,
    )
    assert bad == []
    deadlines = await conn.fetch(
        """
        SELECT t.status, t.caller_type, t.created_at, d.* FROM tickets t JOIN deadlines d ON d.ticket_id = t.id
        WHERE t.id > $1
        """,
        before,
    )
    assert deadlines
    for d in deadlines:
        running = d["status"] in ("dispatched", "accepted")
        assert d["state"] == ("running" if running else "met")
        assert d["start_at"] == d["created_at"] and d["due_at"] > d["created_at"]
        assert d["working_days"] == (10 if d["caller_type"] == "enterprise" else 5)
    not_working = await conn.fetch(
        """
        SELECT d.due_date FROM deadlines d JOIN tickets t ON t.id = d.ticket_id
        WHERE t.id > $1 AND NOT (
            EXISTS (SELECT 1 FROM calendar_days c WHERE c.day = d.due_date AND c.kind = 'makeup_workday')
            OR (extract(isodow FROM d.due_date) < 6
                AND NOT EXISTS (SELECT 1 FROM calendar_days c WHERE c.day = d.due_date AND c.kind = 'holiday')))
        """,
        before,
    )
    assert not_working == []
    running = await conn.fetchval(
        """
        SELECT count(*) FROM tickets t WHERE t.id > $1 AND t.status IN ('dispatched', 'accepted')
        AND (SELECT count(*) FROM deadlines d WHERE d.ticket_id = t.id AND d.state = 'running') <> 1
        """,
        before,
    )
    assert running == 0


@pytest.mark.db
async def test_every_ticket_has_decision_and_intake_event(generated: tuple[asyncpg.Connection, int, int]) -> None:
    conn, before, _ = generated
    rows = await conn.fetch(
        """
        SELECT t.id, t.status, t.rulebook_version, t.disposition, t.created_at,
               (SELECT count(*) FROM routing_decisions r WHERE r.ticket_id = t.id) AS decisions,
               (SELECT count(*) FROM routing_decisions r WHERE r.ticket_id = t.id
                  AND r.rulebook_version = t.rulebook_version AND r.disposition = t.disposition) AS matching,
               (SELECT e.to_status FROM ticket_events e
                 WHERE e.ticket_id = t.id AND e.action = 'intake' AND e.from_status IS NULL) AS intake_to,
               (SELECT e.due_after FROM ticket_events e WHERE e.ticket_id = t.id AND e.action = 'intake') AS due_after,
               (SELECT d.due_at FROM deadlines d WHERE d.ticket_id = t.id) AS due_at,
               (SELECT e.to_status FROM ticket_events e WHERE e.ticket_id = t.id ORDER BY e.id DESC LIMIT 1) AS last_to,
               (SELECT max(e.at) FROM ticket_events e WHERE e.ticket_id = t.id) AS last_at
        FROM tickets t WHERE t.id > $1
        """,
        before,
    )
    version = load_rulebook().version
    for r in rows:
        assert r["decisions"] == 1 and r["matching"] == 1
        assert r["rulebook_version"] == version
        initial = "dispatched" if r["disposition"] in ("dispatch", "subcentre") else r["status"]
        assert r["intake_to"] == initial
        assert r["due_after"] == r["due_at"]
        assert r["last_to"] == r["status"]  # the timeline ends in the ticket's status
        assert r["last_at"] < NOW


@pytest.mark.db
async def test_stored_decision_is_what_the_router_decides(generated: tuple[asyncpg.Connection, int, int]) -> None:
    """Route the stored facts again: the recorded decision is exactly the router's."""
    conn, before, _ = generated
    rb = load_rulebook()
    rows = await conn.fetch(
        """
        SELECT t.*, r.decision FROM tickets t JOIN routing_decisions r ON r.ticket_id = t.id
        WHERE t.id > $1 ORDER BY t.id
        """,
        before,
    )
    for r in rows:
        stored: dict[str, Any] = json.loads(r["decision"])
        area = stored["area"]
        agent_reason = (
            r["reason_code"]
            if r["disposition"] == "not_accepted"
            and stored["rule_id"].startswith("not_accepted.")
            and not stored["matched_keywords"]
            else None
        )
        facts = RequestFacts(
            content=r["content"],
            kind=Kind(r["kind"]),
            caller_type=CallerType(r["caller_type"]),
            line=r["line"],
            channel=r["channel"],
            category=r["category"] if stored["category_source"] == "agent" else None,
            area=AreaInput(r["area_district"], r["area_town"], r["area_village"])
            if area["source"] == "input"
            else AreaInput(),
            address=r["address"],
            has_answer=r["answer"] is not None,
            not_accepted_reason=agent_reason,
        )
        assert route(facts, rb).as_dict() == stored, r["number"]
        assert r["lead_unit_code"] == next((u["code"] for u in stored["units"] if u["role"] == "lead"), None)
        assert r["area_district"] == area["district"]


@pytest.mark.db
async def test_enterprise_callers_have_valid_credit_codes(generated: tuple[asyncpg.Connection, int, int]) -> None:
    conn, before, _ = generated
    callers = await conn.fetch(
        "SELECT c.* FROM callers c JOIN tickets t ON t.caller_id = c.id WHERE t.id > $1 AND c.type = 'enterprise'",
        before,
    )
    assert callers
    for c in callers:
        code = c["credit_code"]
        assert c["enterprise_name"].endswith("有限公司")
        assert len(code) == 18 and code[-1] == credit_code_check(code[:17])

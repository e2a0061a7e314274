"""Demo data generator: bulk-loaded tickets are what the real intake would have written."""

from __future__ import annotations

import json
import random
import re
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from chinese_calendar import constants as cn_calendar
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from dispatcher.calendar import LOCAL_TZ, WorkingCalendar, schedule_from_chinesecalendar_data
from dispatcher.routing import AreaInput, RequestFacts, route
from hotline import demo, kpi
from hotline.demo import DEMO_USERNAME, credit_code, credit_code_check, generate_tickets, to_asyncpg_dsn
from hotline.runtime import Runtime
from hotline.textsearch import query_literal, runs, vector_literal
from hotline.workflow.actions import check_reply_quality
from routing_rules.loader import Rulebook, load_rulebook
from routing_rules.schema import CallerType, Kind
from tests.hotline.test_pages_auth import sign_in

NOW = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)
N = 500
FINAL_OUTCOMES = {"satisfied", "basically_satisfied", "unsatisfied", "unreasonable", "unreachable"}
"""What ``hotline.workflow.callbacks`` closes a ticket with after a callback."""


def _statutory_calendar() -> WorkingCalendar:
    days, years = schedule_from_chinesecalendar_data(cn_calendar.holidays, cn_calendar.workdays)
    return WorkingCalendar(days, years)


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
        marks = await conn.fetchval("SELECT coalesce(max(id), 0) FROM kpi_dirty_days")
        written = await generate_tickets(db_url, N, seed=7, batch=120, progress=False, now=NOW)
        # the bulk load switches the rollup's dirty-day marks off (it is rebuilt afterwards)
        assert await conn.fetchval("SELECT count(*) FROM kpi_dirty_days WHERE id > $1", marks) == 0
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
async def test_copied_tickets_are_searchable(generated: tuple[asyncpg.Connection, int, int]) -> None:
    """COPY writes each ticket's bigram vector as the intake does (the text form equals it)."""
    conn, before, _ = generated
    rows = await conn.fetch(
        "SELECT content, search_vector::text AS v FROM tickets WHERE id > $1 ORDER BY id LIMIT 50", before
    )
    assert rows
    for row in rows:
        expected = await conn.fetchval("SELECT $1::text::tsvector::text", vector_literal(row["content"]))
        assert row["v"] == expected and row["v"]
    word = next(r for r in runs(rows[0]["content"]) if len(r) >= 2)[:2]
    found = await conn.fetchval(
        "SELECT count(*) FROM tickets WHERE search_vector @@ $1::text::tsquery AND id > $2",
        query_literal(word)[0],
        before,
    )
    assert found >= 1


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
async def test_dispatched_tickets_have_lead_unit_and_limits(
    generated: tuple[asyncpg.Connection, int, int], rulebook: Rulebook
) -> None:
    """Intake starts a reply limit and a sign-for limit (as ``tickets.service.intake``), each redo
    round another pair (``actions.start_clock``); only the current round's may still run."""
    conn, before, _ = generated
    bad = await conn.fetch(
        """
        SELECT t.number FROM tickets t
        WHERE t.id > $1 AND (
            (t.lead_unit_code IS NOT NULL) <> (t.disposition IN ('dispatch', 'subcentre'))
         OR (t.lead_unit_code IS NOT NULL AND (SELECT count(*) FROM ticket_units u
              WHERE u.ticket_id = t.id AND u.role = 'lead' AND u.unit_code = t.lead_unit_code) <> 1)
         OR (SELECT count(*) FROM deadlines d WHERE d.ticket_id = t.id AND d.kind = 'reply')
              <> CASE WHEN t.lead_unit_code IS NULL THEN 0 ELSE t.redo_count + 1 END
         OR (SELECT count(*) FROM deadlines d WHERE d.ticket_id = t.id AND d.kind = 'accept')
              <> CASE WHEN t.lead_unit_code IS NULL THEN 0 ELSE t.redo_count + 1 END
         OR EXISTS (SELECT 1 FROM deadlines d WHERE d.ticket_id = t.id
                     AND (d.unit_code <> t.lead_unit_code OR d.kind NOT IN ('reply', 'accept'))))
        """,
        before,
    )
    assert bad == []
    deadlines = await conn.fetch(
        """
        SELECT t.status, t.caller_type, t.category, t.created_at AS received, d.*,
               d.start_at = max(d.start_at) OVER (PARTITION BY d.ticket_id) AS current,
               min(d.start_at) OVER (PARTITION BY d.ticket_id) AS first_start
        FROM tickets t JOIN deadlines d ON d.ticket_id = t.id
        WHERE t.id > $1
        """,
        before,
    )
    cal = _statutory_calendar()
    accept_days = rulebook.workflow.accept_within_working_days
    kinds: Counter[tuple[str, str]] = Counter()
    for d in deadlines:
        kinds[d["kind"], d["state"]] += 1
        assert d["first_start"] == d["received"]
        assert d["start_at"] == d["created_at"] and d["due_at"] > d["created_at"] and d["extension_days"] == 0
        if d["kind"] == "reply":
            leaf = rulebook.categories.get(d["category"]) if d["category"] else None
            own = leaf.working_days if leaf is not None else None  # a catalogue leaf's own limit
            assert d["working_days"] == (own or (10 if d["caller_type"] == "enterprise" else 5))
            running = d["current"] and d["status"] in ("dispatched", "accepted")
        else:
            assert d["working_days"] == accept_days
            running = d["current"] and d["status"] == "dispatched"
        assert d["state"] == ("running" if running else "met"), dict(d)
        due = cal.deadline(d["start_at"], d["working_days"])
        assert (d["due_date"], d["due_at"], d["provisional"]) == (due.due_date, due.due_at, due.provisional)
    assert kinds["reply", "met"] > 0 and kinds["accept", "met"] > 0
    assert kinds["reply", "running"] > 0 and kinds["accept", "running"] > 0  # recent tickets are still open
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
               (SELECT d.due_at FROM deadlines d WHERE d.ticket_id = t.id AND d.kind = 'reply'
                 ORDER BY d.id LIMIT 1) AS due_at,
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


async def _demo_user_id(conn: asyncpg.Connection) -> int:
    user_id: int = await conn.fetchval("SELECT id FROM users WHERE username = $1", DEMO_USERNAME)
    return user_id


@pytest.mark.db
async def test_accept_and_reply_are_recorded_like_the_workflow(
    generated: tuple[asyncpg.Connection, int, int], runtime: Runtime
) -> None:
    """签收 sets ``accepted_at`` and meets the sign-for limit; 答复 writes a reply measured against the
    round's reply limit, sets ``replied_at`` and meets the limit (``hotline.workflow.actions``)."""
    conn, before, _ = generated
    user_id = await _demo_user_id(conn)
    tickets = await conn.fetch(
        """
        SELECT t.number, t.status, t.accepted_at, t.replied_at,
               (SELECT max(e.at) FROM ticket_events e WHERE e.ticket_id = t.id AND e.action = 'accept') AS signed,
               (SELECT max(e.at) FROM ticket_events e WHERE e.ticket_id = t.id AND e.action = 'redo') AS redone,
               (SELECT max(r.replied_at) FROM replies r WHERE r.ticket_id = t.id) AS last_reply,
               (SELECT count(*) FROM replies r WHERE r.ticket_id = t.id) AS replies,
               (SELECT count(*) FROM ticket_events e WHERE e.ticket_id = t.id AND e.action = 'reply') AS reply_events,
               (SELECT d.due_at FROM deadlines d WHERE d.ticket_id = t.id AND d.kind = 'accept'
                 ORDER BY d.id DESC LIMIT 1) AS accept_due
        FROM tickets t WHERE t.id > $1 AND t.lead_unit_code IS NOT NULL
        """,
        before,
    )
    late_signed = 0
    for t in tickets:
        assert (t["accepted_at"] is None) == (t["status"] == "dispatched"), t["number"]
        if t["accepted_at"] is not None:
            assert t["accepted_at"] == t["signed"]  # the current round's 签收
            assert t["redone"] is None or t["accepted_at"] > t["redone"]
            late_signed += t["accepted_at"] > t["accept_due"]
        assert t["replied_at"] == t["last_reply"]
        assert t["replies"] == t["reply_events"]
        if t["status"] in ("replied", "callback_pending", "closed"):
            assert t["replied_at"] is not None, t["number"]
    assert 0 < late_signed < len(tickets) * 0.1

    replies = await conn.fetch(
        """
        SELECT r.*, t.lead_unit_code, d.due_at AS limit_due, d.state AS limit_state
        FROM replies r JOIN tickets t ON t.id = r.ticket_id
        JOIN LATERAL (SELECT * FROM deadlines d WHERE d.ticket_id = r.ticket_id AND d.kind = 'reply'
                        AND d.start_at <= r.replied_at ORDER BY d.start_at DESC LIMIT 1) d ON true
        WHERE t.id > $1
        """,
        before,
    )
    assert len(replies) == sum(t["replies"] for t in tickets) > N / 2
    for r in replies:
        assert r["on_time"] == (r["replied_at"] <= r["due_at"])
        assert r["due_at"] == r["limit_due"] and r["limit_state"] == "met"
        assert r["unit_code"] == r["lead_unit_code"] and r["actor_id"] == user_id
        assert r["outcome"] in ("resolved", "explained") and r["reason_code"] is None
        check_reply_quality(runtime, r["content"])  # what the unit's reply form accepts
    outcomes = Counter(r["outcome"] for r in replies)
    assert outcomes["resolved"] > outcomes["explained"] > 0
    late = sum(not r["on_time"] for r in replies)
    assert 0 < late < len(replies) * 0.2


@pytest.mark.db
async def test_callbacks_evaluations_and_final_outcomes(
    generated: tuple[asyncpg.Connection, int, int], rulebook: Rulebook
) -> None:
    """答复审核通过 opens a callback per round; 回访 ends unreachable, or with an evaluation that
    closes the ticket or, reasonably unsatisfied, redoes it — then 督办 and closed unsatisfied once
    the redo rounds are exhausted (``hotline.workflow.callbacks``)."""
    conn, before, _ = generated
    sla = rulebook.workflow.sla
    user_id = await _demo_user_id(conn)
    bad = await conn.fetch(
        """
        SELECT e.id FROM evaluations e JOIN tickets t ON t.id = e.ticket_id
        LEFT JOIN callbacks c ON c.id = e.callback_id AND c.ticket_id = e.ticket_id
        WHERE t.id > $1 AND (c.id IS NULL OR c.state <> 'done' OR e.at <> c.done_at OR e.caller_id <> t.caller_id
                             OR e.actor_id <> $2 OR (e.satisfaction = 'unsatisfied') <> (e.reasonable IS NOT NULL))
        """,
        before,
        user_id,
    )
    assert bad == []  # every evaluation has a (done) callback of the same ticket
    evaluations = {
        r["callback_id"]: r
        for r in await conn.fetch(
            "SELECT e.* FROM evaluations e JOIN tickets t ON t.id = e.ticket_id WHERE t.id > $1", before
        )
    }
    callbacks: dict[int, list[asyncpg.Record]] = defaultdict(list)
    for c in await conn.fetch(
        "SELECT c.* FROM callbacks c JOIN tickets t ON t.id = c.ticket_id WHERE t.id > $1 ORDER BY c.round", before
    ):
        callbacks[c["ticket_id"]].append(c)
    orders = {
        r["ticket_id"]: r
        for r in await conn.fetch(
            "SELECT o.* FROM supervision_orders o JOIN tickets t ON t.id = o.ticket_id WHERE t.id > $1", before
        )
    }
    tickets = await conn.fetch(
        """
        SELECT t.*,
               (SELECT count(*) FROM ticket_events e WHERE e.ticket_id = t.id AND e.action = 'approve_reply') AS approved,
               (SELECT count(*) FROM ticket_events e WHERE e.ticket_id = t.id AND e.action = 'redo') AS redo_events,
               (SELECT max(e.at) FROM ticket_events e WHERE e.ticket_id = t.id AND e.action = 'close') AS close_at
        FROM tickets t WHERE t.id > $1
        """,
        before,
    )
    cal = _statutory_calendar()
    outcomes: Counter[str] = Counter()
    for t in tickets:
        rounds = callbacks.get(t["id"], [])
        number = t["number"]
        assert [c["round"] for c in rounds] == list(range(1, len(rounds) + 1)), number
        assert len(rounds) == t["approved"] and t["redo_count"] == t["redo_events"] <= sla.redo_max_rounds
        assert len(rounds) in (t["redo_count"], t["redo_count"] + 1), number
        for c in rounds[: t["redo_count"]]:  # each redo follows a reasonable dissatisfaction
            ev = evaluations[c["id"]]
            assert (ev["satisfaction"], ev["reasonable"]) == ("unsatisfied", True), number
        for c in rounds:
            assert c["due_at"] == cal.deadline(c["created_at"], sla.callback_within_working_days).due_at
            days = json.loads(c["attempt_days"]) if isinstance(c["attempt_days"], str) else c["attempt_days"]
            assert len(set(days)) == len(days) <= c["attempts"]
            assert (c["state"] == "pending") == (c["done_at"] is None)
            assert (c["state"] == "unreachable") == (len(days) >= sla.callback_max_attempts)
            assert (c["state"] == "done") == (c["id"] in evaluations)
        last = rounds[-1] if rounds else None
        if t["status"] == "closed":
            assert last is not None and last["state"] in ("done", "unreachable"), number
            assert t["closed_at"] == last["done_at"] == t["close_at"]
            outcome = t["final_outcome"]
            outcomes[outcome] += 1
            if last["state"] == "unreachable":
                assert outcome == "unreachable", number
            else:
                ev = evaluations[last["id"]]
                if ev["satisfaction"] != "unsatisfied":
                    assert outcome == ev["satisfaction"], number
                elif not ev["reasonable"]:
                    assert outcome == "unreasonable", number
                else:
                    assert outcome == "unsatisfied" and t["redo_count"] == sla.redo_max_rounds, number
            assert (outcome == "unsatisfied") == (t["id"] in orders), number
        else:
            assert t["final_outcome"] is None and t["closed_at"] is None and t["id"] not in orders, number
            pending = t["status"] == "callback_pending"
            assert (last is not None and last["state"] == "pending" and len(rounds) > t["redo_count"]) == pending
    assert set(outcomes) == FINAL_OUTCOMES
    closed = sum(outcomes.values())
    assert outcomes["satisfied"] > closed / 2 and outcomes["unreachable"] < closed * 0.1
    assert 0 < sum(t["redo_count"] > 0 for t in tickets) < closed * 0.2
    for o in orders.values():
        assert o["reason_code"] == "poor_quality" and o["issued_by"] == user_id
        assert (o["state"] == "responded") == (o["responded_at"] is not None) == (o["response"] is not None)
        assert o["responded_at"] is None or o["issued_at"] < o["responded_at"] < NOW


@pytest.mark.db
async def test_kpi_engine_has_figures_for_demo_data(
    generated: tuple[asyncpg.Connection, int, int], session: AsyncSession, runtime: Runtime
) -> None:
    """及时办结率, 满意率, 问题解决率, 签收及时率 and 重办率 are computed from the generated rows."""
    period = kpi.Period((NOW - timedelta(days=365)).astimezone(LOCAL_TZ).date(), NOW.astimezone(LOCAL_TZ).date())
    report = await kpi.report(session, runtime, period, ["unit"], now=NOW, source="base")
    figures = kpi.figures(report.overall)

    def rate(code: str, low: float, high: float) -> None:
        f = figures[code]
        assert f["denominator"] > 0 and low < f["value"] < high, (code, f)

    rate("on_time_rate", 0.8, 0.99)
    rate("satisfaction_rate", 0.9, 1.0)
    rate("resolution_rate", 0.5, 0.95)
    rate("accept_on_time_rate", 0.85, 0.995)
    rate("redo_rate", 0.0, 0.15)
    assert figures["unreachable"]["value"] > 0
    assert figures["satisfaction_rate"]["denominator"] < figures["accept_on_time_rate"]["denominator"]
    units = [g for g in report.groups["unit"] if g.key is not None]
    assert sum(g.kpis["on_time_rate"]["value"] is not None for g in units) > 5


@pytest.mark.db
async def test_one_satisfaction_rate_for_a_month_everywhere(
    generated: tuple[asyncpg.Connection, int, int], client: AsyncClient, login: Any, clock: Any
) -> None:
    """Issue 11 (pinned): for any month, 满意率 on /public/disclosure equals
    ``overall.satisfaction_rate`` of ``GET /api/v1/kpi`` for that month, to one decimal of a
    percent, and the dashboard shows the same figure; so does 及时办结率."""
    clock.now = NOW
    boss = await login("supervisor")
    seen = 0
    for days_back in (20, 75, 160, 300):
        first = (NOW - timedelta(days=days_back)).astimezone(LOCAL_TZ).date().replace(day=1)
        last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        api = await client.get(f"/api/v1/kpi?from={first}&to={last}", headers=boss.headers)
        assert api.status_code == 200, api.text
        overall = api.json()["overall"]
        page = (await client.get(f"/public/disclosure?month={first:%Y-%m}")).text
        for code, label in (("satisfaction_rate", "满意率"), ("on_time_rate", "及时办结率")):
            f = overall[code]
            shown = re.search(
                r'<div class="kpi">([\d.]+)<small>%（(\d+)/(\d+)件）</small></div><div class="muted">' + label, page
            )
            if f["value"] is None:
                assert shown is None
                continue
            assert shown is not None, (first, label)
            assert shown.group(1) == f"{100 * f['value']:.1f}", (first, label, shown.group(1), f)
            assert (int(shown.group(2)), int(shown.group(3))) == (f["numerator"], f["denominator"])
            seen += 1
        received = re.search(r'<div class="kpi">(\d+)<small> 件</small></div><div class="muted">本月受理', page)
        assert received is not None and int(received.group(1)) == overall["intake"]["value"], (first, overall["intake"])
        listed = re.search(r"<h2>办理事项（共 (\d+) 件）</h2>", page)
        replied = re.search(r'<div class="kpi">(\d+)<small> 件</small></div><div class="muted">已答复', page)
        assert listed is not None and replied is not None and listed.group(1) == replied.group(1)  # adds up
        await sign_in(client, boss.actor.username)
        dash = (await client.get(f"/dashboard?from={first}&to={last}")).text
        card = re.search(r'data-kpi="satisfaction_rate">.*?<div class="kpi">([^<]+)</div>', dash, re.S)
        assert card is not None and card.group(1).strip() == kpi.pct(overall["satisfaction_rate"]["value"])
    assert seen >= 6


def test_same_seed_same_rows(rulebook: Rulebook) -> None:
    """The generator is deterministic: a seed gives the same rows (ids aside, which are passed in)."""

    def rows(seed: int) -> demo._Batch:
        rng = random.Random(seed)
        templates = demo._build_templates(rulebook, rng, 200)
        cal = demo._calendar()
        stamps = demo._timestamps(rng, 300, NOW, cal)
        ids = list(range(1, 301))
        out = demo._Generator(rulebook, templates, cal, rng, NOW).batch(stamps, ids, ids, ids, ids, 1)
        out.assign({table: list(range(1, n + 1)) for table, n in out.counts()})
        return out

    first = rows(5)
    assert first.replies and first.callbacks and first.evaluations
    assert rows(5) == first
    assert rows(6).tickets != first.tickets


@pytest.mark.db
async def test_failed_batch_leaves_nothing_behind(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch whose rows cannot all be written is removed whole, replies and evaluations included."""
    copy = demo._copy

    async def failing(conn: Any, table: str, records: list[tuple[Any, ...]], columns: Any) -> None:
        if table == "evaluations" and records:
            raise RuntimeError("disk full")
        await copy(conn, table, records, columns)

    monkeypatch.setattr(demo, "_copy", failing)
    conn = await asyncpg.connect(to_asyncpg_dsn(db_url))
    try:
        tickets = await conn.fetchval("SELECT coalesce(max(id), 0) FROM tickets")
        callers = await conn.fetchval("SELECT coalesce(max(id), 0) FROM callers")
        with pytest.raises(RuntimeError, match="disk full"):
            await generate_tickets(db_url, 150, seed=3, batch=60, progress=False, now=NOW)
        assert await conn.fetchval("SELECT count(*) FROM tickets WHERE id > $1", tickets) == 0
        assert await conn.fetchval("SELECT count(*) FROM callers WHERE id > $1", callers) == 0
        for table in (
            "routing_decisions", "ticket_units", "deadlines", "ticket_events", "replies", "callbacks", "evaluations",
            "supervision_orders",
        ):  # fmt: skip
            assert await conn.fetchval(f"SELECT count(*) FROM {table} WHERE ticket_id > $1", tickets) == 0, table
    finally:
        await conn.close()

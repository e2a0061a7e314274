"""KPI engine through ``GET /api/v1/kpi`` on real PostgreSQL, against hand-computed figures (docs/kpi.md).

The clock starts on Monday 2026-09-28 10:00 (Shanghai); reply limits of 12333 / 12329 complaints
are 5 working days, due at 24:00 on the make-up Saturday 10-10 (National Day holidays 10-01..07).

Every scenario test runs twice: on the base tables (no rollup yet) and on the daily rollup, refreshed
at each step of the scenario as the scheduler would (so later steps must mark the earlier days they
change), and the same hand-computed figures must come out.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import text

from hotline import kpi_rollup, sla
from hotline.db import unit_of_work

HRSS = "city.human_resources"
FUND = "city.housing_fund"
GOOD_REPLY = "经核实，已联系诉求人并补发拖欠的养老金，本月底前到账，已告知查询方式。"
PERIOD = "from=2026-09-28&to=2026-10-31"


@pytest.fixture
async def people(login) -> dict[str, Any]:
    return {
        "agent": await login("agent"),
        "centre": await login("supervisor"),
        "hrss": await login("unit_handler", unit=HRSS),
        "fund": await login("unit_handler", unit=FUND),
    }


async def post(client: AsyncClient, who: Any, path: str, body: dict[str, Any] | None = None) -> Any:
    r = await client.post(path, json=body or {}, headers=who.headers)
    assert r.status_code in (200, 201), r.text
    return r.json()


async def new_ticket(client: AsyncClient, agent: Any, line: str = "12333", **kw: Any) -> str:
    body: dict[str, Any] = {
        "caller": {"type": "citizen", "name": "赵六", "phone": "13600001111"},
        "kind": "complaint",
        "content": "养老金未按时发放" if line == "12333" else "公积金提取审核太慢",
        "line": line,
        **kw,
    }
    return str((await post(client, agent, "/api/v1/tickets", body))["number"])


def at(day: int, month: int = 10, hour: int = 10) -> datetime:
    """Local (Shanghai) time as UTC."""
    return datetime(2026, month, day, hour - 8, 0, tzinfo=UTC)


async def kpi(client: AsyncClient, who: Any, query: str) -> Any:
    return await client.get(f"/api/v1/kpi?{query}", headers=who.headers)


async def refresh(sessions: Any, now: datetime) -> kpi_rollup.RefreshReport:
    async with unit_of_work(sessions) as s:
        return await kpi_rollup.refresh(s, now)


@pytest.fixture(params=["base", "rollup"])
def source(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def scenario(client: AsyncClient, people, clock, sessions, source: str) -> dict[str, str]:
    """Nine tickets received on Monday 09-28, handled through the workflow API up to 10-15."""
    p = people

    async def move(to: datetime) -> None:
        if source == "rollup":  # the scheduler's tick before time moves on
            assert (await refresh(sessions, clock.now)).refreshed
        clock.now = to

    n = {k: await new_ticket(client, p["agent"]) for k in ("t1", "t2", "t3", "t4", "t6", "t7", "t9")}
    n["direct"] = await new_ticket(
        client,
        p["agent"],
        line="12345",
        kind="consultation",
        content="咨询社保卡补办地点",
        answer="可到各社保服务大厅补办。",
    )
    n["f1"] = await new_ticket(client, p["agent"], line="12329")
    for k in ("t1", "t2", "t3"):
        await post(client, p["hrss"], f"/api/v1/tickets/{n[k]}/accept")
    await post(client, p["fund"], f"/api/v1/tickets/{n['f1']}/accept")
    await move(at(28, 9, 11))
    await post(client, p["fund"], f"/api/v1/tickets/{n['f1']}/reply", {"content": GOOD_REPLY, "outcome": "resolved"})
    await post(
        client,
        p["hrss"],
        f"/api/v1/tickets/{n['t9']}/return",
        {"reason": "not_our_duty", "explanation": "不是我们的事"},
    )
    await post(client, p["centre"], f"/api/v1/tickets/{n['t9']}/return/decision", {"decision": "reject"})
    await post(client, p["centre"], f"/api/v1/tickets/{n['t6']}/remind", {"note": "请尽快办理"})
    await post(client, p["centre"], f"/api/v1/tickets/{n['t6']}/merge", {"secondaries": [n["t7"]], "note": "同一事项"})
    await post(client, p["hrss"], f"/api/v1/tickets/{n['t2']}/extension", {"working_days": 3, "reason": "需现场核查"})
    await post(client, p["centre"], f"/api/v1/tickets/{n['t2']}/extension/decision", {"approve": True})

    await move(at(30, 9))  # the sign-for limit ended at 24:00 on 09-29
    await post(client, p["hrss"], f"/api/v1/tickets/{n['t4']}/accept")

    await move(at(9))
    for k in ("t1", "t4"):
        await post(client, p["hrss"], f"/api/v1/tickets/{n[k]}/reply", {"content": GOOD_REPLY, "outcome": "resolved"})
        await post(client, p["centre"], f"/api/v1/tickets/{n[k]}/reply/decision", {"approve": True})
    ok = {"reached": True, "satisfaction": "satisfied", "resolution": "resolved"}
    await post(client, p["agent"], f"/api/v1/tickets/{n['t1']}/callback", ok)
    await post(client, p["agent"], f"/api/v1/tickets/{n['t4']}/callback", {"reached": False})
    await move(at(10))
    await post(client, p["agent"], f"/api/v1/tickets/{n['t4']}/callback", {"reached": False})

    await move(at(12))  # t2 within its extended limit (24:00 on 10-14), t3 two days late
    for k in ("t2", "t3"):
        await post(client, p["hrss"], f"/api/v1/tickets/{n[k]}/reply", {"content": GOOD_REPLY, "outcome": "resolved"})
        await post(client, p["centre"], f"/api/v1/tickets/{n[k]}/reply/decision", {"approve": True})
    basic = {"reached": True, "satisfaction": "basically_satisfied", "resolution": "partly_resolved"}
    await post(client, p["agent"], f"/api/v1/tickets/{n['t2']}/callback", basic)
    redo = {"reached": True, "satisfaction": "unsatisfied", "resolution": "unresolved", "reasonable": True}
    assert (await post(client, p["agent"], f"/api/v1/tickets/{n['t3']}/callback", redo))["redo_count"] == 1
    unreachable = await post(client, p["agent"], f"/api/v1/tickets/{n['t4']}/callback", {"reached": False})
    assert unreachable["final_outcome"] == "unreachable"

    await move(at(15))
    if source == "rollup":
        assert (await refresh(sessions, clock.now)).refreshed
    return n


def rate(fig: dict[str, Any]) -> tuple[Any, Any]:
    return fig["numerator"], fig["denominator"]


async def test_every_kpi_matches_the_hand_computed_figures(
    client: AsyncClient, people, scenario, source: str, clock
) -> None:
    r = await kpi(client, people["centre"], f"{PERIOD}&group_by=none")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["source"] == source
    assert datetime.fromisoformat(body["as_of"]) == clock.now  # the rollup was refreshed at 10-15 10:00
    assert body["period"] == {
        "from": "2026-09-28",
        "to": "2026-10-31",
        "timezone": "Asia/Shanghai",
        "group_by": "none",
        "min_sample": 10,
        "unit": None,
    }
    o = body["overall"]
    assert o["intake"]["value"] == 9  # the merged secondary is received, but counted once below
    assert o["merged"]["value"] == 1
    # 及时办结率: limits due up to now: t1 t4 f1 on time, t2 on time thanks to its extension,
    # t3 replied late, t6 and t9 still open past their limit; t3's redo limit (10-19) is not yet due.
    assert rate(o["on_time_rate"]) == (4, 7) and o["on_time_rate"]["value"] == pytest.approx(4 / 7)
    assert o["on_time_rate"]["label"] == "及时办结率"
    # 满意率 / 问题解决率: t1 satisfied+resolved, t2 basically satisfied+partly resolved;
    # t4 unreachable and t3 (in redo) are not evaluated.
    assert rate(o["satisfaction_rate"]) == (2, 2)
    assert rate(o["resolution_rate"]) == (1, 2)
    assert o["unreachable"]["value"] == 1
    # dispatched once: t1 t2 t3 t4 t6 t9 f1 (not the direct answer, not the merged t7)
    assert rate(o["reminder_rate"]) == (1, 7)
    assert rate(o["redo_rate"]) == (1, 7)
    assert rate(o["return_rate"]) == (1, 7)
    assert rate(o["improper_return_rate"]) == (1, 1)
    assert rate(o["direct_answer_rate"]) == (1, 8)
    # 签收及时率: t1 t2 f1 in time, t4 late; t3's acceptance was reset by its redo, t9 never signed.
    assert rate(o["accept_on_time_rate"]) == (3, 4)
    assert o["overdue"]["value"] == 0
    assert body["groups"] == [] and body["ranking"] == [] and body["unranked"] == []


async def test_units_below_the_minimum_sample_are_listed_apart(client: AsyncClient, people, scenario) -> None:
    by_unit = (await kpi(client, people["centre"], f"{PERIOD}&group_by=unit&min_sample=1")).json()
    groups = {g["key"]: g for g in by_unit["groups"]}
    assert rate(groups[HRSS]["kpis"]["on_time_rate"]) == (3, 6)
    assert rate(groups[FUND]["kpis"]["on_time_rate"]) == (1, 1)
    assert groups[None]["kpis"]["direct_answer_rate"]["numerator"] == 1  # the direct answer has no unit
    assert [(x["rank"], x["key"]) for x in by_unit["ranking"]] == [(1, FUND), (2, HRSS)]

    # One quick ticket cannot top the table: with a sample of 2 the housing fund is not ranked.
    two = (await kpi(client, people["centre"], f"{PERIOD}&group_by=unit&min_sample=2")).json()
    assert [x["key"] for x in two["ranking"]] == [HRSS]
    assert [(x["key"], x["sample"], x["rank"]) for x in two["unranked"]] == [(FUND, 1, None)]
    default = (await kpi(client, people["centre"], f"{PERIOD}&group_by=unit")).json()
    assert default["ranking"] == [] and {x["key"] for x in default["unranked"]} == {HRSS, FUND}


async def test_breakdowns_by_kind_channel_and_caller_type(client: AsyncClient, people, scenario) -> None:
    kinds = (await kpi(client, people["centre"], f"{PERIOD}&group_by=kind")).json()
    by_kind = {g["key"]: g for g in kinds["groups"]}
    assert by_kind["complaint"]["label"] == "投诉" and by_kind["complaint"]["kpis"]["intake"]["value"] == 8
    assert by_kind["consultation"]["kpis"]["direct_answer_rate"]["value"] == 1.0
    callers = (await kpi(client, people["centre"], f"{PERIOD}&group_by=caller_type")).json()
    assert [(g["label"], g["kpis"]["intake"]["value"]) for g in callers["groups"]] == [("市民", 9)]


async def test_a_period_before_the_tickets_is_empty_and_rates_are_null(client: AsyncClient, people, scenario) -> None:
    body = (await kpi(client, people["centre"], "from=2026-09-01&to=2026-09-27&group_by=unit")).json()
    assert body["overall"]["intake"]["value"] == 0
    assert body["overall"]["on_time_rate"] == {"label": "及时办结率", "value": None, "numerator": 0, "denominator": 0}
    assert body["groups"] == []


async def test_unit_handlers_see_only_their_own_unit_and_agents_nothing(client: AsyncClient, people, scenario) -> None:
    own = (await kpi(client, people["hrss"], f"{PERIOD}&group_by=unit")).json()
    assert own["period"]["unit"] == HRSS
    assert [g["key"] for g in own["groups"]] == [HRSS]
    assert own["overall"]["intake"]["value"] == 7  # t1 t2 t3 t4 t6 t7 t9
    assert rate(own["overall"]["on_time_rate"]) == (3, 6)
    fund = (await kpi(client, people["fund"], f"{PERIOD}&group_by=unit")).json()
    assert (
        rate(fund["overall"]["on_time_rate"]) == (1, 1) and fund["overall"]["improper_return_rate"]["denominator"] == 0
    )
    refused = await kpi(client, people["agent"], PERIOD)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "auth.role_forbidden"


async def test_bad_periods_are_refused(client: AsyncClient, people) -> None:
    r = await kpi(client, people["centre"], "from=2026-10-31&to=2026-10-01")
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["code"] == "kpi.bad_period"
    r = await kpi(client, people["centre"], "from=2025-01-01&to=2026-10-01")
    assert r.status_code == 422
    r = await kpi(client, people["centre"], "group_by=colour")
    assert r.status_code == 422


async def test_overdue_count_follows_the_sweeps_mark(client: AsyncClient, people, clock, sessions, runtime) -> None:
    number = await new_ticket(client, people["agent"])
    await post(client, people["hrss"], f"/api/v1/tickets/{number}/accept")
    clock.now = at(12)
    await sla.sweep(sessions, runtime, clock.now)
    body = (await kpi(client, people["centre"], f"{PERIOD}&group_by=none")).json()
    assert body["overall"]["overdue"]["value"] == 1
    assert rate(body["overall"]["on_time_rate"]) == (0, 1)


# ---------------------------------------------------------------- the daily rollup


@pytest.mark.parametrize("source", ["rollup"])
async def test_the_rollup_gives_the_base_tables_figures_for_every_breakdown_and_scope(
    scenario, sessions, runtime, clock
) -> None:
    from hotline import kpi

    periods = [
        kpi.Period(date(2026, 9, 28), date(2026, 10, 31)),
        kpi.Period(date(2026, 9, 28), date(2026, 9, 28)),
        kpi.Period(date(2026, 10, 1), date(2026, 10, 15)),
        kpi.Period(date(2026, 10, 10), date(2026, 10, 14)),
        kpi.Period(date(2026, 9, 1), date(2026, 10, 31)),  # two whole months: kpi_monthly alone
        kpi.Period(date(2026, 10, 1), date(2026, 10, 31)),
        kpi.Period(date(2026, 9, 29), date(2026, 11, 2)),  # days, a whole month, days
    ]
    async with sessions() as s:
        for period in periods:
            for unit in (None, HRSS, FUND):
                base = await kpi.report(s, runtime, period, kpi.BREAKDOWNS, now=clock.now, unit=unit, source="base")
                rolled = await kpi.report(s, runtime, period, kpi.BREAKDOWNS, now=clock.now, unit=unit, source="rollup")
                assert rolled.source == "rollup" and base.source == "base"
                assert kpi.figures(rolled.overall) == kpi.figures(base.overall), (period, unit)
                for dim in kpi.BREAKDOWNS:
                    got = {g.key: (g.label, g.kpis) for g in rolled.groups[dim]}
                    want = {g.key: (g.label, g.kpis) for g in base.groups[dim]}
                    assert got == want, (period, unit, dim)
        whole = await kpi.report(s, runtime, periods[0], ["unit"], now=clock.now, source="rollup")
        assert whole.overall["intake"] == 9 and len(whole.groups["unit"]) == 3  # hrss, fund, no unit


async def dirty_days(sessions: Any) -> list[date]:
    async with sessions() as s:
        rows = await s.execute(text("SELECT day FROM kpi_dirty_days ORDER BY id"))
        return [r[0] for r in rows]


async def test_intake_marks_nothing_and_later_changes_mark_the_days_they_change(
    client: AsyncClient, people, clock, sessions
) -> None:
    """Triggers of migration 0005: nothing on INSERT (intake untouched), the old and new day on UPDATE."""
    before = len(await dirty_days(sessions))
    number = await new_ticket(client, people["agent"])
    assert len(await dirty_days(sessions)) == before  # intake is not slowed by the rollup
    await post(client, people["hrss"], f"/api/v1/tickets/{number}/accept")
    marks = (await dirty_days(sessions))[before:]
    assert set(marks) == {date(2026, 9, 28)}  # the intake day (签收及时率 counts there)
    await post(
        client, people["hrss"], f"/api/v1/tickets/{number}/extension", {"working_days": 3, "reason": "需现场核查"}
    )
    before = len(await dirty_days(sessions))
    await post(client, people["centre"], f"/api/v1/tickets/{number}/extension/decision", {"approve": True})
    # the reply limit moved from 10-10 to 10-14: both days' 及时办结率 samples change
    assert {date(2026, 10, 10), date(2026, 10, 14)} <= set((await dirty_days(sessions))[before:])


async def test_figures_are_as_of_the_last_refresh_until_the_next(client: AsyncClient, people, clock, sessions) -> None:
    assert (await refresh(sessions, clock.now)).rebuilt  # the first refresh builds everything
    await new_ticket(client, people["agent"])
    stale = (await kpi(client, people["centre"], f"{PERIOD}&group_by=none")).json()
    assert stale["source"] == "rollup" and stale["overall"]["intake"]["value"] == 0
    clock.now = at(28, 9, 11)
    report = await refresh(sessions, clock.now)
    assert report.refreshed and not report.rebuilt and report.days == 1  # only today: nothing marked
    fresh = (await kpi(client, people["centre"], f"{PERIOD}&group_by=none")).json()
    assert fresh["overall"]["intake"]["value"] == 1 and fresh["as_of"] == clock.now.isoformat()


async def test_a_refresh_waits_for_nobody_while_another_runs(db_url: str, clock) -> None:
    """Two schedulers (API process and Celery beat) tick at once: the second returns at once."""
    from hotline.db import make_engine, make_sessionmaker
    from hotline.kpi_repository import ROLLUP_LOCK

    engine = make_engine(db_url)
    try:
        async with engine.connect() as holder:
            await holder.begin()
            await holder.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ROLLUP_LOCK})
            async with make_sessionmaker(engine)() as s:
                report = await kpi_rollup.refresh(s, clock.now)
                await s.rollback()
            assert not report.refreshed
            await holder.rollback()
    finally:
        await engine.dispose()


async def test_the_overdue_count_reaches_the_rollup_after_the_sweep(
    client: AsyncClient, people, clock, sessions, runtime
) -> None:
    await refresh(sessions, clock.now)
    number = await new_ticket(client, people["agent"])
    await post(client, people["hrss"], f"/api/v1/tickets/{number}/accept")
    clock.now = at(12)
    await sla.sweep(sessions, runtime, clock.now)  # marks the ticket 超期 on 10-12: an UPDATE of a 09-28 ticket
    assert (await refresh(sessions, clock.now)).refreshed
    body = (await kpi(client, people["centre"], f"{PERIOD}&group_by=none")).json()
    assert body["source"] == "rollup"
    assert body["overall"]["overdue"]["value"] == 1
    assert rate(body["overall"]["on_time_rate"]) == (0, 1)


def test_a_period_is_split_into_whole_months_and_the_days_around_them() -> None:
    from hotline.kpi_repository import split_months

    assert split_months(date(2026, 10, 1), date(2026, 10, 31)) == ([date(2026, 10, 1)], [])
    assert split_months(date(2026, 10, 2), date(2026, 10, 31)) == ([], [(date(2026, 10, 2), date(2026, 10, 31))])
    assert split_months(date(2026, 9, 29), date(2026, 12, 2)) == (
        [date(2026, 10, 1), date(2026, 11, 1)],
        [(date(2026, 9, 29), date(2026, 9, 30)), (date(2026, 12, 1), date(2026, 12, 2))],
    )
    assert split_months(date(2026, 2, 1), date(2026, 2, 28)) == ([date(2026, 2, 1)], [])
    assert split_months(date(2026, 12, 1), date(2027, 1, 31)) == ([date(2026, 12, 1), date(2027, 1, 1)], [])
    assert split_months(date(2026, 10, 5), date(2026, 10, 5)) == ([], [(date(2026, 10, 5), date(2026, 10, 5))])

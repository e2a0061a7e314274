"""统计分析 page and its exports, signed in through the login form."""

from __future__ import annotations

import csv
import io
from typing import Any

from httpx import AsyncClient
from openpyxl import load_workbook

from tests.hotline.test_pages_auth import csrf_of, sign_in

QUERY = "from=2026-09-28&to=2026-10-31"


async def _tickets(client: AsyncClient, login) -> None:
    agent = await login("agent")
    for line in ("12333", "12333", "12329"):
        body: dict[str, Any] = {
            "caller": {"type": "citizen", "name": "赵六", "phone": "13600001111"},
            "kind": "complaint",
            "content": "养老金未按时发放",
            "line": line,
        }
        r = await client.post("/api/v1/tickets", json=body, headers=agent.headers)
        assert r.status_code == 201, r.text


async def test_supervisor_sees_kpi_cards_with_samples_chart_and_tables(client: AsyncClient, login, rulebook) -> None:
    await _tickets(client, login)
    supervisor = await login("supervisor")
    await sign_in(client, supervisor.actor.username)
    r = await client.get(f"/dashboard?{QUERY}")
    assert r.status_code == 200, r.text
    page = r.text
    assert "统计分析" in page and "2026-09-28 至 2026-10-31" in page
    assert 'data-kpi="on_time_rate"' in page and 'data-kpi="satisfaction_rate"' in page
    assert "样本：3 件" in page  # 受理量
    assert "样本：0 / 3" in page  # 催办率: none of the three dispatched tickets reminded
    assert 'id="trend-chart"' in page and "/static/vendor/echarts.min.js" in page
    assert '<script type="application/json" id="trend-data">{"days": ["2026-09-28",' in page
    assert rulebook.units["city.human_resources"].name in page
    for title in ("承办单位", "区（市）", "诉求类型", "受理渠道", "热线号码（含归并热线）", "热点问题分类", "超期工单"):
        assert title in page
    assert "/dashboard/export.csv?table=units&amp;from=2026-09-28" in page


async def test_text_from_the_database_is_escaped(client: AsyncClient, login) -> None:
    agent = await login("agent")
    body = {
        "caller": {"type": "citizen", "name": "赵六", "phone": "13600001111"},
        "kind": "complaint",
        "content": "路灯不亮",
        "area": {"district": "薛城区", "town": "<script>alert(1)</script>"},
    }
    r = await client.post("/api/v1/tickets", json=body, headers=agent.headers)
    assert r.status_code == 201, r.text
    supervisor = await login("supervisor")
    await sign_in(client, supervisor.actor.username)
    page = (await client.get(f"/dashboard?{QUERY}")).text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


async def test_presets_pick_the_day_week_and_month(client: AsyncClient, login) -> None:
    supervisor = await login("supervisor")
    await sign_in(client, supervisor.actor.username)
    week = await client.get("/dashboard?period=week&date=2026-10-01")
    assert "2026-09-28 至 2026-10-04" in week.text
    day = await client.get("/dashboard?period=day&date=2026-10-01")
    assert "2026-10-01 至 2026-10-01" in day.text
    month = await client.get("/dashboard")
    assert "2026-09-01 至 2026-09-30" in month.text
    bad = await client.get("/dashboard?from=2026-10-31&to=2026-10-01")
    assert bad.status_code == 422 and "结束日期不能早于开始日期" in bad.text


async def test_agents_get_the_403_page(client: AsyncClient, login) -> None:
    agent = await login("agent")
    await sign_in(client, agent.actor.username)
    r = await client.get("/dashboard")
    assert r.status_code == 403 and "无权访问" in r.text
    assert (await client.get(f"/dashboard/export.csv?table=units&{QUERY}")).status_code == 403


async def test_csv_export_of_the_units_table(client: AsyncClient, login, rulebook) -> None:
    await _tickets(client, login)
    supervisor = await login("supervisor")
    await sign_in(client, supervisor.actor.username)
    r = await client.get(f"/dashboard/export.csv?table=units&{QUERY}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.text.lstrip("\ufeff"))))
    assert rows[0][:4] == ["排名", "承办单位", "受理量", "及时办结率"]
    by_unit = {row[1]: row for row in rows[1:]}
    hrss = by_unit[rulebook.units["city.human_resources"].name]
    assert hrss[0] == "样本不足10" and hrss[2] == "2"
    assert by_unit[rulebook.units["city.housing_fund"].name][2] == "1"
    missing = await client.get(f"/dashboard/export.csv?table=secrets&{QUERY}")
    assert missing.status_code == 422


async def test_xlsx_export_opens_with_openpyxl(client: AsyncClient, login) -> None:
    await _tickets(client, login)
    supervisor = await login("supervisor")
    await sign_in(client, supervisor.actor.username)
    r = await client.get(f"/dashboard/export.xlsx?table=kinds&{QUERY}")
    assert r.status_code == 200 and "spreadsheetml" in r.headers["content-type"]
    ws = load_workbook(io.BytesIO(r.content)).active
    assert ws is not None
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][0] == "诉求类型（2026-09-28 至 2026-10-31）"
    assert rows[1][:2] == ("诉求类型", "受理量")
    assert rows[2][:2] == ("投诉", 3)
    # rates are numbers shown as percents, with their sample as a note; never text
    sheet = load_workbook(io.BytesIO(r.content)).active
    assert sheet is not None
    rates = [c for c in sheet[3][2:] if c.number_format == "0.0%"]
    assert rates and all(isinstance(c.value, (int, float)) and 0 <= c.value <= 1 for c in rates)
    assert all(c.comment is not None and c.comment.text.startswith("样本：") for c in rates)
    assert not any(isinstance(c.value, str) and c.value.endswith("）") and "%" in c.value for c in sheet[3])
    trend = await client.get(f"/dashboard/export.xlsx?table=trend&{QUERY}")
    trend_rows = list(load_workbook(io.BytesIO(trend.content)).active.iter_rows(values_only=True))
    assert trend_rows[2][:2] == ("2026-09-28", 3) and len(trend_rows) == 2 + 34


async def test_refresh_now_brings_the_rollup_up_to_date_and_keeps_the_period(client: AsyncClient, login) -> None:
    supervisor = await login("supervisor")
    await sign_in(client, supervisor.actor.username)
    page = await client.get(f"/dashboard?{QUERY}")
    assert "数据更新于 2026-09-28 10:00:00" in page.text and "立即刷新" in page.text
    form = {"csrf": csrf_of(page.text), "from": "2026-09-28", "to": "2026-10-31", "min_sample": "3"}
    forged = await client.post("/dashboard/refresh", data={**form, "csrf": "forged"})
    assert forged.status_code == 403
    r = await client.post("/dashboard/refresh", data=form)
    assert r.status_code == 303
    assert r.headers["location"] == "/dashboard?from=2026-09-28&to=2026-10-31&min_sample=3&refreshed=ok"
    await _tickets(client, login)  # logged after the refresh: not in the figures until the next one
    stale = (await client.get(r.headers["location"])).text
    assert "已刷新" in stale and "样本：0 件" in stale
    await client.post("/dashboard/refresh", data=form)
    assert "样本：3 件" in (await client.get(f"/dashboard?{QUERY}")).text


async def test_only_supervisors_refresh_the_figures(client: AsyncClient, login) -> None:
    agent = await login("agent")
    csrf = await sign_in(client, agent.actor.username)
    r = await client.post("/dashboard/refresh", data={"csrf": csrf, "from": "2026-09-28", "to": "2026-10-31"})
    assert r.status_code == 403

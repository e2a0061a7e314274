"""统计分析 page for supervisors: KPI cards, unit and district rankings, trend, breakdowns, hotspots,
the overdue list, and CSV / XLSX export of every table (figures from hotline.kpi)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from dispatcher.calendar import LOCAL_TZ
from hotline import kpi, kpi_rollup
from hotline.errors import DomainError
from hotline.requestctx import RuntimeDep, SessionDep
from hotline.runtime import Runtime
from hotline.users import Role
from hotline.web.deps import PageActor, check_csrf, render, require_page_role

router = APIRouter(include_in_schema=False)

Preset = Literal["day", "week", "month", "custom"]
PRESET_LABELS = {"day": "日", "week": "周", "month": "月", "custom": "自定义"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class BadQuery(DomainError):
    http_status = 422
    code = "kpi.bad_query"


def _date(value: str | None, what: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadQuery(f"{what}格式不正确，应为 YYYY-MM-DD") from None


def _period(rt: Runtime, period: str, anchor: str | None, start: str | None, end: str | None) -> kpi.Period:
    if period not in PRESET_LABELS:
        raise BadQuery("统计周期只能是 日、周、月 或 自定义")
    today = kpi.local_today(rt.clock())
    if period == "custom" or start or end:
        try:
            return kpi.make_period(_date(start, "开始日期"), _date(end, "结束日期"), rt.clock())
        except DomainError as exc:
            raise BadQuery(exc.message) from None
    return kpi.preset_period(period, _date(anchor, "日期") or today)


def _every(rt: Runtime) -> str:
    """How often the scheduler refreshes the rollup (its tick: the SLA sweep interval)."""
    seconds = rt.settings.sweep_seconds or rt.rulebook.workflow.sla.sweep_interval_seconds
    if seconds % 60 == 0:
        return "每分钟" if seconds == 60 else f"每{int(seconds // 60)}分钟"
    return f"每{seconds:g}秒"


def _min_sample(value: int) -> int:
    if value < 1:
        raise BadQuery("最小样本量至少为1")
    return value


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard_page(
    request: Request,
    session: SessionDep,
    rt: RuntimeDep,
    actor: PageActor,
    period: str = "month",
    anchor: Annotated[str | None, Query(alias="date")] = None,
    min_sample: int = kpi.MIN_SAMPLE,
) -> Response:
    """Period: ``period`` = day | week | month around ``date`` (default today), or ``from`` / ``to``."""
    require_page_role(actor, Role.SUPERVISOR, Role.ADMIN)
    params = request.query_params
    chosen = _period(rt, period, anchor, params.get("from"), params.get("to"))
    data = await kpi.dashboard(session, rt, chosen, _min_sample(min_sample))
    query = f"from={chosen.start.isoformat()}&to={chosen.end.isoformat()}&min_sample={data.min_sample}"
    return render(
        request,
        "dashboard.html",
        actor,
        rt,
        data=data,
        preset=period if not (params.get("from") or params.get("to")) else "custom",
        presets=PRESET_LABELS,
        anchor=anchor or chosen.start.isoformat(),
        query=query,
        pct=kpi.pct,
        kpis=kpi.KPI_BY_CODE,
        refreshed=request.query_params.get("refreshed"),
        as_of=data.as_of.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S"),
        every=_every(rt),
    )


@router.post("/dashboard/refresh")
async def refresh_figures(
    request: Request,
    session: SessionDep,
    rt: RuntimeDep,
    actor: PageActor,
    csrf: Annotated[str, Form()] = "",
    start: Annotated[str, Form(alias="from")] = "",
    end: Annotated[str, Form(alias="to")] = "",
    min_sample: Annotated[int, Form()] = kpi.MIN_SAMPLE,
) -> Response:
    """立即刷新: recompute the rollup now (the scheduler does it every tick) and show the same period."""
    check_csrf(request, rt.settings.secret_key, csrf)
    require_page_role(actor, Role.SUPERVISOR, Role.ADMIN)
    chosen = _period(rt, "custom", None, start or None, end or None)
    result = await kpi_rollup.refresh(session, rt.clock())
    done = "ok" if result.refreshed else "busy"
    query = f"from={chosen.start.isoformat()}&to={chosen.end.isoformat()}&min_sample={_min_sample(min_sample)}"
    return RedirectResponse(f"/dashboard?{query}&refreshed={done}", status_code=303)


async def _table(
    request: Request, session: SessionDep, rt: Runtime, table: str, period: str, min_sample: int
) -> tuple[kpi.Table, kpi.Period]:
    if table not in kpi.TABLES:
        raise BadQuery(f"没有这个表：{table}；可导出：{'、'.join(kpi.TABLES)}")
    params = request.query_params
    chosen = _period(rt, period, params.get("date"), params.get("from"), params.get("to"))
    data = await kpi.dashboard(session, rt, chosen, _min_sample(min_sample))
    return data.tables[table], chosen


def _filename(table: kpi.Table, period: kpi.Period, ext: str) -> str:
    name = f"{table.title}_{period.start.isoformat()}_{period.end.isoformat()}.{ext}"
    ascii_name = f"{table.name}_{period.start.isoformat()}_{period.end.isoformat()}.{ext}"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"


@router.get("/dashboard/export.{fmt}")
async def export_table(
    request: Request,
    fmt: Literal["csv", "xlsx"],
    session: SessionDep,
    rt: RuntimeDep,
    actor: PageActor,
    table: str = "units",
    period: str = "month",
    min_sample: int = kpi.MIN_SAMPLE,
) -> Response:
    """One table of the dashboard as CSV (UTF-8 with BOM) or Excel."""
    require_page_role(actor, Role.SUPERVISOR, Role.ADMIN)
    tbl, chosen = await _table(request, session, rt, table, period, min_sample)
    headers = {"Content-Disposition": _filename(tbl, chosen, fmt)}
    if fmt == "csv":
        return Response(kpi.to_csv(tbl), media_type="text/csv; charset=utf-8", headers=headers)
    return Response(kpi.to_xlsx(tbl, chosen), media_type=XLSX, headers=headers)

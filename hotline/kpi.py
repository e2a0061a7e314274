"""KPI engine: every indicator defined once (docs/kpi.md), used by ``GET /api/v1/kpi`` and ``/dashboard``.

A rate is always carried with its sample: numerator and denominator, ``value`` is ``None`` when the
denominator is 0. Merged secondaries (``merged_into_id``) and repeat calls count once, through
their primary / original ticket. Rankings leave out groups whose 及时办结率 sample is below
``min_sample`` so that one quick ticket cannot top the table.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from dispatcher.calendar import LOCAL_TZ
from hotline import kpi_repository as repo
from hotline.errors import Forbidden, InvalidInput
from hotline.runtime import Runtime
from hotline.users import Actor, Role

MIN_SAMPLE = 10
"""Default minimum 及时办结率 sample (reply deadlines due) for a group to be ranked."""
MAX_DAYS = 366
GroupBy = Literal["unit", "district", "kind", "channel", "line", "caller_type", "category", "none"]


@dataclass(frozen=True, slots=True)
class Kpi:
    code: str
    label: str
    numerator: str
    denominator: str | None
    """``None``: a count, not a rate."""
    higher_is_better: bool = True


KPIS: tuple[Kpi, ...] = (
    Kpi("intake", "受理量", "intake", None),
    Kpi("on_time_rate", "及时办结率", "replied_on_time", "due"),
    Kpi("satisfaction_rate", "满意率", "satisfied", "evaluated"),
    Kpi("resolution_rate", "问题解决率", "resolved", "evaluated"),
    Kpi("accept_on_time_rate", "签收及时率", "accepted_on_time", "accepted"),
    Kpi("direct_answer_rate", "直接办结率", "direct", "accepted_intake"),
    Kpi("reminder_rate", "催办率", "reminded", "dispatched", higher_is_better=False),
    Kpi("redo_rate", "重办率", "redone", "dispatched", higher_is_better=False),
    Kpi("return_rate", "退单率", "returned", "dispatched", higher_is_better=False),
    Kpi("improper_return_rate", "不当退单率", "improper_returns", "decided_returns", higher_is_better=False),
    Kpi("overdue", "超期件数", "overdue", None, higher_is_better=False),
    Kpi("unreachable", "回访无法联系件数", "unreachable", None, higher_is_better=False),
    Kpi("merged", "并单（副单）件数", "merged", None),
)
KPI_BY_CODE = {k.code: k for k in KPIS}

KIND_LABELS = {"consultation": "咨询", "help": "求助", "complaint": "投诉", "report": "举报", "suggestion": "建议"}
CHANNEL_LABELS = {
    "phone": "电话",
    "web": "网站",
    "wechat": "微信",
    "app": "移动客户端",
    "email": "电子邮件",
    "sms": "短信",
    "leader_mailbox": "领导信箱",
    "gov_portal": "政府门户",
    "provincial_hotline": "省热线转办",
    "enterprise_platform": "企业诉求平台",
}
CALLER_TYPE_LABELS = {"citizen": "市民", "enterprise": "企业"}
DIMENSION_LABELS = {
    "unit": "承办单位",
    "district": "区（市）",
    "kind": "诉求类型",
    "channel": "受理渠道",
    "line": "热线号码",
    "caller_type": "诉求人类型",
    "category": "问题分类",
    "place": "地点",
    "day": "日期",
    "none": "全部",
}
UNSPECIFIED = "（未指定）"


# ---------------------------------------------------------------- period


@dataclass(frozen=True, slots=True)
class Period:
    """Local (Asia/Shanghai) dates, both inclusive."""

    start: date
    end: date

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.start, time(), LOCAL_TZ).astimezone(UTC)

    @property
    def end_at(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time(), LOCAL_TZ).astimezone(UTC)

    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]


def local_today(now: datetime) -> date:
    return now.astimezone(LOCAL_TZ).date()


def make_period(start: date | None, end: date | None, now: datetime) -> Period:
    """Both dates given, or the current local month up to today when either is missing."""
    today = local_today(now)
    start = start or today.replace(day=1)
    end = end or max(today, start)
    if end < start:
        raise InvalidInput.one("to", "kpi.bad_period", "结束日期不能早于开始日期")
    if (end - start).days >= MAX_DAYS:
        raise InvalidInput.one("to", "kpi.period_too_long", f"统计周期最长{MAX_DAYS}天")
    return Period(start, end)


def preset_period(preset: str, anchor: date) -> Period:
    """日 / 周（周一至周日）/ 月 containing ``anchor``."""
    if preset == "day":
        return Period(anchor, anchor)
    if preset == "week":
        monday = anchor - timedelta(days=anchor.weekday())
        return Period(monday, monday + timedelta(days=6))
    first = anchor.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return Period(first, following - timedelta(days=1))


# ---------------------------------------------------------------- figures


def figure(kpi: Kpi, counts: dict[str, int]) -> dict[str, Any]:
    num = counts.get(kpi.numerator, 0)
    if kpi.denominator is None:
        return {"label": kpi.label, "value": num, "numerator": num, "denominator": None}
    den = counts.get(kpi.denominator, 0)
    return {"label": kpi.label, "value": (num / den) if den else None, "numerator": num, "denominator": den}


def figures(counts: dict[str, int]) -> dict[str, dict[str, Any]]:
    return {k.code: figure(k, counts) for k in KPIS}


@dataclass(slots=True)
class Group:
    key: str | None
    label: str
    counts: dict[str, int] = field(default_factory=dict)
    _kpis: dict[str, dict[str, Any]] | None = field(default=None, repr=False, compare=False)

    @property
    def kpis(self) -> dict[str, dict[str, Any]]:
        """Every KPI of ``counts``, computed on first use (tables and rankings read them often)."""
        if self._kpis is None:
            self._kpis = figures(self.counts)
        return self._kpis

    @property
    def sample(self) -> int:
        return self.counts.get("due", 0)


@dataclass(slots=True)
class Report:
    period: Period
    overall: dict[str, int]
    groups: dict[str, list[Group]]
    as_of: datetime
    """The instant the figures describe (the rollup's last refresh, or now for the base tables)."""
    source: str
    """``rollup`` or ``base``."""


def _merge(*parts: dict[str, dict[repo.Key, dict[str, int]]]) -> dict[str, dict[repo.Key, dict[str, int]]]:
    out: dict[str, dict[repo.Key, dict[str, int]]] = {}
    for part in parts:
        for dim, rows in part.items():
            for key, counts in rows.items():
                out.setdefault(dim, {}).setdefault(key, {}).update(counts)
    return out


class Labels:
    """Chinese names of group keys, from the rulebook (units, categories, lines)."""

    def __init__(self, rt: Runtime) -> None:
        self.rb = rt.rulebook

    def unit(self, code: str | None) -> str:
        if code is None:
            return UNSPECIFIED
        unit = self.rb.units.get(code)
        return unit.name if unit else code

    def of(self, dim: str, key: repo.Key) -> str:
        value = key[0] if key else None
        if dim in ("unit", "district"):
            return self.unit(value) if value or dim == "district" else "（未派单）"
        if value is None:
            return UNSPECIFIED
        if dim == "kind":
            return KIND_LABELS.get(value, value)
        if dim == "channel":
            return CHANNEL_LABELS.get(value, value)
        if dim == "caller_type":
            return CALLER_TYPE_LABELS.get(value, value)
        if dim == "category":
            cat = self.rb.categories.get(value)
            return cat.name if cat else value
        if dim == "line":
            line = self.rb.lines.get(value)
            return f"{value} {line.name}" if line else value
        if dim == "place":
            town = key[1] if len(key) > 1 else None
            known = self.rb.units.get(town) if town else None
            town_name = known.name if known is not None else town
            return self.unit(value) + (f" {town_name}" if town_name else "")
        return str(value)


Source = Literal["auto", "rollup", "base"]


async def report(
    session: AsyncSession,
    rt: Runtime,
    period: Period,
    dims: Sequence[str],
    *,
    now: datetime,
    unit: str | None = None,
    source: Source = "auto",
) -> Report:
    """Counts for every KPI, overall and broken down by each of ``dims``.

    ``auto`` sums the daily rollup (``kpi_daily``, figures as of its last refresh) once it has been
    built, and reads the base tables before that; ``base`` always reads the base tables (exact as of
    ``now``: the reference the rollup is tested against); ``rollup`` insists on the rollup.
    """
    dims = [d for d in dims if d != "none"]
    state = None if source == "base" else await repo.rollup_state(session)
    if state is not None:
        await repo.serial_plans(session)
        merged = await repo.rollup_counts(session, period.start, period.end, unit or "", dims)
        as_of = state.refreshed_at
    elif source == "rollup":
        raise InvalidInput.one("source", "kpi.rollup_missing", "统计汇总尚未生成，请稍后再试")
    else:
        w = repo.Window(period.start_at, period.end_at, now, unit)
        sets = repo.dimension_sets(dims)
        merged = _merge(
            repo.by_dimension(await repo.ticket_counts(session, w, sets)),
            repo.by_dimension(await repo.deadline_counts(session, w, sets)),
            repo.by_dimension(await repo.return_counts(session, w, sets)),
        )
        as_of = now
    labels = Labels(rt)
    groups: dict[str, list[Group]] = {}
    for dim in dims:
        rows = merged.get(dim, {})
        groups[dim] = [
            Group("|".join(k or "" for k in key) if any(key) else None, labels.of(dim, key), counts)
            for key, counts in rows.items()
        ]
        groups[dim].sort(key=lambda g: (-g.counts.get("intake", 0), g.key or ""))
    overall = merged.get("", {}).get((), {})
    return Report(period, overall, groups, as_of, "base" if state is None else "rollup")


def ranking(groups: Sequence[Group], min_sample: int) -> tuple[list[Group], list[Group]]:
    """Ranked by 及时办结率 then 满意率 (no evaluation sorts last), among groups with at least
    ``min_sample`` reply deadlines due; the others are listed apart, by sample size."""
    ranked = [g for g in groups if g.key is not None and g.sample >= min_sample]
    unranked = [g for g in groups if g.key is not None and g.sample < min_sample]

    def order(g: Group) -> tuple[float, float, str]:
        k = g.kpis
        on_time = k["on_time_rate"]["value"]
        sat = k["satisfaction_rate"]["value"]
        return (-(on_time or 0.0), -(sat if sat is not None else -1.0), g.key or "")

    ranked.sort(key=order)
    unranked.sort(key=lambda g: (-g.sample, g.key or ""))
    return ranked, unranked


def scope_unit(actor: Actor) -> str | None:
    """Supervisors and admins see every unit; a unit handler only its own; others nothing."""
    if actor.role in (Role.SUPERVISOR, Role.ADMIN):
        return None
    if actor.role is Role.UNIT_HANDLER and actor.unit_code:
        return actor.unit_code
    raise Forbidden("当前角色无权查看统计指标", code="auth.role_forbidden")


def _rank_row(rank: int | None, g: Group) -> dict[str, Any]:
    k = g.kpis
    return {
        "rank": rank,
        "key": g.key,
        "label": g.label,
        "sample": g.sample,
        "on_time_rate": k["on_time_rate"],
        "satisfaction_rate": k["satisfaction_rate"],
    }


async def api_view(
    session: AsyncSession,
    rt: Runtime,
    actor: Actor,
    start: date | None,
    end: date | None,
    group_by: GroupBy,
    min_sample: int,
) -> dict[str, Any]:
    """The body of ``GET /api/v1/kpi``."""
    unit = scope_unit(actor)
    now = rt.clock()
    period = make_period(start, end, now)
    rep = await report(session, rt, period, [group_by], now=now, unit=unit)
    groups = rep.groups.get(group_by, [])
    ranked, unranked = ranking(groups, min_sample) if group_by != "none" else ([], [])
    return {
        "period": {
            "from": period.start.isoformat(),
            "to": period.end.isoformat(),
            "timezone": "Asia/Shanghai",
            "group_by": group_by,
            "min_sample": min_sample,
            "unit": unit,
        },
        "as_of": rep.as_of.isoformat(),
        "source": rep.source,
        "overall": figures(rep.overall),
        "groups": [{"key": g.key, "label": g.label, "kpis": g.kpis} for g in groups],
        "ranking": [_rank_row(i + 1, g) for i, g in enumerate(ranked)],
        "unranked": [_rank_row(None, g) for g in unranked],
    }


# ---------------------------------------------------------------- dashboard


BREAKDOWNS = ("unit", "district", "kind", "channel", "line", "caller_type", "category", "place", "day")
RATE_COLUMNS = (
    "on_time_rate",
    "satisfaction_rate",
    "resolution_rate",
    "accept_on_time_rate",
    "reminder_rate",
    "redo_rate",
    "return_rate",
    "improper_return_rate",
)
CARDS = (
    "intake",
    "on_time_rate",
    "satisfaction_rate",
    "resolution_rate",
    "accept_on_time_rate",
    "direct_answer_rate",
    "reminder_rate",
    "redo_rate",
    "return_rate",
    "improper_return_rate",
    "overdue",
    "unreachable",
)
TABLES = {
    "units": "承办单位",
    "districts": "区（市）",
    "kinds": "诉求类型",
    "channels": "受理渠道",
    "lines": "热线号码（含归并热线）",
    "caller_types": "市民与企业",
    "categories": "热点问题分类",
    "places": "热点地点",
    "trend": "每日趋势",
    "overdue": "超期工单",
}
TABLE_DIM = {
    "units": "unit",
    "districts": "district",
    "kinds": "kind",
    "channels": "channel",
    "lines": "line",
    "caller_types": "caller_type",
    "categories": "category",
    "places": "place",
}
HOTSPOTS = 10
OVERDUE_LIMIT = 200


@dataclass(slots=True)
class Table:
    name: str
    title: str
    headers: list[str]
    rows: list[list[Any]]
    ranked: bool = False


@dataclass(slots=True)
class Dashboard:
    period: Period
    cards: list[tuple[str, dict[str, Any]]]
    tables: dict[str, Table]
    trend: dict[str, list[Any]]
    min_sample: int
    as_of: datetime


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _rate_cells(g: Group) -> list[Any]:
    k = g.kpis
    cells: list[Any] = [g.counts.get("intake", 0)]
    for code in RATE_COLUMNS:
        f = k[code]
        cells.append(f"{pct(f['value'])}（{f['numerator']}/{f['denominator']}）")
    cells.append(k["overdue"]["value"])
    return cells


def _group_table(name: str, dim: str, groups: list[Group], min_sample: int) -> Table:
    head = [DIMENSION_LABELS[dim], "受理量", *(KPI_BY_CODE[c].label for c in RATE_COLUMNS), "超期件数"]
    if dim in ("unit", "district"):
        ranked, unranked = ranking(groups, min_sample)
        rows = [[i + 1, g.label, *_rate_cells(g)] for i, g in enumerate(ranked)]
        rows += [[f"样本不足{min_sample}", g.label, *_rate_cells(g)] for g in unranked]
        rows += [["—", g.label, *_rate_cells(g)] for g in groups if g.key is None]
        return Table(name, TABLES[name], ["排名", *head], rows, ranked=True)
    if dim in ("category", "place"):  # hotspots: the busiest, known keys only
        groups = [g for g in groups if g.key][:HOTSPOTS]
    return Table(name, TABLES[name], head, [[g.label, *_rate_cells(g)] for g in groups])


def _overdue_table(rows: list[dict[str, Any]], labels: Labels, now: datetime) -> Table:
    out = []
    for r in rows:
        hours = (now - r["due_at"]).total_seconds() / 3600
        out.append(
            [
                r["number"],
                labels.unit(r["unit_code"]),
                KIND_LABELS.get(r["kind"], r["kind"]),
                labels.of("category", (r["category"],)),
                labels.unit(r["area_district"]) if r["area_district"] else UNSPECIFIED,
                r["due_at"].astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M"),
                f"{hours / 24:.1f}",
                r["extension_days"],
                r["reminder_count"],
            ]
        )
    headers = [
        "工单编号",
        "承办单位",
        "诉求类型",
        "问题分类",
        "区（市）",
        "办理时限",
        "超期天数",
        "延期工作日",
        "催办次数",
    ]
    return Table("overdue", TABLES["overdue"], headers, out)


async def dashboard(session: AsyncSession, rt: Runtime, period: Period, min_sample: int) -> Dashboard:
    """Everything the supervisor dashboard shows, each table exportable by name."""
    now = rt.clock()
    rep = await report(session, rt, period, BREAKDOWNS, now=now)
    overall = figures(rep.overall)
    tables = {name: _group_table(name, dim, rep.groups[dim], min_sample) for name, dim in TABLE_DIM.items()}
    labels = Labels(rt)
    if rep.source == "base":  # the rollup read already switched parallel plans off
        await repo.serial_plans(session)
    tables["overdue"] = _overdue_table(await repo.overdue_open(session, now, None, OVERDUE_LIMIT), labels, now)
    by_day = {g.key: g for g in rep.groups["day"]}
    days = [d.isoformat() for d in period.days()]
    intake = [by_day[d].counts.get("intake", 0) if d in by_day else 0 for d in days]
    on_time = [by_day[d].kpis["on_time_rate"] if d in by_day else figure(KPI_BY_CODE["on_time_rate"], {}) for d in days]
    trend: dict[str, list[Any]] = {
        "days": days,
        "intake": intake,
        "on_time_rate": [None if f["value"] is None else round(f["value"] * 100, 1) for f in on_time],
    }
    tables["trend"] = Table(
        "trend",
        TABLES["trend"],
        ["日期", "受理量", "及时办结率", "按时答复", "到期件数"],
        [
            [d, n, pct(f["value"]), f["numerator"], f["denominator"]]
            for d, n, f in zip(days, intake, on_time, strict=True)
        ],
    )
    return Dashboard(period, [(c, overall[c]) for c in CARDS], tables, trend, min_sample, rep.as_of)


# ---------------------------------------------------------------- export


def _safe_cell(value: Any) -> Any:
    """Spreadsheet formula injection: text starting with = + - @ is written as text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


_RATE_CELL = re.compile(r"^(\d+(?:\.\d+)?)%（\d+/\d+）$")
_LOCAL_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$")


def _typed(value: Any) -> Any:
    """A cell as Excel should hold it: a rate "95.3%（…）" as the number 0.953 (shown as a percent),
    a local time "2026-12-07 14:05" as a date-time, counts as numbers; other text as text."""
    if isinstance(value, str):
        rate = _RATE_CELL.match(value)
        if rate:
            return float(rate.group(1)) / 100
        if _LOCAL_TIME.match(value):
            return datetime.strptime(value, "%Y-%m-%d %H:%M")  # noqa: DTZ007 - Excel has no zone: Beijing wall time
    return _safe_cell(value)


def to_csv(table: Table) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(table.headers)
    writer.writerows([[_safe_cell(c) for c in row] for row in table.rows])
    return "\ufeff" + buf.getvalue()  # BOM: Excel opens UTF-8 Chinese correctly


def to_xlsx(table: Table, period: Period) -> bytes:
    from openpyxl import Workbook
    from openpyxl.comments import Comment

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = table.name
    ws.append([f"{table.title}（{period.start.isoformat()} 至 {period.end.isoformat()}）"])
    ws.append(table.headers)
    for row in table.rows:
        ws.append([_typed(c) for c in row])
        for cell, original in zip(ws[ws.max_row], row, strict=False):
            if isinstance(original, str) and _RATE_CELL.match(original):
                cell.number_format = "0.0%"
                cell.comment = Comment("样本：" + original.split("（", 1)[1].rstrip("）"), "12345")
            elif isinstance(cell.value, datetime):
                cell.number_format = "yyyy-mm-dd hh:mm"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()

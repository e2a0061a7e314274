"""工单查找 (issue 11, item 1): the ``/tickets`` search and list page.

Query parameters are the filters (a link is a saved search): ``q`` words of the content, ``phone``
in any notation, ``caller_name``, ``number``, ``status``, ``unit`` and ``category`` by name (or
code), ``channel``, ``kind``, ``district``, ``overdue`` / ``supervised`` / ``redo``, ``from`` /
``to`` (local dates, both included), ``view`` (a saved view), ``sort`` and ``page``. The same
filter function as ``GET /api/v1/tickets`` decides; what a person typed wrong is shown next to
the field, with the form kept.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from dispatcher.calendar import LOCAL_TZ
from dispatcher.lifecycle import STATUS_LABELS
from hotline.errors import FieldProblem, InvalidInput
from hotline.requestctx import RuntimeDep, SessionDep
from hotline.runtime import Runtime
from hotline.tickets import service
from hotline.tickets.search import VIEWS, phone_forms, ticket_filter, views_for
from hotline.users import Role
from hotline.web.agent import view_helpers
from hotline.web.deps import PageActor, render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 20
TEXT_FIELDS = ("q", "phone", "caller_name", "number", "unit", "category", "status", "channel", "kind", "district")
FLAGS = {"overdue": "已超期", "supervised": "督办中", "redo": "重办中"}
SORT_LABELS = {"newest": "受理时间（最新在前）", "oldest": "受理时间（最早在前）", "due": "办理时限（最急在前）"}
FIELD_LABELS = {
    "q": "内容",
    "phone": "来电号码",
    "caller_name": "诉求人",
    "number": "工单编号",
    "unit": "承办单位",
    "category": "事项分类",
    "from": "受理日期（起）",
    "to": "受理日期（止）",
    "view": "常用筛选",
    "sort": "排序",
    "page": "页码",
    "status": "状态",
    "district": "区（市）",
    "channel": "渠道",
    "kind": "诉求类型",
}


def _day(value: str, field: str, problems: list[FieldProblem]) -> date | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        problems.append(FieldProblem(field, "validation.date", "日期格式应为 年-月-日，如 2026-12-01"))
        return None
    if not 2000 <= day.year <= 2100:
        problems.append(FieldProblem(field, "validation.date_range", "日期应在2000年至2100年之间"))
        return None
    return day


def _start(day: date | None) -> datetime | None:
    return datetime.combine(day, time(), LOCAL_TZ) if day else None


def _unit_code(rt: Runtime, value: str, problems: list[FieldProblem]) -> str | None:
    """A unit typed by its name (the picker offers names) or, for staff who know them, its code."""
    if not value:
        return None
    if value in rt.rulebook.units:
        return value
    for unit in rt.rulebook.units.values():
        if unit.name == value:
            return str(unit.code)
    problems.append(FieldProblem("unit", "search.unknown_unit", "没有这个承办单位，请从列表中选择"))
    return None


@router.get("/tickets", response_class=HTMLResponse)
async def ticket_search(request: Request, session: SessionDep, rt: RuntimeDep, actor: PageActor) -> HTMLResponse:
    params = request.query_params
    form = {name: params.get(name, "").strip() for name in (*TEXT_FIELDS, "from", "to", "view", "sort")}
    flags = {name: params.get(name) == "1" for name in FLAGS}
    problems: list[FieldProblem] = []
    page = 1
    if params.get("page"):
        try:
            page = int(params["page"])
        except ValueError:
            page = 0
        if not 1 <= page <= 100_000:
            problems.append(FieldProblem("page", "validation.page", "页码应为1至100000的整数"))
            page = 1
    start, end = _day(form["from"], "from", problems), _day(form["to"], "to", problems)
    if start and end and end < start:
        problems.append(FieldProblem("to", "validation.date_order", "结束日期不能早于开始日期"))
    unit = _unit_code(rt, form["unit"], problems)
    if form["phone"] and actor.role is not Role.UNIT_HANDLER:
        try:
            phone_forms(form["phone"])
        except InvalidInput as exc:
            problems.extend(exc.problems)
    if form["number"] and not form["number"].isdigit():
        problems.append(FieldProblem("number", "validation.number", "工单编号只含数字"))
    for name, limit in (("q", 100), ("caller_name", 100), ("category", 100), ("number", 20)):
        if len(form[name]) > limit:
            problems.append(FieldProblem(name, "validation.too_long", f"最多{limit}个字"))
    await rt.calendar.get(session)  # the countdown in working days
    result = None
    if not problems:
        try:
            flt = ticket_filter(
                actor,
                rt.clock(),
                view=form["view"] or None,
                phone=form["phone"] or None,
                caller_name=form["caller_name"] or None,
                category=form["category"] or None,
                catalogue=rt.rulebook.catalogue,
                sort=form["sort"] or "newest",
                number=form["number"] or None,
                q=form["q"] or None,
                unit=unit,
                status=form["status"] or None,
                channel=form["channel"] or None,
                kind=form["kind"] or None,
                district=form["district"] or None,
                created_from=_start(start),
                created_to=_start(end + timedelta(days=1)) if end else None,
                **{name: True for name, on in flags.items() if on},
            )
            result = await service.list_tickets(session, actor, flt, page, PAGE_SIZE)
        except InvalidInput as exc:
            problems.extend(exc.problems)
    errors = {p.field: p.message for p in problems}
    kept = {k: v for k, v in form.items() if v} | {k: "1" for k, on in flags.items() if on}
    pages = max(1, -(-result.total // PAGE_SIZE)) if result else 1
    return render(
        request,
        "tickets.html",
        actor,
        rt,
        status_code=422 if problems else 200,
        form=form,
        flags=flags,
        errors=errors,
        result=result,
        page=page,
        pages=pages,
        link=lambda **change: "/tickets?" + urlencode({**kept, **change}),
        view_link=lambda code: "/tickets?" + urlencode({"view": code}),
        views=views_for(actor),
        current_view=VIEWS.get(form["view"]),
        is_unit=actor.role is Role.UNIT_HANDLER,
        FLAGS=FLAGS,
        SORT_LABELS=SORT_LABELS,
        FIELD_LABELS=FIELD_LABELS,
        status_choices=[(s.value, label) for s, label in STATUS_LABELS.items()],
        unit_choices=sorted((u.name for u in rt.rulebook.units.values() if u.level.value != "centre"), key=lambda n: n),
        unit_codes=rt.rulebook.units,
        district_choices=[(u.code, u.name) for u in rt.rulebook.units.values() if u.level.value == "district"],
        category_choices=_category_names(rt),
        **view_helpers(),
    )


def _category_names(rt: Runtime) -> list[str]:
    """The catalogue's nodes as people search them: 一级, 一级/二级 and full paths."""
    catalogue = rt.rulebook.catalogue
    if catalogue is None:
        return []
    return ["/".join(node.path) for node in catalogue.nodes.values()]

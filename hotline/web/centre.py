"""Pages of the hotline centre (热线中心): 退单争议审核, 裁定 (机构编制部门), 延期审核, 答复审核,
并单 and 督办. Supervisors and admins review; the arbitrator sees only the arbitration part.

Each POST checks the CSRF token, calls one service inside a savepoint (so a refused input leaves
nothing half-written when the page is shown again with its errors) and redirects back (303) with a
fixed result code; the pages never echo free text from the query string.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from hotline import sla
from hotline.errors import FieldProblem, InvalidInput
from hotline.overview import queue_overview
from hotline.public import KIND_LABELS
from hotline.requestctx import RuntimeDep, SessionDep
from hotline.runtime import Runtime
from hotline.users import Actor, Role
from hotline.web.agent import ticket_page
from hotline.web.deps import FormRefused, PageActor, render, require_page_role, run_form, unit_choices, unit_code_of
from hotline.workflow import actions, callbacks, merge, reviews, supervision
from hotline.workflow.supervision_repository import OrderFilter

router = APIRouter(prefix="/centre", include_in_schema=False)

REVIEWERS = (Role.SUPERVISOR, Role.ADMIN)
ARBITRATORS = (Role.ARBITRATOR, Role.ADMIN)
ARBITRATION_READERS = (Role.SUPERVISOR, Role.ARBITRATOR, Role.ADMIN)
PAGE_SIZE = 50
NUMBER = re.compile(r"^\d{8,20}$")
SPLIT = re.compile(r"[\s,，、;；]+")

RETURN_RESULTS = {"approve": "return_approved", "reject": "return_rejected", "arbitrate": "return_arbitrate"}
OK_MESSAGES = {
    "return_approved": "已同意退单，工单已改派",
    "return_rejected": "已驳回退单（不当退单），原办理时限继续计算",
    "return_arbitrate": "已提请机构编制部门裁定",
    "arbitrated": "已裁定承办单位（终局），工单已派至该单位",
    "extension_approved": "已同意延期，办理时限已顺延",
    "extension_rejected": "已不同意延期，原办理时限不变",
    "reply_approved": "答复审核通过，已转入回访",
    "reply_rejected": "答复已退回承办单位，原办理时限继续计算",
    "merged": "并单完成",
    "supervised": "督办单已下发",
}
FIELD_LABELS = {
    "note": "备注",
    "secondaries": "被并工单编号",
    "reason": "督办事由",
    "content": "督办内容",
    "reply_by": "答复期限",
    "unit": "承办单位",
    "decision": "审核意见",
}
PYDANTIC_MESSAGES = {
    "missing": "必填",
    "string_too_short": "不能为空",
    "string_too_long": "内容过长",
    "too_short": "至少填写一项",
    "too_long": "数量过多",
    "date_parsing": "日期格式不正确",
    "date_from_datetime_parsing": "日期格式不正确",
    "date_type": "日期格式不正确",
}

M = TypeVar("M", bound=BaseModel)


# ---------------------------------------------------------------- helpers


def _units(rt: Runtime) -> list[tuple[str, str]]:
    """Handling units to choose from (the centre itself is not a handling unit)."""
    return [(u.code, u.name) for u in rt.rulebook.units.values() if u.level.value != "centre"]


def _names(rt: Runtime) -> dict[str, str]:
    return {u.code: u.name for u in rt.rulebook.units.values()}


def _flash(ok: str | None, n: str | None) -> str | None:
    message = OK_MESSAGES.get(ok or "")
    if message and n and NUMBER.match(n):
        return f"工单 {n}：{message}"
    return message


def _done(path: str, ok: str, number: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?{urlencode({'ok': ok, 'n': number})}", status_code=303)


def _model(model: type[M], **data: Any) -> M:
    """Build a service input from form fields; pydantic's complaints become Chinese field problems."""
    try:
        return model(**data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "form"
            label = FIELD_LABELS.get(field, field)
            problems.append(
                FieldProblem(
                    field, f"validation.{err['type']}", f"{label}：{PYDANTIC_MESSAGES.get(err['type'], '取值无效')}"
                )
            )
        raise InvalidInput(problems) from exc


def _decision(value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InvalidInput.one("decision", "centre.bad_decision", "请选择审核意见")
    return value


def _page(request: Request, rt: Runtime, actor: Actor, name: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    ok = request.query_params.get("ok")
    return render(
        request,
        name,
        actor,
        rt,
        status_code=status_code,
        flash=_flash(ok, request.query_params.get("n")),
        names=_names(rt),
        unit_names=unit_choices(rt),
        **ctx,
    )


def _invalid(exc: InvalidInput, number: str | None = None) -> dict[str, Any]:
    return {"errors": exc.problems, "failed": number}


# ---------------------------------------------------------------- overview


async def _decide(
    request: Request,
    session: AsyncSession,
    rt: Runtime,
    actor: Actor,
    csrf: str,
    roles: Iterable[Role],
    act: Callable[[], Awaitable[str]],
    page: Callable[..., Awaitable[HTMLResponse]],
    back: str,
    number: str,
    form: dict[str, str] | None = None,
) -> Response:
    """Every centre decision and form (guarded by :func:`run_form`): errors re-render the page with
    the messages and the submitted ``form`` (422), success redirects back with a fixed result code.
    A typed form (``form`` given: a ticket number typed in) also comes back for an unknown or
    conflicting ticket (409), so that what was typed is not lost to an error page."""
    result = await run_form(request, session, rt, actor, csrf, roles, act, conflicts_as_problems=form is not None)
    if isinstance(result, FormRefused):
        ctx = _invalid(result.error, number) | ({"form": form} if form is not None else {})
        return await page(request, session, rt, actor, result.status, **ctx)
    return _done(back, result, number)


@router.get("", response_class=HTMLResponse)
async def overview(request: Request, session: SessionDep, rt: RuntimeDep, actor: PageActor) -> Response:
    """The centre's day at a glance: every queue with its count and how long its oldest item has
    waited (working days), for the city or one district (``?district=``)."""
    require_page_role(actor, *ARBITRATION_READERS)
    districts = [(u.code, u.name) for u in rt.rulebook.units.values() if u.level.value == "district"]
    district = request.query_params.get("district") or None
    unknown = district is not None and district not in dict(districts)
    if unknown:
        district = None
    rows = []
    if actor.role in REVIEWERS:
        calendar = await rt.calendar.get(session)
        rows = await queue_overview(session, calendar, rt.clock(), district)
    return _page(
        request,
        rt,
        actor,
        "centre.html",
        reviewer=actor.role in REVIEWERS,
        queues=rows,
        districts=districts,
        district=district,
        district_unknown=unknown,
    )


# ---------------------------------------------------------------- on the ticket page: 人工催办, 协办


@router.post("/tickets/{number}/remind")
async def ticket_remind(
    request: Request,
    number: str,
    session: SessionDep,
    rt: RuntimeDep,
    actor: PageActor,
    note: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """人工催办 from the ticket page: counts like an automatic reminder and notices the lead unit."""

    async def act() -> str:
        if len(note) > 2000:
            raise InvalidInput.one("note", "validation.too_long", "催办说明最多2000字")
        await sla.manual_remind(session, rt, actor, number, note.strip())
        return "remind"

    return await _ticket_action(request, session, rt, actor, csrf, number, "remind", {"note": note}, act)


@router.post("/tickets/{number}/assists")
async def ticket_assist(
    request: Request,
    number: str,
    session: SessionDep,
    rt: RuntimeDep,
    actor: PageActor,
    unit: Annotated[str, Form()] = "",
    working_days: Annotated[str, Form()] = "",
    instructions: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """增加协办单位 from the ticket page, the unit picked by name, with its own working days."""

    async def act() -> str:
        problems = []
        code = unit_code_of(rt, unit)
        if code is None:
            problems.append(FieldProblem("unit", "assist.unit_required", "请选择协办单位"))
        elif code not in rt.rulebook.units:
            problems.append(FieldProblem("unit", "assist.unknown_unit", "没有这个承办单位，请从列表中选择"))
        days = working_days.strip()
        if not days.isdigit() or not 1 <= int(days) <= 60:
            problems.append(FieldProblem("working_days", "assist.working_days", "协办时限请填写1至60个工作日"))
        if problems:
            raise InvalidInput(problems)
        assert code is not None
        await actions.add_assist(session, rt, actor, number, code, int(days), instructions.strip())
        return "assist"

    form = {"unit": unit, "working_days": working_days, "instructions": instructions}
    return await _ticket_action(request, session, rt, actor, csrf, number, "assist", form, act)


async def _ticket_action(
    request: Request,
    session: AsyncSession,
    rt: Runtime,
    actor: Actor,
    csrf: str,
    number: str,
    form: str,
    values: dict[str, str],
    act: Callable[[], Awaitable[str]],
) -> Response:
    result = await run_form(request, session, rt, actor, csrf, REVIEWERS, act, conflicts_as_problems=True)
    if isinstance(result, FormRefused):
        errors = {p.field: p.message for p in result.error.problems}
        return await ticket_page(
            request, session, rt, actor, number, status_code=result.status, form=form, errors=errors, values=values
        )
    return RedirectResponse(f"/tickets/{number}?done={result}", status_code=303)


# ---------------------------------------------------------------- 退单争议审核 returns


async def _returns_page(
    request: Request, session: AsyncSession, rt: Runtime, actor: Actor, status_code: int = 200, **ctx: Any
) -> HTMLResponse:
    data = await reviews.returns(session, actor, "pending", None)
    reasons = {r.code: r.title for r in rt.rulebook.workflow.return_reasons}
    return _page(
        request, rt, actor, "centre_returns.html", status_code, data=data, units=_units(rt), reasons=reasons, **ctx
    )


@router.get("/returns", response_class=HTMLResponse)
async def returns_list(request: Request, session: SessionDep, rt: RuntimeDep, actor: PageActor) -> Response:
    require_page_role(actor, *REVIEWERS)
    return await _returns_page(request, session, rt, actor)


@router.post("/returns/{number}")
async def returns_decide(
    request: Request,
    number: str,
    session: SessionDep,
    rt: RuntimeDep,
    actor: PageActor,
    decision: Annotated[str, Form()] = "",
    new_unit: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    async def act() -> str:
        chosen = _decision(decision, ("approve", "reject", "arbitrate"))
        await actions.decide_return(session, rt, actor, number, chosen, new_unit or None, note.strip())
        return RETURN_RESULTS[chosen]

    return await _decide(request, session, rt, actor, csrf, REVIEWERS, act, _returns_page, "/centre/returns", number)


# ---------------------------------------------------------------- 裁定 arbitration


async def _arbitration_page(
    request: Request, session: AsyncSession, rt: Runtime, actor: Actor, status_code: int = 200, **ctx: Any
) -> HTMLResponse:
    data = await reviews.returns(session, actor, "arbitration", None)
    reasons = {r.code: r.title for r in rt.rulebook.workflow.return_reasons}
    return _page(
        request,
        rt,
        actor,
        "centre_arbitration.html",
        status_code,
        data=data,
        units=_units(rt),
        reasons=reasons,
        can_decide=actor.role in ARBITRATORS,
        **ctx,
    )


@router.get("/arbitration", response_class=HTMLResponse)
async def arbitration_list(request: Request, session: SessionDep, rt: RuntimeDep, actor: PageActor) -> Response:
    require_page_role(actor, *ARBITRATION_READERS)
    return await _arbitration_page(request, session, rt, actor)


@router.post("/arbitration/{number}")
async def arbitration_decide(
    request: Request,
    number: str,
    session: SessionDep,
    rt: RuntimeDep,
    actor: PageActor,
    unit: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    async def act() -> str:
        await actions.arbitrate(session, rt, actor, number, unit, note.strip())
        return "arbitrated"

    return await _decide(
        request, session, rt, actor, csrf, ARBITRATORS, act, _arbitration_page, "/centre/arbitration", number
    )


# ---------------------------------------------------------------- 延期审核 extensions


async def _extensions_page(
    request: Request, session: AsyncSession, rt: Runtime, actor: Actor, status_code: int = 200, **ctx: Any
) -> HTMLResponse:
    items = await reviews.extensions(session, actor, "pending")
    return _page(request, rt, actor, "centre_extensions.html", status_code, items=items, **ctx)


@router.get("/extensions", response_class=HTMLResponse)
async def extensions_list(request: Request, session: SessionDep, rt: RuntimeDep, actor: PageActor) -> Response:
    require_page_role(actor, *REVIEWERS)
    return await _extensions_page(request, session, rt, actor)


@router.post("/extensions/{number}")
async def extensions_decide(
    request: Request,
    number: str,
    session: SessionDep,
    rt: RuntimeDep,
    actor: PageActor,
    decision: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    async def act() -> str:
        approve = _decision(decision, ("approve", "reject")) == "approve"
        await actions.decide_extension(session, rt, actor, number, approve, note.strip())
        return "extension_approved" if approve else "extension_rejected"

    return await _decide(
        request, session, rt, actor, csrf, REVIEWERS, act, _extensions_page, "/centre/extensions", number
    )


# ---------------------------------------------------------------- 答复审核 replies


def _page_no(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    return int(raw) if raw.isdigit() and 0 < int(raw) < 100_000 else 1


async def _replies_page(
    request: Request, session: AsyncSession, rt: Runtime, actor: Actor, status_code: int = 200, **ctx: Any
) -> HTMLResponse:
    page_no = _page_no(request)
    result, replies = await reviews.replies_for_review(session, actor, page_no, PAGE_SIZE)
    pages = max(1, -(-result.total // PAGE_SIZE))
    return _page(
        request,
        rt,
        actor,
        "centre_replies.html",
        status_code,
        result=result,
        replies=replies,
        pages=pages,
        kinds=KIND_LABELS,
        **ctx,
    )


@router.get("/replies", response_class=HTMLResponse)
async def replies_list(request: Request, session: SessionDep, rt: RuntimeDep, actor: PageActor) -> Response:
    require_page_role(actor, *REVIEWERS)
    return await _replies_page(request, session, rt, actor)


@router.post("/replies/{number}")
async def replies_decide(
    request: Request,
    number: str,
    session: SessionDep,
    rt: RuntimeDep,
    actor: PageActor,
    decision: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    public_text: Annotated[str | None, Form()] = None,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    async def act() -> str:
        approve = _decision(decision, ("approve", "reject")) == "approve"
        if not approve and not note.strip():
            raise InvalidInput.one("note", "reply_review.note_required", "退回答复须写明不合格的理由")
        data = _model(callbacks.ReplyDecisionIn, approve=approve, note=note, public_text=public_text)
        await callbacks.decide_reply(session, rt, actor, number, data)
        return "reply_approved" if approve else "reply_rejected"

    return await _decide(request, session, rt, actor, csrf, REVIEWERS, act, _replies_page, "/centre/replies", number)


# ---------------------------------------------------------------- 并单 merge


async def _merge_page(
    request: Request, session: AsyncSession, rt: Runtime, actor: Actor, status_code: int = 200, **ctx: Any
) -> HTMLResponse:
    ctx.setdefault("form", {})
    return _page(request, rt, actor, "centre_merge.html", status_code, **ctx)


@router.get("/merge", response_class=HTMLResponse)
async def merge_form(request: Request, session: SessionDep, rt: RuntimeDep, actor: PageActor) -> Response:
    require_page_role(actor, *REVIEWERS)
    return await _merge_page(request, session, rt, actor)


@router.post("/merge")
async def merge_submit(
    request: Request,
    session: SessionDep,
    rt: RuntimeDep,
    actor: PageActor,
    primary: Annotated[str, Form()] = "",
    secondaries: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    primary = primary.strip()

    async def act() -> str:
        if not primary:
            raise InvalidInput.one("primary", "merge.primary_required", "主单编号：必填")
        data = _model(merge.MergeIn, secondaries=[s for s in SPLIT.split(secondaries) if s], note=note)
        await merge.merge(session, rt, actor, primary, data)
        return "merged"

    form = {"primary": primary, "secondaries": secondaries, "note": note}
    return await _decide(request, session, rt, actor, csrf, REVIEWERS, act, _merge_page, "/centre/merge", primary, form)


# ---------------------------------------------------------------- 督办 supervision


async def _supervision_page(
    request: Request, session: AsyncSession, rt: Runtime, actor: Actor, status_code: int = 200, **ctx: Any
) -> HTMLResponse:
    state = request.query_params.get("state")
    flt = OrderFilter(state=state if state in ("open", "responded") else None)
    orders = await supervision.list_orders(session, rt, actor, flt, _page_no(request), PAGE_SIZE)
    ctx.setdefault("form", {})
    return _page(
        request,
        rt,
        actor,
        "centre_supervision.html",
        status_code,
        orders=orders,
        state=flt.state,
        pages=max(1, -(-orders.total // PAGE_SIZE)),
        reasons=[(r.code, r.title) for r in rt.rulebook.workflow.supervision_reasons],
        today=supervision.local_today(rt.clock()).isoformat(),
        **ctx,
    )


@router.get("/supervision", response_class=HTMLResponse)
async def supervision_list(request: Request, session: SessionDep, rt: RuntimeDep, actor: PageActor) -> Response:
    require_page_role(actor, *REVIEWERS)
    return await _supervision_page(request, session, rt, actor)


@router.post("/supervision")
async def supervision_issue(
    request: Request,
    session: SessionDep,
    rt: RuntimeDep,
    actor: PageActor,
    number: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    content: Annotated[str, Form()] = "",
    reply_by: Annotated[str, Form()] = "",
    unit: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    number = number.strip()

    async def act() -> str:
        if not number:
            raise InvalidInput.one("number", "supervision.number_required", "工单编号：必填")
        data = _model(
            supervision.SupervisionIn, reason=reason, content=content, reply_by=reply_by, unit=unit_code_of(rt, unit)
        )
        await supervision.issue(session, rt, actor, number, data)
        return "supervised"

    form = {"number": number, "reason": reason, "content": content, "reply_by": reply_by, "unit": unit}
    return await _decide(
        request, session, rt, actor, csrf, REVIEWERS, act, _supervision_page, "/centre/supervision", number, form
    )

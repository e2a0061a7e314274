"""Agent pages: the new-call form with a live routing preview, the ticket detail and the callback queue."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from dispatcher.lifecycle import TRANSITIONS
from hotline import web_services
from hotline.errors import Conflict, InvalidInput, NotFound
from hotline.requestctx import RuntimeDep, SessionDep
from hotline.runtime import Runtime
from hotline.tickets.schemas import Channel, TicketIn
from hotline.tickets.service import get_ticket, intake
from hotline.users import Actor, Role
from hotline.web import timefmt
from hotline.web.deps import PageActor, check_csrf, render, require_page_role, unit_choices
from hotline.workflow.callbacks import CallbackIn, list_callbacks, record_callback
from hotline.workflow.merge import repeat_call
from routing_rules.schema import MERGER_MODE_LABELS

router = APIRouter(include_in_schema=False)

AGENT_ROLES = (Role.AGENT, Role.SUPERVISOR, Role.ADMIN)

CHANNEL_LABELS = {
    Channel.PHONE.value: "电话",
    Channel.WEB.value: "网站",
    Channel.WECHAT.value: "微信",
    Channel.APP.value: "移动客户端",
    Channel.EMAIL.value: "电子邮件",
    Channel.SMS.value: "短信",
    Channel.LEADER_MAILBOX.value: "领导信箱",
    Channel.GOV_PORTAL.value: "政府门户网站",
    Channel.PROVINCIAL_HOTLINE.value: "省12345转办",
    Channel.ENTERPRISE_PLATFORM.value: "企业诉求平台",
}
KIND_LABELS = {"consultation": "咨询", "help": "求助", "complaint": "投诉", "report": "举报", "suggestion": "建议"}
CALLER_TYPE_LABELS = {"citizen": "群众", "enterprise": "企业"}
DISPOSITION_LABELS = {
    "dispatch": "派单办理",
    "subcentre": "派分中心办理",
    "direct_answer": "座席直接答复",
    "emergency_transfer": "转接紧急热线",
    "not_accepted": "不予受理",
}
UNIT_ROLE_LABELS = {"lead": "主办", "assist": "协办", "lower": "下派", "former": "原承办"}
ACTION_LABELS = {action.value: t.label for action, t in TRANSITIONS.items()} | {
    "intake": "受理登记",
    "repeat_call": "重复来电",
    "close_with_primary": "随主单办结",
    "callback_sampled": "抽样回访",
    "sampled_callback": "抽样回访评价",
}
"""Timeline labels: the lifecycle's own action labels, plus the events recorded outside it."""
SATISFACTION_LABELS = {"satisfied": "满意", "basically_satisfied": "基本满意", "unsatisfied": "不满意"}
RESOLUTION_LABELS = {"resolved": "已解决", "partly_resolved": "部分解决", "unresolved": "未解决"}
OUTCOME_LABELS = {
    "resolved": "已解决",
    "explained": "已解释说明",
    "cannot_resolve": "无法解决",
    "satisfied": "满意",
    "basically_satisfied": "基本满意",
    "unsatisfied": "不满意",
    "unreasonable": "不合理诉求",
    "unreachable": "无法联系",
    "no_callback": "无需回访",
}

FIELD_LABELS = {
    "channel": "来电渠道",
    "line": "拨打号码",
    "caller": "诉求人",
    "caller.type": "诉求人类型",
    "caller.name": "姓名",
    "caller.phone": "联系电话",
    "caller.enterprise_name": "企业名称",
    "caller.credit_code": "统一社会信用代码",
    "kind": "诉求类型",
    "content": "诉求内容",
    "category": "诉求分类",
    "area.district": "区（市）",
    "area.town": "镇（街）",
    "area.village": "村（居）",
    "address": "详细地址",
    "answer": "答复内容",
    "not_accepted_reason": "不予受理原因",
    "reached": "是否接通",
    "satisfaction": "满意度",
    "resolution": "解决情况",
    "reasonable": "不满意是否合理",
    "note": "备注",
}
MODEL_LEVEL_FIELD = {"caller": "caller.enterprise_name", "": "answer"}
"""Where a model-level check's message is shown (the enterprise-name rule, the answer-only-for-consultations rule)."""

MESSAGES = {
    "missing": "{label}为必填项",
    "string_too_short": "{label}不能为空",
    "string_too_long": "{label}不能超过{max_length}个字",
    "string_pattern_mismatch": "{label}格式不正确",
    "enum": "请选择{label}",
    "literal_error": "请选择{label}",
    "bool_parsing": "请选择{label}",
    "bool_type": "请选择{label}",
    "int_parsing": "{label}须为整数",
}


def field_errors(exc: ValidationError) -> dict[str, str]:
    """Pydantic errors of a form as Chinese messages keyed by form field name."""
    out: dict[str, str] = {}
    for err in exc.errors():
        name = ".".join(str(p) for p in err["loc"])
        name = MODEL_LEVEL_FIELD.get(name, name)
        label = FIELD_LABELS.get(name, name)
        ctx = err.get("ctx") or {}
        if err["type"] == "value_error":
            message = str(ctx.get("error", err["msg"]))
        else:
            try:
                message = MESSAGES.get(err["type"], "{label}取值无效").format(label=label, **ctx)
            except (KeyError, IndexError):
                message = f"{label}取值无效"
        out.setdefault(name, message)
    return out


def problem_errors(exc: InvalidInput) -> dict[str, str]:
    return {p.field: p.message for p in exc.problems}


def form_values(form: FormData) -> dict[str, str]:
    return {k: v.strip() for k, v in form.items() if isinstance(v, str)}


def view_helpers() -> dict[str, Any]:
    """Labels and formatters shared by the agent, ticket and unit templates."""
    return {
        "lt": timefmt.local,
        "CHANNEL_LABELS": CHANNEL_LABELS,
        "KIND_LABELS": KIND_LABELS,
        "CALLER_TYPE_LABELS": CALLER_TYPE_LABELS,
        "DISPOSITION_LABELS": DISPOSITION_LABELS,
        "UNIT_ROLE_LABELS": UNIT_ROLE_LABELS,
        "ACTION_LABELS": ACTION_LABELS,
        "OUTCOME_LABELS": OUTCOME_LABELS,
        "SATISFACTION_LABELS": SATISFACTION_LABELS,
        "RESOLUTION_LABELS": RESOLUTION_LABELS,
    }


# ---------------------------------------------------------------- 受理 new call


def ticket_payload(v: dict[str, str], *, with_answer: bool) -> dict[str, Any]:
    """The form as a :class:`TicketIn` body; empty fields are absent. The answer is only sent with
    the direct-answer button, so the main button always registers and dispatches."""

    def opt(name: str) -> str | None:
        return v.get(name) or None

    area = {k: opt(f"area.{k}") for k in ("district", "town", "village")}
    return {
        "channel": v.get("channel") or Channel.PHONE.value,
        "line": v.get("line") or "12345",
        "caller": {
            "type": v.get("caller.type") or "citizen",
            "name": opt("caller.name"),
            "phone": opt("caller.phone"),
            "enterprise_name": opt("caller.enterprise_name"),
            "credit_code": opt("caller.credit_code"),
            "confidential": v.get("caller.confidential") == "1",
        },
        "kind": v.get("kind", ""),
        "content": v.get("content", ""),
        "category": opt("category"),
        "area": area if any(area.values()) else None,
        "address": opt("address"),
        "answer": opt("answer") if with_answer else None,
        "not_accepted_reason": opt("not_accepted_reason"),
    }


def _console(
    request: Request,
    actor: PageActor,
    rt: RuntimeDep,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    values = dict(values or {})
    values.setdefault("idempotency_key", uuid.uuid4().hex)
    rb = rt.rulebook
    return render(
        request,
        "agent.html",
        actor,
        rt,
        status_code=status_code,
        v=values,
        errors=errors or {},
        channels=[c.value for c in Channel],
        lines=[m for m in rb.merger_list if m.number],
        category_groups=_category_groups(rt),
        not_accepted=rb.policy.not_accepted,
        MERGER_MODE_LABELS={k.value: label for k, label in MERGER_MODE_LABELS.items()},
        **view_helpers(),
    )


def _category_groups(rt: RuntimeDep) -> list[tuple[str, list[tuple[str, str]]]]:
    """Dispatchable catalogue leaves by first-level group, in catalogue order, for the form's select."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for c in rt.rulebook.categories.values():
        groups.setdefault(c.group, []).append((c.code, " / ".join(c.path[1:]) if c.path else c.name))
    return list(groups.items())


@router.get("/agent", response_class=HTMLResponse)
async def console(request: Request, rt: RuntimeDep, actor: PageActor) -> Response:
    require_page_role(actor, *AGENT_ROLES)
    return _console(request, actor, rt)


@router.post("/agent/preview", response_class=HTMLResponse)
async def preview(request: Request, session: SessionDep, rt: RuntimeDep, actor: PageActor) -> Response:
    require_page_role(actor, *AGENT_ROLES)
    values = form_values(await request.form())
    check_csrf(request, rt.settings.secret_key, values.get("csrf"))
    notes: dict[str, str] = {}
    try:
        data = TicketIn.model_validate(ticket_payload(values, with_answer=False))
    except ValidationError as exc:
        notes = field_errors(exc)
        lenient = _lenient_payload(values)
        if lenient is None:
            return render(request, "partials/agent_preview.html", actor, rt, view=None, errors=notes)
        # The content alone decides emergencies and the category: preview it while the agent is
        # still filling in the other fields (issue 9), and say which fields are still missing.
        data = TicketIn.model_validate(lenient)
    view = await web_services.preview_call(session, rt, data)
    return render(
        request,
        "partials/agent_preview.html",
        actor,
        rt,
        view=view,
        errors={},
        notes=notes,
        kind=data.kind.value if "kind" not in notes else "",
        FIELD_LABELS=FIELD_LABELS,
        **view_helpers(),
    )


def _lenient_payload(values: dict[str, str]) -> dict[str, Any] | None:
    """The form with only what routing and the caller's history need (content, line, place,
    category, the phone) for the preview, or ``None`` when even that is not valid: an unselected
    kind previews as a complaint, the caller's other details are left out, and a phone not yet
    complete is left out too (agents type the phone first: its history shows as soon as it is)."""
    payload = ticket_payload(values, with_answer=False)
    payload["kind"] = payload["kind"] or "complaint"
    payload["content"] = payload["content"][:5000]  # too long to submit, still previewed
    enterprise = payload["caller"]["type"] == "enterprise"
    phone = payload["caller"].get("phone")
    payload["caller"] = {"type": "enterprise" if enterprise else "citizen"}
    if enterprise:
        payload["caller"]["enterprise_name"] = "（待填写）"
    for with_phone in (True, False) if phone else (False,):
        if with_phone:
            payload["caller"]["phone"] = phone
        else:
            payload["caller"].pop("phone", None)
        try:
            TicketIn.model_validate(payload)
        except ValidationError:
            continue
        return payload
    return None


@router.post("/agent/tickets/{number}/repeat")
async def record_repeat(
    number: str, request: Request, session: SessionDep, rt: RuntimeDep, actor: PageActor
) -> Response:
    """One click from the 疑似重复 warning: the call on the form becomes a 重复来电 of ``number``
    (实施方案第20条), kept as evidence on that ticket, with no new dispatch or time limit."""
    require_page_role(actor, *AGENT_ROLES)
    values = form_values(await request.form())
    check_csrf(request, rt.settings.secret_key, values.get("csrf"))
    try:
        data = TicketIn.model_validate(ticket_payload(values, with_answer=False))
    except ValidationError as exc:
        return _console(request, actor, rt, values, field_errors(exc), status_code=422)
    try:
        async with session.begin_nested():
            await repeat_call(session, rt, actor, number, data)
    except (InvalidInput, Conflict, NotFound) as exc:
        problems = problem_errors(exc) if isinstance(exc, InvalidInput) else {"form": exc.message}
        return _console(request, actor, rt, values, problems, status_code=422 if isinstance(exc, InvalidInput) else 409)
    return RedirectResponse(f"/tickets/{number}?done=repeat", status_code=303)


@router.post("/agent/tickets")
async def create_ticket(request: Request, session: SessionDep, rt: RuntimeDep, actor: PageActor) -> Response:
    require_page_role(actor, *AGENT_ROLES)
    values = form_values(await request.form())
    check_csrf(request, rt.settings.secret_key, values.get("csrf"))
    direct = values.get("submit") == "answer"
    errors: dict[str, str] = {}
    data: TicketIn | None = None
    try:
        data = TicketIn.model_validate(ticket_payload(values, with_answer=direct))
    except ValidationError as exc:
        errors = field_errors(exc)
    if direct and not values.get("answer"):
        errors.setdefault("answer", "直接答复须填写答复内容")
    if data is None or errors:
        return _console(request, actor, rt, values, errors, status_code=422)
    try:
        result = await intake(session, rt, actor, data, values.get("idempotency_key") or None)
    except InvalidInput as exc:
        return _console(request, actor, rt, values, problem_errors(exc), status_code=422)
    return RedirectResponse(f"/tickets/{result.ticket.number}?done=intake", status_code=303)


# ---------------------------------------------------------------- 工单详情 ticket detail


@router.get("/tickets/{number}", response_class=HTMLResponse)
async def ticket_detail(
    number: str, request: Request, session: SessionDep, rt: RuntimeDep, actor: PageActor
) -> Response:
    return await ticket_page(request, session, rt, actor, number)


CENTRE_DONE = {"remind": "已催办，承办单位将收到催办通知。", "assist": "已增加协办单位。", "repeat": ""}


async def ticket_page(
    request: Request,
    session: AsyncSession,
    rt: Runtime,
    actor: Actor,
    number: str,
    *,
    status_code: int = 200,
    form: str | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> HTMLResponse:
    """The ticket page; for the centre with its actions (人工催办, 增加协办单位), their problems shown
    next to the form that was sent and what was typed kept."""
    ticket = await get_ticket(session, rt, actor, number)
    await rt.calendar.get(session)  # the countdown in working days
    return render(
        request,
        "ticket.html",
        actor,
        rt,
        status_code=status_code,
        t=ticket,
        centre=actor.role in (Role.SUPERVISOR, Role.ADMIN),
        done=CENTRE_DONE.get(request.query_params.get("done") or ""),
        form=form,
        errors=errors or {},
        v=values or {},
        unit_names=unit_choices(rt),
        **view_helpers(),
    )


# ---------------------------------------------------------------- 回访 callbacks


async def _callbacks_page(
    request: Request,
    session: SessionDep,
    rt: RuntimeDep,
    actor: PageActor,
    *,
    due: str = "all",
    done: str | None = None,
    failed: str | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    page = await list_callbacks(session, rt, actor, "today" if due == "today" else "all", 1, 100)
    return render(
        request,
        "agent_callbacks.html",
        actor,
        rt,
        status_code=status_code,
        page=page,
        due=due,
        done=done,
        failed=failed,
        errors=errors or {},
        v=values or {},
        **view_helpers(),
    )


@router.get("/agent/callbacks", response_class=HTMLResponse)
async def callbacks(request: Request, session: SessionDep, rt: RuntimeDep, actor: PageActor) -> Response:
    require_page_role(actor, *AGENT_ROLES)
    due = request.query_params.get("due", "all")
    done = request.query_params.get("done")
    return await _callbacks_page(request, session, rt, actor, due=due, done=done)


def callback_payload(v: dict[str, str]) -> dict[str, Any]:
    flags = {"yes": True, "no": False}
    return {
        "reached": flags.get(v.get("reached", ""), v.get("reached") or None),
        "satisfaction": v.get("satisfaction") or None,
        "resolution": v.get("resolution") or None,
        "reasonable": flags.get(v.get("reasonable", "")),
        "note": v.get("note", ""),
    }


@router.post("/agent/callbacks/{number}")
async def callback_result(
    number: str, request: Request, session: SessionDep, rt: RuntimeDep, actor: PageActor
) -> Response:
    require_page_role(actor, *AGENT_ROLES)
    values = form_values(await request.form())
    check_csrf(request, rt.settings.secret_key, values.get("csrf"))
    try:
        data = CallbackIn.model_validate(callback_payload(values))
        await record_callback(session, rt, actor, number, data)
    except ValidationError as exc:
        errors = field_errors(exc)
    except InvalidInput as exc:
        errors = problem_errors(exc)
    else:
        return RedirectResponse(f"/agent/callbacks?done={number}", status_code=303)
    return await _callbacks_page(
        request, session, rt, actor, failed=number, errors=errors, values=values, status_code=422
    )

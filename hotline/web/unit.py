"""Unit workbench: the unit's queue with countdowns, and the actions on one ticket (签收、答复、退单、
延期、下派、子任务答复). Every action re-renders with the service's messages or redirects back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hotline import web_services
from hotline.errors import InvalidInput
from hotline.requestctx import RuntimeDep, SessionDep
from hotline.users import Actor, Role
from hotline.web.agent import form_values, problem_errors, view_helpers
from hotline.web.deps import PageActor, check_csrf, render, require_page_role, unit_choices, unit_code_of
from hotline.workflow import actions, supervision
from hotline.workflow.contact import OPEN as OPEN_FOR_CONTACT
from hotline.workflow.contact import reveal_contact
from hotline.workflow.queue import LEAD_STATUSES, QueueFilter, queue

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
REPLY_OUTCOMES = {"resolved": "已解决", "explained": "已解释说明", "cannot_resolve": "无法解决"}
DONE_MESSAGES = {
    "accept": "已签收，请在办理时限内答复。",
    "reply": "已答复，等待热线中心审核。",
    "return": "退单申请已提交，等待热线中心审核。",
    "extension": "延期申请已提交，等待热线中心审核。",
    "dispatch_down": "已向下级单位派单。",
    "task": "子任务已答复。",
    "supervision": "督办单已回复，热线中心可见。",
}


def _flag(value: str | None) -> bool:
    return value in ("1", "on", "true", "yes")


@router.get("/unit", response_class=HTMLResponse)
async def workbench(request: Request, session: SessionDep, rt: RuntimeDep, actor: PageActor) -> Response:
    require_page_role(actor, Role.UNIT_HANDLER)
    q = request.query_params
    status = q.get("status") if q.get("status") in LEAD_STATUSES else None
    overdue = True if _flag(q.get("overdue")) else None
    due24 = _flag(q.get("due24"))
    page_text = q.get("page", "1")
    page = int(page_text) if page_text.isdigit() and int(page_text) >= 1 else 1
    flt = QueueFilter(status=status, overdue=overdue, due_within_hours=24.0 if due24 else None)
    data = await queue(session, rt, actor, None, flt, page, PAGE_SIZE)
    return render(
        request,
        "unit.html",
        actor,
        rt,
        q=data,
        status=status,
        overdue=bool(overdue),
        due24=due24,
        statuses=LEAD_STATUSES,
        **view_helpers(),
    )


async def _detail(
    request: Request,
    session: SessionDep,
    rt: RuntimeDep,
    actor: Actor,
    number: str,
    *,
    form: str | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
    contact: Any = None,
) -> HTMLResponse:
    view = await web_services.unit_ticket_view(session, rt, actor, number)
    await rt.calendar.get(session)  # the countdown in working days
    wf = rt.rulebook.workflow
    done = request.query_params.get("done")
    return render(
        request,
        "unit_ticket.html",
        actor,
        rt,
        status_code=status_code,
        t=view.ticket,
        tasks=view.tasks,
        children=view.children,
        orders=view.orders,
        extension_pending=view.extension_pending,
        deadline_passed=view.ticket.deadline is not None and view.ticket.deadline.due_at <= rt.clock(),
        unit_choices=unit_choices(rt),
        return_reasons=wf.return_reasons,
        cannot_resolve_reasons=wf.cannot_resolve_reasons,
        extension_cap=rt.rulebook.policy.time_limits.extension_max_working_days,
        outcomes=REPLY_OUTCOMES,
        done=DONE_MESSAGES.get(done or ""),
        form=form,
        errors=errors or {},
        v=values or {},
        contact=contact,
        contact_open=view.ticket.status in {s.value for s in OPEN_FOR_CONTACT},
        **view_helpers(),
    )


@router.get("/unit/tickets/{number}", response_class=HTMLResponse)
async def ticket(number: str, request: Request, session: SessionDep, rt: RuntimeDep, actor: PageActor) -> Response:
    require_page_role(actor, Role.UNIT_HANDLER)
    return await _detail(request, session, rt, actor, number)


async def _act(
    request: Request,
    session: SessionDep,
    rt: RuntimeDep,
    actor: Actor,
    number: str,
    form: str,
    act: Callable[[dict[str, str]], Awaitable[Any]],
    precheck: Callable[[dict[str, str]], dict[str, str]] | None = None,
) -> Response:
    """One unit action: role, CSRF, the form's own checks, the service call; errors re-render the
    ticket with messages next to the form's fields (422), success redirects back (303)."""
    require_page_role(actor, Role.UNIT_HANDLER)
    values = form_values(await request.form())
    check_csrf(request, rt.settings.secret_key, values.get("csrf"))
    errors = precheck(values) if precheck else {}
    if not errors:
        try:
            await act(values)
        except InvalidInput as exc:
            errors = problem_errors(exc)
        else:
            return RedirectResponse(f"/unit/tickets/{number}?done={form}", status_code=303)
    return await _detail(request, session, rt, actor, number, form=form, errors=errors, values=values, status_code=422)


def _days(values: dict[str, str], errors: dict[str, str]) -> int:
    text = values.get("working_days", "")
    if not text.isdigit() or int(text) < 1:
        errors["working_days"] = "请填写工作日数（正整数）"
        return 0
    return int(text)


@router.post("/unit/tickets/{number}/contact", response_class=HTMLResponse)
async def contact(number: str, request: Request, session: SessionDep, rt: RuntimeDep, actor: PageActor) -> Response:
    """查看联系方式: shown on the page it was asked from (never in a URL), and audited."""
    require_page_role(actor, Role.UNIT_HANDLER)
    values = form_values(await request.form())
    check_csrf(request, rt.settings.secret_key, values.get("csrf"))
    try:
        caller = await reveal_contact(session, actor, number, values.get("reason", ""))
    except InvalidInput as exc:
        return await _detail(
            request,
            session,
            rt,
            actor,
            number,
            form="contact",
            errors=problem_errors(exc),
            values=values,
            status_code=422,
        )
    return await _detail(request, session, rt, actor, number, contact=caller)


@router.post("/unit/tickets/{number}/accept")
async def accept(number: str, request: Request, session: SessionDep, rt: RuntimeDep, actor: PageActor) -> Response:
    async def act(v: dict[str, str]) -> Any:
        return await actions.accept(session, rt, actor, number)

    return await _act(request, session, rt, actor, number, "accept", act)


@router.post("/unit/tickets/{number}/reply")
async def reply(number: str, request: Request, session: SessionDep, rt: RuntimeDep, actor: PageActor) -> Response:
    def check(v: dict[str, str]) -> dict[str, str]:
        return {} if v.get("outcome") in REPLY_OUTCOMES else {"outcome": "请选择办理结果"}

    async def act(v: dict[str, str]) -> Any:
        data = actions.ReplyInput(
            content=v.get("content", ""),
            outcome=v["outcome"],
            reason=v.get("reason") or None if v["outcome"] == "cannot_resolve" else None,
            attachments=[],
        )
        return await actions.reply(session, rt, actor, number, data)

    return await _act(request, session, rt, actor, number, "reply", act, check)


@router.post("/unit/tickets/{number}/return")
async def request_return(
    number: str, request: Request, session: SessionDep, rt: RuntimeDep, actor: PageActor
) -> Response:
    def check(v: dict[str, str]) -> dict[str, str]:
        return {} if v.get("reason") else {"reason": "请选择退单原因"}

    async def act(v: dict[str, str]) -> Any:
        return await actions.request_return(
            session, rt, actor, number, v["reason"], v.get("explanation", ""), unit_code_of(rt, v.get("suggested_unit"))
        )

    return await _act(request, session, rt, actor, number, "return", act, check)


@router.post("/unit/tickets/{number}/extension")
async def request_extension(
    number: str, request: Request, session: SessionDep, rt: RuntimeDep, actor: PageActor
) -> Response:
    def check(v: dict[str, str]) -> dict[str, str]:
        errors: dict[str, str] = {}
        _days(v, errors)
        return errors

    async def act(v: dict[str, str]) -> Any:
        return await actions.request_extension(session, rt, actor, number, int(v["working_days"]), v.get("reason", ""))

    return await _act(request, session, rt, actor, number, "extension", act, check)


@router.post("/unit/tickets/{number}/dispatch-down")
async def dispatch_down(
    number: str, request: Request, session: SessionDep, rt: RuntimeDep, actor: PageActor
) -> Response:
    def check(v: dict[str, str]) -> dict[str, str]:
        errors: dict[str, str] = {}
        if not v.get("unit"):
            errors["unit"] = "请选择下级承办单位"
        _days(v, errors)
        return errors

    async def act(v: dict[str, str]) -> Any:
        return await actions.dispatch_down(
            session, rt, actor, number, v["unit"], int(v["working_days"]), v.get("instructions", "")
        )

    return await _act(request, session, rt, actor, number, "dispatch_down", act, check)


@router.post("/unit/tickets/{number}/supervision/{order_id}")
async def answer_supervision(
    number: str, order_id: int, request: Request, session: SessionDep, rt: RuntimeDep, actor: PageActor
) -> Response:
    """回复督办单 on the unit's ticket page (实施方案第13条): the order's unit answers it once."""

    def check(v: dict[str, str]) -> dict[str, str]:
        text = v.get("content", "").strip()
        if not text:
            return {"content": "请填写督办回复内容"}
        return {"content": "督办回复最多5000字"} if len(text) > 5000 else {}

    async def act(v: dict[str, str]) -> Any:
        return await supervision.respond(session, rt, actor, order_id, supervision.ResponseIn(content=v["content"]))

    return await _act(request, session, rt, actor, number, "supervision", act, check)


@router.post("/unit/tickets/{number}/tasks/{task_id}/answer")
async def answer_task(
    number: str, task_id: int, request: Request, session: SessionDep, rt: RuntimeDep, actor: PageActor
) -> Response:
    async def act(v: dict[str, str]) -> Any:
        return await actions.answer_task(session, rt, actor, number, task_id, v.get("content", ""))

    return await _act(request, session, rt, actor, number, "task", act)

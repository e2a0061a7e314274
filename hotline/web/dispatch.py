"""Pages of smart dispatch: the catalogue (派单目录) to browse and search, the centre's manual
dispatch list with the classifier's suggestions, and the model page (metrics, promote, roll back)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.dispatch import service
from hotline.errors import FieldProblem, InvalidInput
from hotline.requestctx import RuntimeDep, SessionDep
from hotline.runtime import Runtime
from hotline.users import Actor, Role
from hotline.web.deps import FormRefused, PageActor, render, require_page_role, run_form

router = APIRouter(include_in_schema=False)

CATALOGUE_READERS = (Role.AGENT, Role.SUPERVISOR, Role.ADMIN)
CENTRE = (Role.SUPERVISOR, Role.ADMIN)
STATUS_LABELS = {"current": "当前使用", "previous": "上一版本", "candidate": "候选", "retired": "已停用"}
SCOPE_LABELS = {"sector": "行业主管（派市直部门）", "territorial": "属地管理（派事发地区（市）/镇（街））"}
OK_MESSAGES = {
    "dispatched": "已人工派单",
    "promoted": "已启用所选模型",
    "rolled_back": "已回退到上一版本模型",
}


def _creator(who: str) -> str:
    """Who trained a model, as people say it (never the internal marker)."""
    if who == "migrate":
        return "系统初始化时自动训练"
    if who.startswith("cli:"):
        return f"命令行（{who[4:]}）"
    return who


def _flash(request: Request) -> str | None:
    message = OK_MESSAGES.get(request.query_params.get("ok") or "")
    number = request.query_params.get("n") or ""
    if message and number.isdigit() and len(number) <= 20:
        return f"工单 {number}：{message}"
    return message


@router.get("/centre/catalogue", response_class=HTMLResponse)
async def catalogue_page(
    request: Request,
    rt: RuntimeDep,
    actor: PageActor,
    q: Annotated[str | None, Query()] = None,
) -> Response:
    require_page_role(actor, *CATALOGUE_READERS)
    q = (q or "").replace("\x00", "").strip()[:100] or None  # a page never answers with a raw 422
    tree = service.catalogue_tree(rt.rulebook, q)
    reasons = {r.code: r.title for r in rt.rulebook.policy.not_accepted}
    return render(
        request, "dispatch_catalogue.html", actor, rt, tree=tree, q=q or "", reasons=reasons, SCOPE_LABELS=SCOPE_LABELS
    )


async def _queue_page(
    request: Request, session: AsyncSession, rt: Runtime, actor: Actor, status_code: int = 200, **ctx: Any
) -> HTMLResponse:
    queue = await service.manual_queue_view(session, rt)
    groups: dict[str, list[tuple[str, str]]] = {}
    for c in rt.rulebook.categories.values():
        groups.setdefault(c.group, []).append((c.code, " / ".join(c.path[1:]) if c.path else c.name))
    units = [(u.code, u.name) for u in rt.rulebook.units.values() if u.level.value != "centre"]
    return render(
        request,
        "dispatch_queue.html",
        actor,
        rt,
        status_code=status_code,
        queue=queue,
        category_groups=list(groups.items()),
        units=units,
        flash=_flash(request),
        **ctx,
    )


@router.get("/centre/dispatch", response_class=HTMLResponse)
async def manual_queue(request: Request, session: SessionDep, rt: RuntimeDep, actor: PageActor) -> Response:
    require_page_role(actor, *CENTRE)
    return await _queue_page(request, session, rt, actor)


@router.post("/centre/dispatch/{number}")
async def manual_dispatch(
    number: str,
    request: Request,
    session: SessionDep,
    rt: RuntimeDep,
    actor: PageActor,
    csrf: Annotated[str, Form()] = "",
    category: Annotated[str, Form(max_length=64)] = "",
    other: Annotated[str, Form(max_length=64)] = "",
    unit: Annotated[str, Form(max_length=64)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """The leaf picked from the whole catalogue wins over the suggestion's radio button."""
    chosen = other or category

    async def act() -> None:
        if not chosen:
            raise InvalidInput.one("category", "category.required", "请选择派单目录事项")
        await service.manual_dispatch(session, rt, actor, number, chosen, unit or None, note.strip())

    async def page(code: int, problems: list[FieldProblem]) -> HTMLResponse:
        return await _queue_page(request, session, rt, actor, code, errors=problems, failed=number)

    done = f"/centre/dispatch?{urlencode({'ok': 'dispatched', 'n': number})}"
    return await _act(request, session, rt, actor, csrf, act, page, done)


async def _act(
    request: Request,
    session: AsyncSession,
    rt: Runtime,
    actor: Actor,
    csrf: str,
    act: Callable[[], Awaitable[object]],
    page: Callable[[int, list[FieldProblem]], Awaitable[HTMLResponse]],
    done: str,
) -> Response:
    """Every form of these pages (guarded by :func:`run_form`, the centre's roles): the page again
    with the Chinese problems (422 for input, 409 for a conflict) or a redirect (303) to ``done``."""
    result = await run_form(request, session, rt, actor, csrf, CENTRE, act, conflicts_as_problems=True)
    if isinstance(result, FormRefused):
        return await page(result.status, result.error.problems)
    return RedirectResponse(done, status_code=303)


async def _model_page(
    request: Request, session: AsyncSession, rt: Runtime, actor: Actor, status_code: int = 200, **ctx: Any
) -> HTMLResponse:
    overview = await service.model_overview(session, rt)
    catalogue = service.catalogue_of(rt.rulebook)
    names = {code: node.name for code, node in catalogue.nodes.items() if node.level == 1}
    return render(
        request,
        "dispatch_model.html",
        actor,
        rt,
        status_code=status_code,
        o=overview,
        group_names=names,
        STATUS_LABELS=STATUS_LABELS,
        SOURCE_LABELS=service.SOURCE_LABELS,
        creator=_creator,
        flash=_flash(request),
        **ctx,
    )


@router.get("/centre/model", response_class=HTMLResponse)
async def model_page(request: Request, session: SessionDep, rt: RuntimeDep, actor: PageActor) -> Response:
    require_page_role(actor, *CENTRE)
    return await _model_page(request, session, rt, actor)


@router.post("/centre/model/promote")
async def promote(
    request: Request,
    session: SessionDep,
    rt: RuntimeDep,
    actor: PageActor,
    csrf: Annotated[str, Form()] = "",
    version: Annotated[str, Form(max_length=64)] = "",
    force: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    async def page(code: int, problems: list[FieldProblem]) -> HTMLResponse:
        return await _model_page(request, session, rt, actor, code, errors=problems)

    act = partial(service.promote_model, session, rt, version, force=force == "1")
    return await _act(request, session, rt, actor, csrf, act, page, "/centre/model?ok=promoted")


@router.post("/centre/model/rollback")
async def rollback(
    request: Request, session: SessionDep, rt: RuntimeDep, actor: PageActor, csrf: Annotated[str, Form()] = ""
) -> Response:
    async def page(code: int, problems: list[FieldProblem]) -> HTMLResponse:
        return await _model_page(request, session, rt, actor, code, errors=problems)

    act = partial(service.rollback_model, session, rt)
    return await _act(request, session, rt, actor, csrf, act, page, "/centre/model?ok=rolled_back")

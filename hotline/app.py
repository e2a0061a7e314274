"""Application factory. No import-time side effects: everything is built in :func:`create_app`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException
from swagger_ui_bundle import swagger_ui_path

from dispatcher.calendar import CalendarError
from dispatcher.lifecycle import IllegalTransition
from hotline import web
from hotline.api import auth, calendar, callbacks, dispatch, kpi, merge, supervision, tickets, units, workflow
from hotline.api.deps import document_roles
from hotline.api.errors import ERROR_RESPONSES
from hotline.clock import Clock, utc_now
from hotline.db import database_url, make_engine, make_sessionmaker
from hotline.edge import InputGuard, Refused, Scope, SecurityHeaders
from hotline.errors import DomainError, InvalidInput
from hotline.runtime import Runtime
from hotline.scheduler import run_forever
from hotline.security import read_token
from hotline.settings import Settings, get_settings
from hotline.users import Actor, actor_of, user_of_token
from routing_rules.loader import Rulebook, load_rulebook

log = logging.getLogger(__name__)

MESSAGES = {
    "missing": "必填",
    "string_too_short": "至少 {min_length} 个字符",
    "string_too_long": "超过最大长度 {max_length}",
    "string_pattern_mismatch": "格式不正确",
    "enum": "取值必须是 {expected} 之一",
    "literal_error": "取值必须是 {expected} 之一",
    "extra_forbidden": "不允许的字段",
    "int_parsing": "必须是整数",
    "bool_parsing": "必须是 true 或 false",
    "greater_than_equal": "不能小于 {ge}",
    "less_than_equal": "不能大于 {le}",
    "datetime_from_date_parsing": "日期时间格式不正确（ISO 8601）",
    "datetime_parsing": "日期时间格式不正确（ISO 8601）",
    "model_attributes_type": "必须是对象",
    "dict_type": "必须是对象",
    "string_type": "必须是字符串",
    "json_invalid": "JSON 格式错误",
    "int_type": "必须是整数",
    "int_from_float": "必须是整数（不能有小数）",
    "int_parsing_size": "数值超出范围",
    "float_type": "必须是数字",
    "float_parsing": "必须是数字",
    "finite_number": "必须是有限的数",
    "bool_type": "必须是 true 或 false",
    "date_type": "日期格式不正确（YYYY-MM-DD）",
    "date_parsing": "日期格式不正确（YYYY-MM-DD）",
    "date_from_datetime_parsing": "日期格式不正确（YYYY-MM-DD）",
    "date_from_datetime_inexact": "只能是日期（YYYY-MM-DD），不能带时间",
    "datetime_type": "日期时间格式不正确（ISO 8601）",
    "list_type": "必须是数组",
    "too_short": "至少 {min_length} 项",
    "too_long": "至多 {max_length} 项",
    "greater_than": "必须大于 {gt}",
    "less_than": "必须小于 {lt}",
    "model_type": "必须是对象",
    "url_parsing": "网址格式不正确",
    "url_scheme": "网址须以 http:// 或 https:// 开头",
}


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def validation_problems(errors: list[dict[str, Any]]) -> list[dict[str, str]]:
    out = []
    for err in errors:
        kind = err["type"]
        field = _field(tuple(err.get("loc", ())))
        if kind == "value_error":
            message = str(err.get("ctx", {}).get("error", err["msg"]))
        else:
            template = MESSAGES.get(kind, "取值无效")
            if kind == "string_too_short" and err.get("ctx", {}).get("min_length") == 1:
                template = "不能为空"
            ctx = dict(err.get("ctx", {}))
            if "expected" in ctx:  # "'citizen' or 'enterprise'" -> "'citizen'、'enterprise'"
                ctx["expected"] = str(ctx["expected"]).replace(" or ", "、").replace(", ", "、")
            try:
                message = template.format(**ctx)
            except (KeyError, IndexError):
                message = template
        out.append({"field": field, "code": f"validation.{kind}", "message": f"{field}：{message}"})
    return out


PAGE_FIELD_RULES = {
    "min_sample": "最小样本量须为1至100000的整数",
    "fmt": "导出格式只能是 CSV 或 Excel",
    "order_id": "督办单编号须为数字",
    "task_id": "任务编号须为数字",
}
"""Page parameters the routes' types check, as people know them (never the parameter's name)."""

NOT_AN_OBJECT = {"validation.model_attributes_type", "validation.dict_type", "validation.model_type"}


def _is_page(request: Request) -> bool:
    return not request.url.path.startswith("/api/")


async def _signed_in(request: Request) -> Actor | None:
    """Who is signed in, for the error page's header; ``None`` when nobody is or it cannot be told
    (an error page must not fail in its turn)."""
    from hotline.web.deps import COOKIE

    token = request.cookies.get(COOKIE)
    runtime = request.app.state.runtime
    if not token:
        return None
    cached = runtime.actors.get(token)
    if cached is not None:
        return cast(Actor, cached)
    claims = read_token(runtime.settings.secret_key, token)
    sessions = getattr(request.app.state, "sessions", None)
    if claims is None or sessions is None:
        return None
    try:
        async with sessions() as session:
            user = await user_of_token(session, claims)
    except Exception:  # the page says what went wrong first; the header can do without a name
        log.warning("error page: the signed-in user could not be read", exc_info=True)
        return None
    return actor_of(user) if user is not None else None


async def _page_error(request: Request, status: int, code: str, message: str) -> Response:
    from hotline.web.deps import LoginRequired, render

    if code == LoginRequired.code:
        return RedirectResponse("/login", status_code=303)
    titles = {
        401: "请先登录",
        403: "无权访问",
        404: "未找到",
        405: "不支持的操作",
        409: "操作冲突",
        413: "内容过大",
        415: "格式不支持",
        422: "输入有误",
    }
    return render(
        request,
        "error.html",
        await _signed_in(request),
        request.app.state.runtime,
        status_code=status,
        status=status,
        title=titles.get(status, "出错了"),
        message=message,
        code=code,
    )


def _error(status: int, code: str, message: str, problems: list[dict[str, str]] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    if problems is not None:
        body["error"]["fields"] = problems
    return JSONResponse(body, status_code=status, headers={"WWW-Authenticate": "Bearer"} if status == 401 else None)


HTTP_ERRORS = {
    404: ("not_found", "页面或接口不存在，请检查地址"),
    405: ("method_not_allowed", "该地址不支持此请求方法"),
    400: ("bad_request", "请求无效"),
}
"""Stable code and Chinese message of the framework's own error answers."""


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        problems = validation_problems(list(exc.errors()))
        if _is_page(request):  # a page's query or path the route's types refuse: a Chinese page
            rules = "；".join(PAGE_FIELD_RULES.get(p["field"], p["message"].split("：", 1)[-1]) for p in problems)
            return await _page_error(request, 422, "validation", f"链接中的参数有误：{rules}")
        sent = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if sent != "application/json" and any(p["field"] == "body" and p["code"] in NOT_AN_OBJECT for p in problems):
            # a JSON body sent without its content type reads as text: say what is missing
            rule = "请求体须为 JSON，并带请求头 Content-Type: application/json"
            problems = [{"field": "body", "code": "validation.content_type", "message": f"body：{rule}"}]
        return _error(422, "validation", "；".join(p["message"] for p in problems), problems)

    @app.exception_handler(InvalidInput)
    async def _invalid(request: Request, exc: InvalidInput) -> JSONResponse:
        problems = [{"field": p.field, "code": p.code, "message": f"{p.field}：{p.message}"} for p in exc.problems]
        return _error(422, "validation", exc.message, problems)

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        if _is_page(request):
            return await _page_error(request, exc.http_status, exc.code, exc.message)
        return _error(exc.http_status, exc.code, exc.message)

    @app.exception_handler(OverflowError)
    @app.exception_handler(DBAPIError)
    async def _out_of_range(request: Request, exc: Exception) -> Response:
        # a number or date a user gave that is valid by type but beyond what the calendar or the
        # database can hold (a 64-bit id, a date in year 9999): their input, not our failure.
        # Any other database error stays a server error.
        if isinstance(exc, DBAPIError) and not _is_data_error(exc):
            raise exc
        message = "数值或日期超出允许的范围"
        if _is_page(request):
            return await _page_error(request, 422, "validation.out_of_range", message)
        problem = {"field": "request", "code": "validation.out_of_range", "message": f"request：{message}"}
        return _error(422, "validation", message, [problem])

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        # the framework's own answers (no such route, a method the route does not take) in our shape
        code, message = HTTP_ERRORS.get(exc.status_code, ("http_error", "请求无法处理"))
        if _is_page(request):
            return await _page_error(request, exc.status_code, code, message)
        response = _error(exc.status_code, code, message)
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(CalendarError)
    async def _calendar(request: Request, exc: CalendarError) -> Response:
        # a date a user gave that the working calendar cannot count from or to
        if _is_page(request):
            return await _page_error(request, 422, exc.code, exc.message)
        return _error(422, "validation", exc.message, [{"field": "request", "code": exc.code, "message": exc.message}])

    @app.exception_handler(IllegalTransition)
    async def _transition(request: Request, exc: IllegalTransition) -> Response:
        if _is_page(request):
            return await _page_error(request, exc.http_status, exc.code, exc.message)
        return _error(exc.http_status, exc.code, exc.message)


def _is_data_error(exc: DBAPIError) -> bool:
    """Whether PostgreSQL or asyncpg refused a *value* (SQLSTATE class 22, data exception: a
    number out of range, a date overflow), not the query or the connection."""
    cause = exc.orig.__cause__ if exc.orig is not None else None
    return isinstance(cause, asyncpg.exceptions.DataError) or str(getattr(cause, "sqlstate", "")).startswith("22")


async def _refused(scope: Scope, exc: Refused) -> Response:
    """A request refused at the edge (:mod:`hotline.edge`): the Chinese error page for a page, our
    error body for the API, as every other error."""
    request = Request(scope)
    if _is_page(request):
        rules = "；".join(p.rule for p in exc.problems) or exc.message
        return await _page_error(request, exc.status, exc.code, f"提交的内容有误：{rules}")
    problems = [{"field": p.field, "code": p.code, "message": p.message} for p in exc.problems]
    return _error(exc.status, exc.code, exc.message, problems or None)


def create_app(
    settings: Settings | None = None,
    *,
    rulebook: Rulebook | None = None,
    sessions: async_sessionmaker[AsyncSession] | None = None,
    clock: Clock = utc_now,
) -> FastAPI:
    """Build the app. A bad rulebook raises :class:`RulebookError` here, so the service never boots."""
    settings = settings or get_settings()
    rulebook = rulebook or load_rulebook(settings.rulebook_dir)
    runtime = Runtime(settings=settings, rulebook=rulebook, clock=clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if sessions is not None:
            app.state.sessions = sessions
            yield
            return
        engine = make_engine(database_url(settings), settings)
        app.state.sessions = make_sessionmaker(engine)
        background: asyncio.Task[None] | None = None
        if settings.redis_url is None and settings.embedded_scheduler:
            # Embedded default: no Celery; the same sweeps run in-process (hotline.scheduler).
            background = asyncio.create_task(run_forever(app.state.sessions, runtime))
        try:
            yield
        finally:
            if background is not None:
                background.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await background
            await engine.dispose()

    app = FastAPI(
        title="枣庄市12345政务服务便民热线 工单派单服务",
        version=rulebook.version,
        description="受理、派单、办理时限（法定工作日）。规则库版本：" + rulebook.version,
        lifespan=lifespan,
        docs_url=None,  # served below from the swagger-ui-bundle package, not a CDN
        redoc_url=None,
    )
    app.state.runtime = runtime
    if sessions is not None:
        app.state.sessions = sessions
    install_error_handlers(app)
    app.add_middleware(InputGuard, max_body_bytes=settings.max_body_bytes, answer=_refused)
    app.add_middleware(SecurityHeaders)
    for module in (auth, tickets, workflow, merge, supervision, callbacks, calendar, units, kpi, dispatch):
        document_roles(module.router)
        app.include_router(module.router, responses=ERROR_RESPONSES)
    for page_router in web.routers():
        app.include_router(page_router)
    app.mount("/static/swagger", StaticFiles(directory=swagger_ui_path), name="swagger")
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> Response:
        """The API documentation, with Swagger UI's files served by this service (works offline)."""
        from hotline.web.deps import templates

        return templates.TemplateResponse(
            request, "docs.html", {"title": app.title, "openapi_url": app.openapi_url or "/openapi.json"}
        )

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> RedirectResponse:
        """Browsers ask for it on every page: the site icon, not a 404 in the log."""
        return RedirectResponse("/static/favicon.svg", status_code=301)

    @app.get("/healthz", tags=["运维 ops"], summary="存活检查")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "rulebook": rulebook.version}

    return app

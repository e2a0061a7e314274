"""Page plumbing: the session cookie, CSRF tokens, the signed-in actor and template rendering."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Annotated, Any, NamedTuple, TypeVar

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import AsyncSession

from dispatcher.lifecycle import STATUS_LABELS
from hotline.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from hotline.requestctx import RuntimeDep, SessionDep
from hotline.security import read_token
from hotline.users import ROLE_LABELS, Actor, Role, actor_of, user_of_token
from hotline.web import timefmt

COOKIE = "hotline_session"
PRE_COOKIE = "hotline_csrf"
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))
templates.env.globals.update(
    STATUS_LABELS={s.value: label for s, label in STATUS_LABELS.items()}, ROLE_LABELS=ROLE_LABELS
)


class LoginRequired(DomainError):
    """Raised on a page without a valid session; the app answers with a redirect to /login."""

    http_status = 303
    code = "auth.login_required"


def csrf_for(secret: str, token: str) -> str:
    """CSRF token bound to the session (HMAC of the session token): forms and htmx carry it."""
    return hmac.new(secret.encode(), b"csrf:" + token.encode(), hashlib.sha256).hexdigest()[:40]


def check_csrf(request: Request, secret: str, submitted: str | None) -> None:
    token = request.cookies.get(COOKIE, "")
    expected = csrf_for(secret, token) if token else request.cookies.get(PRE_COOKIE, "")
    submitted = submitted or request.headers.get("X-CSRF-Token")
    if not expected or not submitted or not hmac.compare_digest(expected, submitted):
        raise Forbidden("页面已过期或请求来源无效，请刷新页面后重试", code="auth.csrf")


async def page_actor(request: Request, session: SessionDep, rt: RuntimeDep) -> Actor:
    token = request.cookies.get(COOKIE)
    if not token:
        raise LoginRequired("请先登录")
    cached = rt.actors.get(token)
    if cached is not None:
        return cached
    claims = read_token(rt.settings.secret_key, token)
    user = await user_of_token(session, claims) if claims else None
    if claims is None or user is None:
        raise LoginRequired("登录已失效，请重新登录")
    actor = actor_of(user)
    rt.actors.put(token, actor, float(claims["exp"]))
    return actor


PageActor = Annotated[Actor, Depends(page_actor)]


def require_page_role(actor: Actor, *roles: Role) -> None:
    if actor.role not in roles:
        raise Forbidden("当前角色无权访问此页面", code="auth.role_forbidden")


T = TypeVar("T")


class FormRefused(NamedTuple):
    """A form's action refused: the page is shown again with ``error``'s problems and ``status``."""

    status: int
    error: InvalidInput


async def run_form(
    request: Request,
    session: AsyncSession,
    rt: Any,
    actor: Actor,
    csrf: str,
    roles: Iterable[Role],
    act: Callable[[], Awaitable[T]],
    *,
    conflicts_as_problems: bool = False,
) -> T | FormRefused:
    """Every page form's guard: CSRF, the role, then ``act()`` inside a savepoint, so that a refusal
    raised after a partial write leaves nothing behind.

    Returns ``act()``'s result, or :class:`FormRefused` (422) for :class:`InvalidInput`; with
    ``conflicts_as_problems`` a :class:`Conflict` or :class:`NotFound` also comes back as a form
    problem (409) rather than the error page. Raises ``Forbidden`` for a bad CSRF token or role.
    """
    check_csrf(request, rt.settings.secret_key, csrf)
    require_page_role(actor, *roles)
    try:
        async with session.begin_nested():
            return await act()
    except InvalidInput as exc:
        return FormRefused(422, exc)
    except (Conflict, NotFound) as exc:
        if not conflicts_as_problems:
            raise
        return FormRefused(409, InvalidInput.one("form", exc.code, exc.message))


def render(
    request: Request, name: str, actor: Actor | None, rt: Any, status_code: int = 200, **context: Any
) -> HTMLResponse:
    token = request.cookies.get(COOKIE, "")
    csrf = (
        csrf_for(rt.settings.secret_key, token) if token else request.cookies.get(PRE_COOKIE) or secrets.token_hex(20)
    )
    rulebook = rt.rulebook
    now = rt.clock()
    current = rt.calendar.current
    calendar = current[0] if current is not None else None
    response = templates.TemplateResponse(
        request,
        name,
        {
            "actor": actor,
            "csrf": csrf,
            "unit_name": lambda code: _unit_name(rulebook, code),
            "category_label": lambda code: _category_label(rulebook, code),
            "place_name": lambda value: _place_name(rulebook, value),
            "local": timefmt.local,
            "due_label": lambda due_at: timefmt.due_label(due_at, now),
            "left_label": lambda due_at: timefmt.left_label(due_at, now, calendar),
            **context,
        },
        status_code=status_code,
    )
    if not token and not request.cookies.get(PRE_COOKIE):
        response.set_cookie(PRE_COOKIE, csrf, httponly=True, samesite="strict")
    return response


def unit_code_of(rt: Any, value: str | None) -> str | None:
    """A unit picked by its name (the pickers offer names); a code typed by staff who know it, or
    an unknown name, goes to the service as given, which names the field if it is wrong."""
    value = (value or "").strip()
    if not value:
        return None
    for unit in rt.rulebook.units.values():
        if unit.name == value:
            return str(unit.code)
    return value


def unit_choices(rt: Any) -> list[str]:
    """The names a unit picker offers (every handling unit; not the centre itself)."""
    return sorted(u.name for u in rt.rulebook.units.values() if u.level.value != "centre")


def _unit_name(rulebook: Any, code: str | None) -> str:
    """A unit as people know it; never its code."""
    unit = rulebook.units.get(code) if code else None
    return unit.name if unit is not None else "—"


def _category_label(rulebook: Any, code: str | None) -> str:
    """A catalogue leaf as its path of names (一级 / 二级 / 三级); never its code."""
    if not code:
        return "未分类"
    catalogue = rulebook.catalogue
    node = catalogue.nodes.get(code) if catalogue is not None else None
    return " / ".join(node.path) if node is not None else "未分类"


def _place_name(rulebook: Any, value: str | None) -> str:
    """A district or town as people name it: a unit code becomes its place name, a name stays."""
    if not value:
        return ""
    unit = rulebook.units.get(value)
    if unit is None:
        return value
    return str(unit.area_names[0] if unit.area_names else unit.name)

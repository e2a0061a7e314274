"""Sign in and out of the pages with the same users and roles as the API (session cookie)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hotline.clock import utc_now
from hotline.errors import Unauthorized
from hotline.requestctx import RuntimeDep, SessionDep
from hotline.security import issue_token
from hotline.users import Role, TooManyAttempts, authenticate, end_sessions
from hotline.web.deps import COOKIE, PRE_COOKIE, PageActor, check_csrf, render

router = APIRouter(include_in_schema=False)

HOME = {
    Role.AGENT: "/agent",
    Role.UNIT_HANDLER: "/unit",
    Role.SUPERVISOR: "/centre",
    Role.ARBITRATOR: "/centre",
    Role.ADMIN: "/centre",
}


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, rt: RuntimeDep) -> Response:
    return render(request, "login.html", None, rt)


@router.post("/login")
async def login(
    request: Request,
    session: SessionDep,
    rt: RuntimeDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, rt.settings.secret_key, csrf)
    try:
        user = await authenticate(
            session,
            username.strip(),
            password,
            client=request.client.host if request.client else "",
            secret=rt.settings.secret_key,
            now=utc_now(),
        )
    except (Unauthorized, TooManyAttempts) as exc:
        # rendered, not raised: the request's transaction commits, and with it the failure's count
        return render(
            request, "login.html", None, rt, status_code=exc.http_status, error=exc.message, username=username
        )
    token = issue_token(
        rt.settings.secret_key, user.id, user.role, utc_now(), rt.settings.token_ttl_minutes, user.session_generation
    )
    response = RedirectResponse(HOME[Role(user.role)], status_code=303)
    secure = rt.settings.cookie_secure if rt.settings.cookie_secure is not None else request.url.scheme == "https"
    response.set_cookie(
        COOKIE, token, httponly=True, samesite="lax", secure=secure, max_age=rt.settings.token_ttl_minutes * 60
    )
    response.delete_cookie(PRE_COOKIE)
    return response


@router.post("/logout")
async def logout(
    request: Request, session: SessionDep, rt: RuntimeDep, actor: PageActor, csrf: Annotated[str, Form()] = ""
) -> Response:
    """Ends the session on the server: the cookie (also usable as a bearer token) and every other
    token of the user stop working, not only this browser's copy."""
    check_csrf(request, rt.settings.secret_key, csrf)
    await end_sessions(session, actor.id)
    rt.actors.forget(actor.id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


@router.get("/", response_class=HTMLResponse)
async def home(actor: PageActor) -> Response:
    return RedirectResponse(HOME[actor.role], status_code=303)

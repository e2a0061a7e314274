from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from hotline.api.deps import AnyoneDep, RuntimeDep, SessionDep
from hotline.clock import utc_now
from hotline.errors import Unauthorized
from hotline.security import issue_token
from hotline.users import ROLE_LABELS, TooManyAttempts, authenticate, end_sessions

router = APIRouter(prefix="/api/v1/auth", tags=["认证 auth"])


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"


class MeOut(BaseModel):
    username: str
    role: str
    role_label: str
    unit: str | None


@router.post("/token", response_model=TokenOut, summary="登录取得访问令牌（OAuth2 password）")
async def token(
    request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep, rt: RuntimeDep
) -> TokenOut:
    try:
        user = await authenticate(
            session,
            form.username,
            form.password,
            client=request.client.host if request.client else "",
            secret=rt.settings.secret_key,
            now=utc_now(),
        )
    except (Unauthorized, TooManyAttempts):
        await session.commit()  # the failed attempt stays counted although the request fails
        raise
    # Tokens expire by the wall clock that verifies them, not the service's (injectable) business clock.
    return TokenOut(
        access_token=issue_token(
            rt.settings.secret_key,
            user.id,
            user.role,
            utc_now(),
            rt.settings.token_ttl_minutes,
            user.session_generation,
        )
    )


@router.post(
    "/logout",
    status_code=204,
    summary="退出登录（服务端结束该用户的全部会话）",
    responses={401: {"description": "未登录或登录已失效"}},
)
async def logout(session: SessionDep, rt: RuntimeDep, actor: AnyoneDep) -> Response:
    """Every token issued to the user so far (bearer tokens and the pages' cookie) stops working."""
    await end_sessions(session, actor.id)
    rt.actors.forget(actor.id)
    return Response(status_code=204)


@router.get("/me", response_model=MeOut, summary="当前用户")
async def me(actor: AnyoneDep) -> MeOut:
    return MeOut(
        username=actor.username, role=actor.role.value, role_label=ROLE_LABELS[actor.role], unit=actor.unit_code
    )

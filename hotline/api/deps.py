"""Request dependencies: the transaction boundary, the runtime and the authenticated actor."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends
from fastapi.security import OAuth2PasswordBearer

from hotline.errors import Forbidden, Unauthorized
from hotline.requestctx import RuntimeDep as RuntimeDep
from hotline.requestctx import SessionDep as SessionDep
from hotline.security import read_token
from hotline.users import Actor, Role, actor_of, user_of_token

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


async def get_actor(session: SessionDep, runtime: RuntimeDep, token: Annotated[str | None, Depends(oauth2)]) -> Actor:
    """The user behind the bearer token. A verified token is remembered for a few seconds
    (``HOTLINE_AUTH_CACHE_SECONDS``), so a deactivated account is refused within that time."""
    if not token:
        raise Unauthorized("请先登录", code="auth.required")
    actor = runtime.actors.get(token)
    if actor is not None:
        return actor
    claims = read_token(runtime.settings.secret_key, token)
    if claims is None:
        raise Unauthorized("登录已失效，请重新登录", code="auth.invalid_token")
    user = await user_of_token(session, claims)
    if user is None:
        raise Unauthorized("登录已失效或账号已停用，请重新登录", code="auth.inactive")
    actor = actor_of(user)
    runtime.actors.put(token, actor, float(claims["exp"]))
    return actor


ActorDep = Annotated[Actor, Depends(get_actor)]


def require(*roles: Role) -> Callable[[Actor], Coroutine[Any, Any, Actor]]:
    allowed = frozenset(roles)

    async def check(actor: ActorDep) -> Actor:
        if actor.role not in allowed:
            raise Forbidden("当前角色无权执行此操作", code="auth.role_forbidden")
        return actor

    return check


AgentDep = Annotated[Actor, Depends(require(Role.AGENT, Role.SUPERVISOR, Role.ADMIN))]
SupervisorDep = Annotated[Actor, Depends(require(Role.SUPERVISOR, Role.ADMIN))]

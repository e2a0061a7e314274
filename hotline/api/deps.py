"""Request dependencies: the transaction boundary, the runtime and the authenticated actor."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import OAuth2PasswordBearer

from hotline.errors import Forbidden, Unauthorized
from hotline.requestctx import RuntimeDep as RuntimeDep
from hotline.requestctx import SessionDep as SessionDep
from hotline.security import read_token
from hotline.users import ROLE_LABELS, Actor, Role, actor_of, user_of_token

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


class RoleCheck:
    """A route's role rule as a dependency: 403 ``auth.role_forbidden`` for any other role.

    The rule is also data: :func:`document_roles` writes ``roles`` into the operation's OpenAPI
    entry (``x-roles``), from which the access table (``docs/access.md``) and the generated
    access test are made. Finer rules (the lead unit only, the unit's own tickets) stay with the
    action in ``hotline.workflow``."""

    def __init__(self, *roles: Role) -> None:
        self.roles: tuple[Role, ...] = tuple(r for r in Role if r in roles)

    async def __call__(self, actor: ActorDep) -> Actor:
        if actor.role not in self.roles:
            raise Forbidden("当前角色无权执行此操作", code="auth.role_forbidden")
        return actor


def require(*roles: Role) -> RoleCheck:
    return RoleCheck(*roles)


CENTRE_ROLES = (Role.SUPERVISOR, Role.ADMIN)

TicketNumber = Annotated[str, Path(max_length=32, description="工单编号")]
"""A ticket number in a path: bounded, so that a refusal never echoes a huge value."""
RowId = Annotated[int, Path(ge=1, le=2**63 - 1, description="编号")]
"""A database id in a path: a 64-bit positive integer, or a 422 naming the parameter."""
PageNo = Annotated[int, Query(ge=1, le=100_000, description="页码")]
"""A page number: bounded, so that the offset fits (a 422 naming ``page`` rather than a 500)."""

AnyoneDep = Annotated[Actor, Depends(require(*Role))]
"""Every signed-in role (what each sees is scoped by unit further down)."""
AgentDep = Annotated[Actor, Depends(require(Role.AGENT, *CENTRE_ROLES))]
"""话务座席 and the centre: intake, repeat calls, callbacks."""
SupervisorDep = Annotated[Actor, Depends(require(*CENTRE_ROLES))]
"""The centre (supervisor, admin): dispatch, reviews, supervision, models."""
UnitDep = Annotated[Actor, Depends(require(Role.UNIT_HANDLER))]
"""承办单位经办人: actions of a unit on its own ticket."""
UnitOrCentreDep = Annotated[Actor, Depends(require(Role.UNIT_HANDLER, *CENTRE_ROLES))]
"""A unit for its own work, the centre for any unit's."""
ArbitratorDep = Annotated[Actor, Depends(require(Role.ARBITRATOR, Role.ADMIN))]
"""机构编制部门: the final say on a disputed return (实施方案第10条)."""
AdminDep = Annotated[Actor, Depends(require(Role.ADMIN))]


def roles_of(dependant: Dependant) -> tuple[Role, ...] | None:
    """The roles a route's dependency tree admits (the first :class:`RoleCheck` found), or
    ``None`` for a public route."""
    if isinstance(dependant.call, RoleCheck):
        return dependant.call.roles
    for sub in dependant.dependencies:
        found = roles_of(sub)
        if found is not None:
            return found
    return None


def document_roles(router: APIRouter) -> None:
    """Write each operation's roles into its OpenAPI entry (``x-roles``, and a Chinese line at
    the end of its description). Idempotent; call before the app's document is first built."""
    for route in router.routes:
        if not isinstance(route, APIRoute):
            continue
        roles = roles_of(route.dependant)
        if roles is None:
            continue
        route.openapi_extra = {**(route.openapi_extra or {}), "x-roles": [r.value for r in roles]}
        line = "可调用角色：" + "、".join(ROLE_LABELS[r] for r in roles)
        if line not in route.description:
            route.description = f"{route.description}\n\n{line}".strip()

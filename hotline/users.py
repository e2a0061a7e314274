"""Users and roles: agents, unit handlers (bound to one handling unit), supervisors, admins."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hotline import attempts
from hotline.errors import Conflict, DomainError, FieldProblem, InvalidInput, Unauthorized
from hotline.models import HandlingUnit, User
from hotline.security import hash_password, verify_password

log = logging.getLogger(__name__)


class Role(StrEnum):
    AGENT = "agent"
    UNIT_HANDLER = "unit_handler"
    SUPERVISOR = "supervisor"
    ARBITRATOR = "arbitrator"  # 机构编制部门：对有争议事项明确责任单位（实施方案第10条）
    ADMIN = "admin"


ROLE_LABELS = {
    Role.AGENT: "话务座席",
    Role.UNIT_HANDLER: "承办单位经办人",
    Role.SUPERVISOR: "热线中心督办人员",
    Role.ARBITRATOR: "机构编制部门裁定人员",
    Role.ADMIN: "系统管理员",
}

MIN_PASSWORD = 8


@dataclass(frozen=True, slots=True)
class Actor:
    """The authenticated user acting in a request or command."""

    id: int
    username: str
    role: Role
    unit_code: str | None

    @property
    def is_unit_handler(self) -> bool:
        return self.role is Role.UNIT_HANDLER


def actor_of(user: User) -> Actor:
    return Actor(id=user.id, username=user.username, role=Role(user.role), unit_code=user.unit_code)


async def get_active_user(session: AsyncSession, user_id: int) -> User | None:
    user = await session.get(User, user_id)
    return user if user is not None and user.active else None


async def user_of_token(session: AsyncSession, claims: Mapping[str, Any]) -> User | None:
    """The active user a verified token's claims name, or ``None``: a ``sub`` that is not a
    user id, an inactive user, or a session ended by logout (``gen`` behind the user's
    ``session_generation``)."""
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.isdigit() or len(sub) > 18:
        return None
    user = await get_active_user(session, int(sub))
    if user is None or claims.get("gen", 0) != user.session_generation:
        return None
    return user


async def end_sessions(session: AsyncSession, user_id: int) -> None:
    """Logout: every token issued to the user so far stops working (cookie and bearer alike)."""
    await session.execute(update(User).where(User.id == user_id).values(session_generation=User.session_generation + 1))


ACCOUNT_LIMIT = attempts.Limit(limit=10, window=30 * 60, bucket=60)
"""Failed logins of one account before it is locked: ten in 30 minutes. The lock lasts until the
oldest of them leaves the window, or until an administrator unlocks it (``users unlock``)."""
CLIENT_LIMIT = attempts.Limit(limit=30, window=10 * 60, bucket=60)
"""Failed logins from one client address, whatever the accounts: thirty in ten minutes."""

_UNKNOWN_USER_HASH = hash_password("no such user: compared so that it takes as long as a real one")
"""An unknown user name is checked against this hash, so that it takes as long as a known one
and the answer's time does not tell which names exist."""


class TooManyAttempts(DomainError):
    http_status = 429
    code = "auth.too_many_attempts"


def _account_key(secret: str, username: str) -> str:
    return attempts.hashed(secret, f"login-account:{username.casefold()}")


def _client_key(secret: str, address: str) -> str:
    return attempts.hashed(secret, f"login-client:{address}")


async def authenticate(
    session: AsyncSession, username: str, password: str, *, client: str = "", secret: str = "", now: datetime
) -> User:
    """The user these credentials sign in, throttled (issue 10, item 5).

    Raises :class:`TooManyAttempts` (429) when the account (:data:`ACCOUNT_LIMIT`) or the client
    address (:data:`CLIENT_LIMIT`) has failed too often, and :class:`Unauthorized` for a wrong
    name or password; each failure is counted and logged (the caller commits it even though the
    request fails). The password is hashed in a worker thread, off the event loop, and an unknown
    name takes as long as a known one. A success forgets the account's failures. ``now`` is UTC.
    """
    account = _account_key(secret, username)
    origin = _client_key(secret, client)
    wait = await attempts.blocked(session, account, now, ACCOUNT_LIMIT)
    if wait is not None:
        log.warning("login refused (account locked): user=%r client=%s", username, client)
        raise TooManyAttempts(
            f"登录失败次数过多，账号已临时锁定：请约{int(wait // 60) + 1}分钟后再试，或联系系统管理员解锁"
        )
    wait = await attempts.blocked(session, origin, now, CLIENT_LIMIT)
    if wait is not None:
        log.warning("login refused (client throttled): user=%r client=%s", username, client)
        raise TooManyAttempts(
            f"本机登录失败次数过多，暂停登录：请约{int(wait // 60) + 1}分钟后再试，或联系系统管理员解除",
            code="auth.client_throttled",
        )
    user = (await session.execute(select(User).where(User.username == username))).scalar_one_or_none()
    stored = user.password_hash if user is not None else _UNKNOWN_USER_HASH
    matches = await asyncio.to_thread(verify_password, stored, password)
    if user is None or not user.active or not matches:
        await attempts.record(session, account, now, ACCOUNT_LIMIT)
        await attempts.record(session, origin, now, CLIENT_LIMIT)
        log.warning("login failed: user=%r client=%s", username, client)
        raise Unauthorized("用户名或密码错误", code="auth.invalid_credentials")
    await attempts.forget(session, account)
    log.info("login: user=%r client=%s", username, client)
    return user


async def unlock(session: AsyncSession, secret: str, username: str) -> int:
    """An administrator unlocks an account locked by failed logins; how many counted slots went."""
    forgotten = await attempts.forget(session, _account_key(secret, username))
    if forgotten:
        log.warning("login lock lifted by an administrator: user=%r", username)
    return forgotten


async def unlock_address(session: AsyncSession, secret: str, address: str) -> int:
    """An administrator lifts the throttle of one client address (many failed logins from it)."""
    forgotten = await attempts.forget(session, _client_key(secret, address))
    if forgotten:
        log.warning("login throttle of a client address lifted by an administrator: client=%s", address)
    return forgotten


async def create_user(
    session: AsyncSession,
    username: str,
    role: str,
    password: str,
    unit_code: str | None = None,
    display_name: str = "",
) -> User:
    problems = []
    try:
        parsed = Role(role)
    except ValueError:
        raise InvalidInput.one("role", "user.bad_role", f"角色必须是 {', '.join(r.value for r in Role)} 之一") from None
    if len(password) < MIN_PASSWORD:
        problems.append(("password", "user.password_too_short", f"密码至少{MIN_PASSWORD}个字符"))
    if parsed is Role.UNIT_HANDLER and not unit_code:
        problems.append(("unit", "user.unit_required", "承办单位经办人必须指定承办单位编码（--unit）"))
    if parsed is not Role.UNIT_HANDLER and unit_code:
        problems.append(("unit", "user.unit_not_allowed", "只有承办单位经办人可以绑定承办单位"))
    if unit_code and await session.get(HandlingUnit, unit_code) is None:
        problems.append(("unit", "user.unknown_unit", f"承办单位编码不存在：{unit_code}"))
    if problems:
        raise InvalidInput([FieldProblem(*p) for p in problems])
    if (await session.execute(select(User.id).where(User.username == username))).first() is not None:
        raise Conflict(f"用户名已存在：{username}", code="user.exists")
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=parsed.value,
        unit_code=unit_code,
        display_name=display_name,
    )
    session.add(user)
    await session.flush()
    return user


async def set_password(session: AsyncSession, user: User, password: str) -> None:
    user.password_hash = hash_password(password)
    await session.flush()

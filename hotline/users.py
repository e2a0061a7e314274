"""Users and roles: agents, unit handlers (bound to one handling unit), supervisors, admins."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.errors import Conflict, FieldProblem, InvalidInput, Unauthorized
from hotline.models import HandlingUnit, User
from hotline.security import hash_password, verify_password


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


async def authenticate(session: AsyncSession, username: str, password: str) -> User:
    user = (await session.execute(select(User).where(User.username == username))).scalar_one_or_none()
    if user is None or not user.active or not verify_password(user.password_hash, password):
        raise Unauthorized("用户名或密码错误", code="auth.invalid_credentials")
    return user


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

"""Handling units in the database follow the rulebook (codes are stable, removed units deactivated)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.models import HandlingUnit
from routing_rules.loader import Rulebook


def _depth(rulebook: Rulebook, code: str) -> int:
    depth, unit = 0, rulebook.units[code]
    while unit.parent is not None:
        depth, unit = depth + 1, rulebook.units[unit.parent]
    return depth


async def sync_units(session: AsyncSession, rulebook: Rulebook) -> int:
    """Upsert every unit of the rulebook (parents first); deactivate units the rulebook dropped."""
    codes = sorted(rulebook.units, key=lambda c: (_depth(rulebook, c), c))
    for code in codes:
        u = rulebook.units[code]
        values = {
            "code": u.code,
            "name": u.name,
            "level": u.level.value,
            "kind": u.kind.value,
            "parent_code": u.parent,
            "active": True,
        }
        stmt = insert(HandlingUnit).values(values)
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[HandlingUnit.code],
                set_={k: stmt.excluded[k] for k in values if k != "code"},
            )
        )
    await session.execute(
        update(HandlingUnit)
        .where(HandlingUnit.code.not_in(codes), HandlingUnit.level != "village")
        .values(active=False)
    )
    return len(codes)


async def list_units(session: AsyncSession) -> list[HandlingUnit]:
    return list((await session.execute(select(HandlingUnit).order_by(HandlingUnit.code))).scalars())


async def add_community(session: AsyncSession, code: str, name: str, parent: str) -> HandlingUnit:
    """Register a village/community (村（居）) under a town sub-centre: the fourth level of the
    network is maintained in the database, since the rulebook stops at the towns the seeds name."""
    from hotline.errors import Conflict, InvalidInput

    town = await session.get(HandlingUnit, parent)
    if town is None or town.level != "town":
        raise InvalidInput.one("parent", "unit.parent_not_town", f"上级必须是镇（街）分中心：{parent}")
    if not code.startswith(parent + "."):
        raise InvalidInput.one("code", "unit.code_prefix", f"村（居）编码须以上级编码开头：{parent}.xxx")
    if await session.get(HandlingUnit, code) is not None:
        raise Conflict(f"单位编码已存在：{code}", code="unit.exists")
    unit = HandlingUnit(code=code, name=name, level="village", kind="community", parent_code=parent, active=True)
    session.add(unit)
    await session.flush()
    return unit

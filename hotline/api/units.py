from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from hotline.api.deps import ActorDep, RuntimeDep

router = APIRouter(prefix="/api/v1", tags=["规则库 rulebook"])


class UnitOut(BaseModel):
    code: str
    name: str
    level: str
    kind: str
    parent: str | None
    area_names: list[str]


class MergerOut(BaseModel):
    number: str | None
    name: str
    mode: str
    unit: str
    responsible_text: str
    measure: str
    party_mass: bool


@router.get("/units", response_model=list[UnitOut], summary="承办单位（四级办理网络）")
async def units(rt: RuntimeDep, actor: ActorDep) -> list[UnitOut]:
    return [
        UnitOut(
            code=u.code,
            name=u.name,
            level=u.level.value,
            kind=u.kind.value,
            parent=u.parent,
            area_names=list(u.area_names),
        )
        for u in rt.rulebook.units.values()
    ]


@router.get("/merger-list", response_model=list[MergerOut], summary="归并清单")
async def merger_list(rt: RuntimeDep, actor: ActorDep) -> list[MergerOut]:
    return [
        MergerOut(
            number=m.number,
            name=m.name,
            mode=m.mode.value,
            unit=m.unit,
            responsible_text=m.responsible_text,
            measure=m.measure,
            party_mass=m.party_mass,
        )
        for m in rt.rulebook.merger_list
    ]


@router.get("/rulebook", summary="规则库版本")
async def rulebook(rt: RuntimeDep, actor: ActorDep) -> dict[str, str]:
    return {"version": rt.rulebook.version, "title": rt.rulebook.meta.title, "source": rt.rulebook.meta.source}

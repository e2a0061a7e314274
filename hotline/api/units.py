from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from hotline.api.deps import AdminDep, AnyoneDep, RuntimeDep, SessionDep
from hotline.units import add_community, list_units

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
async def units(rt: RuntimeDep, session: SessionDep, actor: AnyoneDep) -> list[UnitOut]:
    area_names = {u.code: list(u.area_names) for u in rt.rulebook.units.values()}
    return [
        UnitOut(
            code=u.code,
            name=u.name,
            level=u.level,
            kind=u.kind,
            parent=u.parent_code,
            area_names=area_names.get(u.code, []),
        )
        for u in await list_units(session)
        if u.active
    ]


class CommunityIn(BaseModel):
    code: str = Field(pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)*$", max_length=64)
    name: str = Field(min_length=1, max_length=200)
    parent: str = Field(min_length=1, max_length=64)


@router.post("/units/communities", response_model=UnitOut, status_code=201, summary="登记村（居）承办单位")
async def create_community(body: CommunityIn, session: SessionDep, actor: AdminDep) -> UnitOut:
    u = await add_community(session, body.code, body.name, body.parent)
    return UnitOut(code=u.code, name=u.name, level=u.level, kind=u.kind, parent=u.parent_code, area_names=[])


@router.get("/merger-list", response_model=list[MergerOut], summary="归并清单")
async def merger_list(rt: RuntimeDep, actor: AnyoneDep) -> list[MergerOut]:
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
async def rulebook(rt: RuntimeDep, actor: AnyoneDep) -> dict[str, str]:
    return {"version": rt.rulebook.version, "title": rt.rulebook.meta.title, "source": rt.rulebook.meta.source}

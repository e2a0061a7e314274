"""派单目录与智能派单 API: the catalogue, the models (promote, roll back) and the centre's manual dispatch."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from hotline.api.deps import AnyoneDep, RuntimeDep, SessionDep, SupervisorDep, TicketNumber
from hotline.dispatch import service
from hotline.dispatch.schemas import ManualDispatchIn, PromoteIn

router = APIRouter(prefix="/api/v1", tags=["派单目录与智能派单 dispatch"])


@router.get("/catalogue", summary="派单目录（一级/二级/三级），可按词检索")
async def get_catalogue(
    rt: RuntimeDep,
    actor: AnyoneDep,
    q: Annotated[str | None, Query(max_length=100, description="检索词，空格分隔，须全部出现")] = None,
) -> dict[str, Any]:
    return service.catalogue_tree(rt.rulebook, q)


@router.get("/dispatch/models", summary="派单模型：当前版本、指标、训练数据和把握不足的工单")
async def get_models(session: SessionDep, rt: RuntimeDep, actor: SupervisorDep) -> dict[str, Any]:
    return await service.model_overview(session, rt)


@router.post("/dispatch/models/{version}/promote", summary="启用指定版本的派单模型")
async def promote(
    version: Annotated[str, Path(max_length=64)],
    session: SessionDep,
    rt: RuntimeDep,
    actor: SupervisorDep,
    body: PromoteIn | None = None,
) -> dict[str, Any]:
    await service.promote_model(session, rt, version, force=body.force if body is not None else False)
    return {"current": version}


@router.post("/dispatch/rollback", summary="回退到上一版本派单模型")
async def rollback(session: SessionDep, rt: RuntimeDep, actor: SupervisorDep) -> dict[str, Any]:
    return {"current": await service.rollback_model(session, rt)}


@router.post("/tickets/{number}/dispatch", summary="热线中心人工派单（选择派单目录事项）")
async def manual_dispatch(
    number: TicketNumber, body: ManualDispatchIn, session: SessionDep, rt: RuntimeDep, actor: SupervisorDep
) -> dict[str, Any]:
    return await service.manual_dispatch(session, rt, actor, number, body.category, body.unit, body.note)

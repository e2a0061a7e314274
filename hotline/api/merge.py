"""并单 and 重复来电 endpoints (实施方案第20条, 无理重复诉求处置)."""

from __future__ import annotations

from fastapi import APIRouter

from hotline.api.deps import AgentDep, AnyoneDep, RuntimeDep, SessionDep, SupervisorDep, TicketNumber
from hotline.tickets.schemas import TicketIn
from hotline.workflow import merge as service
from hotline.workflow.merge import MergedOut, MergeIn, MergeOut, RepeatOut

router = APIRouter(prefix="/api/v1", tags=["并单 merge"])


@router.post("/tickets/{number}/merge", response_model=MergeOut, summary="并单：将同一主办单位的工单并入主单")
async def merge(
    number: TicketNumber, body: MergeIn, session: SessionDep, rt: RuntimeDep, actor: SupervisorDep
) -> MergeOut:
    return await service.merge(session, rt, actor, number, body)


@router.get("/tickets/{number}/merged", response_model=MergedOut, summary="并单关系：主单的并入工单，或并入工单的主单")
async def merged(number: TicketNumber, session: SessionDep, actor: AnyoneDep) -> MergedOut:
    return await service.merged_view(session, actor, number)


@router.post(
    "/tickets/{number}/repeat",
    response_model=RepeatOut,
    status_code=201,
    summary="重复来电：登记新来电并关联原工单（不再派单、不计时限）",
)
async def repeat(
    number: TicketNumber, body: TicketIn, session: SessionDep, rt: RuntimeDep, actor: AgentDep
) -> RepeatOut:
    return await service.repeat_call(session, rt, actor, number, body)

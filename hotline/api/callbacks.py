"""答复审核、回访、重办 endpoints (实施方案第12条)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from hotline.api.deps import AgentDep, PageNo, RuntimeDep, SessionDep, SupervisorDep, TicketNumber
from hotline.workflow import callbacks as service
from hotline.workflow.callbacks import CallbackIn, CallbackOut, CallbackPage, ReplyDecisionIn, ReplyDecisionOut

router = APIRouter(prefix="/api/v1", tags=["回访 callback"])


@router.post(
    "/tickets/{number}/reply/decision",
    response_model=ReplyDecisionOut,
    summary="答复审核：通过进入回访，不通过退回承办单位（原时限继续计算）",
)
async def decide_reply(
    number: TicketNumber, body: ReplyDecisionIn, session: SessionDep, rt: RuntimeDep, actor: SupervisorDep
) -> ReplyDecisionOut:
    return await service.decide_reply(session, rt, actor, number, body)


@router.get("/callbacks", response_model=CallbackPage, summary="回访队列（按回访期限排序，显示诉求人联系方式）")
async def list_callbacks(
    session: SessionDep,
    rt: RuntimeDep,
    actor: AgentDep,
    due: Literal["today", "all"] = "all",
    page: PageNo = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> CallbackPage:
    return await service.list_callbacks(session, rt, actor, due, page, page_size)


@router.post("/tickets/{number}/callback", response_model=CallbackOut, summary="登记回访结果（未接通、评价、重办）")
async def record_callback(
    number: TicketNumber, body: CallbackIn, session: SessionDep, rt: RuntimeDep, actor: AgentDep
) -> CallbackOut:
    return await service.record_callback(session, rt, actor, number, body)

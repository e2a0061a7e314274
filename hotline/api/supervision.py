"""督办单 endpoints (实施方案第13条)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from hotline.api.deps import AnyoneDep, PageNo, RowId, RuntimeDep, SessionDep, SupervisorDep, TicketNumber, UnitDep
from hotline.workflow import supervision as service
from hotline.workflow.supervision import OrderState, ResponseIn, SupervisionIn, SupervisionOut, SupervisionPage
from hotline.workflow.supervision_repository import OrderFilter

router = APIRouter(prefix="/api/v1", tags=["督办 supervision"])


@router.post("/tickets/{number}/supervision", response_model=SupervisionOut, status_code=201, summary="下发督办单")
async def issue(
    number: TicketNumber, body: SupervisionIn, session: SessionDep, rt: RuntimeDep, actor: SupervisorDep
) -> SupervisionOut:
    return await service.issue(session, rt, actor, number, body)


@router.post("/supervision/{order_id}/response", response_model=SupervisionOut, summary="承办单位回复督办单")
async def respond(
    order_id: RowId, body: ResponseIn, session: SessionDep, rt: RuntimeDep, actor: UnitDep
) -> SupervisionOut:
    return await service.respond(session, rt, actor, order_id, body)


@router.get("/supervision", response_model=SupervisionPage, summary="督办单列表（承办单位只看本单位）")
async def list_orders(
    session: SessionDep,
    rt: RuntimeDep,
    actor: AnyoneDep,
    unit: Annotated[str | None, Query(max_length=64)] = None,
    state: OrderState | None = None,
    overdue: bool = False,
    page: PageNo = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> SupervisionPage:
    return await service.list_orders(session, rt, actor, OrderFilter(unit, state, overdue), page, page_size)

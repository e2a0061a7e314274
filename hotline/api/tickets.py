from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response

from hotline.api.deps import AgentDep, AnyoneDep, RuntimeDep, SessionDep
from hotline.tickets import service
from hotline.tickets.repository import TicketFilter
from hotline.tickets.schemas import TicketIn, TicketOut, TicketPage

router = APIRouter(prefix="/api/v1", tags=["工单 tickets"])


@router.post(
    "/tickets",
    response_model=TicketOut,
    status_code=201,
    summary="受理来电，登记工单并派单",
    responses={200: {"model": TicketOut, "description": "同一 Idempotency-Key 的重试：返回原工单"}},
)
async def create_ticket(
    body: TicketIn,
    session: SessionDep,
    rt: RuntimeDep,
    actor: AgentDep,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")
    ] = None,
) -> Response:
    result = await service.intake(session, rt, actor, body, idempotency_key)
    # Serialised once here: the hot path of the call centre skips FastAPI's re-validation of the model.
    headers = {} if result.created else {"Idempotent-Replayed": "true"}
    return Response(
        result.ticket.model_dump_json(),
        status_code=201 if result.created else 200,
        media_type="application/json",
        headers=headers,
    )


@router.post("/routing/preview", summary="派单预览（不保存）")
async def routing_preview(body: TicketIn, session: SessionDep, rt: RuntimeDep, actor: AgentDep) -> dict[str, Any]:
    return (await service.routing_preview(session, rt, body)).as_dict()


@router.get("/tickets/{number}", response_model=TicketOut, summary="工单详情及处理时间轴")
async def get_ticket(number: str, session: SessionDep, rt: RuntimeDep, actor: AnyoneDep) -> TicketOut:
    return await service.get_ticket(session, rt, actor, number)


@router.get("/tickets", response_model=TicketPage, summary="工单列表（筛选、分页）")
async def list_tickets(
    session: SessionDep,
    actor: AnyoneDep,
    status: str | None = None,
    kind: str | None = None,
    channel: str | None = None,
    line: str | None = None,
    unit: str | None = None,
    district: str | None = None,
    caller_type: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> TicketPage:
    flt = TicketFilter(status, kind, channel, line, unit, district, caller_type, created_from, created_to, q)
    return await service.list_tickets(session, actor, flt, page, page_size)

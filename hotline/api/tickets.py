from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response

from dispatcher.lifecycle import Status
from hotline.api.deps import AgentDep, AnyoneDep, PageNo, RuntimeDep, SessionDep, TicketNumber
from hotline.tickets import service
from hotline.tickets.schemas import TicketIn, TicketOut, TicketPage
from hotline.tickets.search import VIEWS, ticket_filter

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
async def get_ticket(number: TicketNumber, session: SessionDep, rt: RuntimeDep, actor: AnyoneDep) -> TicketOut:
    return await service.get_ticket(session, rt, actor, number)


@router.get("/tickets", response_model=TicketPage, summary="工单列表与查找（筛选、常用筛选、排序、分页）")
async def list_tickets(
    session: SessionDep,
    rt: RuntimeDep,
    actor: AnyoneDep,
    status: Status | None = None,
    kind: str | None = None,
    channel: str | None = None,
    line: str | None = None,
    unit: str | None = None,
    district: str | None = None,
    caller_type: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    number: Annotated[str | None, Query(max_length=20, pattern=r"^\d+$", description="工单编号或其开头")] = None,
    q: Annotated[str | None, Query(max_length=100, description="内容中的词（空格分隔的每个词都须出现）")] = None,
    phone: Annotated[str | None, Query(max_length=32, description="诉求人电话，任意写法")] = None,
    caller_name: Annotated[str | None, Query(max_length=100)] = None,
    category: Annotated[str | None, Query(max_length=64, description="派单目录事项（任一级的编码或名称）")] = None,
    overdue: bool | None = None,
    supervised: Annotated[bool | None, Query(description="有未答复的督办单")] = None,
    redo: Annotated[bool | None, Query(description="重办中")] = None,
    view: Annotated[
        str | None,
        Query(max_length=32, description="常用筛选：" + "、".join(f"{v.code}（{v.label}）" for v in VIEWS.values())),
    ] = None,
    sort: Annotated[str, Query(max_length=16, description="newest 最新 / oldest 最早 / due 到期时间")] = "newest",
    page: PageNo = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> TicketPage:
    flt = ticket_filter(
        actor,
        rt.clock(),
        view=view,
        phone=phone,
        caller_name=caller_name,
        category=category,
        catalogue=rt.rulebook.catalogue,
        sort=sort,
        status=status,
        kind=kind,
        channel=channel,
        line=line,
        unit=unit,
        district=district,
        caller_type=caller_type,
        created_from=created_from,
        created_to=created_to,
        number=number,
        q=q,
        overdue=overdue,
        supervised=supervised,
        redo=redo,
    )
    return await service.list_tickets(session, actor, flt, page, page_size)

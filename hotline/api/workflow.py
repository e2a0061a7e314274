from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from dispatcher.calendar import LOCAL_TZ
from hotline import sla
from hotline.api.deps import (
    AnyoneDep,
    ArbitratorDep,
    PageNo,
    RowId,
    RuntimeDep,
    SessionDep,
    SupervisorDep,
    TicketNumber,
    UnitDep,
    UnitOrCentreDep,
)
from hotline.tickets.schemas import CallerOut
from hotline.workflow import actions, contact, reviews
from hotline.workflow.queue import QueueFilter, events, queue

router = APIRouter(prefix="/api/v1", tags=["办理流程 workflow"])


def local(value: Any) -> Any:
    """Instants in Asia/Shanghai local time, as everywhere in the API."""
    if isinstance(value, datetime):
        return value.astimezone(LOCAL_TZ).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: local(v) for k, v in value.items()}
    if isinstance(value, list):
        return [local(v) for v in value]
    return value


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Attachment(Body):
    name: str = Field(min_length=1, max_length=200)
    size: int = Field(ge=0)
    content_type: str = Field(default="application/octet-stream", max_length=100)
    url: str | None = Field(default=None, max_length=500)


class ReplyIn(Body):
    content: str = Field(max_length=10000)
    outcome: Literal["resolved", "explained", "cannot_resolve"]
    reason: str | None = None
    attachments: list[Attachment] = Field(default_factory=list, max_length=20)


class ReturnIn(Body):
    reason: str = Field(min_length=1, max_length=64)
    explanation: str = Field(max_length=2000)
    suggested_unit: str | None = Field(default=None, max_length=64)


class ReturnDecisionIn(Body):
    decision: Literal["approve", "reject", "arbitrate"]
    new_unit: str | None = Field(default=None, max_length=64)
    note: str = Field(default="", max_length=2000)
    category: str | None = Field(default=None, max_length=64, description="改派时更正的派单目录三级事项编码")


class ArbitrationIn(Body):
    unit: str = Field(min_length=1, max_length=64)
    note: str = Field(max_length=2000)
    category: str | None = Field(default=None, max_length=64, description="裁定时更正的派单目录三级事项编码")


class ExtensionIn(Body):
    working_days: int = Field(ge=1, le=60)
    reason: str = Field(max_length=2000)


class ExtensionDecisionIn(Body):
    approve: bool
    note: str = Field(default="", max_length=2000)


class TaskIn(Body):
    unit: str = Field(min_length=1, max_length=64)
    working_days: int = Field(ge=1, le=60)
    instructions: str = Field(default="", max_length=2000)


class TaskAnswerIn(Body):
    content: str = Field(max_length=10000)


class TaskReleaseIn(Body):
    note: str = Field(default="", max_length=2000)


@router.get("/queue", summary="本单位待办队列（超期优先，其次按到期时间）")
async def get_queue(
    session: SessionDep,
    rt: RuntimeDep,
    actor: UnitOrCentreDep,
    unit: str | None = None,
    status: str | None = None,
    kind: str | None = None,
    due_within_hours: Annotated[float | None, Query(ge=0, le=8760, allow_inf_nan=False)] = None,
    overdue: bool | None = None,
    redo: bool | None = None,
    page: PageNo = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    flt = QueueFilter(status=status, kind=kind, due_within_hours=due_within_hours, overdue=overdue, redo=redo)
    return local(await queue(session, rt, actor, unit, flt, page, page_size))  # type: ignore[no-any-return]


@router.get("/tickets/{number}/events", summary="工单时间轴")
async def get_events(number: TicketNumber, session: SessionDep, actor: AnyoneDep) -> list[dict[str, Any]]:
    return local(await events(session, actor, number))  # type: ignore[no-any-return]


@router.post("/tickets/{number}/accept", summary="签收")
async def accept(number: TicketNumber, session: SessionDep, rt: RuntimeDep, actor: UnitDep) -> dict[str, Any]:
    return local(await actions.accept(session, rt, actor, number))  # type: ignore[no-any-return]


@router.post("/tickets/{number}/reply", summary="答复")
async def reply(
    number: TicketNumber, body: ReplyIn, session: SessionDep, rt: RuntimeDep, actor: UnitDep
) -> dict[str, Any]:
    data = actions.ReplyInput(body.content, body.outcome, body.reason, [a.model_dump() for a in body.attachments])
    return local(await actions.reply(session, rt, actor, number, data))  # type: ignore[no-any-return]


@router.post("/tickets/{number}/return", summary="申请退单")
async def request_return(
    number: TicketNumber, body: ReturnIn, session: SessionDep, rt: RuntimeDep, actor: UnitDep
) -> dict[str, Any]:
    result = await actions.request_return(
        session, rt, actor, number, body.reason, body.explanation, body.suggested_unit
    )
    return local(result)  # type: ignore[no-any-return]


@router.post("/tickets/{number}/return/decision", summary="退单争议审核")
async def decide_return(
    number: TicketNumber, body: ReturnDecisionIn, session: SessionDep, rt: RuntimeDep, actor: SupervisorDep
) -> dict[str, Any]:
    result = await actions.decide_return(
        session, rt, actor, number, body.decision, body.new_unit, body.note, body.category
    )
    return local(result)  # type: ignore[no-any-return]


@router.post("/tickets/{number}/arbitration", summary="机构编制部门裁定承办单位（终局）")
async def arbitrate(
    number: TicketNumber, body: ArbitrationIn, session: SessionDep, rt: RuntimeDep, actor: ArbitratorDep
) -> dict[str, Any]:
    result = await actions.arbitrate(session, rt, actor, number, body.unit, body.note, body.category)
    return local(result)  # type: ignore[no-any-return]


@router.post("/tickets/{number}/extension", summary="申请延期")
async def request_extension(
    number: TicketNumber, body: ExtensionIn, session: SessionDep, rt: RuntimeDep, actor: UnitDep
) -> dict[str, Any]:
    result = await actions.request_extension(session, rt, actor, number, body.working_days, body.reason)
    return local(result)  # type: ignore[no-any-return]


@router.post("/tickets/{number}/extension/decision", summary="审核延期申请")
async def decide_extension(
    number: TicketNumber, body: ExtensionDecisionIn, session: SessionDep, rt: RuntimeDep, actor: SupervisorDep
) -> dict[str, Any]:
    return local(await actions.decide_extension(session, rt, actor, number, body.approve, body.note))  # type: ignore[no-any-return]


@router.post("/tickets/{number}/assists", summary="增加协办单位")
async def add_assist(
    number: TicketNumber, body: TaskIn, session: SessionDep, rt: RuntimeDep, actor: SupervisorDep
) -> dict[str, Any]:
    result = await actions.add_assist(session, rt, actor, number, body.unit, body.working_days, body.instructions)
    return local(result)  # type: ignore[no-any-return]


@router.post("/tickets/{number}/dispatch-down", summary="向下一级派单（区→镇街→村居）")
async def dispatch_down(
    number: TicketNumber, body: TaskIn, session: SessionDep, rt: RuntimeDep, actor: UnitDep
) -> dict[str, Any]:
    result = await actions.dispatch_down(session, rt, actor, number, body.unit, body.working_days, body.instructions)
    return local(result)  # type: ignore[no-any-return]


@router.post("/tickets/{number}/tasks/{task_id}/answer", summary="协办/下级单位答复")
async def answer_task(
    number: TicketNumber, task_id: RowId, body: TaskAnswerIn, session: SessionDep, rt: RuntimeDep, actor: UnitDep
) -> dict[str, Any]:
    return local(await actions.answer_task(session, rt, actor, number, task_id, body.content))  # type: ignore[no-any-return]


@router.post("/tickets/{number}/tasks/{task_id}/release", summary="解除协办/下派任务")
async def release_task(
    number: TicketNumber,
    task_id: RowId,
    body: TaskReleaseIn,
    session: SessionDep,
    rt: RuntimeDep,
    actor: UnitOrCentreDep,
) -> dict[str, Any]:
    return local(await actions.release_task(session, rt, actor, number, task_id, body.note))  # type: ignore[no-any-return]


@router.get("/returns", summary="退单列表（待审核）及各单位退单、不当退单统计")
async def list_returns(
    session: SessionDep,
    actor: AnyoneDep,
    state: Literal["pending", "approved", "rejected", "arbitration", "arbitrated"] | None = None,
    unit: str | None = None,
) -> dict[str, Any]:
    return local(await reviews.returns(session, actor, state, unit))  # type: ignore[no-any-return]


@router.get("/extensions", summary="延期申请列表")
async def list_extensions(
    session: SessionDep, actor: AnyoneDep, state: Literal["pending", "approved", "rejected"] | None = None
) -> list[dict[str, Any]]:
    return local(await reviews.extensions(session, actor, state))  # type: ignore[no-any-return]


class RemindIn(Body):
    note: str = Field(default="", max_length=2000)


@router.post("/tickets/{number}/remind", summary="人工催办")
async def remind(
    number: TicketNumber, body: RemindIn, session: SessionDep, rt: RuntimeDep, actor: SupervisorDep
) -> dict[str, Any]:
    return local(await sla.manual_remind(session, rt, actor, number, body.note))  # type: ignore[no-any-return]


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=2, max_length=200, description="为何需要联系诉求人（记入个人信息查阅记录）")


@router.post(
    "/tickets/{number}/contact",
    response_model=CallerOut,
    summary="主办单位查看诉求人联系方式（记录查阅人、时间和原因）",
)
async def reveal_contact(number: TicketNumber, body: ContactIn, session: SessionDep, actor: UnitDep) -> CallerOut:
    return await contact.reveal_contact(session, actor, number, body.reason)

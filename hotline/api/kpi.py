"""统计指标 API: every KPI of docs/kpi.md with its sample, overall and by one breakdown."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query

from hotline import kpi
from hotline.api.deps import RuntimeDep, SessionDep, UnitOrCentreDep

router = APIRouter(prefix="/api/v1", tags=["统计指标 KPI"])


@router.get("/kpi", summary="考核指标（及时办结率、满意率等），含样本量与排名")
async def get_kpi(
    session: SessionDep,
    rt: RuntimeDep,
    actor: UnitOrCentreDep,
    start: Annotated[date | None, Query(alias="from", description="开始日期（本地日期，含）")] = None,
    end: Annotated[date | None, Query(alias="to", description="结束日期（本地日期，含）")] = None,
    group_by: kpi.GroupBy = "unit",
    min_sample: Annotated[int, Query(ge=1, le=100_000)] = kpi.MIN_SAMPLE,
) -> dict[str, Any]:
    return await kpi.api_view(session, rt, actor, start, end, group_by, min_sample)

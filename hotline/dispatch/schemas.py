"""Pydantic in/out models of the dispatch API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ManualDispatchIn(Body):
    category: str = Field(min_length=1, max_length=64, description="派单目录三级事项编码")
    unit: str | None = Field(default=None, max_length=64, description="承办单位编码；不填则按事项及事发地确定")
    note: str = Field(default="", max_length=2000)


class PromoteIn(Body):
    force: bool = Field(default=False, description="留出集准确率低于当前模型时也启用")

"""The error body every API operation answers with, declared in the OpenAPI document."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class FieldErrorOut(BaseModel):
    field: str
    """The field or parameter (dotted for nested JSON: ``caller.phone``)."""
    code: str
    """Stable, for programs: ``validation.string_too_long``, ``supervision.reply_by_past`` …"""
    message: str
    """Chinese, for people: ``caller.phone：电话号码格式不正确…``."""


class ErrorBodyOut(BaseModel):
    code: str
    message: str
    fields: list[FieldErrorOut] | None = None


class ErrorOut(BaseModel):
    """``{"error": {"code", "message", "fields"?}}`` (``hotline.app``, ``hotline.edge``)."""

    error: ErrorBodyOut


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": description}
    for status, description in (
        (401, "未登录或登录已失效"),
        (403, "当前角色无权执行此操作"),
        (404, "工单或对象不存在，或不在本单位可见范围内"),
        (409, "与当前状态冲突（如工单状态不允许此操作）"),
        (413, "请求体超过上限"),
        (415, "请求体格式不支持（multipart）"),
        (422, "输入有误：逐项列出字段和规则"),
        (429, "尝试过于频繁"),
    )
}
"""Declared on every JSON API operation: the errors each can give (the same body for all)."""

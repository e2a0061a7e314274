"""Input and output shapes of the ticket API. Validation messages are Chinese; codes are stable."""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, field_validator, model_validator

from dispatcher.calendar import LOCAL_TZ
from routing_rules.schema import CallerType, Kind

LocalDatetime = Annotated[
    datetime, PlainSerializer(lambda d: d.astimezone(LOCAL_TZ).isoformat(), return_type=str, when_used="json")
]
"""Instants are shown in Asia/Shanghai local time (with the +08:00 offset) to the people who use them."""

CREDIT_CODE_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8}|\d{7,8})$")
_MOBILE_WRITTEN = re.compile(r"^(?:\+?86[\s-]?|0086[\s-]?)?(1[3-9]\d)[\s.-]?(\d{4})[\s.-]?(\d{4})$")
"""A mobile number as people write it: ``139-0000-1111``, ``139 0000 1111``, ``+86 13900001111``."""


_SEPARATORS = re.compile(r"[\s()（）.\-]+")
_LANDLINE_DIGITS = re.compile(r"^0\d{9,11}$")


def canonical_phone(value: str) -> str:
    """One stored form per number (full-width digits are already plain: :mod:`hotline.edge`):
    a mobile written with separators or the country code as its 11 digits; a landline with its
    area code as ``0632-3311234`` (``(0632)3311234``, ``0632 3311234``, ``06323311234``), the
    area code of 3 digits for 01x/02x and of 4 otherwise; anything else stripped of spaces."""
    text = value.strip()
    m = _MOBILE_WRITTEN.match(text)
    if m:
        return "".join(m.groups())
    digits = _SEPARATORS.sub("", text)
    if digits.startswith("+86"):
        digits = "0" + digits[3:].lstrip("0")
    if _LANDLINE_DIGITS.match(digits):
        area = 3 if digits[1] in "12" else 4
        return f"{digits[:area]}-{digits[area:]}"
    return text


def credit_code_is_valid(code: str) -> bool:
    """统一社会信用代码 (GB 32100-2015): 18 characters, the last one a mod-31 check character."""
    if len(code) != 18 or any(c not in CREDIT_CODE_CHARS for c in code):
        return False
    total = sum(CREDIT_CODE_CHARS.index(c) * w for c, w in zip(code[:17], CREDIT_CODE_WEIGHTS, strict=True))
    return CREDIT_CODE_CHARS[(31 - total % 31) % 31] == code[17]


class Channel(StrEnum):
    PHONE = "phone"
    WEB = "web"
    WECHAT = "wechat"
    APP = "app"
    EMAIL = "email"
    SMS = "sms"
    LEADER_MAILBOX = "leader_mailbox"
    GOV_PORTAL = "gov_portal"
    PROVINCIAL_HOTLINE = "provincial_hotline"
    ENTERPRISE_PLATFORM = "enterprise_platform"  # 企呼枣（早）应、接诉即办


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CallerIn(Input):
    type: CallerType = CallerType.CITIZEN
    name: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=32)
    enterprise_name: str | None = Field(default=None, max_length=200)
    credit_code: str | None = Field(default=None, max_length=18)
    confidential: bool = False

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        v = canonical_phone(v) if v else v
        if v and not PHONE.match(v):
            raise ValueError("电话号码格式不正确（手机号11位或带区号的固定电话）")
        return v or None

    @field_validator("credit_code")
    @classmethod
    def _credit_code(cls, v: str | None) -> str | None:
        if v:
            v = v.upper()
            if not credit_code_is_valid(v):
                raise ValueError("统一社会信用代码无效（须为18位且校验码正确）")
        return v or None

    @model_validator(mode="after")
    def _enterprise(self) -> Self:
        if self.type is CallerType.ENTERPRISE and not self.enterprise_name:
            raise ValueError("企业诉求必须填写企业名称（enterprise_name）")
        return self


class AreaIn(Input):
    district: str | None = Field(default=None, max_length=64)
    town: str | None = Field(default=None, max_length=64)
    village: str | None = Field(default=None, max_length=100)


class TicketIn(Input):
    channel: Channel = Channel.PHONE
    line: str = Field(default="12345", pattern=r"^[0-9]{3,8}$")
    caller: CallerIn
    kind: Kind
    content: str = Field(min_length=1, max_length=5000)
    category: str | None = Field(default=None, max_length=64)
    area: AreaIn | None = None
    address: str | None = Field(default=None, max_length=500)
    answer: str | None = Field(default=None, max_length=5000)
    not_accepted_reason: str | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _answer_only_for_consultations(self) -> Self:
        if self.answer and self.kind is not Kind.CONSULTATION:
            raise ValueError("只有咨询类诉求可以由座席直接答复（answer）")
        return self


class DeadlineOut(BaseModel):
    due_date: date
    due_at: LocalDatetime
    working_days: int
    provisional: bool
    unit: str | None = None
    extension_days: int = 0


class CallerOut(BaseModel):
    type: str
    name: str | None
    phone: str | None
    enterprise_name: str | None
    credit_code: str | None
    confidential: bool
    masked: bool


class EventOut(BaseModel):
    at: LocalDatetime
    action: str
    actor: str | None
    from_status: str | None
    to_status: str | None
    unit: str | None
    due_before: LocalDatetime | None
    due_after: LocalDatetime | None
    note: str
    data: dict[str, Any]


class TicketOut(BaseModel):
    number: str
    status: str
    status_label: str
    disposition: str
    channel: str
    line: str
    kind: str
    category: str | None
    content: str
    address: str | None
    area: dict[str, str | None]
    answer: str | None
    lead_unit: str | None
    caller: CallerOut
    routing: dict[str, Any]
    deadline: DeadlineOut | None
    created_at: LocalDatetime
    events: list[EventOut] | None = None


class TicketSummary(BaseModel):
    number: str
    status: str
    status_label: str
    disposition: str
    kind: str
    channel: str
    line: str
    category: str | None
    caller_type: str
    lead_unit: str | None
    district: str | None
    content_excerpt: str
    created_at: LocalDatetime
    due_at: LocalDatetime | None
    provisional: bool | None


class TicketPage(BaseModel):
    items: list[TicketSummary]
    total: int
    """Matches, counted up to 1,000; with ``total_capped`` there are more than ``total``."""
    total_capped: bool = False
    page: int
    page_size: int

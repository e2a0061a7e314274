"""Finding tickets (issue 11, item 1): the filters shared by ``GET /api/v1/tickets`` and the
``/tickets`` page, the saved views of the centre's day and the unit's 待办 / 已办 lists.

One function, :func:`ticket_filter`, turns what a person or a program asked for into a
:class:`~hotline.tickets.repository.TicketFilter`, refusing what the asker may not search by.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from hotline.errors import InvalidInput
from hotline.tickets.repository import SORTS, TicketFilter
from hotline.tickets.schemas import PHONE, canonical_phone
from hotline.users import Actor, Role
from routing_rules.catalogue import Catalogue

CENTRE = frozenset({Role.SUPERVISOR, Role.ADMIN})
_PHONE_NOISE = re.compile(r"[\s()（）.\-]+")
_LANDLINE = re.compile(r"^(0\d{2,3})-?(\d{7,8})$")


@dataclass(frozen=True, slots=True)
class View:
    """A saved filter: a name people know and the filters it stands for."""

    code: str
    label: str
    roles: frozenset[Role]
    filters: dict[str, Any] = field(default_factory=dict)


UNIT_OPEN = ("dispatched", "accepted", "return_requested", "arbitration")
UNIT_DONE = ("replied", "callback_pending", "closed")

VIEWS: dict[str, View] = {
    v.code: v
    for v in (
        View("pending_dispatch", "待派单", CENTRE | {Role.AGENT}, {"manual": True}),
        View("reply_review", "待审核答复", CENTRE, {"statuses": ("replied",)}),
        View("callback", "待回访", CENTRE | {Role.AGENT}, {"statuses": ("callback_pending",)}),
        View("overdue", "超期", CENTRE | {Role.AGENT, Role.UNIT_HANDLER}, {"overdue": True}),
        View("supervised", "督办中", CENTRE | {Role.UNIT_HANDLER}, {"supervised": True}),
        View("redo", "重办中", CENTRE | {Role.AGENT, Role.UNIT_HANDLER}, {"redo": True}),
        View("todo", "待办", frozenset({Role.UNIT_HANDLER}), {"statuses": UNIT_OPEN}),
        View("done", "已办", frozenset({Role.UNIT_HANDLER}), {"statuses": UNIT_DONE}),
    )
}
"""The centre's daily views (待派单, 待审核答复, 待回访, 超期, 督办中, 重办中) and a unit's 待办 / 已办."""


def views_for(actor: Actor) -> list[View]:
    return [v for v in VIEWS.values() if actor.role in v.roles]


def phone_forms(value: str) -> tuple[str, ...]:
    """The forms a phone written any way (``139-0000-1111``, ``+86 139 0000 1111``,
    ``(0632)3311234``, full-width digits already made plain) is stored in: a mobile as its 11
    digits; a landline with and without the dash after its 3- or 4-digit area code.

    Raises :class:`InvalidInput` (``phone``, ``validation.phone``) for anything that is not a
    phone number."""
    plain = canonical_phone(_PHONE_NOISE.sub("", value.strip()).removeprefix("+86").removeprefix("0086"))
    if not PHONE.match(plain):
        raise InvalidInput.one(
            "phone", "validation.phone", "电话号码格式不正确（手机号11位，或带区号的固定电话，如0632-3311234）"
        )
    landline = _LANDLINE.match(plain)
    if landline is None:
        return (plain,)
    digits = landline.group(1) + landline.group(2)
    forms = {digits}
    for area in (3, 4):  # 010-…, 0632-…: the dash after a 3- or 4-digit area code
        forms.add(f"{digits[:area]}-{digits[area:]}")
    return tuple(sorted(forms))


def leaves_under(catalogue: Catalogue | None, label: str) -> tuple[str, ...]:
    """The leaf codes under a catalogue node given by code, name or path (any level); raises
    :class:`InvalidInput` (``category``, ``search.unknown_category``) when there is none."""
    node = catalogue.resolve(label) if catalogue is not None else None
    if node is None:
        raise InvalidInput.one("category", "search.unknown_category", "派单目录中没有这个事项")
    assert catalogue is not None
    return tuple(code for code, leaf in catalogue.leaves.items() if node.code in leaf.path_codes)


def ticket_filter(
    actor: Actor,
    now: datetime,
    *,
    view: str | None = None,
    phone: str | None = None,
    caller_name: str | None = None,
    category: str | None = None,
    catalogue: Catalogue | None = None,
    sort: str = "newest",
    **given: Any,
) -> TicketFilter:
    """The filter for ``actor``'s search: the saved ``view``'s filters, then the ones given.

    Unit handlers see callers masked, so they cannot search by a caller's phone or name (it would
    tell them who called); :class:`InvalidInput` names the field (``search.personal_for_unit``),
    as for an unknown view, sort or category. ``category`` is a catalogue node by code, name or
    path at any level (the leaves under it). ``now`` (UTC) decides what is overdue."""
    flt = TicketFilter(now=now, **{k: v for k, v in given.items() if v is not None and v != ""})
    if view:
        chosen = VIEWS.get(view)
        if chosen is None or actor.role not in chosen.roles:
            raise InvalidInput.one("view", "search.unknown_view", "没有这个常用筛选")
        flt = replace(flt, **chosen.filters)
    if sort not in SORTS:
        raise InvalidInput.one("sort", "search.unknown_sort", "排序方式只能是：最新、最早、到期时间")
    flt = replace(flt, sort=sort)
    personal = {"phone": phone, "caller_name": caller_name}
    for name, value in personal.items():
        if value and actor.role is Role.UNIT_HANDLER:
            raise InvalidInput.one(
                name,
                "search.personal_for_unit",
                "承办单位不能按诉求人的电话或姓名查找工单（诉求人信息对承办单位隐去）",
            )
    if category:
        flt = replace(flt, categories=leaves_under(catalogue, category))
    if phone:
        flt = replace(flt, phone=phone_forms(phone))
    if caller_name:
        flt = replace(flt, caller_name=caller_name.strip())
    return flt

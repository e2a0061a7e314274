"""查看联系方式: the lead unit of an open ticket calls the caller back (issue 10, item 8).

A unit sees the caller's phone masked; the unit that must phone them opens it with one action that
states why, recorded in the personal-data audit (who, when, which caller and ticket, why). A
confidential caller stays hidden from every unit (the centre calls them).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from dispatcher.lifecycle import Status
from hotline.errors import Conflict, Forbidden, InvalidInput
from hotline.models import PersonalDataAccess
from hotline.tickets import repository as tickets_repo
from hotline.tickets.schemas import CallerOut
from hotline.tickets.service import unmasked_caller
from hotline.users import Actor, Role
from hotline.workflow.common import load, require_role

OPEN = frozenset({Status.DISPATCHED, Status.ACCEPTED})
"""Statuses in which the lead unit is handling the ticket and may need to call."""
DISPUTED = frozenset({Status.RETURN_REQUESTED, Status.ARBITRATION})
"""The unit has said the matter is not its duty: no call until the return is decided."""

PURPOSE = "contact_caller"


async def reveal_contact(session: AsyncSession, actor: Actor, number: str, reason: str) -> CallerOut:
    """The caller's name and phone, unmasked, for the lead unit's handler of an open ticket.

    Raises :class:`InvalidInput` (``reason``: 2–200 characters required), ``NotFound`` for a
    ticket the unit does not see, :class:`Forbidden` for a unit that is not the lead unit or a
    confidential caller, :class:`Conflict` while the unit's own return request is under review or
    arbitration (it has said the matter is not its duty: ``contact.return_pending``) and once the
    ticket is no longer being handled (``contact.ticket_closed``). Every
    disclosure is audited (purpose ``contact_caller`` with the reason).
    """
    require_role(actor, Role.UNIT_HANDLER)
    why = reason.strip()
    words = sum(1 for ch in why if ch.isalpha())  # Chinese characters count as letters
    if not 2 <= len(why) <= 200 or words < 2:
        raise InvalidInput.one(
            "reason", "contact.reason_required", "请写明查看联系方式的原因（2–200字，如：回电核实现场情况）"
        )
    ticket = await load(session, actor, number, lock=False)
    if ticket.lead_unit_code != actor.unit_code:
        raise Forbidden("只有主办单位可以查看诉求人的联系方式", code="contact.not_lead_unit")
    if Status(ticket.status) in DISPUTED:
        raise Conflict(
            "本单位的退单申请正在审核或裁定中，暂不提供诉求人的联系方式；工单确定仍由本单位办理后可再查看",
            code="contact.return_pending",
        )
    if Status(ticket.status) not in OPEN:
        raise Conflict("工单已不在办理中，不再提供诉求人的联系方式", code="contact.ticket_closed")
    caller = await tickets_repo.caller(session, ticket.caller_id)
    if caller.confidential:
        raise Forbidden(
            "诉求人要求对其信息保密，联系方式不向承办单位提供；如需联系请通过热线中心", code="contact.confidential"
        )
    session.add(
        PersonalDataAccess(
            user_id=actor.id, caller_id=ticket.caller_id, ticket_id=ticket.id, purpose=PURPOSE, reason=why
        )
    )
    await session.flush()
    return unmasked_caller(caller)

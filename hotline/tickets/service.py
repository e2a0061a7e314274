"""受理 (intake): route the request, record the decision, dispatch and start the clock — one transaction.

Time limits are the rulebook's (实施方案第11条: citizens 5 working days, enterprises 10), counted
by the working calendar from the moment of dispatch.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from dispatcher.calendar import LOCAL_TZ
from dispatcher.classifier import DispatchModel
from dispatcher.lifecycle import STATUS_LABELS, Action, Status, transition
from dispatcher.routing import AreaInput, Decision, FactsError, RequestFacts, route
from hotline.dispatch.labels import record_label
from hotline.errors import Conflict, InvalidInput, NotFound
from hotline.models import Caller, Deadline, Ticket
from hotline.privacy import mask_credit_code, mask_name, mask_phone
from hotline.redaction import UNIT_ENTITIES, redact
from hotline.runtime import Runtime
from hotline.tickets import repository as repo
from hotline.tickets.schemas import (
    CallerOut,
    DeadlineOut,
    EventOut,
    TicketIn,
    TicketOut,
    TicketPage,
    TicketSummary,
)
from hotline.users import Actor, Role
from routing_rules.schema import CallerType, Disposition

ACTION_OF = {
    Disposition.DISPATCH: Action.DISPATCH,
    Disposition.SUBCENTRE: Action.DISPATCH,
    Disposition.DIRECT_ANSWER: Action.DIRECT_ANSWER,
    Disposition.EMERGENCY_TRANSFER: Action.TRANSFER,
    Disposition.NOT_ACCEPTED: Action.REFUSE,
}


def facts_of(data: TicketIn) -> RequestFacts:
    area = data.area
    return RequestFacts(
        content=data.content,
        kind=data.kind,
        caller_type=data.caller.type,
        line=data.line,
        channel=data.channel.value,
        category=data.category,
        area=AreaInput(area.district, area.town, area.village) if area else AreaInput(),
        address=data.address,
        has_answer=bool(data.answer),
        not_accepted_reason=data.not_accepted_reason,
    )


def preview(rt: Runtime, data: TicketIn, model: DispatchModel | None = None) -> Decision:
    """The routing decision for a call, with the current dispatch model when there is one."""
    try:
        return route(facts_of(data), rt.rulebook, model)
    except FactsError as exc:
        raise InvalidInput.one(exc.field, exc.code, exc.message) from exc


async def routing_preview(session: AsyncSession, rt: Runtime, data: TicketIn) -> Decision:
    return preview(rt, data, await rt.dispatch.get(session))


def working_days_for(rt: Runtime, caller_type: CallerType, decision: Decision | None = None) -> int:
    """The reply limit in working days: the catalogue leaf's own limit when it sets one, else item
    11's 5 (citizens) or 10 (enterprises)."""
    if decision is not None and decision.time_limit_working_days is not None:
        return decision.time_limit_working_days
    limits = rt.rulebook.policy.time_limits
    return limits.enterprise_working_days if caller_type is CallerType.ENTERPRISE else limits.citizen_working_days


@dataclass(frozen=True, slots=True)
class IntakeResult:
    ticket: TicketOut
    created: bool


def _request_hash(data: TicketIn) -> str:
    """Identity of a call's content, to tell a retry (same content) from a reused key."""
    return hashlib.sha256(data.model_dump_json().encode()).hexdigest()


async def intake(
    session: AsyncSession, rt: Runtime, actor: Actor, data: TicketIn, idempotency_key: str | None
) -> IntakeResult:
    """Log one call as a ticket in one statement. A retry with the same ``Idempotency-Key`` returns
    the same ticket; the same key with a different call is refused."""
    digest = _request_hash(data)
    decision = preview(rt, data, await rt.dispatch.get(session))
    now = rt.clock()
    cached = rt.calendar.current
    if cached is None:
        calendar = await rt.calendar.get(session)
        cached = rt.calendar.current
        assert cached is not None
    calendar, stamp = cached
    lead = decision.lead
    days = working_days_for(rt, data.caller.type, decision) if lead else None
    due = calendar.deadline(now, days) if days else None
    accept_days = rt.rulebook.workflow.accept_within_working_days
    accept_due = calendar.deadline(now, accept_days) if days else None
    status = transition(None, ACTION_OF[decision.disposition])
    routing = decision.as_dict()
    c = data.caller
    row = repo.IntakeRow(
        now=now,
        number_prefix=f"{now.astimezone(LOCAL_TZ):%Y%m%d}",
        caller=(c.type.value, c.name, c.phone, c.enterprise_name, c.credit_code, c.confidential),
        channel=data.channel.value,
        line=data.line,
        kind=data.kind.value,
        category=decision.category,
        content=data.content,
        address=data.address,
        area_district=decision.area.district,
        area_town=decision.area.town or decision.area.town_name,
        area_village=decision.area.village,
        caller_type=c.type.value,
        status=status.value,
        disposition=decision.disposition.value,
        lead_unit=lead.code if lead else None,
        reason_code=decision.reason_code,
        transfer_to=decision.transfer_to,
        answer=data.answer if decision.disposition is Disposition.DIRECT_ANSWER else None,
        rulebook_version=decision.rulebook_version,
        created_by=actor.id,
        idempotency_key=idempotency_key,
        request_hash=digest,
        rule_id=decision.rule_id,
        model_version=decision.model_version,
        decision_json=json.dumps(routing, ensure_ascii=False),
        unit_codes=[u.code for u in decision.units],
        unit_roles=[u.role for u in decision.units],
        deadlines=[]
        if due is None or accept_due is None or days is None
        else [
            ("reply", days, due.due_date, due.due_at, due.provisional),
            ("accept", accept_days, accept_due.due_date, accept_due.due_at, accept_due.provisional),
        ],
        event_note=decision.explanation,
        event_json=json.dumps(
            {"disposition": decision.disposition.value, "rule_id": decision.rule_id, "channel": data.channel.value},
            ensure_ascii=False,
        ),
    )
    inserted = await repo.insert_intake(session, row)
    if inserted is None:
        assert idempotency_key is not None
        return await _replay(session, rt, actor, idempotency_key, digest)
    if decision.category_source == "agent" and decision.category is not None:
        # The agent's choice is a confirmed dispatch: a training label for the classifier (issue 9).
        await record_label(
            session, rt.rulebook, inserted.ticket_id, data.content, decision.category, "intake", actor.username, now
        )
    if due is not None and days is not None and inserted.calendar_stamp != stamp:
        # The stored calendar changed since this process cached it (an import elsewhere): recompute.
        calendar = await rt.calendar.get(session)
        fresh = calendar.deadline(now, days)
        if (fresh.due_date, fresh.provisional) != (due.due_date, due.provisional):
            await repo.update_intake_deadline(
                session, inserted.ticket_id, "reply", fresh.due_date, fresh.due_at, fresh.provisional
            )
        fresh_accept = calendar.deadline(now, accept_days)
        if accept_due is not None and fresh_accept.due_date != accept_due.due_date:
            await repo.update_intake_deadline(
                session,
                inserted.ticket_id,
                "accept",
                fresh_accept.due_date,
                fresh_accept.due_at,
                fresh_accept.provisional,
            )
        due = fresh
    ticket = TicketOut(
        number=inserted.number,
        status=status.value,
        status_label=STATUS_LABELS[status],
        disposition=decision.disposition.value,
        channel=data.channel.value,
        line=data.line,
        kind=data.kind.value,
        category=decision.category,
        content=data.content,
        address=data.address,
        area={"district": row.area_district, "town": row.area_town, "village": row.area_village},
        answer=row.answer,
        lead_unit=row.lead_unit,
        caller=_masked_caller(c.type.value, c.name, c.phone, c.enterprise_name, c.credit_code, c.confidential),
        routing=routing,
        deadline=None
        if due is None or days is None
        else DeadlineOut(
            due_date=due.due_date, due_at=due.due_at, working_days=days, provisional=due.provisional, unit=row.lead_unit
        ),
        created_at=now,
    )
    return IntakeResult(ticket, created=True)


async def _replay(session: AsyncSession, rt: Runtime, actor: Actor, key: str, digest: str) -> IntakeResult:
    existing = await repo.by_idempotency_key(session, actor.id, key)
    assert existing is not None  # the insert conflicted on this key
    if existing.request_hash != digest:
        raise Conflict(
            "该 Idempotency-Key 已用于另一张不同内容的工单，请为新来电使用新的键值",
            code="idempotency.key_reused",
        )
    return IntakeResult(await ticket_out(session, rt, actor, existing, events=False, unmask=False), created=False)


def _masked_caller(
    type_: str,
    name: str | None,
    phone: str | None,
    enterprise: str | None,
    credit: str | None,
    confidential: bool,
    *,
    hidden: bool = False,
) -> CallerOut:
    return CallerOut(
        type=type_,
        name="（保密）" if hidden else mask_name(name),
        phone=None if hidden else mask_phone(phone),
        enterprise_name=enterprise,
        credit_code=None if hidden else mask_credit_code(credit),
        confidential=confidential,
        masked=True,
    )


def unmasked_caller(caller: Caller) -> CallerOut:
    """The caller as stored (callers of this disclose it: audit the read)."""
    return CallerOut(
        type=caller.type,
        name=caller.name,
        phone=caller.phone,
        enterprise_name=caller.enterprise_name,
        credit_code=caller.credit_code,
        confidential=caller.confidential,
        masked=False,
    )


def _caller_out(caller: Caller, unmask: bool, actor: Actor) -> CallerOut:
    if unmask:
        return unmasked_caller(caller)
    return _masked_caller(
        caller.type,
        caller.name,
        caller.phone,
        caller.enterprise_name,
        caller.credit_code,
        caller.confidential,
        hidden=caller.confidential and actor.is_unit_handler,
    )


def _deadline_out(d: Deadline | None) -> DeadlineOut | None:
    if d is None:
        return None
    return DeadlineOut(
        due_date=d.due_date,
        due_at=d.due_at,
        working_days=d.working_days + d.extension_days,
        provisional=d.provisional,
        unit=d.unit_code,
        extension_days=d.extension_days,
    )


UNMASK_ROLES = frozenset({Role.AGENT, Role.SUPERVISOR, Role.ADMIN})


_IDENTIFIER_CHARS = re.compile(r"[0-9A-Za-z@＠０-９Ａ-Ｚａ-ｚ〇零二三四五六七八九幺壹贰叁肆伍陆柒捌玖]")
"""What an identifier is written with: searching for it would undo its masking (一 and 两 are left
out: 一直, 两个月 are words, and one digit value alone tells little)."""


def content_for(actor: Actor, content: str) -> str:
    """A request's content as ``actor`` may read it: a unit handler does not see identifiers typed
    into it (phones, e-mail, ID and bank card numbers: ``redaction.UNIT_ENTITIES``), which the
    work does not need; the lead unit opens the caller's phone with 查看联系方式."""
    if actor.role in UNMASK_ROLES:
        return content
    return redact(content, entities=UNIT_ENTITIES)


async def ticket_out(
    session: AsyncSession, rt: Runtime, actor: Actor, ticket: Ticket, *, events: bool, unmask: bool
) -> TicketOut:
    """Shape a ticket for ``actor``. Unmasked personal data is shown only to centre roles and audited."""
    caller = await repo.caller(session, ticket.caller_id)
    show = unmask and actor.role in UNMASK_ROLES
    if show:
        repo.audit_personal_data(session, actor, ticket, "ticket_detail")
    decision = await repo.decision(session, ticket.id)
    deadline = await repo.running_deadline(session, ticket.id) or await repo.latest_deadline(session, ticket.id)
    timeline = None
    if events:
        timeline = [
            EventOut(
                at=e.at,
                action=e.action,
                actor=username,
                from_status=e.from_status,
                to_status=e.to_status,
                unit=e.unit_code,
                due_before=e.due_before,
                due_after=e.due_after,
                note=e.note,
                data=e.data,
            )
            for e, username in await repo.events(session, ticket.id)
        ]
    return TicketOut(
        number=ticket.number,
        status=ticket.status,
        status_label=STATUS_LABELS[Status(ticket.status)],
        disposition=ticket.disposition,
        channel=ticket.channel,
        line=ticket.line,
        kind=ticket.kind,
        category=ticket.category,
        content=content_for(actor, ticket.content),
        address=ticket.address,
        area={"district": ticket.area_district, "town": ticket.area_town, "village": ticket.area_village},
        answer=ticket.answer,
        lead_unit=ticket.lead_unit_code,
        caller=_caller_out(caller, show, actor),
        # decisions made before smart dispatch carry no path or suggestions: the contract's keys are always there
        routing={"category_path": [], "suggestions": [], **decision.decision} if decision else {},
        deadline=_deadline_out(deadline),
        created_at=ticket.created_at,
        events=timeline,
    )


async def get_ticket(session: AsyncSession, rt: Runtime, actor: Actor, number: str) -> TicketOut:
    """One ticket with its timeline; a ticket outside a unit handler's unit does not exist for them."""
    ticket = await repo.get_visible(session, number, actor)
    if ticket is None:
        raise NotFound(f"工单不存在：{number}", code="ticket.not_found")
    return await ticket_out(session, rt, actor, ticket, events=True, unmask=True)


async def list_tickets(
    session: AsyncSession, actor: Actor, flt: repo.TicketFilter, page: int, page_size: int
) -> TicketPage:
    if flt.q and actor.role not in UNMASK_ROLES and _IDENTIFIER_CHARS.search(flt.q):
        # the content is searched as stored: digit by digit, a search would give back what the
        # unit is shown masked (an ID number, a phone, an e-mail)
        raise InvalidInput.one(
            "q",
            "search.identifier_for_unit",
            "承办单位按内容搜索时不能含数字、字母或号码（诉求中的号码对承办单位隐去）",
        )
    rows, total = await repo.page(session, actor, flt, page, page_size)
    return TicketPage(
        items=[
            TicketSummary(
                number=t.number,
                status=t.status,
                status_label=STATUS_LABELS[Status(t.status)],
                disposition=t.disposition,
                kind=t.kind,
                channel=t.channel,
                line=t.line,
                category=t.category,
                caller_type=t.caller_type,
                lead_unit=t.lead_unit_code,
                district=t.area_district,
                content_excerpt=content_for(actor, t.content)[:80],
                created_at=t.created_at,
                due_at=d.due_at if d else None,
                provisional=d.provisional if d else None,
            )
            for t, d in rows
        ],
        total=min(total, repo.COUNT_CAP),
        total_capped=total > repo.COUNT_CAP,
        page=page,
        page_size=page_size,
    )

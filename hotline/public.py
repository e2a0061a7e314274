"""Public pages without sign-in: 办理进度查询 and the monthly 办理情况公开 (实施方案第19条).

Nothing personal ever leaves this module: no caller name, phone, ID number, exact address or
request content. A progress lookup needs the ticket number *and* the last four digits of the
caller's phone; a wrong answer looks exactly like an unknown number, and every attempt counts
toward a per-client limit kept in PostgreSQL (shared by every process), so numbers cannot be probed. The disclosure follows the 薛城区 practice:
受理日期、答复日期、答复部门、答复内容摘要 and the month's statistics; confidential tickets are
listed without any content, and phone and ID numbers are scrubbed from the reply summaries.

SQL of these queries is kept in the clearly marked section at the end of this module.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatcher.calendar import LOCAL_TZ
from dispatcher.lifecycle import OPEN_STATUSES, STATUS_LABELS, Status
from hotline import attempts, kpi
from hotline.errors import DomainError, FieldProblem, InvalidInput
from hotline.models import Caller, Deadline, HandlingUnit, Reply, Ticket, TicketEvent
from hotline.redaction import personal_values, redact
from hotline.runtime import Runtime

KIND_LABELS = {
    "consultation": "咨询",
    "help": "求助",
    "complaint": "投诉",
    "report": "举报",
    "suggestion": "建议",
}
SUMMARY_CHARS = 60
PRIVATE = "涉及隐私，不予公开"
DISCLOSED_STATUSES = (Status.CALLBACK_PENDING.value, Status.CLOSED.value)
"""Published only once the centre has approved the reply (答复审核), never at ``replied``."""
PAGE_SIZE = 50

NUMBER = re.compile(r"^\d{8,20}$")
LAST_FOUR = re.compile(r"^\d{4}$")
MONTH = re.compile(r"^(\d{4})-(\d{2})$")
"""Mobile (11 digits), landline (0632-xxxxxxx) and any other run of 7+ digits: never published."""


# ---------------------------------------------------------------- rate limit


class TooManyLookups(DomainError):
    http_status = 429
    code = "public.rate_limited"


LOOKUP_LIMIT = attempts.Limit(limit=10, window=600, bucket=60)
"""At most ten progress lookups per client, and per ticket number, in any ten minutes."""


def client_key(secret: str, address: str) -> str:
    """The client's address is personal data: only a keyed hash of it is stored."""
    return attempts.hashed(secret, address)


async def count_lookup(
    session: AsyncSession, key: str, now: datetime, policy: attempts.Limit = LOOKUP_LIMIT
) -> float | None:
    """Record one lookup attempt; ``None`` if allowed, else the seconds until the next one is
    (:func:`hotline.attempts.count`)."""
    return await attempts.count(session, key, now, policy)


async def prune_lookup_hits(session: AsyncSession, now: datetime) -> int:
    """Forget attempts (lookups and logins) older than a day (the scheduler calls this every tick)."""
    return await attempts.prune(session, now)


# ---------------------------------------------------------------- 办理进度查询 progress


@dataclass(frozen=True, slots=True)
class Progress:
    """What the caller may see of their ticket: public statuses and steps, no personal data."""

    number: str
    status_label: str
    received_on: date
    unit_name: str | None
    replied: bool
    """An answer approved by the centre (答复审核) stands: after a redo, the new one is awaited."""
    replied_on: date | None
    due_at: datetime | None = None
    """The running limit of the handling unit (24:00 of its last working day)."""
    steps: tuple[tuple[date, str], ...] = ()
    """Public steps, oldest first: 受理, 派单, 签收, 答复, 重办, 办结."""
    reply: str | None = None
    """The approved reply's public text (redacted), when there is one."""
    refused_reason: str | None = None
    refused_advice: str | None = None
    """For a ticket not accepted (不予受理): why, and where to go instead."""


PUBLIC_STATUS = {
    Status.DISPATCHED: "办理中",
    Status.ACCEPTED: "办理中",
    Status.RETURN_REQUESTED: "办理中",
    Status.ARBITRATION: "办理中",
    Status.REPLIED: "办理中（答复审核中）",
    Status.CALLBACK_PENDING: "已答复",
    Status.CLOSED: "已办结",
    Status.ANSWERED: "已直接答复",
    Status.TRANSFERRED: "已转紧急热线",
    Status.NOT_ACCEPTED: "不予受理",
    Status.MERGED: "已并入其他工单办理",
    Status.REPEAT: "已关联原工单",
}
"""One public status per internal one: a redo is "办理中" again, never 已派单 beside an old reply."""
PUBLIC_STEPS = {
    "intake": "受理",
    "dispatch": "派单",
    "accept": "承办单位签收",
    "approve_reply": "答复（已审核）",
    "redo": "重办",
    "close": "办结",
    "direct_answer": "直接答复",
}


def _local_date(at: datetime) -> date:
    return at.astimezone(LOCAL_TZ).date()


def _digits(text: str | None) -> str:
    return "".join(ch for ch in text or "" if ch.isdigit())


async def lookup_progress(
    session: AsyncSession, rt: Runtime, client: str, number: str, last_four: str
) -> Progress | None:
    """办理进度查询. The attempt is counted first, per client and per ticket number (429 over
    either limit, :data:`LOOKUP_LIMIT`); then the ticket is shown only if the last four digits of
    its caller's phone match. ``None`` means "no such ticket" —
    an unknown number and wrong digits are indistinguishable."""
    number, last_four = number.strip(), last_four.strip()
    wait = await count_lookup(session, client_key(rt.settings.secret_key, client), rt.clock())
    if wait is None and NUMBER.match(number):
        # Ticket numbers are sequential: attempts on one ticket are limited too, from whatever
        # address they come, so that its four digits cannot be guessed from many addresses.
        wait = await count_lookup(session, client_key(rt.settings.secret_key, f"ticket:{number}"), rt.clock())
    if wait is not None:
        raise TooManyLookups(f"查询过于频繁，请约{int(wait // 60) + 1}分钟后再试")
    problems = []
    if not NUMBER.match(number):
        problems.append(FieldProblem("number", "public.bad_number", "请输入正确的工单编号（数字）"))
    if not LAST_FOUR.match(last_four):
        problems.append(FieldProblem("last_four", "public.bad_digits", "请输入来电号码的后四位数字"))
    if problems:
        raise InvalidInput(problems)
    row = await _ticket_for_lookup(session, number)
    if row is None:
        return None
    ticket, phone, unit_name = row
    digits = _digits(phone)
    # Compare in constant time; a caller without a phone cannot be looked up.
    if len(digits) < 4 or not hmac.compare_digest(digits[-4:].encode(), last_four.encode()):
        return None
    status = Status(ticket.status)
    steps = tuple((_local_date(at), PUBLIC_STEPS[action]) for at, action in await _public_events(session, ticket.id))
    approved = status in (Status.CALLBACK_PENDING, Status.CLOSED)
    reply = await _approved_reply(session, ticket.id) if approved else None
    refused = None
    if status is Status.NOT_ACCEPTED and ticket.reason_code:
        refused = next((r for r in rt.rulebook.policy.not_accepted if r.code == ticket.reason_code), None)
    due = await _running_due(session, ticket.id) if status in OPEN_STATUSES else None
    return Progress(
        number=ticket.number,
        status_label=PUBLIC_STATUS.get(status, STATUS_LABELS[status]),
        received_on=_local_date(ticket.created_at),
        unit_name=unit_name,
        replied=reply is not None,
        replied_on=_local_date(reply.replied_at) if reply is not None else None,
        due_at=due,
        steps=steps,
        reply=None if reply is None else summary_of(reply.public_text or reply.content, phone),
        refused_reason=refused.title if refused else None,
        refused_advice=refused.script if refused else None,
    )


# ---------------------------------------------------------------- 办理情况公开 disclosure


@dataclass(frozen=True, slots=True)
class DisclosedItem:
    received_on: date
    replied_on: date
    unit_name: str
    kind: str
    category: str | None
    summary: str
    private: bool


@dataclass(frozen=True, slots=True)
class MonthStats:
    """The month's public figures. The rates are the KPI engine's own (``hotline.kpi``, defined in
    docs/kpi.md), so the page shows what ``GET /api/v1/kpi`` and the dashboard show for the month."""

    received: int
    by_kind: list[tuple[str, int]]
    replied: int
    on_time: dict[str, Any]
    """及时办结率: ``{"value": fraction or None, "numerator", "denominator"}``."""
    satisfaction: dict[str, Any]
    """满意率: as ``on_time``; evaluations found unreasonable and unreachable callers not counted."""

    @property
    def on_time_rate(self) -> str | None:
        """Percent with one decimal, written as the dashboard writes it (``kpi.pct``)."""
        return _percent(self.on_time["value"])

    @property
    def satisfaction_rate(self) -> str | None:
        """Percent with one decimal, written as the dashboard writes it (``kpi.pct``)."""
        return _percent(self.satisfaction["value"])


def _percent(value: float | None) -> str | None:
    return None if value is None else kpi.pct(value).removesuffix("%")


@dataclass(frozen=True, slots=True)
class Disclosure:
    month: str
    stats: MonthStats
    items: list[DisclosedItem]
    total: int
    page: int
    pages: int


def parse_month(text: str | None, today: date) -> date:
    """``YYYY-MM`` → the first day of that month; empty → the current (local) month."""
    if not text:
        return today.replace(day=1)
    match = MONTH.match(text.strip())
    if match is None or not 1 <= int(match.group(2)) <= 12 or not 2000 <= int(match.group(1)) <= 2100:
        raise InvalidInput.one("month", "public.bad_month", "月份格式应为 YYYY-MM，例如 2026-09")
    return date(int(match.group(1)), int(match.group(2)), 1)


def scrub(text: str, *secrets: str | None) -> str:
    """Remove what identifies a person from a text before it is published (``hotline.redaction``:
    phones in any notation, e-mail, ID and bank card numbers, plates, house numbers, names), and
    the caller's own values where the text repeats them."""
    return redact(text, *secrets)


def summary_of(content: str, *secrets: str | None) -> str:
    flat = " ".join(scrub(content, *secrets).split())
    return flat if len(flat) <= SUMMARY_CHARS else flat[:SUMMARY_CHARS] + "…"


async def disclosure(session: AsyncSession, rt: Runtime, month: str | None, page: int = 1) -> Disclosure:
    """办理情况公开 for one month of 受理 (Asia/Shanghai): tickets received by kind; the replies the
    centre approved (答复审核), counted and listed with 受理日期、答复日期、答复部门、答复内容摘要 (the
    count is the list's length: the figures on the page add up); 及时办结率 and 满意率 as the KPI
    engine defines them (docs/kpi.md). Confidential tickets are listed as 涉及隐私，不予公开."""
    first = parse_month(month, _local_date(rt.clock()))
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    start = datetime.combine(first, time(), tzinfo=LOCAL_TZ)
    end = datetime.combine(following, time(), tzinfo=LOCAL_TZ)
    page = max(1, page)
    by_kind = await _received_by_kind(session, start, end)
    last = following - timedelta(days=1)
    rep = await kpi.report(session, rt, kpi.Period(first, last), (), now=rt.clock())
    overall = kpi.figures(rep.overall)
    total, rows = await _disclosed(session, start, end, page, PAGE_SIZE)
    categories = rt.rulebook.categories
    items = []
    for ticket, reply, unit_name, caller in rows:
        private = caller.confidential
        items.append(
            DisclosedItem(
                received_on=_local_date(ticket.created_at),
                replied_on=_local_date(reply.replied_at),
                unit_name=unit_name or "",
                kind=KIND_LABELS.get(ticket.kind, ticket.kind),
                category=None
                if private or ticket.category is None
                else (categories[ticket.category].name if ticket.category in categories else None),
                summary=PRIVATE
                if private
                else summary_of(reply.public_text or reply.content, *personal_values(caller, ticket)),
                private=private,
            )
        )
    return Disclosure(
        month=f"{first:%Y-%m}",
        stats=MonthStats(
            received=sum(n for _, n in by_kind),
            by_kind=[(KIND_LABELS.get(k, k), n) for k, n in by_kind],
            replied=total,
            on_time=overall["on_time_rate"],
            satisfaction=overall["satisfaction_rate"],
        ),
        items=items,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
    )


# ---------------------------------------------------------------- SQL


async def _ticket_for_lookup(session: AsyncSession, number: str) -> tuple[Ticket, str | None, str | None] | None:
    stmt = (
        select(Ticket, Caller.phone, HandlingUnit.name)
        .join(Caller, Caller.id == Ticket.caller_id)
        .outerjoin(HandlingUnit, HandlingUnit.code == Ticket.lead_unit_code)
        .where(Ticket.number == number)
    )
    row = (await session.execute(stmt)).first()
    return None if row is None else (row[0], row[1], row[2])


async def _public_events(session: AsyncSession, ticket_id: int) -> list[tuple[datetime, str]]:
    stmt = (
        select(TicketEvent.at, TicketEvent.action)
        .where(TicketEvent.ticket_id == ticket_id, TicketEvent.action.in_(tuple(PUBLIC_STEPS)))
        .order_by(TicketEvent.id)
    )
    return [(at, str(action)) for at, action in await session.execute(stmt)]


async def _approved_reply(session: AsyncSession, ticket_id: int) -> Reply | None:
    stmt = select(Reply).where(Reply.ticket_id == ticket_id).order_by(Reply.id.desc()).limit(1)
    return (await session.execute(stmt)).scalar_one_or_none()


async def _running_due(session: AsyncSession, ticket_id: int) -> datetime | None:
    stmt = (
        select(Deadline.due_at)
        .where(Deadline.ticket_id == ticket_id, Deadline.kind == "reply", Deadline.state == "running")
        .order_by(Deadline.id.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


def _in_month(start: datetime, end: datetime) -> Any:
    return and_(Ticket.created_at >= start, Ticket.created_at < end)


async def _received_by_kind(session: AsyncSession, start: datetime, end: datetime) -> list[tuple[str, int]]:
    stmt = (
        select(Ticket.kind, func.count())
        .where(_in_month(start, end))  # every call received, repeats too: 受理量 of docs/kpi.md
        .group_by(Ticket.kind)
        .order_by(func.count().desc(), Ticket.kind)
    )
    return [(str(k), int(n)) for k, n in await session.execute(stmt)]


async def _disclosed(
    session: AsyncSession, start: datetime, end: datetime, page: int, page_size: int
) -> tuple[int, list[tuple[Ticket, Reply, str | None, Caller]]]:
    """Replied tickets of the month with their latest reply, oldest intake first."""
    latest = select(func.max(Reply.id)).group_by(Reply.ticket_id)
    where = (_in_month(start, end), Ticket.status.in_(DISCLOSED_STATUSES), Reply.id.in_(latest))
    base = select(Ticket, Reply, HandlingUnit.name, Caller).join(Reply, Reply.ticket_id == Ticket.id)
    total = int(
        await session.scalar(
            select(func.count()).select_from(Ticket).join(Reply, Reply.ticket_id == Ticket.id).where(*where)
        )
        or 0
    )
    stmt = (
        base.join(Caller, Caller.id == Ticket.caller_id)
        .outerjoin(HandlingUnit, HandlingUnit.code == Reply.unit_code)
        .where(*where)
        .order_by(Ticket.created_at, Ticket.id)
        .offset((page - 1) * page_size)
        .limit(page_size)
    )
    return total, [(t, r, n, c) for t, r, n, c in await session.execute(stmt)]

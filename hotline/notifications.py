"""Delivery of the notification outbox: SMS-style texts to callers and handling units.

Services only write :class:`~hotline.models.Notification` rows (in their own transaction, with a
``dedupe_key``); this module renders and sends them. Delivery is **at most once**: a row is claimed
(``pending -> sending``) and committed *before* the sender is called, so a crash between the two
leaves it in ``sending``, which is never sent again automatically; once its :data:`LEASE` has
passed, :func:`stale_sending` hands it to an operator as ``failed``. Rows are claimed one at a time
(:data:`CLAIM_BATCH`), so a crash can lose at most the one notice being sent per delivering
process, and never repeats one. A failure the sender reports (:class:`DeliveryError`) is retried
with the rulebook's backoff (``[workflow.sla] notification_backoff_seconds``) until
``notification_max_attempts``.

This module is a worker unit of work: it owns its transactions (claim, then one short transaction
per outcome). Its SQL is kept together in the "repository" section below.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import string
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.db import unit_of_work
from hotline.models import Caller, Notification, Ticket
from hotline.privacy import mask_phone
from hotline.settings import Settings
from routing_rules.schema import SlaPolicy

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# Texts
# ---------------------------------------------------------------------------------------------

TEMPLATES: dict[str, str] = {
    # To the caller (recipient "caller").
    "ticket_accepted": "【枣庄12345】您反映的问题已受理，工单号{number}，可凭工单号和手机号后四位查询办理进度。",
    "extension_approved": "【枣庄12345】您的工单{number}因情况复杂，承办单位申请延期已获批准，预计于{due_date}前答复。",
    "reply_available": "【枣庄12345】您的工单{number}已有办理答复，可凭工单号和手机号后四位查询答复内容。",
    "callback": "【枣庄12345】您的工单{number}已答复，我们将通过电话回访了解您对办理结果的评价，请留意接听。",
    # To a handling unit (recipient "unit:<code>").
    "new_ticket": "【枣庄12345】您单位有新工单{number}，请及时签收办理。",
    "reminder": "【枣庄12345】催办：工单{number}将于{due_date}到期，请抓紧办理并按时答复。",
    "overdue": "【枣庄12345】工单{number}已超过办理时限，请立即办理并答复。",
    "supervision_issued": "【枣庄12345】工单{number}已被督办（{reason}），请于{reply_by}前回复督办意见。",
    "notice": "【枣庄12345】工单{number}超期未办结，已予以通报，请立即办理并答复。",
    "redo": "【枣庄12345】工单{number}经回访诉求人不满意，已交办重办，请重新办理并按时答复。",
    # To the centre: a row the sweep could not plan or act on (the rest went on).
    "sweep_failure": "【枣庄12345】工单{number}的{what}无法自动计算（{why}），已跳过自动催办督办，请人工核查。",
}

NO_PHONE = "无联系电话"
STALE_SENDING = "发送中断，未确认是否送达"
CLAIM_BATCH = 1
"""Notices claimed per transaction: one at a time, so a crash leaves at most the one being sent
(per delivering process) in ``sending`` (issue 10, item 9: claims of a thousand stranded
hundreds). A claim and its outcome are two short transactions; thousands of notices a minute."""
MAX_BATCHES = 5_000
"""Claims per call of :func:`deliver_due` (the rest waits for the next tick)."""
LEASE = timedelta(minutes=5)
"""How long a claimed notice may stay in ``sending``: a send takes seconds, so one older than this
was interrupted by a crash and is handed to an operator (:func:`stale_sending`), never resent."""


class TemplateError(ValueError):
    """A notification that cannot be rendered: unknown template or missing payload fields."""


def _fields(text: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(text) if name]


def render(template: str, payload: Mapping[str, Any], *, reason_titles: Mapping[str, str] | None = None) -> str:
    """The text of one notification.

    ``reason_titles`` (督办原因 code -> title, from ``rulebook.workflow.supervision_reasons``)
    turns the stored reason code into words; an unknown code is shown as stored.
    """
    text = TEMPLATES.get(template)
    if text is None:
        raise TemplateError(f"未知的通知模板：{template}")
    missing = [name for name in _fields(text) if name not in payload]
    if missing:
        raise TemplateError(f"通知模板{template}缺少字段：{'、'.join(missing)}")
    values = dict(payload)
    if reason_titles is not None and "reason" in values:
        values["reason"] = reason_titles.get(str(values["reason"]), values["reason"])
    return text.format_map(values)


# ---------------------------------------------------------------------------------------------
# Senders
# ---------------------------------------------------------------------------------------------


class DeliveryError(Exception):
    """The gateway did not take the message. ``permanent``: retrying cannot help (e.g. HTTP 400)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent


class Sender(Protocol):
    async def send(self, recipient: str, phone: str | None, text: str, notification_id: int) -> None:
        """Hand one message to the gateway; raise :class:`DeliveryError` when it is not taken."""
        ...


@dataclass(frozen=True, slots=True)
class SentMessage:
    notification_id: int
    recipient: str
    phone: str | None
    text: str


@dataclass
class LoggingSender:
    """The default without a gateway: logs each message (phone masked) and keeps it in ``sent``."""

    sent: list[SentMessage] = field(default_factory=list)

    async def send(self, recipient: str, phone: str | None, text: str, notification_id: int) -> None:
        log.info("通知 #%s -> %s %s：%s", notification_id, recipient, mask_phone(phone) or "", text)
        self.sent.append(SentMessage(notification_id, recipient, phone, text))


@dataclass(frozen=True)
class HttpSender:
    """POSTs ``{id, recipient, phone, text}`` as JSON to an SMS gateway; any 2xx means taken.

    ``id`` is the notification id: the gateway should drop repeats of an id, which makes a retry
    after a timeout (request sent, answer lost) harmless. 4xx other than 408/429 are permanent.
    Uses ``urllib`` in a thread so that no HTTP client is a runtime dependency.
    """

    url: str
    timeout: float = 10.0

    async def send(self, recipient: str, phone: str | None, text: str, notification_id: int) -> None:
        body = json.dumps(
            {"id": notification_id, "recipient": recipient, "phone": phone, "text": text}, ensure_ascii=False
        ).encode()
        await asyncio.to_thread(self._post, body)

    def _post(self, body: bytes) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise DeliveryError(f"通知网关地址无效：{self.url}", permanent=True)
        request = urllib.request.Request(
            self.url, data=body, method="POST", headers={"Content-Type": "application/json; charset=utf-8"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            exc.close()  # the error carries the open response
            permanent = 400 <= exc.code < 500 and exc.code not in (408, 429)
            raise DeliveryError(f"通知网关返回HTTP {exc.code}", permanent=permanent) from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DeliveryError(f"通知网关不可达：{reason}") from exc
        if not 200 <= status < 300:
            raise DeliveryError(f"通知网关返回HTTP {status}")


def sender_from_settings(settings: Settings) -> Sender:
    """``HOTLINE_NOTIFY_URL`` set: an :class:`HttpSender` to that gateway; else a :class:`LoggingSender`.

    Read from the environment here until it becomes a field of :class:`~hotline.settings.Settings`.
    """
    del settings  # the URL will move into Settings; keep the call sites stable meanwhile
    url = os.environ.get("HOTLINE_NOTIFY_URL")
    if url:
        return HttpSender(url)
    return LoggingSender()


# ---------------------------------------------------------------------------------------------
# Repository: the SQL of the outbox
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    ticket_id: int | None
    recipient: str
    template: str
    payload: dict[str, Any]
    attempts: int
    phone: str | None


async def claim_due(session: AsyncSession, now: datetime, limit: int) -> list[Claimed]:
    """Mark up to ``limit`` due pending rows as ``sending`` (oldest first), skipping rows another
    sweep has locked. ``next_attempt_at`` of a ``sending`` row records when its attempt began."""
    due = (
        select(Notification.id)
        .where(
            Notification.state == "pending",
            or_(Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= now),
        )
        .order_by(Notification.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list((await session.execute(due)).scalars())
    if not ids:
        return []
    await session.execute(
        update(Notification)
        .where(Notification.id.in_(ids))
        .values(state="sending", attempts=Notification.attempts + 1, next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    rows = await session.execute(
        select(
            Notification.id,
            Notification.ticket_id,
            Notification.recipient,
            Notification.template,
            Notification.payload,
            Notification.attempts,
            Caller.phone,
        )
        .outerjoin(Ticket, Ticket.id == Notification.ticket_id)
        .outerjoin(Caller, Caller.id == Ticket.caller_id)
        .where(Notification.id.in_(ids))
        .order_by(Notification.id)
    )
    return [Claimed(r.id, r.ticket_id, r.recipient, r.template, dict(r.payload), r.attempts, r.phone) for r in rows]


async def finish(
    session: AsyncSession,
    notification_id: int,
    state: str,
    *,
    sent_at: datetime | None = None,
    next_attempt_at: datetime | None = None,
    last_error: str = "",
) -> None:
    """Record the outcome of an attempt; only a row still in ``sending`` is changed."""
    await session.execute(
        update(Notification)
        .where(and_(Notification.id == notification_id, Notification.state == "sending"))
        .values(state=state, sent_at=sent_at, next_attempt_at=next_attempt_at, last_error=last_error)
        .execution_options(synchronize_session=False)
    )


async def fail_stale_sending(session: AsyncSession, older_than: datetime) -> int:
    rows = await session.execute(
        update(Notification)
        .where(
            Notification.state == "sending",
            or_(Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= older_than),
        )
        .values(state="failed", last_error=STALE_SENDING)
        .returning(Notification.id)
        .execution_options(synchronize_session=False)
    )
    return len(rows.all())


# ---------------------------------------------------------------------------------------------
# The sweep
# ---------------------------------------------------------------------------------------------


@dataclass
class DeliveryReport:
    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    """Rows back to ``pending`` with a later ``next_attempt_at``."""
    failed: int = 0
    batches: int = 0
    failed_ids: list[int] = field(default_factory=list)


def backoff(policy: SlaPolicy, attempts: int) -> timedelta:
    """Wait before attempt ``attempts + 1``: the n-th backoff step, the last one repeating."""
    steps: Sequence[int] = policy.notification_backoff_seconds
    return timedelta(seconds=steps[min(max(attempts, 1) - 1, len(steps) - 1)])


async def deliver_due(
    sessions: async_sessionmaker[AsyncSession],
    sender: Sender,
    now: datetime,
    policy: SlaPolicy,
    batch: int = CLAIM_BATCH,
    *,
    reason_titles: Mapping[str, str] | None = None,
    max_batches: int = MAX_BATCHES,
) -> DeliveryReport:
    """Send every due pending notification at most once (see the module docstring).

    Batches of ``batch`` rows are claimed until none is due, at most ``max_batches`` per call;
    a row rescheduled by this call is due later than ``now`` and so is not claimed again here.
    """
    report = DeliveryReport()
    for _ in range(max_batches):
        async with unit_of_work(sessions) as session:
            claimed = await claim_due(session, now, batch)
        if not claimed:
            break
        report.batches += 1
        report.claimed += len(claimed)
        for item in claimed:
            await _deliver_one(sessions, sender, now, policy, item, report, reason_titles)
        if len(claimed) < batch:
            break
    return report


async def _deliver_one(
    sessions: async_sessionmaker[AsyncSession],
    sender: Sender,
    now: datetime,
    policy: SlaPolicy,
    item: Claimed,
    report: DeliveryReport,
    reason_titles: Mapping[str, str] | None,
) -> None:
    outcome: dict[str, Any]
    try:
        if item.recipient == "caller" and not item.phone:
            raise DeliveryError(NO_PHONE, permanent=True)
        text = render(item.template, item.payload, reason_titles=reason_titles)
        phone = item.phone if item.recipient == "caller" else None
        await sender.send(item.recipient, phone, text, item.id)
    except (DeliveryError, TemplateError) as exc:
        message = exc.message if isinstance(exc, DeliveryError) else str(exc)
        permanent = not isinstance(exc, DeliveryError) or exc.permanent
        if permanent or item.attempts >= policy.notification_max_attempts:
            outcome = {"state": "failed", "last_error": message}
        else:
            outcome = {
                "state": "pending",
                "next_attempt_at": now + backoff(policy, item.attempts),
                "last_error": message,
            }
    except Exception as exc:
        # Not a refusal the sender reported: the message may have left, so it is not retried.
        log.exception("通知 #%s 发送异常", item.id)
        outcome = {"state": "failed", "last_error": f"发送异常，未确认是否送达：{exc!r}"[:1000]}
    else:
        outcome = {"state": "sent", "sent_at": now}
    async with unit_of_work(sessions) as session:
        await finish(session, item.id, **outcome)
    if outcome["state"] == "sent":
        report.sent += 1
    elif outcome["state"] == "pending":
        report.retrying += 1
    else:
        report.failed += 1
        report.failed_ids.append(item.id)
        log.warning("通知 #%s 发送失败：%s", item.id, outcome["last_error"])


async def stale_sending(sessions: async_sessionmaker[AsyncSession], older_than: datetime) -> int:
    """Rows whose attempt began before ``older_than`` and never finished (a crashed worker) become
    ``failed`` with :data:`STALE_SENDING` for an operator to review; they are never resent
    automatically, because the message may have gone out. Returns how many."""
    async with unit_of_work(sessions) as session:
        return await fail_stale_sending(session, older_than)

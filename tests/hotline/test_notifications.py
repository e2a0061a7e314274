"""Delivery of the notification outbox on real PostgreSQL: rendering, at-most-once, backoff, stale rows."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from hotline.models import Caller, Notification, Ticket
from hotline.notifications import (
    NO_PHONE,
    STALE_SENDING,
    TEMPLATES,
    DeliveryError,
    HttpSender,
    LoggingSender,
    TemplateError,
    deliver_due,
    render,
    sender_from_settings,
    stale_sending,
)
from hotline.settings import Settings
from routing_rules.loader import Rulebook
from routing_rules.schema import SlaPolicy

PAYLOADS: dict[str, dict[str, Any]] = {
    "ticket_accepted": {"number": "202609280000001"},
    "extension_approved": {"number": "202609280000001", "due_date": "2026-10-20", "days": 5},
    "reply_available": {"number": "202609280000001"},
    "callback": {"number": "202609280000001"},
    "new_ticket": {"number": "202609280000001"},
    "reminder": {"number": "202609280000001", "due_date": "2026-10-10"},
    "overdue": {"number": "202609280000001"},
    "supervision_issued": {"number": "202609280000001", "reason": "overdue", "reply_by": "2026-09-30"},
    "notice": {"number": "202609280000001"},
    "redo": {"number": "202609280000001"},
    "sweep_failure": {
        "number": "202609280000001",
        "what": "督办单答复期限（9999-12-31）",
        "why": "date value out of range",
    },
}


@pytest.fixture
def policy(rulebook: Rulebook) -> SlaPolicy:
    return rulebook.workflow.sla


@dataclass
class FailingSender:
    """A gateway that refuses every message (or, with ``crash``, fails in an unexpected way)."""

    crash: bool = False
    calls: list[int] = field(default_factory=list)

    async def send(self, recipient: str, phone: str | None, text: str, notification_id: int) -> None:
        self.calls.append(notification_id)
        if self.crash:
            raise RuntimeError("连接被重置")
        raise DeliveryError("短信网关繁忙")


async def new_ticket(client: AsyncClient, login: Any, session: AsyncSession) -> Ticket:
    """A ticket through the intake API, its caller reachable at 13812345678, with an empty outbox."""
    agent = await login("agent")
    body = {
        "channel": "phone",
        "caller": {"type": "citizen", "name": "张三", "phone": "13812345678"},
        "kind": "complaint",
        "content": "广场舞噪音扰民",
        "area": {"district": "薛城区", "town": "常庄街道"},
    }
    r = await client.post("/api/v1/tickets", json=body, headers=agent.headers)
    assert r.status_code == 201, r.text
    ticket = (await session.execute(select(Ticket).where(Ticket.number == r.json()["number"]))).scalar_one()
    # Whatever intake itself queues is not what these tests are about.
    await session.execute(delete(Notification).where(Notification.ticket_id == ticket.id))
    await session.commit()
    return ticket


async def add(
    session: AsyncSession,
    now: datetime,
    ticket_id: int | None,
    *,
    recipient: str = "caller",
    template: str = "ticket_accepted",
    payload: dict[str, Any] | None = None,
    **kw: Any,
) -> int:
    row = Notification(
        ticket_id=ticket_id,
        recipient=recipient,
        template=template,
        payload=payload if payload is not None else {"number": "202609280000001"},
        dedupe_key=f"test:{uuid.uuid4().hex}",
        created_at=now,
        **kw,
    )
    session.add(row)
    await session.commit()
    return row.id


async def reread(session: AsyncSession, notification_id: int) -> Notification:
    stmt = select(Notification).where(Notification.id == notification_id).execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one()


# --- rendering --------------------------------------------------------------------------------


def test_every_template_has_a_sample_payload() -> None:
    assert set(PAYLOADS) == set(TEMPLATES)


@pytest.mark.parametrize("template", sorted(PAYLOADS))
def test_each_template_renders_its_payload_completely(template: str) -> None:
    text = render(template, PAYLOADS[template])
    assert text.startswith("【枣庄12345】")
    assert "202609280000001" in text
    assert "{" not in text and "}" not in text


def test_rendered_texts_read_as_sent() -> None:
    assert render("ticket_accepted", {"number": "202609280000001"}) == (
        "【枣庄12345】您反映的问题已受理，工单号202609280000001，可凭工单号和手机号后四位查询办理进度。"
    )
    assert render("extension_approved", PAYLOADS["extension_approved"]) == (
        "【枣庄12345】您的工单202609280000001因情况复杂，承办单位申请延期已获批准，预计于2026-10-20前答复。"
    )
    assert render("supervision_issued", PAYLOADS["supervision_issued"], reason_titles={"overdue": "超期未办"}) == (
        "【枣庄12345】工单202609280000001已被督办（超期未办），请于2026-09-30前回复督办意见。"
    )
    assert "2026-10-10" in render("reminder", PAYLOADS["reminder"])


def test_unknown_template_and_missing_fields_are_refused_by_name() -> None:
    with pytest.raises(TemplateError, match="未知的通知模板：no_such"):
        render("no_such", {"number": "1"})
    with pytest.raises(TemplateError, match="supervision_issued缺少字段：reason、reply_by"):
        render("supervision_issued", {"number": "1"})


# --- delivery ---------------------------------------------------------------------------------


async def test_pending_caller_notification_is_sent_once_and_marked_sent(
    client: AsyncClient,
    login: Any,
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    clock: Any,
    policy: SlaPolicy,
) -> None:
    ticket = await new_ticket(client, login, session)
    nid = await add(session, clock.now, ticket.id, payload={"number": ticket.number})
    sender = LoggingSender()

    report = await deliver_due(sessions, sender, clock.now, policy)

    assert len(sender.sent) == 1
    message = sender.sent[0]
    assert (message.notification_id, message.recipient, message.phone) == (nid, "caller", "13812345678")
    assert message.text == render("ticket_accepted", {"number": ticket.number})
    assert (report.claimed, report.sent, report.failed, report.retrying) == (1, 1, 0, 0)
    row = await reread(session, nid)
    assert (row.state, row.sent_at, row.attempts, row.last_error) == ("sent", clock.now, 1, "")

    clock.advance(hours=2)
    again = await deliver_due(sessions, sender, clock.now, policy)
    assert len(sender.sent) == 1
    assert again.claimed == 0


async def test_refused_message_is_retried_after_backoff_and_failed_after_max_attempts(
    client: AsyncClient,
    login: Any,
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    clock: Any,
    policy: SlaPolicy,
) -> None:
    assert policy.notification_max_attempts == 5
    assert tuple(policy.notification_backoff_seconds) == (60, 300, 900, 3600)
    ticket = await new_ticket(client, login, session)
    nid = await add(session, clock.now, ticket.id, payload={"number": ticket.number})
    sender = FailingSender()

    waits = [60, 300, 900, 3600]
    for attempt, wait in enumerate(waits, start=1):
        report = await deliver_due(sessions, sender, clock.now, policy)
        assert report.retrying == 1
        row = await reread(session, nid)
        assert (row.state, row.attempts, row.last_error) == ("pending", attempt, "短信网关繁忙")
        assert row.next_attempt_at == clock.now + timedelta(seconds=wait)
        # Not before its time ...
        clock.advance(seconds=wait - 1)
        assert (await deliver_due(sessions, sender, clock.now, policy)).claimed == 0
        assert len(sender.calls) == attempt
        # ... and as soon as it is due.
        clock.advance(seconds=1)

    report = await deliver_due(sessions, sender, clock.now, policy)
    assert report.failed == 1 and report.failed_ids == [nid]
    row = await reread(session, nid)
    assert (row.state, row.attempts, row.sent_at) == ("failed", 5, None)
    assert len(sender.calls) == 5

    clock.advance(days=1)
    assert (await deliver_due(sessions, sender, clock.now, policy)).claimed == 0
    assert len(sender.calls) == 5


async def test_caller_without_phone_fails_without_sending(
    client: AsyncClient,
    login: Any,
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    clock: Any,
    policy: SlaPolicy,
) -> None:
    ticket = await new_ticket(client, login, session)
    await session.execute(update(Caller).where(Caller.id == ticket.caller_id).values(phone=None))
    await session.commit()
    nid = await add(session, clock.now, ticket.id, payload={"number": ticket.number})
    sender = LoggingSender()

    report = await deliver_due(sessions, sender, clock.now, policy)

    assert sender.sent == []
    assert report.failed == 1
    row = await reread(session, nid)
    assert (row.state, row.last_error, row.attempts) == ("failed", NO_PHONE, 1)


async def test_unit_notification_is_sent_without_a_phone_and_with_the_reason_in_words(
    client: AsyncClient,
    login: Any,
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    clock: Any,
    policy: SlaPolicy,
) -> None:
    ticket = await new_ticket(client, login, session)
    payload = {"number": ticket.number, "reason": "overdue", "reply_by": "2026-09-30"}
    nid = await add(
        session, clock.now, ticket.id, recipient="unit:city.hr", template="supervision_issued", payload=payload
    )
    sender = LoggingSender()

    await deliver_due(sessions, sender, clock.now, policy, reason_titles={"overdue": "超期未办"})

    assert [(m.notification_id, m.recipient, m.phone) for m in sender.sent] == [(nid, "unit:city.hr", None)]
    assert "（超期未办）" in sender.sent[0].text
    assert (await reread(session, nid)).state == "sent"


async def test_unrenderable_row_fails_at_once_and_the_rest_is_still_sent(
    session: AsyncSession, sessions: async_sessionmaker[AsyncSession], clock: Any, policy: SlaPolicy
) -> None:
    bad = await add(session, clock.now, None, recipient="unit:city.hr", template="no_such")
    good = await add(session, clock.now, None, recipient="unit:city.hr", template="overdue")
    sender = LoggingSender()

    report = await deliver_due(sessions, sender, clock.now, policy)

    assert [m.notification_id for m in sender.sent] == [good]
    assert report.failed_ids == [bad]
    row = await reread(session, bad)
    assert (row.state, row.last_error) == ("failed", "未知的通知模板：no_such")


async def test_unexpected_sender_error_is_not_retried_because_the_message_may_have_left(
    session: AsyncSession, sessions: async_sessionmaker[AsyncSession], clock: Any, policy: SlaPolicy
) -> None:
    nid = await add(session, clock.now, None, recipient="unit:city.hr", template="overdue")
    sender = FailingSender(crash=True)

    await deliver_due(sessions, sender, clock.now, policy)
    clock.advance(days=1)
    await deliver_due(sessions, sender, clock.now, policy)

    assert sender.calls == [nid]
    row = await reread(session, nid)
    assert row.state == "failed" and row.last_error.startswith("发送异常，未确认是否送达")


async def test_row_left_sending_is_never_resent_and_stale_sending_hands_it_to_an_operator(
    session: AsyncSession, sessions: async_sessionmaker[AsyncSession], clock: Any, policy: SlaPolicy
) -> None:
    crashed = await add(
        session, clock.now, None, recipient="unit:city.hr", state="sending", attempts=1, next_attempt_at=clock.now
    )
    clock.advance(hours=1)
    in_flight = await add(
        session, clock.now, None, recipient="unit:city.hr", state="sending", attempts=1, next_attempt_at=clock.now
    )
    sender = LoggingSender()

    assert (await deliver_due(sessions, sender, clock.now, policy)).claimed == 0
    assert sender.sent == []

    assert await stale_sending(sessions, older_than=clock.now - timedelta(minutes=30)) == 1
    row = await reread(session, crashed)
    assert (row.state, row.last_error, row.attempts) == ("failed", STALE_SENDING, 1)
    assert (await reread(session, in_flight)).state == "sending"
    assert (await deliver_due(sessions, sender, clock.now, policy)).claimed == 0
    assert sender.sent == []


async def test_sweep_claims_batch_after_batch_until_nothing_is_due(
    session: AsyncSession, sessions: async_sessionmaker[AsyncSession], clock: Any, policy: SlaPolicy
) -> None:
    ids = [await add(session, clock.now, None, recipient="unit:city.hr", template="overdue") for _ in range(5)]
    later = await add(
        session,
        clock.now,
        None,
        recipient="unit:city.hr",
        template="overdue",
        next_attempt_at=clock.now + timedelta(minutes=1),
    )
    sender = LoggingSender()

    report = await deliver_due(sessions, sender, clock.now, policy, batch=2)

    assert [m.notification_id for m in sender.sent] == ids
    assert (report.batches, report.sent) == (3, 5)
    assert (await reread(session, later)).state == "pending"


# --- two sweeps at once (committed rows, separate connections) ---------------------------------


@pytest.fixture
async def committed(engine: AsyncEngine, clock: Any) -> Any:
    """Rows committed for real, so that two sweeps on two connections compete for them."""
    made: list[int] = []
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def make(n: int) -> list[int]:
        async with sessions() as s:
            rows = [
                Notification(
                    ticket_id=None,
                    recipient="unit:city.hr",
                    template="overdue",
                    payload={"number": f"20260928{i:07d}"},
                    dedupe_key=f"test:{uuid.uuid4().hex}",
                    created_at=clock.now,
                )
                for i in range(n)
            ]
            s.add_all(rows)
            await s.commit()
            made.extend(r.id for r in rows)
            return [r.id for r in rows]

    yield make
    async with sessions() as s:
        await s.execute(delete(Notification).where(Notification.id.in_(made)))
        await s.commit()


@dataclass
class SlowSender:
    """Yields to the event loop on every message so that two sweeps interleave."""

    sent: list[int] = field(default_factory=list)

    async def send(self, recipient: str, phone: str | None, text: str, notification_id: int) -> None:
        await asyncio.sleep(0)
        self.sent.append(notification_id)


async def test_two_concurrent_sweeps_send_each_notification_once(
    engine: AsyncEngine, committed: Any, clock: Any, policy: SlaPolicy
) -> None:
    ids = await committed(30)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    sender = SlowSender()

    first, second = await asyncio.gather(
        deliver_due(sessions, sender, clock.now, policy, batch=4),
        deliver_due(sessions, sender, clock.now, policy, batch=4),
    )

    assert sorted(sender.sent) == ids
    assert first.sent + second.sent == 30
    async with sessions() as s:
        states = (await s.execute(select(Notification.state).where(Notification.id.in_(ids)))).scalars().all()
    assert set(states) == {"sent"}


async def test_row_being_claimed_by_another_sweep_is_skipped(
    engine: AsyncEngine, committed: Any, clock: Any, policy: SlaPolicy
) -> None:
    [nid] = await committed(1)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    sender = LoggingSender()

    async with sessions() as other:
        # Another sweep's claim transaction holds the row ...
        await other.execute(select(Notification.id).where(Notification.id == nid).with_for_update())
        assert (await deliver_due(sessions, sender, clock.now, policy)).claimed == 0
        await other.rollback()
    # ... and once it lets go (here without claiming) the row is due again.
    assert (await deliver_due(sessions, sender, clock.now, policy)).sent == 1
    assert [m.notification_id for m in sender.sent] == [nid]


# --- senders ----------------------------------------------------------------------------------


@dataclass
class Gateway:
    url: str
    received: list[dict[str, Any]]
    status: list[int]


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    """A real HTTP server on localhost standing in for the SMS gateway."""
    received: list[dict[str, Any]] = []
    status = [200]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(status[0])
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Gateway(f"http://127.0.0.1:{server.server_port}/sms", received, status)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def test_http_sender_posts_the_message_as_json(gateway: Gateway) -> None:
    await HttpSender(gateway.url, timeout=5).send("caller", "13812345678", "【枣庄12345】测试", 42)
    assert gateway.received == [{"id": 42, "recipient": "caller", "phone": "13812345678", "text": "【枣庄12345】测试"}]


async def test_http_sender_reports_refusals_as_delivery_errors(gateway: Gateway) -> None:
    sender = HttpSender(gateway.url, timeout=5)
    gateway.status[0] = 503
    with pytest.raises(DeliveryError, match="HTTP 503") as busy:
        await sender.send("caller", "13812345678", "测试", 1)
    assert busy.value.permanent is False
    gateway.status[0] = 400
    with pytest.raises(DeliveryError, match="HTTP 400") as bad:
        await sender.send("caller", "13812345678", "测试", 2)
    assert bad.value.permanent is True


async def test_http_sender_reports_an_unreachable_gateway_as_a_delivery_error() -> None:
    with pytest.raises(DeliveryError, match="通知网关不可达"):
        await HttpSender("http://127.0.0.1:9/sms", timeout=2).send("caller", None, "测试", 1)


def test_sender_follows_the_notify_url(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOTLINE_NOTIFY_URL", raising=False)
    assert isinstance(sender_from_settings(settings), LoggingSender)
    monkeypatch.setenv("HOTLINE_NOTIFY_URL", "http://sms.example/send")
    sender = sender_from_settings(settings)
    assert isinstance(sender, HttpSender) and sender.url == "http://sms.example/send"


async def test_a_crash_while_sending_strands_at_most_the_one_notice_being_sent(
    session: AsyncSession, sessions: async_sessionmaker[AsyncSession], clock: Any, policy: SlaPolicy
) -> None:
    """Issue 10, item 9: claims of up to a thousand rows left 174 and 499 notices in ``sending``
    for good when a worker was killed; now one is claimed at a time."""
    import asyncio

    from hotline.notifications import LEASE

    ids = [await add(session, clock.now, None, recipient="unit:city.hr", template="overdue") for _ in range(20)]

    class Killed(LoggingSender):
        async def send(self, recipient: str, phone: str | None, text: str, notification_id: int) -> None:
            if len(self.sent) == 3:
                raise asyncio.CancelledError  # the process is killed in the middle of a send
            await super().send(recipient, phone, text, notification_id)

    with pytest.raises(asyncio.CancelledError):
        await deliver_due(sessions, Killed(), clock.now, policy)
    states = [(await reread(session, i)).state for i in ids]
    assert states == ["sent"] * 3 + ["sending"] + ["pending"] * 16
    # the next delivery sends the rest; the interrupted one is never resent, and once its lease
    # has passed it goes to an operator as failed
    sender = LoggingSender()
    report = await deliver_due(sessions, sender, clock.now, policy)
    assert report.sent == 16 and ids[3] not in [m.notification_id for m in sender.sent]
    assert await stale_sending(sessions, older_than=clock.now - LEASE) == 0  # still within its lease
    clock.advance(minutes=6)
    assert await stale_sending(sessions, older_than=clock.now - LEASE) == 1
    assert (await reread(session, ids[3])).state == "failed"

"""Intake API on real PostgreSQL: each status, idempotent retry, validation, unit isolation, auth."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.models import Deadline, PersonalDataAccess, RoutingDecision, Ticket, TicketEvent, TicketUnit

CITIZEN = {"type": "citizen", "name": "张三", "phone": "13812345678"}
ENTERPRISE = {
    "type": "enterprise",
    "name": "李四",
    "phone": "13912345678",
    "enterprise_name": "枣庄某某机械有限公司",
    "credit_code": "91370400MA3C5XXX0Q",
}


def call(**kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"channel": "phone", "caller": CITIZEN, "kind": "complaint", "content": "广场舞噪音扰民"}
    body.update(kw)
    return body


async def test_dispatched_ticket_records_decision_deadline_and_timeline(
    client: AsyncClient, login, session: AsyncSession
) -> None:
    agent = await login("agent")
    r = await client.post(
        "/api/v1/tickets",
        json=call(area={"district": "薛城区", "town": "常庄街道"}),
        headers=agent.headers,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "dispatched"
    assert body["status_label"] == "已派单"
    assert body["routing"]["disposition"] == "dispatch"
    assert body["routing"]["units"][0]["code"] == "town.xuecheng.changzhuang"
    assert body["routing"]["rule_id"] == "territorial.with_place"
    # Monday 2026-09-28 10:00 + 5 working days (National Day holidays, Saturday make-up day) = Sat 10-10.
    assert body["deadline"] == {
        "due_date": "2026-10-10",
        "due_at": "2026-10-11T00:00:00+08:00",
        "working_days": 5,
        "provisional": False,
        "unit": "town.xuecheng.changzhuang",
        "extension_days": 0,
    }
    assert len(body["number"]) == 15 and body["number"].startswith("20260928")
    assert body["caller"]["masked"] is True and body["caller"]["phone"] == "138****5678"

    ticket = (await session.execute(select(Ticket).where(Ticket.number == body["number"]))).scalar_one()
    assert ticket.rulebook_version == body["routing"]["rulebook_version"]
    decisions = (
        (await session.execute(select(RoutingDecision).where(RoutingDecision.ticket_id == ticket.id))).scalars().all()
    )
    assert [d.rule_id for d in decisions] == ["territorial.with_place"]
    units = (
        await session.execute(select(TicketUnit.unit_code, TicketUnit.role).where(TicketUnit.ticket_id == ticket.id))
    ).all()
    assert [tuple(u) for u in units] == [("town.xuecheng.changzhuang", "lead")]
    deadlines = {
        d.kind: d for d in (await session.execute(select(Deadline).where(Deadline.ticket_id == ticket.id))).scalars()
    }
    deadline = deadlines["reply"]
    assert deadline.state == "running" and deadline.working_days == 5
    # The sign-for limit (签收时限): one working day from dispatch, the rulebook's default.
    assert deadlines["accept"].due_date.isoformat() == "2026-09-29"
    assert deadlines["accept"].working_days == 1
    events = (await session.execute(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id))).scalars().all()
    assert [(e.action, e.from_status, e.to_status) for e in events] == [("intake", None, "dispatched")]
    assert events[0].due_after == deadline.due_at


async def test_enterprise_request_gets_ten_working_days(client: AsyncClient, login) -> None:
    agent = await login("agent")
    r = await client.post(
        "/api/v1/tickets", json=call(caller=ENTERPRISE, content="惠企政策兑现慢"), headers=agent.headers
    )
    assert r.status_code == 201, r.text
    # Monday 09-28 + 10 working days: 29, 30, 10-08, 09, 10(Sat make-up), 12, 13, 14, 15, 16.
    assert r.json()["deadline"]["due_date"] == "2026-10-16"
    assert r.json()["deadline"]["working_days"] == 10


async def test_merged_line_routes_to_its_responsible_unit(client: AsyncClient, login) -> None:
    agent = await login("agent")
    r = await client.post("/api/v1/tickets", json=call(line="12333", content="失业金申领"), headers=agent.headers)
    assert r.json()["routing"]["merger"]["mode"] == "dual"
    assert r.json()["lead_unit"] == "city.human_resources"


async def test_subcentre_line_is_dispatched_to_its_seats(client: AsyncClient, login) -> None:
    agent = await login("agent")
    r = await client.post("/api/v1/tickets", json=call(line="12366", content="发票开具"), headers=agent.headers)
    assert r.status_code == 201
    assert r.json()["status"] == "dispatched"
    assert r.json()["routing"]["disposition"] == "subcentre"
    assert r.json()["deadline"] is not None


async def test_direct_answer_closes_at_intake_without_deadline(client: AsyncClient, login) -> None:
    agent = await login("agent")
    r = await client.post(
        "/api/v1/tickets",
        json=call(kind="consultation", content="社保卡在哪里补办", answer="携带身份证到任一社保经办网点补办"),
        headers=agent.headers,
    )
    assert r.status_code == 201
    assert (r.json()["status"], r.json()["deadline"], r.json()["lead_unit"]) == ("answered", None, None)
    assert r.json()["answer"] == "携带身份证到任一社保经办网点补办"


async def test_emergency_is_transferred(client: AsyncClient, login) -> None:
    agent = await login("agent")
    r = await client.post("/api/v1/tickets", json=call(kind="help", content="楼下着火了"), headers=agent.headers)
    assert (r.json()["status"], r.json()["routing"]["transfer_to"]) == ("transferred", "119")


async def test_out_of_scope_matter_is_recorded_not_accepted(client: AsyncClient, login) -> None:
    agent = await login("agent")
    r = await client.post("/api/v1/tickets", json=call(content="我要申请行政复议"), headers=agent.headers)
    assert r.status_code == 201
    assert r.json()["status"] == "not_accepted"
    assert r.json()["routing"]["reason_code"] == "administrative_review"
    assert "行政复议" in r.json()["routing"]["script"]


async def test_idempotent_retry_returns_the_same_ticket(client: AsyncClient, login, session: AsyncSession) -> None:
    agent = await login("agent")
    headers = {**agent.headers, "Idempotency-Key": "call-0001"}
    first = await client.post("/api/v1/tickets", json=call(), headers=headers)
    again = await client.post("/api/v1/tickets", json=call(), headers=headers)
    assert first.status_code == 201 and again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["number"] == first.json()["number"]
    count = await session.scalar(select(func.count()).select_from(Ticket).where(Ticket.idempotency_key == "call-0001"))
    assert count == 1
    other = await client.post("/api/v1/tickets", json=call(content="别的事情"), headers=headers)
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency.key_reused"


async def test_validation_errors_name_each_field_in_chinese(client: AsyncClient, login) -> None:
    agent = await login("agent")
    bad = call(kind="gossip", content="", caller={"type": "enterprise", "phone": "12"}, channel="pigeon")
    r = await client.post("/api/v1/tickets", json=bad, headers=agent.headers)
    assert r.status_code == 422
    fields = {p["field"]: p for p in r.json()["error"]["fields"]}
    assert {"kind", "content", "caller.phone", "channel"} <= set(fields)
    assert fields["kind"]["code"] == "validation.enum"
    assert "之一" in fields["kind"]["message"]
    assert "电话号码格式不正确" in fields["caller.phone"]["message"]
    assert fields["content"]["code"] == "validation.string_too_short"


async def test_credit_code_checksum_is_validated(client: AsyncClient, login) -> None:
    agent = await login("agent")
    r = await client.post(
        "/api/v1/tickets", json=call(caller={**ENTERPRISE, "credit_code": "91370400MA3C5XXX0A"}), headers=agent.headers
    )
    assert r.status_code == 422
    assert r.json()["error"]["fields"][0]["field"] == "caller.credit_code"


async def test_unknown_district_is_a_field_error_and_nothing_is_written(
    client: AsyncClient, login, session: AsyncSession
) -> None:
    agent = await login("agent")
    before = await session.scalar(select(func.count()).select_from(Ticket))
    r = await client.post("/api/v1/tickets", json=call(area={"district": "火星区"}), headers=agent.headers)
    assert r.status_code == 422
    assert r.json()["error"]["fields"][0]["field"] == "area.district"
    assert r.json()["error"]["fields"][0]["code"] == "area.unknown_district"
    assert await session.scalar(select(func.count()).select_from(Ticket)) == before


async def test_authentication_is_required(client: AsyncClient) -> None:
    for method, url in [("POST", "/api/v1/tickets"), ("GET", "/api/v1/tickets"), ("GET", "/api/v1/calendar/2026")]:
        r = await client.request(method, url, json=call())
        assert r.status_code == 401, url
        assert r.json()["error"]["code"] == "auth.required"


async def test_unit_handler_cannot_log_calls(client: AsyncClient, login) -> None:
    handler = await login("unit_handler", unit="city.human_resources")
    r = await client.post("/api/v1/tickets", json=call(), headers=handler.headers)
    assert r.status_code == 403


async def test_unit_handlers_see_only_their_units_tickets(client: AsyncClient, login, session: AsyncSession) -> None:
    agent = await login("agent")
    mine = (
        await client.post("/api/v1/tickets", json=call(line="12333", content="养老金"), headers=agent.headers)
    ).json()
    other = (
        await client.post("/api/v1/tickets", json=call(line="12329", content="公积金"), headers=agent.headers)
    ).json()
    handler = await login("unit_handler", unit="city.human_resources")
    assert (await client.get(f"/api/v1/tickets/{mine['number']}", headers=handler.headers)).status_code == 200
    hidden = await client.get(f"/api/v1/tickets/{other['number']}", headers=handler.headers)
    assert hidden.status_code == 404
    assert hidden.json()["error"]["code"] == "ticket.not_found"
    listed = (await client.get("/api/v1/tickets", headers=handler.headers)).json()
    numbers = {t["number"] for t in listed["items"]}
    assert mine["number"] in numbers and other["number"] not in numbers


async def test_detail_masks_for_units_and_audits_unmasked_reads(
    client: AsyncClient, login, session: AsyncSession
) -> None:
    agent = await login("agent")
    t = (await client.post("/api/v1/tickets", json=call(line="12333", content="养老金"), headers=agent.headers)).json()
    handler = await login("unit_handler", unit="city.human_resources")
    seen = (await client.get(f"/api/v1/tickets/{t['number']}", headers=handler.headers)).json()
    assert seen["caller"]["masked"] is True and seen["caller"]["name"] == "张*"
    full = (await client.get(f"/api/v1/tickets/{t['number']}", headers=agent.headers)).json()
    assert full["caller"]["phone"] == "13812345678"
    assert [e["action"] for e in full["events"]] == ["intake"]
    audits = (await session.execute(select(PersonalDataAccess.user_id))).scalars().all()
    assert audits.count(agent.actor.id) == 1 and handler.actor.id not in audits


async def test_confidential_caller_is_hidden_from_the_unit(client: AsyncClient, login) -> None:
    agent = await login("agent")
    t = (
        await client.post(
            "/api/v1/tickets", json=call(line="12333", caller={**CITIZEN, "confidential": True}), headers=agent.headers
        )
    ).json()
    handler = await login("unit_handler", unit="city.human_resources")
    seen = (await client.get(f"/api/v1/tickets/{t['number']}", headers=handler.headers)).json()
    assert seen["caller"]["name"] == "（保密）" and seen["caller"]["phone"] is None


async def test_preview_routes_without_saving(client: AsyncClient, login, session: AsyncSession) -> None:
    agent = await login("agent")
    before = await session.scalar(select(func.count()).select_from(Ticket))
    r = await client.post(
        "/api/v1/routing/preview", json=call(line="96119", content="消防通道堵塞"), headers=agent.headers
    )
    assert r.status_code == 200
    assert r.json()["units"][0]["code"] == "city.fire_rescue"
    assert await session.scalar(select(func.count()).select_from(Ticket)) == before


async def test_list_filters_and_paginates(client: AsyncClient, login) -> None:
    agent = await login("agent")
    for i in range(3):
        await client.post("/api/v1/tickets", json=call(content=f"噪音问题{i}"), headers=agent.headers)
    await client.post("/api/v1/tickets", json=call(content="楼下着火了", kind="help"), headers=agent.headers)
    page = (await client.get("/api/v1/tickets?status=dispatched&page_size=2", headers=agent.headers)).json()
    assert page["total"] >= 3 and len(page["items"]) == 2
    assert all(t["status"] == "dispatched" and t["due_at"] for t in page["items"])
    transferred = (await client.get("/api/v1/tickets?status=transferred", headers=agent.headers)).json()
    assert transferred["items"][0]["due_at"] is None


async def test_login_issues_a_bearer_token(client: AsyncClient, login) -> None:
    agent = await login("agent", username="agent-login")
    r = await client.post("/api/v1/auth/token", data={"username": "agent-login", "password": "password-123"})
    assert r.status_code == 200 and r.json()["token_type"] == "bearer"
    me = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"})
    assert me.json()["username"] == agent.actor.username
    wrong = await client.post("/api/v1/auth/token", data={"username": "agent-login", "password": "nope"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "auth.invalid_credentials"


async def test_a_deactivated_account_is_refused_once_its_token_cache_lapses(
    client: AsyncClient, login, session: AsyncSession, runtime
) -> None:
    from hotline.models import User

    agent = await login("agent")
    assert (await client.get("/api/v1/tickets", headers=agent.headers)).status_code == 200
    user = await session.get(User, agent.actor.id)
    assert user is not None
    user.active = False
    await session.commit()
    runtime.actors.forget(agent.actor.id)  # what the cache lapsing after HOTLINE_AUTH_CACHE_SECONDS does
    r = await client.get("/api/v1/tickets", headers=agent.headers)
    assert r.status_code == 401 and r.json()["error"]["code"] == "auth.inactive"


async def test_no_acknowledgement_before_the_commit(connection, settings, rulebook, clock, login) -> None:
    """The transaction commits before the response leaves: a commit that fails is never a 201."""
    from typing import cast

    from httpx import ASGITransport
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from hotline.app import create_app

    class CommitFails(AsyncSession):
        async def commit(self) -> None:
            raise RuntimeError("disk full")

    agent = await login("agent")
    failing = async_sessionmaker(
        bind=connection, class_=CommitFails, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    app = create_app(
        settings, rulebook=rulebook, sessions=cast("async_sessionmaker[AsyncSession]", failing), clock=clock
    )
    transport = ASGITransport(app=app, raise_app_exceptions=False)
    async with AsyncClient(transport=transport, base_url="http://test") as c:
        r = await c.post("/api/v1/tickets", json=call(), headers=agent.headers)
    assert r.status_code == 500

"""答复审核、回访、重办 through the API on real PostgreSQL (实施方案第12条、第13条、第20条).

The clock starts on Monday 2026-09-28 10:00 (Shanghai), just before the National Day holidays
(10-01..07) and the Saturday make-up working day 10-10.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.api.callbacks import router
from hotline.app import create_app
from hotline.models import (
    Callback,
    Deadline,
    Evaluation,
    Notification,
    PersonalDataAccess,
    Reply,
    SupervisionOrder,
    Ticket,
    TicketEvent,
)
from hotline.runtime import Runtime
from hotline.settings import Settings
from hotline.workflow.callbacks import sample_direct_callbacks, sampling_threshold
from routing_rules.loader import Rulebook
from routing_rules.schema import SlaPolicy

HRSS = "city.human_resources"
GOOD_REPLY = "经核实，已联系诉求人并补发拖欠的养老金，本月底前到账，已告知查询方式。"
UNSATISFIED = {"reached": True, "satisfaction": "unsatisfied", "resolution": "unresolved", "reasonable": True}


@pytest.fixture
def app(settings: Settings, rulebook: Rulebook, sessions: async_sessionmaker[AsyncSession], clock) -> FastAPI:
    app = create_app(settings, rulebook=rulebook, sessions=sessions, clock=clock)
    app.include_router(router)
    return app


@pytest.fixture
async def people(login) -> dict[str, Any]:
    return {
        "agent": await login("agent"),
        "centre": await login("supervisor"),
        "hrss": await login("unit_handler", unit=HRSS),
    }


async def post(client: AsyncClient, who: Any, path: str, body: dict[str, Any] | None = None) -> Any:
    return await client.post(path, json=body or {}, headers=who.headers)


async def new_ticket(client: AsyncClient, agent: Any, **caller: Any) -> str:
    body = {
        "caller": {"type": "citizen", "name": "赵六", "phone": "13600001111", **caller},
        "kind": "complaint",
        "content": "养老金未按时发放",
        "line": "12333",
    }
    r = await client.post("/api/v1/tickets", json=body, headers=agent.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["number"])


async def replied(client: AsyncClient, people: dict[str, Any], number: str) -> None:
    assert (await post(client, people["hrss"], f"/api/v1/tickets/{number}/accept")).status_code == 200
    r = await post(
        client, people["hrss"], f"/api/v1/tickets/{number}/reply", {"content": GOOD_REPLY, "outcome": "resolved"}
    )
    assert r.status_code == 200, r.text


async def to_callback(client: AsyncClient, people: dict[str, Any], number: str) -> Any:
    await replied(client, people, number)
    r = await post(client, people["centre"], f"/api/v1/tickets/{number}/reply/decision", {"approve": True})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "callback_pending"
    return r.json()


async def callback(client: AsyncClient, people: dict[str, Any], number: str, body: dict[str, Any]) -> Any:
    r = await post(client, people["agent"], f"/api/v1/tickets/{number}/callback", body)
    assert r.status_code == 200, r.text
    return r.json()


async def fetch(session: AsyncSession, number: str) -> Ticket:
    session.expire_all()
    return (await session.execute(select(Ticket).where(Ticket.number == number))).scalar_one()


async def actions(session: AsyncSession, ticket_id: int) -> list[TicketEvent]:
    stmt = select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id)
    return list((await session.execute(stmt)).scalars())


# ------------------------------------------------------------------ 答复审核


async def test_approved_reply_opens_a_callback_due_in_two_working_days_and_tells_the_caller(
    client: AsyncClient, people, session: AsyncSession
) -> None:
    number = await new_ticket(client, people["agent"])
    out = await to_callback(client, people, number)
    # Two working days from Monday 09-28: Tuesday 09-29 and Wednesday 09-30.
    assert out["callback_due_at"] == "2026-10-01T00:00:00+08:00"
    ticket = await fetch(session, number)
    note = (
        await session.execute(select(Notification).where(Notification.dedupe_key == f"reply_available:{ticket.id}:1"))
    ).scalar_one()
    assert (note.recipient, note.template, note.payload) == ("caller", "reply_available", {"number": number})


async def test_rejected_reply_goes_back_to_the_unit_with_its_deadline_running(
    client: AsyncClient, people, session: AsyncSession
) -> None:
    number = await new_ticket(client, people["agent"])
    await replied(client, people, number)
    r = await post(
        client, people["centre"], f"/api/v1/tickets/{number}/reply/decision", {"approve": False, "note": "未写明依据"}
    )
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["due_at"]) == ("accepted", "2026-10-11T00:00:00+08:00")
    ticket = await fetch(session, number)
    deadline = (
        await session.execute(select(Deadline).where(Deadline.ticket_id == ticket.id, Deadline.kind == "reply"))
    ).scalar_one()
    assert (deadline.state, deadline.plan_version, deadline.due_date.isoformat()) == ("running", 2, "2026-10-10")
    event = (await actions(session, ticket.id))[-1]
    assert (event.action, event.note) == ("reject_reply", "未写明依据")
    again = await post(
        client, people["hrss"], f"/api/v1/tickets/{number}/reply", {"content": GOOD_REPLY, "outcome": "resolved"}
    )
    assert again.status_code == 200 and again.json()["status"] == "replied"


async def test_only_the_centre_reviews_replies_and_only_replied_tickets(client: AsyncClient, people) -> None:
    number = await new_ticket(client, people["agent"])
    r = await post(client, people["centre"], f"/api/v1/tickets/{number}/reply/decision", {"approve": True})
    assert r.status_code == 409 and r.json()["error"]["code"] == "ticket.illegal_transition"
    await replied(client, people, number)
    for who in ("agent", "hrss"):
        r = await post(client, people[who], f"/api/v1/tickets/{number}/reply/decision", {"approve": True})
        assert r.status_code == 403, who


# ------------------------------------------------------------------ 回访队列


async def test_callback_queue_shows_every_caller_unmasked_and_audits_it(
    client: AsyncClient, people, session: AsyncSession, clock
) -> None:
    primary = await new_ticket(client, people["agent"])
    secondary = await new_ticket(client, people["agent"], name="钱七", phone="13700002222", confidential=True)
    later = await new_ticket(client, people["agent"], name="孙八", phone="13900003333")
    p = await fetch(session, primary)
    await session.execute(update(Ticket).where(Ticket.number == secondary).values(status="merged", merged_into_id=p.id))
    await session.commit()
    await to_callback(client, people, primary)
    clock.advance(days=1)  # Tuesday: this one is due on Thursday (after the holiday) — later
    await to_callback(client, people, later)

    r = await client.get("/api/v1/callbacks", headers=people["agent"].headers)
    assert r.status_code == 200, r.text
    items = {i["number"]: i for i in r.json()["items"]}
    assert [i["number"] for i in r.json()["items"] if i["number"] in (primary, later)] == [primary, later]
    first = items[primary]
    assert [(c["number"], c["name"], c["phone"], c["confidential"]) for c in first["callers"]] == [
        (primary, "赵六", "13600001111", False),
        (secondary, "钱七", "13700002222", True),
    ]
    assert first["round"] == 1 and first["attempts"] == 0 and first["overdue"] is False
    assert first["lead_unit"] == HRSS and first["reply_outcome"] == "resolved"
    assert first["reply_excerpt"] == GOOD_REPLY
    assert first["due_at"] == "2026-10-01T00:00:00+08:00"
    audited = (
        await session.execute(
            select(PersonalDataAccess.ticket_id).where(
                PersonalDataAccess.purpose == "callback", PersonalDataAccess.user_id == people["agent"].actor.id
            )
        )
    ).scalars()
    expected = [p.id, (await fetch(session, secondary)).id, (await fetch(session, later)).id]
    assert sorted(t or 0 for t in audited) == sorted(expected)

    clock.now = datetime(2026, 9, 30, 2, 0, tzinfo=UTC)  # Wednesday: only the first is due today
    today = (await client.get("/api/v1/callbacks?due=today", headers=people["agent"].headers)).json()
    assert primary in {i["number"] for i in today["items"]} and later not in {i["number"] for i in today["items"]}
    clock.now = datetime(2026, 10, 1, 2, 0, tzinfo=UTC)
    overdue = (await client.get("/api/v1/callbacks?due=today", headers=people["agent"].headers)).json()
    assert next(i for i in overdue["items"] if i["number"] == primary)["overdue"] is True

    assert (await client.get("/api/v1/callbacks", headers=people["hrss"].headers)).status_code == 403


# ------------------------------------------------------------------ 回访结果


async def test_satisfied_callback_closes_the_ticket_and_its_merged_secondaries(
    client: AsyncClient, people, session: AsyncSession
) -> None:
    primary = await new_ticket(client, people["agent"])
    secondary = await new_ticket(client, people["agent"], phone="13700002222")
    p = await fetch(session, primary)
    await session.execute(update(Ticket).where(Ticket.number == secondary).values(status="merged", merged_into_id=p.id))
    await session.commit()
    await to_callback(client, people, primary)
    out = await callback(
        client, people, primary, {"reached": True, "satisfaction": "basically_satisfied", "resolution": "resolved"}
    )
    assert (out["status"], out["final_outcome"], out["callback_state"]) == ("closed", "basically_satisfied", "done")
    p = await fetch(session, primary)
    closed_at, primary_id, caller_id = p.closed_at, p.id, p.caller_id
    assert closed_at is not None
    s = await fetch(session, secondary)
    assert (s.status, s.final_outcome, s.closed_at) == ("merged", "basically_satisfied", closed_at)
    assert (await actions(session, s.id))[-1].action == "close_with_primary"
    ev = (await session.execute(select(Evaluation).where(Evaluation.ticket_id == primary_id))).scalar_one()
    assert (ev.satisfaction, ev.resolution, ev.reasonable, ev.caller_id) == (
        "basically_satisfied",
        "resolved",
        None,
        caller_id,
    )


async def test_redo_gives_the_same_unit_a_fresh_limit_across_the_holidays_then_closes(
    client: AsyncClient, people, session: AsyncSession, clock
) -> None:
    number = await new_ticket(client, people["agent"])
    await to_callback(client, people, number)
    clock.now = datetime(2026, 9, 29, 1, 0, tzinfo=UTC)  # Tuesday 09:00
    out = await callback(client, people, number, {**UNSATISFIED, "note": "养老金仍未到账"})
    # Fresh 5 working days from Tuesday 09-29: 09-30, 10-08, 10-09, Sat 10-10 (make-up), Mon 10-12.
    assert (out["status"], out["redo_count"], out["due_at"]) == ("dispatched", 1, "2026-10-13T00:00:00+08:00")
    ticket = await fetch(session, number)
    running = dict(
        (
            await session.execute(
                select(Deadline.kind, Deadline.due_date).where(
                    Deadline.ticket_id == ticket.id, Deadline.state == "running"
                )
            )
        ).all()
    )
    assert {k: v.isoformat() for k, v in running.items()} == {"reply": "2026-10-12", "accept": "2026-09-30"}
    assert ticket.lead_unit_code == HRSS and ticket.accepted_at is None
    redo = (await session.execute(select(Notification).where(Notification.template == "redo"))).scalar_one()
    assert (redo.recipient, redo.dedupe_key) == (f"unit:{HRSS}", f"redo:{ticket.id}:1")

    second = await to_callback(client, people, number)  # the same unit accepts and replies again
    assert second["callback_due_at"] == "2026-10-09T00:00:00+08:00"  # 09-30, then 10-08 after the holiday
    out = await callback(
        client, people, number, {"reached": True, "satisfaction": "satisfied", "resolution": "resolved"}
    )
    assert (out["status"], out["final_outcome"]) == ("closed", "satisfied")
    rounds = (
        await session.execute(select(Callback.round, Callback.state).where(Callback.ticket_id == ticket.id))
    ).all()
    assert sorted(rounds) == [(1, "done"), (2, "done")]
    assert await session.scalar(select(func.count()).select_from(Reply).where(Reply.ticket_id == ticket.id)) == 2
    assert (
        await session.scalar(select(func.count()).select_from(Evaluation).where(Evaluation.ticket_id == ticket.id)) == 2
    )
    assert [e.action for e in await actions(session, ticket.id)].count("redo") == 1


async def test_still_unsatisfied_after_the_redo_rounds_closes_with_a_supervision_order(
    client: AsyncClient, people, session: AsyncSession
) -> None:
    number = await new_ticket(client, people["agent"])
    for expected in (1, 2):
        await to_callback(client, people, number)
        out = await callback(client, people, number, UNSATISFIED)
        assert (out["status"], out["redo_count"]) == ("dispatched", expected)
    await to_callback(client, people, number)
    out = await callback(client, people, number, UNSATISFIED)
    assert (out["status"], out["final_outcome"], out["redo_count"]) == ("closed", "unsatisfied", 2)
    order = (await session.execute(select(SupervisionOrder))).scalar_one()
    assert (order.id, order.unit_code, order.reason_code, order.content) == (
        out["supervision_id"],
        HRSS,
        "poor_quality",
        "重办2轮后诉求人仍不满意",
    )
    assert order.reply_by.isoformat() == "2026-09-30"
    ticket = await fetch(session, number)
    assert [e.action for e in await actions(session, ticket.id)][-2:] == ["supervise", "close"]


async def test_unreasonable_dissatisfaction_closes_as_unreasonable(
    client: AsyncClient, people, session: AsyncSession
) -> None:
    number = await new_ticket(client, people["agent"])
    await to_callback(client, people, number)
    out = await callback(client, people, number, {**UNSATISFIED, "reasonable": False, "note": "要求超出政策"})
    assert (out["status"], out["final_outcome"], out["redo_count"]) == ("closed", "unreasonable", 0)
    ticket = await fetch(session, number)
    close = (await actions(session, ticket.id))[-1]
    assert close.action == "close" and close.data["unreasonable"] is True
    ev = (await session.execute(select(Evaluation).where(Evaluation.ticket_id == ticket.id))).scalar_one()
    assert (ev.satisfaction, ev.reasonable, ev.note) == ("unsatisfied", False, "要求超出政策")


async def test_unreachable_on_three_different_days_closes_and_same_day_attempts_count_once(
    client: AsyncClient, people, session: AsyncSession, clock
) -> None:
    number = await new_ticket(client, people["agent"])
    await to_callback(client, people, number)
    out = await callback(client, people, number, {"reached": False})
    clock.advance(hours=5)  # Monday 15:00, the same local day
    out = await callback(client, people, number, {"reached": False})
    assert (out["status"], out["attempts"], out["attempt_days"]) == ("callback_pending", 2, ["2026-09-28"])
    clock.advance(days=1)
    out = await callback(client, people, number, {"reached": False})
    assert (out["status"], out["callback_state"]) == ("callback_pending", "pending")
    clock.advance(days=1)
    out = await callback(client, people, number, {"reached": False})
    assert (out["status"], out["final_outcome"], out["callback_state"], out["attempts"]) == (
        "closed",
        "unreachable",
        "unreachable",
        4,
    )
    ticket = await fetch(session, number)
    assert ticket.closed_at == clock.now
    assert [e.action for e in await actions(session, ticket.id)][-5:] == ["callback_attempt"] * 4 + ["close"]


async def test_callback_input_is_validated_and_the_status_checked(client: AsyncClient, people) -> None:
    number = await new_ticket(client, people["agent"])
    path = f"/api/v1/tickets/{number}/callback"
    r = await post(client, people["agent"], path, {"reached": True})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "satisfaction"
    r = await post(client, people["agent"], path, {**UNSATISFIED, "reasonable": None})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "reasonable"
    r = await post(client, people["agent"], path, {"reached": True, "satisfaction": "happy", "resolution": "resolved"})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "satisfaction"
    for body in ({"reached": False}, UNSATISFIED):  # a dispatched ticket has no callback yet
        r = await post(client, people["agent"], path, body)
        assert r.status_code == 409 and r.json()["error"]["code"] == "ticket.illegal_transition"
    r = await post(client, people["hrss"], path, {"reached": False})
    assert r.status_code == 403


# ------------------------------------------------------------------ 抽样回访 (直接答复、紧急转接)

ANSWER = {"kind": "consultation", "content": "社保卡在哪里补办", "answer": "携带身份证到任一社保经办网点补办"}
FIRE = {"kind": "help", "content": "楼下着火了", "line": "12345"}
SATISFIED = {"reached": True, "satisfaction": "satisfied", "resolution": "resolved"}


def sampling(rt: Runtime, **rates: float) -> None:
    """Give the running app a rulebook whose ``[workflow.sla] callback_sampling`` is ``rates``."""
    workflow = rt.rulebook.workflow
    sla = workflow.sla.model_copy(update={"callback_sampling": rates})
    rt.rulebook = dataclasses.replace(rt.rulebook, workflow=workflow.model_copy(update={"sla": sla}))


async def intake(client: AsyncClient, agent: Any, status: str, **body: Any) -> str:
    payload = {"caller": {"type": "citizen", "name": "周九", "phone": "13800004444"}, **body}
    r = await client.post("/api/v1/tickets", json=payload, headers=agent.headers)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == status
    return str(r.json()["number"])


async def sample(session: AsyncSession, rt: Runtime, clock: Any) -> int:
    opened = await sample_direct_callbacks(session, rt, clock.now, clock.now - timedelta(days=1))
    await session.commit()
    return opened


async def callbacks_of(session: AsyncSession, number: str) -> list[Callback]:
    ticket = await fetch(session, number)
    stmt = select(Callback).where(Callback.ticket_id == ticket.id).order_by(Callback.id)
    return list((await session.execute(stmt)).scalars())


def test_callback_sampling_defaults_to_none_and_is_validated(rulebook: Rulebook) -> None:
    assert rulebook.workflow.sla.callback_sampling == {"direct_answer": 0.0, "emergency_transfer": 0.0}
    fields = rulebook.workflow.sla.model_dump()
    for bad in ({"dispatch": 0.5}, {"direct_answer": 1.5}, {"emergency_transfer": -0.1}):
        with pytest.raises(ValueError, match="callback_sampling"):
            SlaPolicy(**{**fields, "callback_sampling": bad})
    assert SlaPolicy(**{**fields, "callback_sampling": {"direct_answer": 0.25}}).callback_sampling == {
        "direct_answer": 0.25
    }
    assert [sampling_threshold(r) for r in (0.0, 0.0005, 0.3, 0.999, 1.0)] == [0, 1, 300, 999, 1000]


async def test_direct_answers_and_transfers_get_no_callback_by_default(
    client: AsyncClient, people, session: AsyncSession, runtime: Runtime, clock
) -> None:
    answered = await intake(client, people["agent"], "answered", **ANSWER)
    transferred = await intake(client, people["agent"], "transferred", **FIRE)
    assert await sample(session, runtime, clock) == 0
    assert await callbacks_of(session, answered) == [] and await callbacks_of(session, transferred) == []
    queue = (await client.get("/api/v1/callbacks", headers=people["agent"].headers)).json()
    assert {answered, transferred}.isdisjoint(i["number"] for i in queue["items"])


async def test_sampled_direct_answer_is_called_back_without_changing_its_status(
    client: AsyncClient, people, session: AsyncSession, runtime: Runtime, clock
) -> None:
    sampling(runtime, direct_answer=1.0)
    answered = await intake(client, people["agent"], "answered", **ANSWER)
    transferred = await intake(client, people["agent"], "transferred", **FIRE)  # its rate stays 0
    dispatched = await new_ticket(client, people["agent"])
    clock.advance(hours=1)
    assert await sample(session, runtime, clock) == 1
    assert await sample(session, runtime, clock) == 0  # rerun: no duplicate
    assert await callbacks_of(session, transferred) == [] and await callbacks_of(session, dispatched) == []
    [cb] = await callbacks_of(session, answered)
    assert (cb.round, cb.state) == (1, "pending")
    callback_id = cb.id

    queue = (await client.get("/api/v1/callbacks", headers=people["agent"].headers)).json()
    item = next(i for i in queue["items"] if i["number"] == answered)
    # Two working days from the intake on Monday 09-28: Tuesday 09-29 and Wednesday 09-30.
    assert (item["id"], item["round"], item["due_at"]) == (callback_id, 1, "2026-10-01T00:00:00+08:00")
    assert (item["lead_unit"], item["reply_outcome"]) == (None, None)
    assert [(c["number"], c["name"], c["phone"]) for c in item["callers"]] == [(answered, "周九", "13800004444")]

    out = await callback(client, people, answered, SATISFIED)
    assert (out["status"], out["callback_state"], out["final_outcome"]) == ("answered", "done", None)
    ticket = await fetch(session, answered)
    assert ticket.status == "answered"
    ev = (await session.execute(select(Evaluation).where(Evaluation.ticket_id == ticket.id))).scalar_one()
    assert (ev.callback_id, ev.satisfaction, ev.resolution) == (callback_id, "satisfied", "resolved")
    events = await actions(session, ticket.id)
    assert [(e.action, e.from_status, e.to_status) for e in events[-2:]] == [
        ("callback_sampled", "answered", "answered"),
        ("sampled_callback", "answered", "answered"),
    ]
    assert events[-1].data["sampled"] is True
    assert await sample(session, runtime, clock) == 0  # done: never sampled again
    again = await post(client, people["agent"], f"/api/v1/tickets/{answered}/callback", SATISFIED)
    assert again.status_code == 409 and again.json()["error"]["code"] == "callback.none_pending"


async def test_sampled_transfer_unsatisfied_only_records_the_evaluation(
    client: AsyncClient, people, session: AsyncSession, runtime: Runtime, clock
) -> None:
    sampling(runtime, emergency_transfer=1.0)
    transferred = await intake(client, people["agent"], "transferred", **FIRE)
    answered = await intake(client, people["agent"], "answered", **ANSWER)
    assert await sample(session, runtime, clock) == 1
    assert await callbacks_of(session, answered) == []
    out = await callback(client, people, transferred, {**UNSATISFIED, "note": "消防车来得慢"})
    assert (out["status"], out["redo_count"], out["callback_state"], out["due_at"], out["supervision_id"]) == (
        "transferred",
        0,
        "done",
        None,
        None,
    )
    ticket = await fetch(session, transferred)
    assert (ticket.status, ticket.final_outcome, ticket.closed_at) == ("transferred", None, None)
    ev = (await session.execute(select(Evaluation).where(Evaluation.ticket_id == ticket.id))).scalar_one()
    assert (ev.satisfaction, ev.reasonable, ev.note) == ("unsatisfied", True, "消防车来得慢")
    last = (await actions(session, ticket.id))[-1]
    assert (last.action, last.data["sampled"], last.data["reasonable"]) == ("sampled_callback", True, True)
    assert await session.scalar(select(func.count()).select_from(SupervisionOrder)) == 0
    assert await session.scalar(select(func.count()).select_from(Deadline).where(Deadline.ticket_id == ticket.id)) == 0


async def test_sampled_callback_unreachable_on_three_days_keeps_the_status(
    client: AsyncClient, people, session: AsyncSession, runtime: Runtime, clock
) -> None:
    sampling(runtime, direct_answer=1.0)
    answered = await intake(client, people["agent"], "answered", **ANSWER)
    assert await sample(session, runtime, clock) == 1
    for day in range(3):
        out = await callback(client, people, answered, {"reached": False})
        assert (out["status"], out["attempts"]) == ("answered", day + 1)
        clock.advance(days=1)
    assert (out["callback_state"], out["final_outcome"], out["attempt_days"]) == (
        "unreachable",
        None,
        ["2026-09-28", "2026-09-29", "2026-09-30"],
    )
    [cb] = await callbacks_of(session, answered)
    assert (cb.state, cb.done_at is not None) == ("unreachable", True)
    assert (await fetch(session, answered)).status == "answered"


async def test_sampling_takes_the_deterministic_share_since_the_given_time(
    client: AsyncClient, people, session: AsyncSession, runtime: Runtime, clock
) -> None:
    old = await intake(client, people["agent"], "answered", **ANSWER)
    clock.advance(days=2)
    numbers = [await intake(client, people["agent"], "answered", **ANSWER) for _ in range(6)]
    ids = {n: (await fetch(session, n)).id for n in numbers}
    cut = sorted(i % 1000 for i in ids.values())[2]  # a rate that takes the lowest two (ids are consecutive)
    sampling(runtime, direct_answer=cut / 1000)
    expected = {n for n, i in ids.items() if i % 1000 < cut}
    assert await sample(session, runtime, clock) == len(expected)
    assert {n for n in numbers if await callbacks_of(session, n)} == expected
    assert await callbacks_of(session, old) == []  # created before ``since``

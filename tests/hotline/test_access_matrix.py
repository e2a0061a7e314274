"""The access matrix, generated from the app's own OpenAPI document (issue 10, item 7): every
operation, as every role, and as a unit handler of the ticket's own unit, of a foreign unit and
of a former unit (re-dispatched away). A new operation is covered without being listed here.

Rules (README, Security; the role table ``docs/access.md`` is generated from the same document):
* every operation but the login declares the roles that may call it (``x-roles``), and every
  other role is refused with 403 ``auth.role_forbidden`` — never 404, 409 or success;
* no operation but ``POST /api/v1/auth/token`` answers an anonymous caller (401);
* a unit that has no part in a ticket *now* (foreign, or former after a re-dispatch) learns
  nothing of it: any operation on its number answers 404 (or 422 for a body refused before the
  ticket is looked at, or 403 ``auth.role_forbidden`` for an operation its role never has), never
  200, 409 or a ticket-specific refusal, and never shows its content;
* lists never show a unit another unit's ticket;
* the unit queue is read by the unit itself and the centre only.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from httpx import AsyncClient

from hotline.api.access import access_table
from hotline.users import Role

HRSS = "city.human_resources"
FUND = "city.housing_fund"
OTHER = "city.education"
SECRET_WORDS = "养老金矩阵测试专用内容"
MOVED_WORDS = "已改派矩阵测试专用内容"
OWN_RECORDS = {"/api/v1/returns"}
"""Lists of a unit's own acts (its return requests and their outcome), kept after it hands over."""


@pytest.fixture
async def people(login) -> dict[str, Any]:
    return {
        "agent": await login("agent"),
        "own": await login("unit_handler", unit=HRSS),
        "fund": await login("unit_handler", unit=FUND),
        "foreign": await login("unit_handler", unit=OTHER),
        "supervisor": await login("supervisor"),
        "arbitrator": await login("arbitrator"),
        "admin": await login("admin"),
    }


def operations(app: Any) -> list[tuple[str, str, dict[str, Any]]]:
    doc = app.openapi()
    return [
        (method.upper(), path, op)
        for path, item in doc["paths"].items()
        if path.startswith("/api/")
        for method, op in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def fill(path: str, number: str) -> str:
    path = path.replace("{number}", number)
    return re.sub(r"\{[^}]+\}", "1", path)


async def call(client: AsyncClient, method: str, url: str, who: Any | None) -> Any:
    headers = who.headers if who is not None else {}
    if method == "GET":
        return await client.get(url, headers=headers)
    return await client.request(method, url, json={}, headers=headers)


ROLE_PEOPLE = {
    Role.AGENT: "agent",
    Role.UNIT_HANDLER: "own",
    Role.SUPERVISOR: "supervisor",
    Role.ARBITRATOR: "arbitrator",
    Role.ADMIN: "admin",
}
DOCS = Path(__file__).resolve().parents[2] / "docs" / "access.md"


def test_the_role_table_is_generated_from_the_code(app: Any) -> None:
    doc = app.openapi()
    undeclared = [
        (method, path) for method, path, op in operations(app) if path != "/api/v1/auth/token" and not op.get("x-roles")
    ]
    assert undeclared == []
    assert DOCS.read_text(encoding="utf-8") == access_table(doc), (
        "docs/access.md is stale: python -m hotline access-table > docs/access.md"
    )
    # and /docs tells a reader the same in Chinese
    assert "可调用角色：承办单位经办人" in doc["paths"]["/api/v1/tickets/{number}/accept"]["post"]["description"]


async def test_every_role_is_refused_exactly_where_the_table_says(
    app: Any, client: AsyncClient, people: dict[str, Any]
) -> None:
    body = {
        "caller": {"type": "citizen", "name": "钱七", "phone": "13600002222"},
        "kind": "complaint",
        "content": "养老金未按时发放，角色矩阵测试",
        "line": "12333",
    }
    r = await client.post("/api/v1/tickets", json=body, headers=people["agent"].headers)
    assert r.status_code == 201, r.text
    number = r.json()["number"]
    # logging out ends the session: that operation goes last
    ops = sorted(operations(app), key=lambda o: o[1] == "/api/v1/auth/logout")
    refused = allowed = 0
    for method, path, op in ops:
        if path == "/api/v1/auth/token":
            continue
        roles = set(op["x-roles"])
        for role, who in ROLE_PEOPLE.items():
            r = await call(client, method, fill(path, number), people[who])
            assert r.status_code < 500, (role, method, path, r.text[:200])
            by_role = r.status_code == 403 and r.json()["error"]["code"] == "auth.role_forbidden"
            if role.value in roles:
                assert not by_role, ("the table allows it, the code refuses", role, method, path)
                allowed += 1
            else:
                assert by_role, ("the table refuses it, the code does not", role, method, path, r.status_code)
                refused += 1
    assert refused >= 60 and allowed >= 100


async def test_no_operation_answers_an_anonymous_caller(app: Any, client: AsyncClient) -> None:
    ops = operations(app)
    assert len(ops) >= 40
    for method, path, _ in ops:
        if path == "/api/v1/auth/token":
            continue
        r = await call(client, method, fill(path, "202609280000001"), None)
        assert r.status_code == 401, (method, path, r.status_code)
        assert r.json()["error"]["code"].startswith("auth."), (method, path)


async def test_foreign_and_former_units_learn_nothing_of_a_ticket(
    app: Any, client: AsyncClient, people: dict[str, Any], clock: Any
) -> None:
    body = {
        "caller": {"type": "citizen", "name": "赵六", "phone": "13600001111"},
        "kind": "complaint",
        "content": f"{SECRET_WORDS}，养老金未按时发放",
        "line": "12333",
    }
    r = await client.post("/api/v1/tickets", json=body, headers=people["agent"].headers)
    assert r.status_code == 201, r.text
    number = r.json()["number"]
    # the own unit returns it, the centre re-dispatches it to the fund: HRSS becomes former
    moved_body = {**body, "content": f"{MOVED_WORDS}，养老金未按时发放"}
    moved = (await client.post("/api/v1/tickets", json=moved_body, headers=people["agent"].headers)).json()["number"]
    clock.now = datetime(2026, 9, 29, 1, 0, tzinfo=UTC)
    r = await client.post(
        f"/api/v1/tickets/{moved}/return",
        json={"reason": "not_our_duty", "explanation": "公积金事项不属本局职责", "suggested_unit": FUND},
        headers=people["own"].headers,
    )
    assert r.status_code == 200, r.text
    r = await client.post(
        f"/api/v1/tickets/{moved}/return/decision",
        json={"decision": "approve", "new_unit": FUND},
        headers=people["supervisor"].headers,
    )
    assert r.status_code == 200, r.text

    checked = 0
    for method, path, _ in operations(app):
        if "{number}" not in path:
            continue
        for who, ticket, words in (("foreign", number, SECRET_WORDS), ("own", moved, MOVED_WORDS)):
            # "own" is the former unit of `moved`
            r = await call(client, method, fill(path, ticket), people[who])
            # a refusal for the role alone says nothing about the ticket; anything else must be 404
            by_role = r.status_code == 403 and r.json()["error"]["code"] == "auth.role_forbidden"
            assert r.status_code in (404, 422) or by_role, (who, method, path, r.status_code, r.text[:200])
            assert words not in r.text and "13600001111" not in r.text, (who, method, path)
            checked += 1
    assert checked >= 40
    # the lists: a foreign unit never sees the ticket, the former unit no longer sees the moved one
    for method, path, _ in operations(app):
        if method != "GET" or "{" in path:
            continue
        for who, hidden, words in (("foreign", number, SECRET_WORDS), ("own", moved, MOVED_WORDS)):
            r = await call(client, method, path, people[who])
            assert r.status_code < 500, (who, path)
            assert words not in r.text, (who, path)
            if who == "own" and path in OWN_RECORDS:
                continue  # the unit's record of its own return request names the ticket it returned
            assert hidden not in r.text, (who, path)
    # and the ticket's own units still see theirs
    assert (await client.get(f"/api/v1/tickets/{number}", headers=people["own"].headers)).status_code == 200
    assert (await client.get(f"/api/v1/tickets/{moved}", headers=people["fund"].headers)).status_code == 200


async def test_the_unit_queue_is_for_the_unit_and_the_centre(client: AsyncClient, people: dict[str, Any]) -> None:
    for who in ("agent", "arbitrator"):
        r = await client.get("/api/v1/queue", params={"unit": HRSS}, headers=people[who].headers)
        assert r.status_code == 403, who
    for who in ("supervisor", "admin", "own"):
        r = await client.get("/api/v1/queue", params={"unit": HRSS}, headers=people[who].headers)
        assert r.status_code == 200, who
    # a unit asking for another unit's queue gets its own
    r = await client.get("/api/v1/queue", params={"unit": FUND}, headers=people["own"].headers)
    assert r.status_code == 200 and all(item["number"] for item in r.json().get("items", []))

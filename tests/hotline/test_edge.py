"""The edge (hotline.edge): bad text, oversized and malformed bodies, numbers and dates beyond
range get a 4xx with our error body (never a 500, never FastAPI's ``{"detail": …}``), and
full-width input is stored as plain text so that it can be looked up."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from hotline.edge import clean, text_problem
from tests.hotline.test_pages_auth import csrf_of

CALLER = {"type": "citizen", "name": "张三", "phone": "13812345678"}


def call(**kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"channel": "phone", "caller": dict(CALLER), "kind": "complaint", "content": "小区路灯坏了"}
    body.update(kw)
    return body


def fields(r: Any) -> list[str]:
    return [f["field"] for f in r.json()["error"].get("fields", [])]


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("a\x00b", "validation.control_character"),
        ("\x07响铃", "validation.control_character"),
        ("C1\x85控制", "validation.control_character"),
        ("\x7f", "validation.control_character"),
        ("abc\u202edcba", "validation.bidi_control"),
        ("\u2066隔离\u2069", "validation.bidi_control"),
        ("孤立\ud800代理", "validation.invalid_character"),
        ("   ", "validation.blank"),
        ("\u200b\u200b", "validation.blank"),
        ("\u3000\ufeff\n", "validation.blank"),
    ],
)
def test_text_problems_name_the_rule(value: str, code: str) -> None:
    problem = text_problem("content", value)
    assert problem is not None and problem.code == code
    assert problem.message.startswith("content：")


@pytest.mark.parametrize("value", ["", "第一行\n第二行\r\n\t缩进", "普通文本", "a b"])
def test_ordinary_text_passes(value: str) -> None:
    assert text_problem("content", value) is None


def test_clean_makes_full_width_plain_but_keeps_chinese_punctuation() -> None:
    assert clean("１３８００００５６７８") == "13800005678"
    assert clean("１３８－００００－５６７８") == "138-0000-5678"
    assert clean("ＡＢＣ＠ｅｘａｍｐｌｅ．ｃｏｍ") == "ABC@example.com"
    assert clean("电话１３８００００５６７８，请回电！（急）") == "电话13800005678，请回电！（急）"
    assert clean("㈱ ﬁ ①") == "(株) fi 1"
    assert clean("plain ascii, kept") == "plain ascii, kept"


async def test_nul_and_control_characters_in_any_input_are_a_422_naming_the_field(client: AsyncClient, login) -> None:
    agent = await login("agent")
    h = agent.headers
    cases = [
        call(content="小区路灯\x00坏了"),
        call(caller={**CALLER, "name": "a\x00b"}),
        call(address="薛城区\u202e路"),
        call(content="\u200b \u3000"),
    ]
    expected = ["content", "caller.name", "address", "content"]
    for body, field in zip(cases, expected, strict=True):
        r = await client.post("/api/v1/tickets", json=body, headers=h)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "validation" and fields(r) == [field]
    r = await client.get("/api/v1/tickets", params={"district": "a\x00b"}, headers=h)
    assert r.status_code == 422 and fields(r) == ["district"]
    # a lone surrogate escaped in JSON
    raw = '{"channel":"phone","caller":{"type":"citizen","name":"\\ud800","phone":"13812345678"},"kind":"complaint","content":"x"}'
    r = await client.post("/api/v1/tickets", content=raw, headers={**h, "content-type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["code"] == "validation.invalid_character"


async def test_malformed_bodies_get_our_error_body(client: AsyncClient, login) -> None:
    agent = await login("agent")
    h = {**agent.headers, "content-type": "application/json"}
    bodies = {
        b'{"content": "\xff\xfe"}': "validation.bad_encoding",
        b"[" * 5000 + b"]" * 5000: "validation.too_deep",
        b'{"a":' * 40 + b"1" + b"}" * 40: "validation.too_deep",
        b'{"content": NaN}': "validation.not_finite",
        b'{"page": 1e999}': "validation.not_finite",
        b'{"id": 99999999999999999999999}': "validation.number_too_large",
        b'{"content": ': "validation.json_invalid",
    }
    for raw, code in bodies.items():
        r = await client.post("/api/v1/tickets", content=raw, headers=h)
        assert r.status_code == 422, (raw[:40], r.text)
        error = r.json()["error"]
        assert error["fields"][0]["code"] == code and "detail" not in r.json()


async def test_an_oversized_body_is_refused_before_it_is_read(client: AsyncClient) -> None:
    big = b'{"content": "' + b"a" * (2 * 1024 * 1024) + b'"}'
    # anonymous: refused for its size, not parsed and then refused for want of a login
    r = await client.post("/api/v1/routing/preview", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "request.too_large"


async def test_numbers_and_dates_beyond_range_are_4xx(client: AsyncClient, login) -> None:
    agent = await login("agent")
    centre = await login("supervisor")
    h = agent.headers
    for url in (
        "/api/v1/tickets?page=9223372036854775807",
        "/api/v1/tickets/9223372036854775808",
        "/api/v1/calendar/deadline?start=9999-12-31T00:00:00%2B08:00&working_days=5",
    ):
        r = await client.get(url, headers=h)
        assert 400 <= r.status_code < 500, (url, r.status_code, r.text)
        assert "error" in r.json()
    r = await client.post(
        "/api/v1/supervision/9223372036854775808/response", json={"content": "已处理"}, headers=centre.headers
    )
    assert 400 <= r.status_code < 500, r.text


async def test_out_of_range_values_name_their_parameter(client: AsyncClient, login) -> None:
    """A value the database could not hold is refused by the parameter's own rule, which names it
    (not as an anonymous ``request`` error after the database refused it)."""
    agent, centre, unit = (
        await login("agent"),
        await login("supervisor"),
        await login("unit_handler", unit="city.education"),
    )
    cases = [
        (agent, "GET", "/api/v1/tickets?page=9223372036854775807", None, "page"),
        (centre, "GET", "/api/v1/queue?unit=city.education&due_within_hours=1e308", None, "due_within_hours"),
        (centre, "GET", "/api/v1/queue?unit=city.education&due_within_hours=nan", None, "due_within_hours"),
        (centre, "GET", "/api/v1/queue?unit=city.education&due_within_hours=inf", None, "due_within_hours"),
        (unit, "POST", "/api/v1/tickets/1/tasks/99999999999999999999/answer", {"content": "已处理完毕"}, "task_id"),
        (unit, "POST", "/api/v1/supervision/9223372036854775808/response", {"content": "已处理"}, "order_id"),
        (unit, "POST", "/api/v1/supervision/0/response", {"content": "已处理"}, "order_id"),
        (agent, "GET", "/api/v1/tickets?status=nope", None, "status"),
    ]
    for who, method, url, body, field in cases:
        r = await client.request(method, url, json=body, headers=who.headers)
        assert r.status_code == 422, (url, r.status_code, r.text)
        assert [p["field"] for p in r.json()["error"]["fields"]] == [field], (url, r.text)
    # a refusal never echoes a huge value back
    r = await client.get("/api/v1/tickets/" + "9" * 8000, headers=agent.headers)
    assert r.status_code == 422 and len(r.content) < 2000
    r = await client.post(
        "/api/v1/tickets/202612010000005/merge", json={"secondaries": ["a" * 5000]}, headers=centre.headers
    )
    assert r.status_code == 422 and len(r.content) < 2000


async def test_full_width_input_is_stored_plain_and_found(client: AsyncClient, login) -> None:
    agent = await login("agent")
    h = agent.headers
    # an all-full-width phone number was refused; digits in the content were stored as typed
    body = call(caller={**CALLER, "phone": "１３９－００００－１１１１"}, content="３号楼电梯坏了，请尽快修理！")
    r = await client.post("/api/v1/tickets", json=body, headers=h)
    assert r.status_code == 201, r.text
    number = r.json()["number"]
    got = (await client.get(f"/api/v1/tickets/{number}", headers=h)).json()
    assert got["content"] == "3号楼电梯坏了，请尽快修理！"  # digits plain, Chinese punctuation as typed
    found = await client.get("/api/v1/tickets", params={"q": "３号楼电梯"}, headers=h)
    assert found.status_code == 200 and number in found.text


async def test_a_page_form_is_scrubbed_not_refused(client: AsyncClient, login) -> None:
    agent = await login("agent")
    form = await client.get("/login")
    # NUL in the login form's username was a 500: now scrubbed, and the login works
    r = await client.post(
        "/login",
        data={
            "username": agent.actor.username[:2] + "\x00" + agent.actor.username[2:],
            "password": "password-123",
            "csrf": csrf_of(form.text),
        },
    )
    assert r.status_code == 303, r.text
    # a query parameter with NUL on a page is a Chinese error page
    r = await client.get("/public/progress", params={"number": "a\x00"})
    assert r.status_code == 422 and "text/html" in r.headers["content-type"] and "不能含有控制字符" in r.text
    assert "提交的内容有误" in r.text


def test_scrub_keeps_what_a_person_meant() -> None:
    from hotline.edge import scrub

    assert scrub("张\x00三") == "张三"
    assert scrub("  \u200b ") == ""
    assert scrub("第一行\r\n第二行") == "第一行\r\n第二行"
    assert scrub("１２３\u202e") == "123"


async def test_an_empty_idempotency_key_is_a_422(client: AsyncClient, login) -> None:
    agent = await login("agent")
    for _ in range(2):
        r = await client.post("/api/v1/tickets", json=call(), headers={**agent.headers, "Idempotency-Key": ""})
        assert r.status_code == 422 and fields(r) == ["Idempotency-Key"]


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("139-0000-1111", "13900001111"),
        ("139 0000 1111", "13900001111"),
        ("139.0000.1111", "13900001111"),
        ("+86 13900001111", "13900001111"),
        ("008613900001111", "13900001111"),
        ("0632-3312345", "0632-3312345"),
        ("3312345", "3312345"),
    ],
)
def test_phone_numbers_as_people_write_them_are_stored_as_digits(written: str, stored: str) -> None:
    from hotline.tickets.schemas import CallerIn

    assert CallerIn(phone=written).phone == stored


@pytest.mark.parametrize("bad", ["139-0000-111", "12900001111", "+1 2025550100"])
def test_not_a_phone_number_is_still_refused(bad: str) -> None:
    from pydantic import ValidationError

    from hotline.tickets.schemas import CallerIn

    with pytest.raises(ValidationError):
        CallerIn(phone=bad)


async def test_multipart_bodies_are_refused_not_passed_unchecked(client: AsyncClient, login) -> None:
    agent = await login("agent")
    r = await client.post("/api/v1/tickets", files={"content": (None, "路灯\x00坏了")}, headers=agent.headers)
    assert r.status_code == 415 and r.json()["error"]["code"] == "request.unsupported_media_type"
    page = await client.post("/login", files={"username": (None, "a\x00b"), "password": (None, "x")})
    assert page.status_code == 415 and "text/html" in page.headers["content-type"] and "multipart" in page.text


async def test_unknown_addresses_and_methods_answer_in_our_shape(client: AsyncClient, login) -> None:
    agent = await login("agent")
    r = await client.get("/api/v1/nope", headers=agent.headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found" and "detail" not in r.json()
    r = await client.put("/api/v1/tickets", headers=agent.headers)
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed" and "allow" in r.headers
    page = await client.get("/no/such/page")
    assert page.status_code == 404 and "text/html" in page.headers["content-type"] and "页面或接口不存在" in page.text


async def test_validation_messages_are_chinese_and_specific(client: AsyncClient, login) -> None:
    agent = await login("agent")
    r = await client.post("/api/v1/tickets", json=call(caller={"type": "someone"}), headers=agent.headers)
    message = r.json()["error"]["fields"][0]["message"]
    assert " or " not in message and "'citizen'、'enterprise'" in message
    # a JSON body sent without its content type
    r = await client.post(
        "/api/v1/routing/preview", content=b'{"content": "x"}', headers={**agent.headers, "content-type": ""}
    )
    assert r.status_code == 422 and "Content-Type: application/json" in r.json()["error"]["message"]
    # idempotency keys are printable ASCII
    r = await client.post("/api/v1/tickets", json=call(), headers={**agent.headers, "Idempotency-Key": "   "})
    assert r.status_code == 422 and fields(r) == ["Idempotency-Key"]
    r = await client.get("/api/v1/calendar/0", headers=agent.headers)
    assert r.status_code == 422 and fields(r) == ["year"]

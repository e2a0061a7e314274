"""Public pages without sign-in: progress lookup (no personal data, rate-limited) and the monthly
disclosure (no caller data, confidential tickets withheld, phone and ID numbers scrubbed)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text

from hotline.attempts import Limit
from hotline.public import count_lookup, prune_lookup_hits, scrub, summary_of
from tests.hotline.test_pages_auth import csrf_of

HRSS = "city.human_resources"
PHONE = "13600001111"
NAME = "赵六"
NOT_FOUND = "未查询到相关工单"


@pytest.fixture
async def people(login) -> dict[str, Any]:
    return {"agent": await login("agent"), "hrss": await login("unit_handler", unit=HRSS)}


async def new_ticket(client: AsyncClient, agent: Any, *, confidential: bool = False) -> str:
    body = {
        "caller": {"type": "citizen", "name": NAME, "phone": PHONE, "confidential": confidential},
        "kind": "complaint",
        "content": "养老金未按时发放，住址市中区光明路88号",
        "address": "市中区光明路88号",
        "line": "12333",
    }
    r = await client.post("/api/v1/tickets", json=body, headers=agent.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["number"])


async def reply(client: AsyncClient, unit: Any, number: str, content: str) -> None:
    for path, body in (
        (f"/api/v1/tickets/{number}/accept", {}),
        (f"/api/v1/tickets/{number}/reply", {"content": content, "outcome": "resolved"}),
    ):
        r = await client.post(path, json=body, headers=unit.headers)
        assert r.status_code == 200, r.text


async def lookup(client: AsyncClient, number: str, last_four: str) -> Any:
    form = await client.get("/public/progress")
    return await client.post(
        "/public/progress", data={"number": number, "last_four": last_four, "csrf": csrf_of(form.text)}
    )


# ------------------------------------------------------------------ progress


async def test_progress_is_found_with_the_right_four_digits_and_shows_no_personal_data(
    client: AsyncClient, people
) -> None:
    number = await new_ticket(client, people["agent"])
    r = await lookup(client, number, PHONE[-4:])
    assert r.status_code == 200, r.text
    assert number in r.text and "办理中" in r.text and "2026年9月28日" in r.text
    assert "市人力资源社会保障局" in r.text and "办理时限" in r.text and "24:00前" in r.text
    assert "办理过程" in r.text and "受理" in r.text
    for private in (NAME, "赵*", PHONE, "136****1111", "光明路", "养老金"):
        assert private not in r.text


async def test_progress_shows_the_approved_reply_and_one_status_through_a_redo(
    client: AsyncClient, people, login
) -> None:
    number = await new_ticket(client, people["agent"])
    await reply(client, people["hrss"], number, "经核实，已联系诉求人并补发拖欠的养老金，本月底前到账。")
    r = await lookup(client, number, PHONE[-4:])
    # replied but not yet reviewed: still being handled, nothing of the reply shown
    assert "答复审核中" in r.text and "答复日期" not in r.text and "补发" not in r.text
    boss = await login("supervisor")
    r = await client.post(f"/api/v1/tickets/{number}/reply/decision", json={"approve": True}, headers=boss.headers)
    assert r.status_code == 200, r.text
    r = await lookup(client, number, PHONE[-4:])
    assert "已答复" in r.text and "答复日期" in r.text and "补发拖欠的养老金" in r.text
    assert "答复（已审核）" in r.text and "办理时限" not in r.text
    # the callback finds it unresolved: redo. The page says 办理中 again, without the old reply
    r = await client.post(
        f"/api/v1/tickets/{number}/callback",
        json={"reached": True, "satisfaction": "unsatisfied", "resolution": "unresolved", "reasonable": True},
        headers=boss.headers,
    )
    assert r.status_code == 200, r.text
    r = await lookup(client, number, PHONE[-4:])
    assert "办理中" in r.text and "已答复" not in r.text and "补发拖欠的养老金" not in r.text
    assert "重办" in r.text and "办理时限" in r.text


async def test_progress_of_a_ticket_not_accepted_says_why_and_where_to_go(client: AsyncClient, people) -> None:
    body = {
        "caller": {"type": "citizen", "name": NAME, "phone": PHONE},
        "kind": "complaint",
        "content": "法院判决不服，想再起诉，要求改判",
        "line": "12345",
    }
    r = await client.post("/api/v1/tickets", json=body, headers=people["agent"].headers)
    assert r.status_code == 201 and r.json()["status"] == "not_accepted", r.text
    r = await lookup(client, r.json()["number"], PHONE[-4:])
    assert "不予受理" in r.text and "不予受理原因" in r.text and "建议" in r.text and "人民法院" in r.text


async def test_wrong_digits_look_exactly_like_an_unknown_number(client: AsyncClient, people) -> None:
    number = await new_ticket(client, people["agent"])
    wrong = await lookup(client, number, "0000")
    unknown = await lookup(client, "20990101" + "9" * 7, PHONE[-4:])
    assert wrong.status_code == unknown.status_code == 200
    assert NOT_FOUND in wrong.text and NOT_FOUND in unknown.text
    assert "已派单" not in wrong.text and "市人力资源社会保障局" not in wrong.text

    def strip(html: str, n: str) -> str:
        return re.sub(r'name="csrf" value="[0-9a-f]+"', "", html).replace(n, "N")

    assert strip(wrong.text, number) == strip(unknown.text, "20990101" + "9" * 7)


async def test_malformed_input_is_refused_in_chinese(client: AsyncClient) -> None:
    r = await lookup(client, "abc", "12")
    assert r.status_code == 422 and "请输入正确的工单编号" in r.text and "后四位" in r.text


async def test_lookups_are_limited_per_client_and_wrong_answers_count(client: AsyncClient, people) -> None:
    number = await new_ticket(client, people["agent"])
    for _ in range(10):
        assert (await lookup(client, number, "0000")).status_code == 200
    r = await lookup(client, number, PHONE[-4:])
    assert r.status_code == 429 and "查询过于频繁" in r.text and r.headers["retry-after"]
    assert "已派单" not in r.text


async def test_the_lookup_form_needs_its_csrf_token(client: AsyncClient, people) -> None:
    number = await new_ticket(client, people["agent"])
    await client.get("/public/progress")
    r = await client.post("/public/progress", data={"number": number, "last_four": PHONE[-4:], "csrf": "forged"})
    assert r.status_code == 403 and "页面已过期" in r.text


async def test_the_window_forgets_old_attempts_and_clients_count_apart(session) -> None:
    policy = Limit(limit=2, window=600, bucket=60)
    t0 = datetime(2026, 9, 28, 2, 0, 30, tzinfo=UTC)
    assert await count_lookup(session, "a", t0, policy) is None
    assert await count_lookup(session, "a", t0 + timedelta(seconds=70), policy) is None
    wait = await count_lookup(session, "a", t0 + timedelta(seconds=80), policy)
    assert wait == 490  # 02:01:50 now; the 02:00 slot leaves the window at 02:10:00
    assert await count_lookup(session, "b", t0 + timedelta(seconds=80), policy) is None
    assert await count_lookup(session, "a", t0 + timedelta(seconds=600), policy) is None  # first slot gone
    assert await prune_lookup_hits(session, t0 + timedelta(days=2)) == 4  # a: 3 slots, b: 1


async def test_the_limit_is_shared_by_every_process(
    client: AsyncClient, people, settings, rulebook, sessions, clock
) -> None:
    """A second app instance (another worker process) on the same database sees the same count."""
    from hotline.app import create_app

    number = await new_ticket(client, people["agent"])
    for _ in range(6):
        assert (await lookup(client, number, "0000")).status_code == 200
    other = create_app(settings, rulebook=rulebook, sessions=sessions, clock=clock)
    async with AsyncClient(transport=ASGITransport(app=other), base_url="http://test") as second:
        for _ in range(4):
            assert (await lookup(second, number, "0000")).status_code == 200
        assert (await lookup(second, number, PHONE[-4:])).status_code == 429


async def test_only_a_keyed_hash_of_the_address_is_stored(client: AsyncClient, people, session) -> None:
    await lookup(client, "2026092800000001", "0000")
    keys = (await session.execute(text("SELECT client_key FROM public_lookup_hits"))).scalars().all()
    assert keys and all(len(k) == 32 and "127.0.0.1" not in k and "testclient" not in k for k in keys)


# ------------------------------------------------------------------ disclosure


async def approve(client: AsyncClient, number: str, public_text: str | None = None) -> None:
    """答复审核 by the centre: only then is a reply published."""
    body: dict[str, Any] = {"approve": True}
    if public_text is not None:
        body["public_text"] = public_text
    r = await client.post(f"/api/v1/tickets/{number}/reply/decision", json=body, headers=CENTRE.headers)
    assert r.status_code == 200, r.text


CENTRE: Any = None


@pytest.fixture(autouse=True)
async def centre(login) -> None:
    global CENTRE
    CENTRE = await login("supervisor")


async def test_disclosure_shows_the_reply_summary_and_unit_but_never_the_caller(client: AsyncClient, people) -> None:
    number = await new_ticket(client, people["agent"])
    await reply(
        client,
        people["hrss"],
        number,
        f"经核实<script>alert(1)</script>，已联系{NAME}（{PHONE}，身份证370402199001011234）补发养老金。",
    )
    # replied but not yet approved (答复审核): not published
    r = await client.get("/public/disclosure?month=2026-09")
    assert "补发养老金" not in r.text
    await approve(client, number)
    r = await client.get("/public/disclosure?month=2026-09")
    assert r.status_code == 200, r.text
    assert "市人力资源社会保障局" in r.text and "补发养老" in r.text
    assert "2026-09-28" in r.text and "投诉" in r.text
    for private in (NAME, PHONE, "370402199001011234", "光明路", number):
        assert private not in r.text
    assert "<script>alert(1)" not in r.text and "&lt;script&gt;alert(1)" in r.text
    assert "本月受理" in r.text


async def test_every_kind_of_personal_data_in_a_reply_is_redacted_before_publication(
    client: AsyncClient, people
) -> None:
    """The kinds found published by a hardening review: an e-mail, a dotted phone, an ID number in
    Chinese numerals and a third person's name, besides the caller's own data."""
    number = await new_ticket(client, people["agent"])
    text = (
        "已补发养老金。社保科李建国已联系诉求人，回电138.0000.2222或邮件li.jianguo@example.com，"
        "身份证号三七零四零二一九九零零一零一一二三四，车辆鲁D·D12345停放在3号楼2单元502室楼下。"
    )
    await reply(client, people["hrss"], number, text)
    await approve(client, number)
    r = await client.get("/public/disclosure?month=2026-09")
    assert "已补发养老金" in r.text
    for private in ("李建国", "138.0000.2222", "li.jianguo@example.com", "三七零四零二", "鲁D·D12345", "502室"):
        assert private not in r.text, private


async def test_the_reviewer_corrects_the_public_text_and_it_is_redacted_again(client: AsyncClient, people) -> None:
    number = await new_ticket(client, people["agent"])
    await reply(client, people["hrss"], number, "经核实，已联系诉求人补发养老金，并向其说明了发放时间和查询方式。")
    await approve(client, number, public_text="已补发养老金并告知查询方式（经办人王小明，电话13912345678）。")
    r = await client.get("/public/disclosure?month=2026-09")
    assert "已补发养老金并告知查询方式" in r.text and "说明了发放时间" not in r.text
    assert "王小明" not in r.text and "13912345678" not in r.text


async def test_the_review_page_offers_the_redacted_text(client: AsyncClient, people, page_for) -> None:
    number = await new_ticket(client, people["agent"])
    await reply(client, people["hrss"], number, f"经核实，已电话联系{NAME}（{PHONE}）并补发养老金，已告知到账时间。")
    browser = await page_for("supervisor")
    page = await browser.get("/centre/replies")
    assert page.status_code == 200 and 'name="public_text"' in page.text
    draft = page.text.split('name="public_text"')[1].split("</textarea>")[0]
    assert "补发养老金" in draft and NAME not in draft and PHONE not in draft


async def test_confidential_tickets_are_listed_without_their_reply(client: AsyncClient, people) -> None:
    number = await new_ticket(client, people["agent"], confidential=True)
    await reply(client, people["hrss"], number, "经核实，已为诉求人办理社保转移接续手续并告知结果。")
    await approve(client, number)
    r = await client.get("/public/disclosure")  # the current month by default
    assert "涉及隐私，不予公开" in r.text and "社保转移接续" not in r.text


async def test_disclosure_of_a_month_without_tickets_and_a_bad_month(client: AsyncClient) -> None:
    empty = await client.get("/public/disclosure?month=2025-01")
    assert empty.status_code == 200 and "本月暂无已答复事项" in empty.text
    bad = await client.get("/public/disclosure?month=2026-13")
    assert bad.status_code == 422 and "YYYY-MM" in bad.text


def test_reply_summaries_are_scrubbed_and_short() -> None:
    assert scrub("电话13600001111或0632-1234567，证件37040219900101123X") == "电话〔电话〕或〔电话〕，证件〔身份证号〕"
    assert summary_of("甲" * 100).endswith("…") and len(summary_of("甲" * 100)) == 61
    assert summary_of("已联系赵六处理", "赵六") == "已联系〔个人信息〕处理"


async def test_the_site_icon_is_served_not_a_404(client: AsyncClient) -> None:
    r = await client.get("/favicon.ico")
    assert r.status_code == 301 and r.headers["location"] == "/static/favicon.svg"
    icon = await client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    page = await client.get("/public/progress")
    assert '<link rel="icon" href="/static/favicon.svg"' in page.text

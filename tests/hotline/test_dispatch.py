"""Smart dispatch on real PostgreSQL: intake with the current model, labels from confirmed
dispatches, manual dispatch, model promotion and rollback, the catalogue API, pages and the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatcher.classifier import DispatchModel
from hotline.dispatch import service, storage
from hotline.dispatch.importer import ImportFileError, read_labelled
from hotline.errors import Conflict, NotFound
from hotline.models import DispatchLabel, DispatchModelRow, RoutingDecision, Ticket
from hotline.runtime import Runtime
from routing_rules.loader import Rulebook
from tests.hotline.conftest import PageFor
from tests.hotline.test_pages_auth import csrf_of

CITIZEN = {"type": "citizen", "name": "张三", "phone": "13812345678"}


def call(content: str, **kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"channel": "phone", "caller": CITIZEN, "kind": "complaint", "content": content}
    body.update(kw)
    return body


async def intake(client: AsyncClient, who: Any, content: str, **kw: Any) -> dict[str, Any]:
    r = await client.post("/api/v1/tickets", json=call(content, **kw), headers=who.headers)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_intake_routes_with_the_current_model_and_records_its_version(
    client: AsyncClient, login, session: AsyncSession, current_model: DispatchModel
) -> None:
    agent = await login("agent")
    body = await intake(client, agent, "小区物业费涨价了，业主都没同意，物业就直接按新标准收")
    routing = body["routing"]
    assert routing["model_version"] == current_model.version
    assert routing["category_source"] == "model"
    assert routing["category_path"][0] == "城乡建设"
    assert 1 <= len(routing["suggestions"]) <= 3
    assert set(routing["suggestions"][0]) >= {"category", "category_path", "unit", "confidence"}
    ticket = (await session.execute(select(Ticket).where(Ticket.number == body["number"]))).scalar_one()
    decision = (
        await session.execute(select(RoutingDecision).where(RoutingDecision.ticket_id == ticket.id))
    ).scalar_one()
    assert decision.model_version == current_model.version
    assert decision.decision["terms"]


async def test_preview_shows_suggestions_and_an_emergency_from_content(
    client: AsyncClient, login, current_model: DispatchModel
) -> None:
    agent = await login("agent")
    r = await client.post(
        "/api/v1/routing/preview", json=call("家里燃气泄漏了，闻到很大煤气味，阀门关不上"), headers=agent.headers
    )
    assert r.status_code == 200
    assert r.json()["disposition"] == "emergency_transfer"
    assert r.json()["transfer_to"] == "119"


async def test_agent_choice_at_intake_becomes_a_training_label(
    client: AsyncClient, login, session: AsyncSession, current_model: DispatchModel
) -> None:
    agent = await login("agent")
    body = await intake(client, agent, "我想问问公积金怎么提取", category="housing.provident_fund")
    labels = (await session.execute(select(DispatchLabel))).scalars().all()
    assert [(lab.label, lab.source) for lab in labels] == [("housing.provident_fund", "intake")]
    assert body["routing"]["category_source"] == "agent"


async def test_unsure_ticket_is_dispatched_by_the_centre_and_labelled(
    client: AsyncClient, login, session: AsyncSession, current_model: DispatchModel
) -> None:
    agent, centre = await login("agent"), await login("supervisor")
    body = await intake(client, agent, "你好我想反映个情况", area={"district": "薛城区", "town": "常庄街道"})
    assert body["routing"]["rule_id"] == "classifier.unsure"
    assert body["lead_unit"] == "centre.dispatch"
    number = body["number"]
    unit = await login("unit_handler", unit="city.human_resources")
    refused = await client.post(
        f"/api/v1/tickets/{number}/dispatch", json={"category": "housing.property"}, headers=unit.headers
    )
    assert refused.status_code in (403, 404)
    bad = await client.post(
        f"/api/v1/tickets/{number}/dispatch", json={"category": "no.such.leaf"}, headers=centre.headers
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["fields"][0]["field"] == "category"
    emergency = await client.post(
        f"/api/v1/tickets/{number}/dispatch", json={"category": "urban_rural.gas.leak"}, headers=centre.headers
    )
    assert emergency.status_code == 422
    r = await client.post(
        f"/api/v1/tickets/{number}/dispatch", json={"category": "housing.property"}, headers=centre.headers
    )
    assert r.status_code == 200, r.text
    # 物业管理 is territorial: the ticket's town sub-centre handles it
    assert r.json()["lead_unit"] == "town.xuecheng.changzhuang"
    again = await client.post(
        f"/api/v1/tickets/{number}/dispatch", json={"category": "housing.property"}, headers=centre.headers
    )
    assert again.status_code == 409
    ticket = (await session.execute(select(Ticket).where(Ticket.number == number))).scalar_one()
    assert ticket.category == "housing.property"
    label = (await session.execute(select(DispatchLabel).where(DispatchLabel.ticket_id == ticket.id))).scalar_one()
    assert (label.label, label.source, label.text) == ("housing.property", "centre", ticket.content)


async def test_return_approval_with_a_leaf_corrects_the_category_and_labels_it(
    client: AsyncClient, login, session: AsyncSession
) -> None:
    agent, centre = await login("agent"), await login("supervisor")
    hrss = await login("unit_handler", unit="city.human_resources")
    body = await intake(client, agent, "养老金未按时发放", line="12333")
    number = body["number"]
    r = await client.post(
        f"/api/v1/tickets/{number}/return",
        json={
            "reason": "not_our_duty",
            "explanation": "属公积金事项，不属本局职责",
            "suggested_unit": "city.housing_fund",
        },
        headers=hrss.headers,
    )
    assert r.status_code == 200, r.text
    # the same check as manual dispatch: an emergency leaf is never dispatched, an unknown code is named
    refusals = (
        ("urban_rural.gas.leak", "category.not_dispatchable"),
        ("no.such.leaf", "category.unknown"),
        ("", "category.required"),
        ("   ", "validation.blank"),  # refused at the edge (hotline.edge)
    )
    for leaf, code in refusals:
        refused = await client.post(
            f"/api/v1/tickets/{number}/return/decision",
            json={"decision": "approve", "new_unit": "city.housing_fund", "category": leaf},
            headers=centre.headers,
        )
        assert refused.status_code == 422, refused.text
        problem = refused.json()["error"]["fields"][0]
        assert (problem["field"], problem["code"]) == ("category", code)
    r = await client.post(
        f"/api/v1/tickets/{number}/return/decision",
        json={"decision": "approve", "new_unit": "city.housing_fund", "category": "housing.provident_fund"},
        headers=centre.headers,
    )
    assert r.status_code == 200, r.text
    ticket = (await session.execute(select(Ticket).where(Ticket.number == number))).scalar_one()
    assert ticket.category == "housing.provident_fund"
    label = (await session.execute(select(DispatchLabel).where(DispatchLabel.ticket_id == ticket.id))).scalar_one()
    assert (label.label, label.source) == ("housing.provident_fund", "return")


async def _store(session: AsyncSession, version: str, accuracy: float, blob: bytes, status: str = "candidate") -> None:
    session.add(
        DispatchModelRow(
            version=version,
            status=status,
            blob=blob,
            data_digest="0" * 64,
            rulebook_version="test",
            catalogue_digest="0" * 64,
            n_examples=1,
            metrics={"accuracy": accuracy, "n": 10},
            counts={},
            created_by="test",
        )
    )
    await session.flush()


async def _status(session: AsyncSession) -> dict[str, str]:
    rows = (await session.execute(select(DispatchModelRow.version, DispatchModelRow.status))).all()
    return {str(v): str(s) for v, s in rows}


async def test_promotion_refuses_a_worse_model_unless_forced_and_rollback_restores(
    session: AsyncSession, runtime: Runtime, dispatch_blob: bytes
) -> None:
    await _store(session, "m1", 0.80, dispatch_blob, status="current")
    await _store(session, "m2", 0.85, dispatch_blob)
    await _store(session, "m3", 0.70, dispatch_blob)
    assert await service.promote_model(session, runtime, "m2") is True
    assert await _status(session) == {"m1": "previous", "m2": "current", "m3": "candidate"}
    with pytest.raises(Conflict) as refused:
        await service.promote_model(session, runtime, "m3")
    assert refused.value.code == "dispatch.not_better"
    assert await service.promote_model(session, runtime, "m3", force=True) is True
    assert await _status(session) == {"m1": "retired", "m2": "previous", "m3": "current"}
    assert await service.rollback_model(session, runtime) == "m2"
    assert await _status(session) == {"m1": "retired", "m2": "current", "m3": "retired"}
    with pytest.raises(Conflict) as none_left:
        await service.rollback_model(session, runtime)
    assert none_left.value.code == "dispatch.no_previous"
    with pytest.raises(NotFound):
        await service.promote_model(session, runtime, "no-such-version")


async def test_train_stores_a_versioned_model_with_metrics_and_promotes_it(
    session: AsyncSession, runtime: Runtime
) -> None:
    outcome = await service.train_model(session, runtime, "tester", promote=True)
    assert outcome.promoted
    assert outcome.metrics["accuracy"] > 0.7
    assert outcome.counts == {"catalogue": outcome.n_examples}
    row = (await session.execute(select(DispatchModelRow))).scalar_one()
    assert (row.version, row.status, row.created_by) == (outcome.version, "current", "tester")
    assert row.rulebook_version == runtime.rulebook.version
    model = await runtime.dispatch.get(session)
    assert model is not None and model.version == outcome.version
    # stored with skops and loaded back safely
    assert storage.load(row.blob).names == model.names


def test_a_blob_with_foreign_types_is_refused() -> None:
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    blob = sio.dumps({"format": 1, "version": "x", "evil": LogisticRegression()})
    with pytest.raises(storage.UntrustedModel):
        storage.load(blob)
    with pytest.raises(storage.UntrustedModel):
        storage.load(b"not a model at all")


def test_a_blob_that_would_call_a_builtin_is_refused_before_loading(tmp_path: Path, dispatch_blob: bytes) -> None:
    """A tampered archive whose schema names builtins.exec must never reach skops' loader."""
    import io
    import zipfile

    marker = tmp_path / "ran"
    src = zipfile.ZipFile(io.BytesIO(dispatch_blob))
    schema = json.loads(src.read("schema.json"))
    schema["content"]["version"] = {
        "__class__": "exec",
        "__module__": "builtins",
        "__loader__": "ObjectNode",
        "content": {"args": [f"open({str(marker)!r}, 'w').write('x')"]},
        "__id__": 1,
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            dst.writestr(name, json.dumps(schema) if name == "schema.json" else src.read(name))
    with pytest.raises(storage.UntrustedModel) as refused:
        storage.load(out.getvalue())
    assert "builtins.exec" in str(refused.value)
    assert not marker.exists()


async def test_catalogue_api_tree_and_search(client: AsyncClient, login, rulebook: Rulebook) -> None:
    agent = await login("agent")
    r = await client.get("/api/v1/catalogue", headers=agent.headers)
    assert r.status_code == 200
    tree = r.json()
    assert tree["counts"]["groups"] >= 15
    assert tree["counts"]["seconds"] >= 100
    assert tree["counts"]["leaves"] >= 400
    leaf = tree["groups"][0]["children"][0]["leaves"][0]
    assert set(leaf) >= {"code", "name", "path", "unit", "examples", "emergency", "out_of_scope"}
    found = (await client.get("/api/v1/catalogue", params={"q": "公积金"}, headers=agent.headers)).json()
    assert 0 < found["counts"]["matched"] < tree["counts"]["leaves"]
    codes = [lf["code"] for g in found["groups"] for s in g["children"] for lf in s["leaves"]]
    assert "housing.provident_fund" in codes
    empty = (await client.get("/api/v1/catalogue", params={"q": "完全不存在的词语组合"}, headers=agent.headers)).json()
    assert empty["groups"] == []
    assert (await client.get("/api/v1/catalogue")).status_code == 401


async def test_model_api_is_for_the_centre_only(client: AsyncClient, login, current_model: DispatchModel) -> None:
    agent, centre = await login("agent"), await login("supervisor")
    assert (await client.get("/api/v1/dispatch/models", headers=agent.headers)).status_code == 403
    r = await client.get("/api/v1/dispatch/models", headers=centre.headers)
    assert r.status_code == 200
    assert r.json()["current"]["version"] == current_model.version
    r = await client.post("/api/v1/dispatch/rollback", headers=centre.headers)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "dispatch.no_previous"


async def test_agent_preview_page_alerts_an_emergency_before_the_kind_is_chosen(
    page_for: PageFor, current_model: DispatchModel
) -> None:
    browser = await page_for("agent")
    page = await browser.get("/agent")
    form = {
        "csrf": csrf_of(page.text),
        "kind": "",
        "content": "我爸突然倒在地上叫不醒了，快派救护车",
        "caller.phone": "",
    }
    r = await browser.post("/agent/preview", data=form)
    assert r.status_code == 200
    assert 'id="emergency-alert"' in r.text
    assert "120" in r.text
    assert "诉求类型暂按“投诉”" in r.text
    calm = await browser.post("/agent/preview", data=form | {"content": "小区物业费涨价了，物业直接按新标准收"})
    assert "emergency-alert" not in calm.text
    assert 'class="suggestion' in calm.text and 'data-key="1"' in calm.text
    assert "城乡建设" in calm.text


async def test_centre_pages_for_catalogue_model_and_manual_dispatch(
    client: AsyncClient, login, page_for: PageFor, session: AsyncSession, current_model: DispatchModel
) -> None:
    agent = await login("agent")
    body = await intake(client, agent, "你好我想反映个情况")
    number = body["number"]
    browser = await page_for("supervisor")
    catalogue = await browser.get("/centre/catalogue", params={"q": "燃气"})
    assert catalogue.status_code == 200 and "紧急转接 119" in catalogue.text
    model = await browser.get("/centre/model")
    assert model.status_code == 200 and current_model.version in model.text and number in model.text
    assert "一级分类器占 20%，二级事项概率按一级汇总占 80%" in model.text  # the default blend, no real requests
    queue = await browser.get("/centre/dispatch")
    assert queue.status_code == 200 and number in queue.text
    empty = await browser.post(f"/centre/dispatch/{number}", data={"csrf": csrf_of(queue.text), "category": ""})
    assert empty.status_code == 422 and "请选择派单目录事项" in empty.text
    forged = await browser.post(f"/centre/dispatch/{number}", data={"csrf": "0" * 40, "category": "tax.service"})
    assert forged.status_code == 403
    # the form sends the chosen suggestion and the untouched catalogue list: the suggestion is used
    suggested = await browser.post(
        f"/centre/dispatch/{number}",
        data={"csrf": csrf_of(queue.text), "category": "tax.service", "other": "", "unit": "", "note": ""},
    )
    assert suggested.status_code == 303
    ticket = (await session.execute(select(Ticket).where(Ticket.number == number))).scalar_one()
    assert (ticket.lead_unit_code, ticket.category) == ("city.tax", "tax.service")
    second = await intake(client, agent, "你好我还想反映个情况")
    queue = await browser.get("/centre/dispatch")
    done = await browser.post(
        f"/centre/dispatch/{second['number']}",
        data={"csrf": csrf_of(queue.text), "category": "housing.property", "other": "tax.service", "unit": ""},
    )
    assert done.status_code == 303
    after = await browser.get(done.headers["location"])
    assert "已人工派单" in after.text and f'id="t-{number}"' not in after.text
    other = (await session.execute(select(Ticket).where(Ticket.number == second["number"]))).scalar_one()
    assert (other.lead_unit_code, other.category) == ("city.tax", "tax.service")
    page = await browser.get(f"/tickets/{second['number']}")
    assert "市税务局" in page.text and "经济管理 / " in page.text  # the new lead unit, the leaf by its path
    assert "tax.service" not in page.text and "classifier.unsure" not in page.text
    unit_browser = await page_for("unit_handler", unit="city.tax")
    assert (await unit_browser.get("/centre/dispatch")).status_code == 403
    assert (await unit_browser.get("/centre/catalogue")).status_code == 403


def test_import_reads_csv_and_lists_unknown_labels_with_rows(tmp_path: Path, rulebook: Rulebook) -> None:
    assert rulebook.catalogue is not None
    path = tmp_path / "history.csv"
    path.write_text(
        "标题,内容,类别\n"
        "物业,小区物业不修电梯,城乡建设\n"
        "工资,老板欠薪三个月,labour.wage_arrears\n"
        "乱七八糟,说不清的事,不存在的类别\n"
        ",,城乡建设\n"
        "路灯,路灯坏了,城乡建设/城市建设和市政管理\n"
        "其他,说不好归哪里,其他\n"
        "物业,物业不管事,物业管理\n",
        encoding="utf-8",
    )
    read = read_labelled(path, ["标题", "内容"], "类别", rulebook.catalogue)
    assert [r.row for r in read.known] == [2, 3, 6, 8]
    assert [r.node for r in read.known[:3]] == ["urban_rural", "labour.wage_arrears", "urban_rural.municipal"]
    assert read.known[0].text == "物业\n小区物业不修电梯"
    assert read.unknown == {"不存在的类别": [4]}
    assert read.empty_text == [5]
    # a name of two branches is listed, not guessed; a second level and its own leaf mean one branch
    assert read.ambiguous["其他"][0] == [7]
    assert read.known[-1].node == "urban_rural.property"
    assert any("其他" in p and "完整路径" in p for p in read.problems())
    assert any("第 4 行" in p and "不存在的类别" in p for p in read.problems())
    with pytest.raises(ImportFileError) as bad_column:
        read_labelled(path, ["正文"], "类别", rulebook.catalogue)
    assert bad_column.value.code == "import.unknown_column"
    assert "正文" in bad_column.value.message and "标题" in bad_column.value.message
    with pytest.raises(ImportFileError) as missing:
        read_labelled(tmp_path / "none.csv", ["a"], "b", rulebook.catalogue)
    assert missing.value.code == "import.file_missing"


def test_import_drops_nul_bytes_and_names_the_row_of_an_oversized_cell(tmp_path: Path, rulebook: Rulebook) -> None:
    assert rulebook.catalogue is not None
    path = tmp_path / "nul.csv"
    path.write_text("内容,类别\n小区垃圾\x00三天没人清运,城乡建设\n\x00,城乡建设\n", encoding="utf-8")
    read = read_labelled(path, ["内容"], "类别", rulebook.catalogue)
    assert [(r.row, r.text) for r in read.known] == [(2, "小区垃圾三天没人清运")]
    assert read.empty_text == [3]
    assert any("第 3 行" in p and "已跳过" in p for p in read.problems())
    huge = tmp_path / "huge.csv"
    huge.write_text("内容,类别\n路灯坏了,城乡建设\n" + "很" * 200_000 + ",城乡建设\n", encoding="utf-8")
    with pytest.raises(ImportFileError) as oversized:
        read_labelled(huge, ["内容"], "类别", rulebook.catalogue)
    assert oversized.value.code == "import.bad_row"
    assert "第 3 行" in oversized.value.message and "超过" in oversized.value.message


def test_import_tells_a_folder_and_keeps_a_utf8_file_with_a_broken_byte_utf8(
    tmp_path: Path, rulebook: Rulebook
) -> None:
    assert rulebook.catalogue is not None
    with pytest.raises(ImportFileError) as folder:
        read_labelled(tmp_path, ["内容"], "类别", rulebook.catalogue)
    assert folder.value.code == "import.not_a_file" and "文件夹" in folder.value.message
    # one stray byte in a UTF-8 file: its row is skipped and named, the rest (header included) reads
    broken = tmp_path / "broken.csv"
    lines = ["内容,类别", "小区路灯坏了一个月,城乡建设", "老板拖欠工资半年,劳动和社会保障", "学校乱收费,教育文体"]
    raw = "\n".join(lines).encode("utf-8").replace("拖欠".encode(), b"\xff\xfe")
    broken.write_bytes(raw)
    read = read_labelled(broken, ["内容"], "类别", rulebook.catalogue)
    assert [(r.row, r.text) for r in read.known] == [(2, "小区路灯坏了一个月"), (4, "学校乱收费")]
    assert read.bad_bytes == [3]
    assert any("第 3 行" in p and "无法识别的字节" in p and "已跳过" in p for p in read.problems())
    assert read.total == 3
    # a GB18030 file (as Excel on a Chinese Windows saves CSV) is still read as GB18030
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes("\n".join(lines).encode("gb18030"))
    read = read_labelled(gbk, ["内容"], "类别", rulebook.catalogue)
    assert [r.text for r in read.known] == ["小区路灯坏了一个月", "老板拖欠工资半年", "学校乱收费"]
    assert read.bad_bytes == []


async def test_reimporting_a_text_with_another_label_replaces_its_label(
    session: AsyncSession, runtime: Runtime, tmp_path: Path
) -> None:
    first = tmp_path / "first.csv"
    first.write_text("内容,类别\n小区门口的路灯坏了,教育文体\n老板拖欠工资半年,劳动和社会保障\n", encoding="utf-8")
    outcome = await service.import_labels(session, runtime, first, ["内容"], "类别", "tester")
    assert (outcome.imported, outcome.duplicates, outcome.relabelled) == (2, 0, 0)
    # the corrected file: one label changed, one row unchanged, a new row given twice (the last wins)
    second = tmp_path / "second.csv"
    second.write_text(
        "内容,类别\n小区门口的路灯坏了,城乡建设\n老板拖欠工资半年,劳动和社会保障\n"
        "学校乱收补课费,城乡建设\n学校乱收补课费,教育文体\n",
        encoding="utf-8",
    )
    outcome = await service.import_labels(session, runtime, second, ["内容"], "类别", "tester")
    assert (outcome.imported, outcome.duplicates, outcome.relabelled) == (1, 2, 1)
    stored = (
        await session.execute(select(DispatchLabel.text, DispatchLabel.label).where(DispatchLabel.source == "import"))
    ).all()
    assert sorted(stored) == [
        ("学校乱收补课费", "education_culture"),
        ("小区门口的路灯坏了", "urban_rural"),
        ("老板拖欠工资半年", "labour_social"),
    ]


def test_evaluation_table_lines_up_chinese_names(rulebook: Rulebook) -> None:
    from wcwidth import wcswidth

    from hotline.dispatch.evaluation import format_report

    assert rulebook.catalogue is not None
    per_class = {
        "urban_rural": {"n": 120, "accuracy": 0.9},
        "labour_social": {"n": 7, "accuracy": 0.5},
        "party_government": {"n": 31, "accuracy": 1.0},
    }
    confusion = {"urban_rural": {"labour_social": 3, "discipline": 12}, "labour_social": {"urban_rural": 1}}
    report = {
        "model_version": "m1",
        "n": 158,
        "accuracy": 0.8,
        "top3_accuracy": 0.9,
        "macro_f1": 0.7,
        "threshold": 0.5,
        "coverage": 0.8,
        "accuracy_confident": 0.9,
        "manual": 3,
        "not_accepted": 0,
        "emergency_transfer": 0,
        "per_class": per_class,
        "confusion": confusion,
    }
    lines = format_report(report, rulebook.catalogue)
    start = lines.index(next(line for line in lines if line.startswith("分类")))
    table = lines[start : start + 1 + len(per_class)]
    assert "劳动和社会保障" in "".join(table)
    assert len({wcswidth(line) for line in table}) == 1  # every row as wide as the header
    matrix_at = lines.index("混淆矩阵（行：标注，列：判定）")
    matrix = lines[matrix_at + 1 : matrix_at + 2 + len(per_class)]
    assert len({wcswidth(line) for line in matrix}) == 1
    assert "纪检监察" in matrix[0]  # a group only predicted gets a column too


def test_import_reads_xlsx(tmp_path: Path, rulebook: Rulebook) -> None:
    from openpyxl import Workbook

    assert rulebook.catalogue is not None
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["内容", "类别"])
    sheet.append(["学校乱收补课费", "教育文体"])
    sheet.append(["电费突然翻倍", 12345])
    path = tmp_path / "h.xlsx"
    book.save(path)
    read = read_labelled(path, ["内容"], "类别", rulebook.catalogue)
    assert [(r.row, r.node) for r in read.known] == [(2, "education_culture")]
    assert read.unknown == {"12345": [3]}


def test_cli_import_train_evaluate_rollback(tmp_path: Path) -> None:
    """The pinned CLI contract, against a database of its own (the commands commit)."""
    import asyncio
    import uuid

    from tests.conftest import _admin, _server_url, _with_database
    from tests.hotline.test_migrations_and_cli import run_cli

    server = _server_url()
    name = f"hotline_cli_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    url = _with_database(server, name)
    try:
        migrated = run_cli(url, "migrate")
        assert migrated.returncode == 0, migrated.stderr
        assert "已用派单目录示例训练并启用派单模型" in migrated.stdout
        data = tmp_path / "labelled.csv"
        places = ["东湖", "西苑", "南山", "北辰", "中兴"]
        rows = ["内容,类别"] + [f"{p}小区物业不修电梯还乱收费,城乡建设" for p in places]
        rows += [f"{p}工地老板拖欠农民工工资不给,劳动和社会保障" for p in places] + ["说不清,不存在"]
        data.write_text("\n".join(rows), encoding="utf-8")
        cols = ("--text-columns", "内容", "--label-column", "类别")
        imported = run_cli(url, "dispatch", "import", str(data), *cols)
        assert imported.returncode == 0, imported.stderr
        assert "导入 10 条" in imported.stdout
        assert "不存在" in imported.stderr and "第 12 行" in imported.stderr
        data.write_text(
            "\n".join(rows).replace(
                "东湖工地老板拖欠农民工工资不给,劳动和社会保障", "东湖工地老板拖欠农民工工资不给,城乡建设"
            ),
            encoding="utf-8",
        )
        again = run_cli(url, "dispatch", "import", str(data), *cols)
        assert again.returncode == 0, again.stderr
        assert "导入 0 条" in again.stdout and "9 条此前已导入" in again.stdout
        assert "1 条此前已导入、本次标签不同，已改为本次的标签" in again.stdout
        data.write_text("\n".join(rows), encoding="utf-8")
        assert run_cli(url, "dispatch", "import", str(data), *cols).returncode == 0
        trained = run_cli(url, "dispatch", "train", "--promote", "--force")
        assert trained.returncode == 0, trained.stderr
        assert "导入的历史工单 10" in trained.stdout and "已启用为当前模型" in trained.stdout
        assert "一级准确率" in trained.stdout
        evaluated = run_cli(url, "dispatch", "evaluate", str(data), *cols, "--json")
        assert evaluated.returncode == 0, evaluated.stderr
        lines = evaluated.stdout.strip().splitlines()
        report = json.loads(lines[-1])
        assert {"n", "accuracy", "top3_accuracy", "macro_f1", "not_accepted", "emergency_transfer", "manual"} <= set(
            report
        )
        assert report["n"] == 10
        assert report["accuracy"] == 1.0
        assert any("混淆矩阵" in line for line in lines)
        rolled = run_cli(url, "dispatch", "rollback")
        assert rolled.returncode == 0 and "已回退" in rolled.stdout
        again = run_cli(url, "dispatch", "rollback")
        assert again.returncode == 1 and "没有可回退的上一版本模型" in again.stderr
        bad = run_cli(url, "dispatch", "import", str(data), "--text-columns", "正文", "--label-column", "类别")
        assert bad.returncode == 1 and "列“正文”不在文件" in bad.stderr
    finally:
        asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def test_a_leaf_with_its_own_limit_starts_that_clock(client: AsyncClient, login) -> None:
    agent = await login("agent")
    body = await intake(
        client,
        agent,
        "人行道上的井盖丢了，晚上很危险",
        category="urban_rural.municipal.manhole",
        area={"district": "薛城区", "town": "常庄街道"},
    )
    assert body["routing"]["time_limit_working_days"] == 1
    assert body["deadline"]["working_days"] == 1
    # Monday 2026-09-28 10:00 + 1 working day = Tuesday 09-29, 24:00
    assert body["deadline"]["due_date"] == "2026-09-29"

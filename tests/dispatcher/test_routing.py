"""Routing table: each disposition, each merger mode, territorial vs sector, citizen vs enterprise."""

from __future__ import annotations

import pytest

from dispatcher.routing import AreaInput, FactsError, RequestFacts, route
from routing_rules.loader import Rulebook, load_rulebook
from routing_rules.schema import CallerType, Disposition, Kind, MergerMode


@pytest.fixture(scope="module")
def rb() -> Rulebook:
    return load_rulebook()


def facts(content: str = "反映一个问题", kind: Kind = Kind.COMPLAINT, **kw: object) -> RequestFacts:
    return RequestFacts(content=content, kind=kind, **kw)  # type: ignore[arg-type]


def test_every_merger_list_line_routes_as_the_list_says(rb: Rulebook) -> None:
    for entry in rb.merger_list:
        if entry.number is None:
            continue
        d = route(facts("反映相关问题", line=entry.number), rb)
        assert d.merger is not None and d.merger.number == entry.number
        assert d.rulebook_version == rb.version
        if entry.mode is MergerMode.SUBCENTRE:
            assert d.disposition is Disposition.SUBCENTRE
            assert d.units[0].code == entry.route_unit
            assert rb.units[entry.route_unit or ""].parent == entry.unit
        elif entry.mode is MergerMode.COLLABORATION:
            assert d.disposition is Disposition.NOT_ACCEPTED
            assert d.reason_code == "discipline_inspection"
            assert d.units == ()
        else:
            assert d.disposition is Disposition.DISPATCH, entry.number
            assert d.units[0].code == entry.unit
            assert d.units[0].role == "lead"
            assert d.merger.mode_label in d.explanation
            assert entry.number in d.explanation


@pytest.mark.parametrize(
    ("content", "transfer_to"),
    [
        ("我家楼下饭店着火了，火很大", "119"),
        ("路口撞车了有人受伤", "122"),
        ("老人突然晕倒了没有意识", "120"),
        ("小区门口有人持刀伤人", "110"),
    ],
)
def test_emergencies_are_transferred(rb: Rulebook, content: str, transfer_to: str) -> None:
    d = route(facts(content, Kind.HELP), rb)
    assert d.disposition is Disposition.EMERGENCY_TRANSFER
    assert d.transfer_to == transfer_to
    assert d.units == ()
    assert d.script and transfer_to in d.script


def test_fire_hazard_report_on_96119_is_not_an_emergency(rb: Rulebook) -> None:
    d = route(facts("商场消防通道被堵，存在火灾隐患", Kind.REPORT, line="96119"), rb)
    assert d.disposition is Disposition.DISPATCH
    assert d.units[0].code == "city.fire_rescue"


def test_traffic_accident_claim_dispute_is_not_an_emergency(rb: Rulebook) -> None:
    d = route(facts("上个月出车祸，理赔一直没有处理结果", Kind.COMPLAINT), rb)
    assert d.disposition is not Disposition.EMERGENCY_TRANSFER


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("我要起诉开发商，法院判决什么时候执行", "litigation"),
        ("对劳动争议仲裁裁决不服", "arbitration"),
        ("举报村干部贪污", "discipline_inspection"),
        ("我想申请行政复议", "administrative_review"),
        ("我要提交信息公开申请", "information_disclosure"),
        ("这个事信访局已受理，想再反映", "petition"),
        ("帮我查询他人手机号", "secrets_privacy"),
    ],
)
def test_out_of_scope_matters_are_not_accepted_with_reason(rb: Rulebook, content: str, reason: str) -> None:
    d = route(facts(content), rb)
    assert d.disposition is Disposition.NOT_ACCEPTED
    assert d.reason_code == reason
    assert d.rule_id == f"not_accepted.{reason}"
    assert d.script == rb.not_accepted[reason].script


def test_legal_aid_question_is_not_litigation(rb: Rulebook) -> None:
    d = route(facts("想打官司没钱，怎么申请法律援助", Kind.CONSULTATION, line="12348"), rb)
    assert d.disposition is Disposition.DISPATCH
    assert d.units[0].code == "city.justice"


def test_agent_can_refuse_by_reason_without_keywords(rb: Rulebook) -> None:
    d = route(facts("要求政府给我家发十万元补贴", not_accepted_reason="unlawful_demand"), rb)
    assert d.disposition is Disposition.NOT_ACCEPTED
    assert d.reason_code == "unlawful_demand"


def test_consultation_answered_from_knowledge_base_is_a_direct_answer(rb: Rulebook) -> None:
    d = route(facts("社保卡在哪里办理", Kind.CONSULTATION, has_answer=True), rb)
    assert d.disposition is Disposition.DIRECT_ANSWER
    assert d.units == ()


def test_consultation_without_answer_is_dispatched_to_the_sector(rb: Rulebook) -> None:
    d = route(facts("社保卡在哪里办理", Kind.CONSULTATION), rb)
    assert d.disposition is Disposition.DISPATCH
    assert d.units[0].code == "city.human_resources"
    assert d.category == "social_security.pension"
    assert d.category_source == "keywords"


def test_territorial_matter_with_a_town_goes_to_its_subcentre(rb: Rulebook) -> None:
    d = route(facts("小区旁工地夜间施工噪音扰民", area=AreaInput(district="山亭区", town="西集镇")), rb)
    assert d.rule_id == "territorial.with_place"
    assert d.units[0].code == "town.shanting.xiji"
    assert d.units[0].level == "town"
    assert "山亭区西集镇" in d.explanation


def test_territorial_matter_with_a_town_without_subcentre_goes_to_the_district(rb: Rulebook) -> None:
    d = route(facts("路灯不亮", area=AreaInput(district="滕州市", town="荆河街道")), rb)
    assert d.units[0].code == "district.tengzhou"
    assert d.area.town is None and d.area.town_name == "荆河街道"


def test_town_alone_resolves_its_district(rb: Rulebook) -> None:
    d = route(facts("垃圾没人清运", area=AreaInput(town="常庄街道")), rb)
    assert d.area.district == "district.xuecheng"
    assert d.units[0].code == "town.xuecheng.changzhuang"


def test_place_is_found_in_the_address_when_not_given(rb: Rulebook) -> None:
    d = route(facts("楼下烧烤店排放油烟异味", address="薛城区临城街道某小区3号楼"), rb)
    assert d.area.source == "text"
    assert d.units[0].code == "town.xuecheng.lincheng"


def test_territorial_matter_without_place_goes_to_the_competent_department(rb: Rulebook) -> None:
    d = route(facts("广场舞噪音扰民"), rb)
    assert d.rule_id == "territorial.no_place"
    assert d.units[0].code == "city.urban_management"
    assert "属地管理事项，未提供事发地点" in d.explanation


def test_sector_matter_goes_to_city_department_even_with_a_place(rb: Rulebook) -> None:
    d = route(facts("公积金提取到账太慢", area=AreaInput(district="市中区")), rb)
    assert d.units[0].code == "city.housing_fund"
    # a sector matter's reason says nothing about places
    assert d.rule_id == "category.competent_department" and "属地" not in d.explanation


def test_agent_category_overrides_keywords(rb: Rulebook) -> None:
    d = route(facts("公积金的事情", category="education.school"), rb)
    assert d.category == "education.school"
    assert d.category_source == "agent"
    assert d.units[0].code == "city.education"


def test_enterprise_without_category_goes_to_business_service(rb: Rulebook) -> None:
    d = route(facts("我们公司有事需要协调", caller_type=CallerType.ENTERPRISE), rb)
    assert d.units[0].code == "city.administrative_approval"
    citizen = route(facts("我们公司有事需要协调", caller_type=CallerType.CITIZEN), rb)
    assert citizen.rule_id == "fallback.manual_dispatch"


def test_unmatched_request_falls_back_to_manual_dispatch(rb: Rulebook) -> None:
    d = route(facts("说不清楚的一件事"), rb)
    assert d.rule_id == "fallback.manual_dispatch"
    assert d.units[0].code == "centre.dispatch"


@pytest.mark.parametrize(
    ("area", "field", "code"),
    [
        (AreaInput(district="北京市"), "area.district", "area.unknown_district"),
        (AreaInput(district="山亭区", town="常庄街道"), "area.town", "area.town_not_in_district"),
        (AreaInput(town="不存在镇"), "area.town", "area.unknown_town"),
    ],
)
def test_unknown_places_are_input_errors(rb: Rulebook, area: AreaInput, field: str, code: str) -> None:
    with pytest.raises(FactsError) as err:
        route(facts(area=area), rb)
    assert (err.value.field, err.value.code) == (field, code)


def test_unknown_category_is_an_input_error(rb: Rulebook) -> None:
    with pytest.raises(FactsError) as err:
        route(facts(category="no.such"), rb)
    assert err.value.field == "category"


def test_decision_serialises_with_rule_and_version(rb: Rulebook) -> None:
    out = route(facts("公积金", line="12329"), rb).as_dict()
    assert out["rule_id"] == "merger.responsible_unit"
    assert out["merger"]["mode"] == "dual"
    assert out["units"] == [
        {"code": "city.housing_fund", "name": "市住房公积金管理中心", "role": "lead", "level": "city"}
    ]

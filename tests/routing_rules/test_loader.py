"""The shipped rulebook loads and is complete; malformed rulebooks are refused by file and entry."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from routing_rules.loader import DEFAULT_DIR, RulebookError, load_rulebook
from routing_rules.schema import MergerMode, UnitLevel


@pytest.fixture
def rulebook_copy(tmp_path: Path) -> Path:
    target = tmp_path / "rb"
    shutil.copytree(DEFAULT_DIR, target)
    return target


def edit(directory: Path, name: str, old: str, new: str) -> None:
    path = directory / name
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_shipped_rulebook_loads_with_a_content_bound_version() -> None:
    rb = load_rulebook()
    assert rb.version.startswith(rb.meta.version + "+")
    assert len(rb.version.split("+")[1]) == 12


def test_merger_list_has_the_thirty_lines_in_their_three_modes() -> None:
    rb = load_rulebook()
    by_mode: dict[MergerMode, list[str]] = {}
    for entry in rb.merger_list:
        by_mode.setdefault(entry.mode, []).append(entry.number or entry.name)
    assert len(by_mode[MergerMode.WHOLE]) == 19
    assert len(by_mode[MergerMode.DUAL]) == 9
    assert by_mode[MergerMode.SUBCENTRE] == ["12366", "12313"]
    assert by_mode[MergerMode.COLLABORATION] == ["12388"]
    assert by_mode[MergerMode.NO_CITY_SEAT][:6] == ["12396", "12300", "12393", "12360", "12305", "12367"]
    assert len(by_mode[MergerMode.NO_CITY_SEAT]) == 8
    assert {e.number for e in rb.merger_list if e.party_mass} == {"12310", "12338", "12355", "12388"}


@pytest.mark.parametrize(
    ("number", "responsible"),
    [
        ("12301", "市文化和旅游局"),
        ("12317", "市扶贫开发办（市乡村振兴局）"),
        ("96345", "市发展改革委"),
        ("12356", "市卫生健康委"),
        ("96119", "市消防救援支队"),
        ("12318", "市文化和旅游局"),
        ("12333", "市人力资源社会保障局"),
        ("12329", "市住房公积金管理中心"),
        ("12310", "市委编办"),
        ("12355", "团市委"),
        ("12366", "市税务局"),
        ("12313", "市烟草专卖局"),
    ],
)
def test_merger_entries_name_the_responsible_unit_of_the_list(number: str, responsible: str) -> None:
    rb = load_rulebook()
    assert rb.units[rb.lines[number].unit].name == responsible


def test_unit_hierarchy_has_seven_districts_and_the_named_town_subcentres() -> None:
    rb = load_rulebook()
    districts = {u.area_names[0] for u in rb.units.values() if u.level is UnitLevel.DISTRICT}
    assert districts == {"市中区", "薛城区", "峄城区", "台儿庄区", "山亭区", "滕州市", "枣庄高新区"}
    shanting = {u.area_names[0] for u in rb.children("district.shanting")}
    assert {
        "山城街道",
        "西集镇",
        "桑村镇",
        "城头镇",
        "冯卯镇",
        "店子镇",
        "水泉镇",
        "徐庄镇",
        "北庄镇",
        "凫城镇",
    } == shanting
    xuecheng = {u.area_names[0] for u in rb.children("district.xuecheng")}
    assert {"临城街道", "常庄街道", "新城街道", "巨山街道"} <= xuecheng
    assert all(u.name.endswith("群众诉求办理分中心") for u in rb.children("district.shanting"))


def test_time_limits_are_data() -> None:
    limits = load_rulebook().policy.time_limits
    assert (limits.citizen_working_days, limits.enterprise_working_days) == (5, 10)
    assert limits.extension_max_working_days == 10


def test_a_changed_rulebook_gets_a_different_version(rulebook_copy: Path) -> None:
    edit(rulebook_copy, "intake.toml", "citizen_working_days = 5", "citizen_working_days = 4")
    assert load_rulebook(rulebook_copy).version != load_rulebook().version


@pytest.mark.parametrize(
    ("file", "old", "new", "entry", "problem"),
    [
        (
            "units.toml",
            'code = "city.commerce"',
            'code = "city.culture_tourism"',
            "city.culture_tourism",
            "重复",
        ),
        ("merger_list.toml", 'unit = "city.commerce"', 'unit = "city.nowhere"', "12312", "city.nowhere"),
        ("units.toml", 'parent = "city.tax"', 'parent = "city.ghost"', "city.tax.subcentre", "city.ghost"),
        (
            "rules.toml",
            'unit = "city.gov_office"',
            'unit = "city.ghost"',
            "suggestion.city_government",
            "city.ghost",
        ),
        ("merger_list.toml", 'number = "12385"', 'number = "12301"', "12301", "重复"),
        ("merger_list.toml", 'mode = "whole"', 'mode = "absorbed"', "12301", "mode"),
        (
            "intake.toml",
            "citizen_working_days = 5",
            "citizen_working_days = 0",
            "policy",
            "citizen_working_days",
        ),
        (
            "keywords.toml",
            'category = "social_security.pension"',
            'category = "social_security.nothing"',
            "social_security.nothing",
            "不是派单目录中可派单的三级事项",
        ),
        (
            "rules.toml",
            'when = { merger_modes = ["whole", "dual", "no_city_seat"] }',
            'when = { merger_modes = ["whole", "dual", "no_city_seat"], colour = "red" }',
            "merger.responsible_unit",
            "colour",
        ),
    ],
)
def test_malformed_rulebook_is_refused_naming_file_and_entry(
    rulebook_copy: Path, file: str, old: str, new: str, entry: str, problem: str
) -> None:
    edit(rulebook_copy, file, old, new)
    with pytest.raises(RulebookError) as err:
        load_rulebook(rulebook_copy)
    assert err.value.file == file
    assert err.value.entry == entry
    assert problem in err.value.problem
    assert file in str(err.value)


def test_a_rule_shadowed_by_an_earlier_one_is_refused_as_unreachable(rulebook_copy: Path) -> None:
    edit(
        rulebook_copy,
        "rules.toml",
        "when = { has_area = true }",
        "when = { has_category = true, has_area = true }",
    )
    with pytest.raises(RulebookError) as err:
        load_rulebook(rulebook_copy)
    assert err.value.entry == "territorial.place_only"
    assert "不可达" in err.value.problem


def test_a_rulebook_without_a_catch_all_last_rule_is_refused(rulebook_copy: Path) -> None:
    path = rulebook_copy / "rules.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text[: text.index('[[rule]]\nid = "fallback.manual_dispatch"')], encoding="utf-8")
    with pytest.raises(RulebookError, match="兜底"):
        load_rulebook(rulebook_copy)


def test_broken_toml_names_the_file(rulebook_copy: Path) -> None:
    (rulebook_copy / "units.toml").write_text("[[unit]\ncode = ", encoding="utf-8")
    with pytest.raises(RulebookError) as err:
        load_rulebook(rulebook_copy)
    assert err.value.file == "units.toml"
    assert "TOML" in err.value.problem

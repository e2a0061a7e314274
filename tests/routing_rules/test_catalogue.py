"""The dispatch catalogue (派单目录): the shipped one is complete, a broken one refuses to load,
naming the file and the entry."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from routing_rules.catalogue import FIRST_LEVEL_NAMES, MIN_EXAMPLES
from routing_rules.loader import DEFAULT_DIR, RulebookError, load_rulebook
from routing_rules.schema import CategoryScope

TREE = "catalogue/15_discipline.toml"


@pytest.fixture
def rulebook_copy(tmp_path: Path) -> Path:
    target = tmp_path / "rb"
    shutil.copytree(DEFAULT_DIR, target)
    return target


def leaf(code: str, *, examples: int = MIN_EXAMPLES, tag: str = "", body: str = "") -> str:
    lines = "\n".join(f'  "测试用的示例诉求{tag}{code}第{i}条",' for i in range(examples))
    direction = body or 'scope = "sector"\nunit = "city.gov_office"'
    return f'\n[[second.leaf]]\ncode = "{code}"\nname = "测试事项"\n{direction}\nexamples = [\n{lines}\n]\n'


def append(directory: Path, name: str, text: str) -> None:
    path = directory / name
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


SECOND = '\n[[second]]\ncode = "discipline.test"\nname = "测试二级"\n'


def test_shipped_catalogue_has_three_levels_of_the_required_size() -> None:
    rb = load_rulebook()
    cat = rb.catalogue
    assert cat is not None
    names = [cat.nodes[g].name for g in cat.groups]
    assert sorted(names) == sorted(FIRST_LEVEL_NAMES)
    assert sum(1 for n in cat.nodes.values() if n.level == 2) >= 100
    assert len(cat.leaves) >= 400
    assert all(len(leaf.examples) >= MIN_EXAMPLES for leaf in cat.leaves.values())
    # every leaf states exactly one direction, and units and reasons exist
    for leaf_ in cat.leaves.values():
        assert sum(x is not None for x in (leaf_.unit, leaf_.emergency, leaf_.out_of_scope)) == 1
        if leaf_.unit:
            assert leaf_.unit in rb.units and leaf_.scope in (CategoryScope.SECTOR, CategoryScope.TERRITORIAL)
        if leaf_.out_of_scope:
            assert leaf_.out_of_scope in rb.not_accepted
    lines = {leaf_.emergency for leaf_ in cat.leaves.values() if leaf_.emergency}
    assert lines == {"110", "119", "120", "122"}
    reasons = {leaf_.out_of_scope for leaf_ in cat.leaves.values() if leaf_.out_of_scope}
    assert {
        "litigation",
        "arbitration",
        "discipline_inspection",
        "administrative_review",
        "information_disclosure",
        "petition",
    } <= reasons


def test_dispatchable_leaves_are_the_categories_and_keep_the_legacy_codes() -> None:
    rb = load_rulebook()
    assert rb.catalogue is not None
    dispatchable = {c for c, leaf_ in rb.catalogue.leaves.items() if leaf_.unit}
    assert set(rb.categories) == dispatchable
    for code in ("social_security.pension", "labour.wage_arrears", "housing.provident_fund", "urban.noise"):
        assert code in rb.categories
        assert len(rb.categories[code].path) == 3
    pension = rb.categories["social_security.pension"]
    assert (pension.group, pension.unit) == ("劳动和社会保障", "city.human_resources")


def test_nodes_resolve_by_code_name_or_path() -> None:
    cat = load_rulebook().catalogue
    assert cat is not None
    assert cat.resolve("城乡建设") is not None and cat.resolve("城乡建设").level == 1  # type: ignore[union-attr]
    assert cat.resolve("urban_rural") == cat.resolve("城乡建设")
    assert cat.resolve("housing.provident_fund") is not None
    assert cat.resolve("没有这个分类") is None


def test_the_catalogue_is_part_of_the_rulebook_version(rulebook_copy: Path) -> None:
    append(rulebook_copy, TREE, SECOND + leaf("discipline.test.one"))
    assert load_rulebook(rulebook_copy).version != load_rulebook().version


@pytest.mark.parametrize(
    ("text", "entry", "problem"),
    [
        (
            SECOND + leaf("discipline.test.a", body='scope = "sector"\nunit = "city.nowhere"'),
            "discipline.test.a",
            "city.nowhere",
        ),
        (SECOND + leaf("housing.property"), "housing.property", "编码重复"),
        (SECOND, "discipline.test", "没有三级事项"),
        (SECOND + leaf("discipline.test.b", examples=4), "discipline.test.b", "至少需要 5 条"),
        (
            SECOND + leaf("discipline.test.c", body='scope = "sector"\nunit = "city.gov_office"\nemergency = "110"'),
            "discipline.test.c",
            "只能给出一种去向",
        ),
        (SECOND + leaf("discipline.test.d", body='out_of_scope = "astrology"'), "discipline.test.d", "astrology"),
        (SECOND + leaf("discipline.test.e", body='unit = "city.gov_office"'), "discipline.test.e", "scope"),
        (
            SECOND
            + leaf("discipline.test.f", tag="同")
            + leaf("discipline.test.g", tag="同").replace("test.g第", "test.f第"),
            "discipline.test.g",
            "重复",
        ),
        (
            SECOND + leaf("discipline.test.h", body='scope = "sector"\nunit = "city.gov_office"\ncolour = "red"'),
            "discipline.test.h",
            "colour",
        ),
    ],
)
def test_a_broken_catalogue_is_refused_naming_file_and_entry(
    rulebook_copy: Path, text: str, entry: str, problem: str
) -> None:
    append(rulebook_copy, TREE, text)
    with pytest.raises(RulebookError) as err:
        load_rulebook(rulebook_copy)
    assert err.value.file == TREE
    assert err.value.entry == entry
    assert problem in err.value.problem


def test_a_missing_first_level_group_is_refused(rulebook_copy: Path) -> None:
    (rulebook_copy / TREE).unlink()
    (rulebook_copy / "catalogue" / "examples" / "15_discipline.toml").unlink()
    with pytest.raises(RulebookError) as err:
        load_rulebook(rulebook_copy)
    assert err.value.file == "catalogue"
    assert "纪检监察" in err.value.problem


def test_a_group_outside_the_taxonomy_is_refused(rulebook_copy: Path) -> None:
    path = rulebook_copy / TREE
    path.write_text(path.read_text(encoding="utf-8").replace('name = "纪检监察"', 'name = "天文地理"', 1), "utf-8")
    with pytest.raises(RulebookError) as err:
        load_rulebook(rulebook_copy)
    assert err.value.file == TREE and "天文地理" in err.value.problem


def test_extra_examples_must_name_an_existing_leaf(rulebook_copy: Path) -> None:
    extra = rulebook_copy / "catalogue" / "examples" / "zz_test.toml"
    extra.parent.mkdir(exist_ok=True)
    extra.write_text('[[leaf]]\ncode = "no.such.leaf"\nexamples = ["一条新的示例诉求文字"]\n', encoding="utf-8")
    with pytest.raises(RulebookError) as err:
        load_rulebook(rulebook_copy)
    assert (err.value.file, err.value.entry) == ("catalogue/examples/zz_test.toml", "no.such.leaf")
    extra.write_text(
        '[[leaf]]\ncode = "housing.property"\nexamples = ["一条全新的示例诉求文字，物业不修电梯"]\n', "utf-8"
    )
    rb = load_rulebook(rulebook_copy)
    assert rb.catalogue is not None
    assert "一条全新的示例诉求文字，物业不修电梯" in rb.catalogue.leaves["housing.property"].examples

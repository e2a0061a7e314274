"""Load the rulebook from its TOML files, validate every entry and cross-check the whole.

A bad rulebook never boots: :class:`RulebookError` names the file and the entry at fault.
The version recorded on every routing decision is the declared version plus a digest of the
files, so two different rulebooks never share a version string.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from routing_rules.catalogue import Catalogue, CatalogueError, load_catalogue
from routing_rules.schema import (
    Category,
    Disposition,
    IntakePolicy,
    KeywordFallback,
    MergerEntry,
    MergerMode,
    Meta,
    NotAcceptedReason,
    Rule,
    Unit,
    UnitLevel,
    UnitSource,
    When,
    WorkflowPolicy,
)

DEFAULT_DIR = Path(__file__).parent / "data"
FILES = (
    "rulebook.toml",
    "units.toml",
    "merger_list.toml",
    "keywords.toml",
    "rules.toml",
    "intake.toml",
    "workflow.toml",
)

M = TypeVar("M", bound=BaseModel)


class RulebookError(Exception):
    """The rulebook cannot be used; ``file`` and ``entry`` say where the fault is."""

    def __init__(self, file: str, entry: str, problem: str) -> None:
        self.file = file
        self.entry = entry
        self.problem = problem
        super().__init__(f"规则库无效 {file} [{entry}]: {problem}")


@dataclass(frozen=True)
class Rulebook:
    meta: Meta
    version: str
    units: Mapping[str, Unit]
    merger_list: tuple[MergerEntry, ...]
    categories: Mapping[str, Category]
    rules: tuple[Rule, ...]
    policy: IntakePolicy
    workflow: WorkflowPolicy
    lines: Mapping[str, MergerEntry] = field(default_factory=dict)
    not_accepted: Mapping[str, NotAcceptedReason] = field(default_factory=dict)
    area_index: Mapping[str, str] = field(default_factory=dict)
    """Place name or unit code -> territorial unit code (district platforms and town sub-centres)."""
    catalogue: Catalogue | None = None
    """The dispatch catalogue (派单目录); ``categories`` holds its dispatchable leaves."""
    keyword_fallback: tuple[KeywordFallback, ...] = ()
    """Ordered keyword lists for routing without a trained model."""

    def unit(self, code: str) -> Unit:
        return self.units[code]

    def children(self, code: str) -> list[Unit]:
        return [u for u in self.units.values() if u.parent == code]

    def district_of(self, code: str) -> Unit | None:
        """The district-level ancestor of a unit (itself if it is a district)."""
        unit: Unit | None = self.units.get(code)
        while unit is not None and unit.level is not UnitLevel.DISTRICT:
            unit = self.units.get(unit.parent) if unit.parent else None
        return unit


def _read(directory: Path, name: str) -> tuple[dict[str, Any], bytes]:
    path = directory / name
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RulebookError(name, "-", f"无法读取文件: {exc.strerror}") from exc
    try:
        return tomllib.loads(raw.decode("utf-8")), raw
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RulebookError(name, "-", f"TOML 格式错误: {exc}") from exc


def _validate(model: type[M], file: str, label: str, item: Any) -> M:
    try:
        return model.model_validate(item)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '-'}: {err['msg']}" for err in exc.errors())
        raise RulebookError(file, label, problems) from exc


def _entries(model: type[M], file: str, items: Iterable[Any], key: str) -> list[M]:
    return [
        _validate(model, file, str(item.get(key, f"#{i + 1}")) if isinstance(item, dict) else f"#{i + 1}", item)
        for i, item in enumerate(items)
    ]


def _one(model: type[M], file: str, entry: str, data: Any) -> M:
    if not data:
        raise RulebookError(file, entry, "缺少必需的节")
    return _validate(model, file, entry, data)


def _unique(file: str, what: str, codes: Iterable[str]) -> None:
    seen: set[str] = set()
    for code in codes:
        if code in seen:
            raise RulebookError(file, code, f"{what}重复")
        seen.add(code)


def shadows(earlier: When, later: When) -> bool:
    """True when every request matching ``later`` also matches ``earlier`` (so ``later`` is dead)."""
    for name in ("lines", "merger_modes", "kinds", "categories", "category_scopes", "caller_types"):
        a, b = getattr(earlier, name), getattr(later, name)
        if a is not None and (b is None or not b <= a):
            return False
    if earlier.keywords_any is not None and (
        later.keywords_any is None or not later.keywords_any <= earlier.keywords_any
    ):
        return False
    if earlier.keywords_none is not None and (
        later.keywords_none is None or not earlier.keywords_none <= later.keywords_none
    ):
        return False
    for name in ("has_answer", "has_area", "has_category", "unsure"):
        a, b = getattr(earlier, name), getattr(later, name)
        if a is not None and a != b:
            return False
    return True


def load_rulebook(directory: Path | str | None = None) -> Rulebook:
    """Read and validate the rulebook in ``directory`` (the shipped one by default)."""
    base = Path(directory) if directory is not None else DEFAULT_DIR
    digest = hashlib.sha256()
    docs: dict[str, dict[str, Any]] = {}
    for name in FILES:
        docs[name], raw = _read(base, name)
        digest.update(name.encode() + b"\0" + raw)

    meta = _one(Meta, "rulebook.toml", "meta", docs["rulebook.toml"].get("meta"))
    units = _entries(Unit, "units.toml", docs["units.toml"].get("unit", []), "code")
    merger = _entries(MergerEntry, "merger_list.toml", docs["merger_list.toml"].get("line", []), "number")
    fallback = _entries(KeywordFallback, "keywords.toml", docs["keywords.toml"].get("fallback", []), "category")
    rules = _entries(Rule, "rules.toml", docs["rules.toml"].get("rule", []), "id")
    policy = _one(IntakePolicy, "intake.toml", "policy", docs["intake.toml"])
    workflow = _one(WorkflowPolicy, "workflow.toml", "workflow", docs["workflow.toml"].get("workflow"))

    _unique("units.toml", "单位编码", (u.code for u in units))
    _unique("merger_list.toml", "热线号码", (m.number for m in merger if m.number))
    _unique("merger_list.toml", "热线名称", (m.name for m in merger))
    _unique("keywords.toml", "关键词兜底分类", (f.category for f in fallback))
    _unique("rules.toml", "规则编号", (r.id for r in rules))
    _unique("intake.toml", "不予受理原因编码", (r.code for r in policy.not_accepted))
    for name, options in (
        ("return_reasons", workflow.return_reasons),
        ("supervision_reasons", workflow.supervision_reasons),
        ("cannot_resolve_reasons", workflow.cannot_resolve_reasons),
    ):
        _unique("workflow.toml", f"{name} 编码", (o.code for o in options))

    unit_map = {u.code: u for u in units}
    reason_codes = {r.code for r in policy.not_accepted}
    cat_dir = base / "catalogue"
    try:
        catalogue = load_catalogue(cat_dir, unit_map.__contains__, reason_codes.__contains__)
    except CatalogueError as exc:
        where = "catalogue" if exc.file == "." else f"catalogue/{exc.file}"
        raise RulebookError(where, exc.entry, exc.problem) from exc
    digest.update(b"catalogue\0" + catalogue.digest.encode())  # its files, read once by its loader
    keywords = {f.category: f.keywords for f in fallback}
    categories = [
        Category(
            code=leaf.code,
            name=leaf.name,
            group=leaf.group,
            scope=leaf.scope,
            unit=leaf.unit,
            keywords=keywords.get(leaf.code, ()),
            assist=leaf.assist,
            path=leaf.path,
            working_days=leaf.working_days,
        )
        for leaf in catalogue.leaves.values()
        if leaf.unit is not None and leaf.scope is not None
    ]
    cat_map = {c.code: c for c in categories}
    for f in fallback:
        if f.category not in cat_map:
            raise RulebookError("keywords.toml", f.category, "不是派单目录中可派单的三级事项")

    def need_unit(file: str, entry: str, code: str | None) -> None:
        if code is not None and code not in unit_map:
            raise RulebookError(file, entry, f"引用了不存在的承办单位 {code}")

    for u in units:
        need_unit("units.toml", u.code, u.parent)
        seen_path = {u.code}
        node = u
        while node.parent is not None:
            if node.parent in seen_path:
                raise RulebookError("units.toml", u.code, "上级单位形成循环")
            seen_path.add(node.parent)
            node = unit_map[node.parent]
    area_index: dict[str, str] = {}
    for u in units:
        if u.level not in (UnitLevel.DISTRICT, UnitLevel.TOWN) and u.area_names:
            raise RulebookError("units.toml", u.code, "只有区（市）和镇（街）单位可以登记地名")
        for name in (*u.area_names, u.code):
            if name in area_index and area_index[name] != u.code:
                raise RulebookError("units.toml", u.code, f"地名“{name}”已属于 {area_index[name]}")
            area_index[name] = u.code
        if u.level is UnitLevel.TOWN and (u.parent is None or unit_map[u.parent].level is not UnitLevel.DISTRICT):
            raise RulebookError("units.toml", u.code, "镇（街）分中心的上级必须是区（市）")

    for m in merger:
        label = m.number or m.name
        need_unit("merger_list.toml", label, m.unit)
        need_unit("merger_list.toml", label, m.route_unit)
        if m.mode is MergerMode.SUBCENTRE and m.route_unit is None:
            raise RulebookError("merger_list.toml", label, "设分中心的热线必须指定分中心座席 route_unit")
        if m.number is None and m.mode is not MergerMode.NO_CITY_SEAT:
            raise RulebookError("merger_list.toml", label, "只有备注中未设专门热线的条目可以没有号码")

    reasons = {r.code: r for r in policy.not_accepted}
    lines = {m.number: m for m in merger if m.number}
    for r in rules:
        need_unit("rules.toml", r.id, r.then.unit)
        for a in r.then.assist:
            need_unit("rules.toml", r.id, a)
        for code in r.when.categories or ():
            if code not in cat_map:
                raise RulebookError("rules.toml", r.id, f"引用了不存在的分类 {code}")
        for line in r.when.lines or ():
            if line not in lines:
                raise RulebookError("rules.toml", r.id, f"号码 {line} 不在归并清单中")
        _check_then(r, reasons)

    for i, later in enumerate(rules):
        for earlier in rules[:i]:
            if shadows(earlier.when, later.when):
                raise RulebookError("rules.toml", later.id, f"规则不可达：前面的规则 {earlier.id} 已覆盖其全部条件")
    if not rules or rules[-1].when != When():
        raise RulebookError("rules.toml", rules[-1].id if rules else "-", "最后一条规则必须无条件兜底")
    for m in merger:
        if m.number and not any(_rule_routes_line(r, m) for r in rules):
            raise RulebookError("merger_list.toml", m.number, "没有任何规则按归并清单处理该号码")

    return Rulebook(
        meta=meta,
        version=f"{meta.version}+{digest.hexdigest()[:12]}",
        units=unit_map,
        merger_list=tuple(merger),
        categories=cat_map,
        rules=tuple(rules),
        policy=policy,
        workflow=workflow,
        lines=lines,
        not_accepted=reasons,
        area_index=area_index,
        catalogue=catalogue,
        keyword_fallback=tuple(fallback),
    )


def _rule_routes_line(rule: Rule, entry: MergerEntry) -> bool:
    """A rule written for merged lines (by number or by mode) that covers this entry."""
    w = rule.when
    if w.lines is None and w.merger_modes is None:
        return False
    return (w.lines is None or entry.number in w.lines) and (w.merger_modes is None or entry.mode in w.merger_modes)


def _check_then(rule: Rule, reasons: Mapping[str, NotAcceptedReason]) -> None:
    t = rule.then

    def fail(msg: str) -> RulebookError:
        return RulebookError("rules.toml", rule.id, msg)

    if t.unit_from is UnitSource.FIXED and t.unit is None:
        raise fail("unit_from = fixed 时必须给出 unit")
    if t.unit_from is not UnitSource.FIXED and t.unit is not None:
        raise fail("只有 unit_from = fixed 时才能给出 unit")
    handled = t.disposition in (Disposition.DISPATCH, Disposition.SUBCENTRE)
    if handled == (t.unit_from is UnitSource.NONE):
        raise fail("派单类处置必须有承办单位，其他处置不得有承办单位")
    if t.unit_from is UnitSource.MERGER and rule.when.lines is None and rule.when.merger_modes is None:
        raise fail("unit_from = merger 的规则必须限定 lines 或 merger_modes")
    if t.unit_from is UnitSource.CATEGORY and not rule.when.has_category and rule.when.categories is None:
        raise fail("unit_from = category 的规则必须要求有分类")
    if (t.disposition is Disposition.EMERGENCY_TRANSFER) != (t.transfer_to is not None):
        raise fail("只有紧急转接处置需要且必须给出 transfer_to")
    if t.disposition is Disposition.NOT_ACCEPTED:
        if t.reason_code not in reasons:
            raise fail(f"不予受理原因 {t.reason_code} 未在 intake.toml 中定义")
    elif t.reason_code is not None:
        raise fail("只有不予受理处置可以给出 reason_code")

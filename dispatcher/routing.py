"""派单决策：from the facts of a request to a disposition and handling unit(s), explained.

Order of judgement (枣政办字〔2021〕22号):
1. emergencies are transferred to 110/119/120/122 at once (item 4);
2. matters outside the hotline's scope are recorded but not accepted, with the reason (item 7);
3. the ordered rules of ``rules.toml``: direct answers (item 10), the merger list (归并清单),
   territorial matters to the place's platform, sector matters to the city department.

Pure: no I/O; the rulebook is an argument. Every decision carries the rule that matched and the
rulebook version, so the question "why this unit?" has an answer months later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from routing_rules.loader import Rulebook
from routing_rules.schema import (
    MERGER_MODE_LABELS,
    CallerType,
    Category,
    CategoryScope,
    Disposition,
    Kind,
    MergerEntry,
    Rule,
    Unit,
    UnitLevel,
    UnitSource,
    When,
)

DEFAULT_LINE = "12345"


class FactsError(ValueError):
    """A fact given by the agent (place, category, reason) is not in the rulebook; ``field`` names the input field."""

    def __init__(self, field: str, code: str, message: str) -> None:
        self.field = field
        self.code = code
        self.message = message
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class AreaInput:
    district: str | None = None
    town: str | None = None
    village: str | None = None


@dataclass(frozen=True, slots=True)
class ResolvedArea:
    district: str | None = None
    """District unit code."""
    town: str | None = None
    """Town sub-centre unit code, when the town has one."""
    town_name: str | None = None
    """The town as named, also when it has no sub-centre in the rulebook."""
    village: str | None = None
    source: Literal["input", "text", "none"] = "none"

    @property
    def known(self) -> bool:
        return self.district is not None


@dataclass(frozen=True, slots=True)
class RequestFacts:
    content: str
    kind: Kind
    caller_type: CallerType = CallerType.CITIZEN
    line: str = DEFAULT_LINE
    channel: str = "phone"
    category: str | None = None
    area: AreaInput = field(default_factory=AreaInput)
    address: str | None = None
    has_answer: bool = False
    not_accepted_reason: str | None = None
    """The agent's own judgement that the matter is out of scope (item 7), by reason code."""


@dataclass(frozen=True, slots=True)
class UnitRef:
    code: str
    name: str
    role: Literal["lead", "assist"]
    level: str


@dataclass(frozen=True, slots=True)
class MergerRef:
    number: str | None
    name: str
    mode: str
    mode_label: str
    responsible_unit: str
    responsible_text: str


@dataclass(frozen=True, slots=True)
class Decision:
    disposition: Disposition
    units: tuple[UnitRef, ...]
    transfer_to: str | None
    reason_code: str | None
    merger: MergerRef | None
    category: str | None
    category_source: Literal["agent", "keywords"] | None
    area: ResolvedArea
    rule_id: str
    rulebook_version: str
    explanation: str
    script: str | None
    """What the agent reads to the caller for a transfer or a refusal."""
    matched_keywords: tuple[str, ...] = ()

    @property
    def lead(self) -> UnitRef | None:
        return next((u for u in self.units if u.role == "lead"), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "disposition": self.disposition.value,
            "units": [{"code": u.code, "name": u.name, "role": u.role, "level": u.level} for u in self.units],
            "transfer_to": self.transfer_to,
            "reason_code": self.reason_code,
            "merger": None
            if self.merger is None
            else {
                "number": self.merger.number,
                "name": self.merger.name,
                "mode": self.merger.mode,
                "mode_label": self.merger.mode_label,
                "responsible_unit": self.merger.responsible_unit,
                "responsible_text": self.merger.responsible_text,
            },
            "category": self.category,
            "category_source": self.category_source,
            "area": {
                "district": self.area.district,
                "town": self.area.town,
                "town_name": self.area.town_name,
                "village": self.area.village,
                "source": self.area.source,
            },
            "rule_id": self.rule_id,
            "rulebook_version": self.rulebook_version,
            "explanation": self.explanation,
            "script": self.script,
            "matched_keywords": list(self.matched_keywords),
        }


def resolve_area(rulebook: Rulebook, area: AreaInput, *texts: str | None) -> ResolvedArea:
    """Resolve the place by code or name; without one, look for a full place name in the texts.

    An unknown district is an input error (the agent must correct it); a town the rulebook has
    no sub-centre for is kept by name and handled by its district's platform.
    """
    index = rulebook.area_index
    district: Unit | None = None
    if area.district:
        code = index.get(area.district.strip())
        unit = rulebook.units.get(code) if code else None
        if unit is None or unit.level is not UnitLevel.DISTRICT:
            raise FactsError("area.district", "area.unknown_district", f"未知的区（市）：{area.district}")
        district = unit
    town: Unit | None = None
    town_name: str | None = None
    if area.town:
        town_name = area.town.strip()
        code = index.get(town_name)
        candidate = rulebook.units.get(code) if code else None
        if candidate is not None and candidate.level is UnitLevel.TOWN:
            if district is not None and candidate.parent != district.code:
                raise FactsError("area.town", "area.town_not_in_district", f"{town_name}不属于{district.area_names[0]}")
            town = candidate
            town_name = candidate.area_names[0]
            district = rulebook.units[candidate.parent] if candidate.parent else district
        elif district is None:
            raise FactsError("area.town", "area.unknown_town", f"未知的镇（街）：{town_name}，请同时填写所属区（市）")
    village = area.village.strip() if area.village else None
    if district is not None:
        return ResolvedArea(
            district=district.code,
            town=town.code if town else None,
            town_name=town_name,
            village=village,
            source="input",
        )
    return _area_from_text(rulebook, texts)


def _area_from_text(rulebook: Rulebook, texts: tuple[str | None, ...]) -> ResolvedArea:
    for text in texts:
        if not text:
            continue
        for unit in _places(rulebook):
            if unit.area_names[0] in text:
                if unit.level is UnitLevel.TOWN:
                    return ResolvedArea(
                        district=unit.parent, town=unit.code, town_name=unit.area_names[0], source="text"
                    )
                return ResolvedArea(district=unit.code, source="text")
    return ResolvedArea()


_PLACES_CACHE: dict[int, tuple[Rulebook, tuple[Unit, ...]]] = {}


def _places(rulebook: Rulebook) -> tuple[Unit, ...]:
    """Towns first (more specific), then districts; only units with place names."""
    hit = _PLACES_CACHE.get(id(rulebook))
    if hit is not None and hit[0] is rulebook:
        return hit[1]
    units = rulebook.units.values()
    places = tuple(u for u in units if u.level is UnitLevel.TOWN and u.area_names) + tuple(
        u for u in units if u.level is UnitLevel.DISTRICT and u.area_names
    )
    _PLACES_CACHE[id(rulebook)] = (rulebook, places)
    return places


def infer_category(rulebook: Rulebook, content: str) -> tuple[Category | None, tuple[str, ...]]:
    """The first category (in file order) whose keyword appears in the content."""
    for category in rulebook.categories.values():
        hits = tuple(k for k in category.keywords if k in content)
        if hits:
            return category, hits
    return None, ()


def _hits(keywords: tuple[str, ...] | frozenset[str], text: str) -> tuple[str, ...]:
    return tuple(k for k in keywords if k in text)


def _matches(when: When, facts: RequestFacts, ctx: _Context) -> bool:
    if when.lines is not None and facts.line not in when.lines:
        return False
    if when.merger_modes is not None and (ctx.merger is None or ctx.merger.mode not in when.merger_modes):
        return False
    if when.kinds is not None and facts.kind not in when.kinds:
        return False
    if when.categories is not None and (ctx.category is None or ctx.category.code not in when.categories):
        return False
    if when.category_scopes is not None and (ctx.category is None or ctx.category.scope not in when.category_scopes):
        return False
    if when.caller_types is not None and facts.caller_type not in when.caller_types:
        return False
    if when.keywords_any is not None and not _hits(when.keywords_any, facts.content):
        return False
    if when.keywords_none is not None and _hits(when.keywords_none, facts.content):
        return False
    if when.has_answer is not None and when.has_answer != facts.has_answer:
        return False
    if when.has_area is not None and when.has_area != ctx.area.known:
        return False
    return when.has_category is None or when.has_category == (ctx.category is not None)


@dataclass(slots=True)
class _Context:
    merger: MergerEntry | None
    category: Category | None
    area: ResolvedArea


def _area_text(rulebook: Rulebook, area: ResolvedArea) -> str:
    if area.district is None:
        return "未提供"
    text = rulebook.units[area.district].area_names[0]
    if area.town_name:
        text += area.town_name
    if area.village:
        text += area.village
    return text


def route(facts: RequestFacts, rulebook: Rulebook) -> Decision:
    """Decide what happens to one request. Raises :class:`FactsError` for an unknown place."""
    area = resolve_area(rulebook, facts.area, facts.address, facts.content)
    merger = rulebook.lines.get(facts.line)
    merger_ref = _merger_ref(merger)
    version = rulebook.version

    def decision(
        disposition: Disposition,
        rule_id: str,
        explanation: str,
        *,
        units: tuple[UnitRef, ...] = (),
        transfer_to: str | None = None,
        reason_code: str | None = None,
        script: str | None = None,
        category: Category | None = None,
        category_source: Literal["agent", "keywords"] | None = None,
        keywords: tuple[str, ...] = (),
    ) -> Decision:
        return Decision(
            disposition=disposition,
            units=units,
            transfer_to=transfer_to,
            reason_code=reason_code,
            merger=merger_ref,
            category=category.code if category else None,
            category_source=category_source,
            area=area,
            rule_id=rule_id,
            rulebook_version=version,
            explanation=explanation,
            script=script,
            matched_keywords=keywords,
        )

    for marker in rulebook.policy.emergency:
        hits = _hits(marker.keywords, facts.content)
        if hits and not _hits(marker.keywords_none, facts.content):
            return decision(
                Disposition.EMERGENCY_TRANSFER,
                f"emergency.{marker.transfer_to}",
                f"诉求内容含紧急情形（{'、'.join(hits)}），属{marker.service}，立即转接{marker.transfer_to}"
                "（实施方案第4条）。",
                transfer_to=marker.transfer_to,
                script=marker.script,
                keywords=hits,
            )

    if facts.not_accepted_reason is not None:
        reason = rulebook.not_accepted.get(facts.not_accepted_reason)
        if reason is None:
            raise FactsError(
                "not_accepted_reason",
                "intake.unknown_reason",
                f"未知的不予受理原因：{facts.not_accepted_reason}",
            )
        return decision(
            Disposition.NOT_ACCEPTED,
            f"not_accepted.{reason.code}",
            f"座席判定为“{reason.title}”，登记不予受理（实施方案第7条）。",
            reason_code=reason.code,
            script=reason.script,
        )
    for reason in rulebook.policy.not_accepted:
        hits = _hits(reason.keywords, facts.content)
        if hits and not _hits(reason.keywords_none, facts.content):
            return decision(
                Disposition.NOT_ACCEPTED,
                f"not_accepted.{reason.code}",
                f"诉求内容含“{'、'.join(hits)}”，属“{reason.title}”，登记不予受理（实施方案第7条）。",
                reason_code=reason.code,
                script=reason.script,
                keywords=hits,
            )

    category: Category | None
    source: Literal["agent", "keywords"] | None
    cat_hits: tuple[str, ...]
    if facts.category is not None:
        category = rulebook.categories.get(facts.category)
        if category is None:
            raise FactsError("category", "category.unknown", f"未知的诉求分类：{facts.category}")
        source, cat_hits = "agent", ()
    else:
        category, cat_hits = infer_category(rulebook, facts.content)
        source = "keywords" if category else None

    ctx = _Context(merger=merger, category=category, area=area)
    rule = next(r for r in rulebook.rules if _matches(r.when, facts, ctx))
    units = _units(rulebook, rule, ctx)
    reason_code = rule.then.reason_code
    reason = rulebook.not_accepted.get(reason_code) if reason_code else None
    lead = units[0].name if units else ""
    values = {
        "unit": lead,
        "line": facts.line,
        "line_name": merger.name if merger else "",
        "mode": MERGER_MODE_LABELS[merger.mode] if merger else "",
        "category": category.name if category else "",
        "area": _area_text(rulebook, area),
        "reason": reason.script if reason else "",
        "transfer_to": rule.then.transfer_to or "",
        "responsible": merger.responsible_text if merger else "",
    }
    return decision(
        rule.then.disposition,
        rule.id,
        rule.then.explanation.format_map(values),
        units=units,
        transfer_to=rule.then.transfer_to,
        reason_code=reason_code,
        script=reason.script if reason else None,
        category=category,
        category_source=source,
        keywords=cat_hits,
    )


def _merger_ref(entry: MergerEntry | None) -> MergerRef | None:
    if entry is None:
        return None
    return MergerRef(
        number=entry.number,
        name=entry.name,
        mode=entry.mode.value,
        mode_label=MERGER_MODE_LABELS[entry.mode],
        responsible_unit=entry.unit,
        responsible_text=entry.responsible_text,
    )


def _ref(unit: Unit, role: Literal["lead", "assist"]) -> UnitRef:
    return UnitRef(code=unit.code, name=unit.name, role=role, level=unit.level.value)


def _units(rulebook: Rulebook, rule: Rule, ctx: _Context) -> tuple[UnitRef, ...]:
    source = rule.then.unit_from
    lead_code: str | None
    assist: tuple[str, ...] = rule.then.assist
    if source is UnitSource.NONE:
        return ()
    if source is UnitSource.FIXED:
        lead_code = rule.then.unit
    elif source is UnitSource.MERGER:
        assert ctx.merger is not None  # guaranteed by the rule's merger condition
        lead_code = ctx.merger.route_unit or ctx.merger.unit
    elif source is UnitSource.CATEGORY:
        assert ctx.category is not None
        lead_code = ctx.category.unit
        assist = assist + ctx.category.assist
    else:  # AREA
        if ctx.area.town is not None:
            lead_code = ctx.area.town
        elif ctx.area.district is not None:
            lead_code = ctx.area.district
        else:
            assert ctx.category is not None
            lead_code = ctx.category.unit
        if ctx.category is not None and ctx.category.scope is CategoryScope.TERRITORIAL:
            assist = assist + ctx.category.assist
    assert lead_code is not None
    refs = [_ref(rulebook.units[lead_code], "lead")]
    refs += [_ref(rulebook.units[a], "assist") for a in dict.fromkeys(assist) if a != lead_code]
    return tuple(refs)

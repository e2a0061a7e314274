"""派单决策：from the facts of a request to a disposition and handling unit(s), explained.

Order of judgement (枣政办字〔2021〕22号):
1. emergencies are transferred to 110/119/120/122 at once (item 4);
2. matters outside the hotline's scope are recorded but not accepted, with the reason (item 7);
3. the ordered rules of ``rules.toml``: direct answers (item 10), the merger list (归并清单),
   territorial matters to the place's platform, sector matters to the city department.

Pure: no I/O; the rulebook is an argument. Every decision carries the rule that matched and the
rulebook version, so the question "why this unit?" has an answer months later.

A rulebook is compiled once, on its first routing, into plain tables (keyword groups behind a
character index, rule conditions, shared unit and merger references); a decision is the same as
judging the rulebook's entries one by one in the order above.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from dispatcher.classifier import Candidate, DispatchModel, Prediction
from routing_rules.catalogue import Leaf
from routing_rules.loader import Rulebook
from routing_rules.schema import (
    MERGER_MODE_LABELS,
    CallerType,
    Category,
    CategoryScope,
    Disposition,
    Kind,
    MergerMode,
    Rule,
    Unit,
    UnitLevel,
    UnitSource,
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
    conflict: tuple[str, ...] = ()
    """District codes named in the text when more than one: no place is picked, the agent is asked."""

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
class Suggestion:
    """One of the classifier's best catalogue leaves and where it would go."""

    category: str
    category_path: tuple[str, ...]
    confidence: float
    """0..1: P(group) × P(leaf | group)."""
    unit: str | None
    """The lead unit the leaf would be dispatched to, given the place; ``None`` for a transfer or refusal."""
    unit_name: str | None
    transfer_to: str | None = None
    reason_code: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "category_path": list(self.category_path),
            "unit": self.unit,
            "unit_name": self.unit_name,
            "confidence": round(self.confidence, 4),
            "transfer_to": self.transfer_to,
            "reason_code": self.reason_code,
        }


@dataclass(frozen=True, slots=True)
class RoutingWarning:
    """Something the agent should check before submitting (a possible emergency, refusal, two places)."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Decision:
    disposition: Disposition
    units: tuple[UnitRef, ...]
    transfer_to: str | None
    reason_code: str | None
    merger: MergerRef | None
    category: str | None
    category_source: Literal["agent", "keywords", "model"] | None
    area: ResolvedArea
    rule_id: str
    rulebook_version: str
    explanation: str
    script: str | None
    """What the agent reads to the caller for a transfer or a refusal."""
    matched_keywords: tuple[str, ...] = ()
    category_path: tuple[str, ...] = ()
    """一级, 二级, 三级 names of the category's catalogue leaf (empty without a category)."""
    suggestions: tuple[Suggestion, ...] = ()
    """The classifier's best leaves (at most 3), best first; empty without a model."""
    model_version: str | None = None
    terms: tuple[str, ...] = ()
    """The words of the content that weighed most for the classifier's choice."""
    warnings: tuple[RoutingWarning, ...] = ()
    time_limit_working_days: int | None = None
    """The catalogue leaf's own limit in working days; ``None``: item 11's 5/10 apply."""

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
            "category_path": list(self.category_path),
            "suggestions": [s.as_dict() for s in self.suggestions],
            "model_version": self.model_version,
            "terms": list(self.terms),
            "warnings": [{"code": w.code, "message": w.message} for w in self.warnings],
            "time_limit_working_days": self.time_limit_working_days,
        }


def resolve_area(rulebook: Rulebook, area: AreaInput, *texts: str | None) -> ResolvedArea:
    """Resolve the place by code or name; without one, look for a full place name in the texts.

    An unknown district is an input error (the agent must correct it); a town the rulebook has
    no sub-centre for is kept by name and handled by its district's platform.
    """
    return _resolve_area(rulebook, _compiled(rulebook), area, texts)


def _resolve_area(rulebook: Rulebook, c: _Compiled, area: AreaInput, texts: tuple[str | None, ...]) -> ResolvedArea:
    if not area.district and not area.town:
        # Neither place given (the common case): only the texts can name it.
        return _area_from_text(c, texts)
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
    if district is not None and town is None and town_name is None:
        # the agent named the district only: a town of that district named in the text is kept
        found = _area_from_text(c, texts)
        if found.town is not None and found.district == district.code:
            town, town_name = rulebook.units[found.town], found.town_name
    if district is not None:
        return ResolvedArea(
            district=district.code,
            town=town.code if town else None,
            town_name=town_name,
            village=village,
            source="input",
        )
    return _area_from_text(c, texts)


_NO_AREA = ResolvedArea()


def _area_from_text(c: _Compiled, texts: tuple[str | None, ...]) -> ResolvedArea:
    """The place named in the first text that names one, read in text order.

    Towns win over their own district (more specific). Two different districts named in one
    text are not guessed between: the area stays unknown and ``conflict`` lists them, so the
    agent is asked (issue 9).
    """
    for text in texts:
        if not text:
            continue
        found = c.place_index.candidates(text)
        hits: list[tuple[int, int, ResolvedArea]] = []
        while found:
            low = found & -found
            name, resolved = c.places[low.bit_length() - 1]
            pos = text.find(name)
            if pos >= 0:
                hits.append((pos, -len(name), resolved))
            found ^= low
        if not hits:
            continue
        hits.sort(key=lambda h: (h[0], h[1]))
        districts = tuple(dict.fromkeys(h[2].district for h in hits if h[2].district))
        if len(districts) > 1:
            return ResolvedArea(conflict=districts)
        return next((h[2] for h in hits if h[2].town is not None), hits[0][2])
    return _NO_AREA


def infer_category(rulebook: Rulebook, content: str) -> tuple[Category | None, tuple[str, ...]]:
    """The first category (in file order) whose keyword appears in the content."""
    c = _compiled(rulebook)
    cat, hits = _infer(c, c.keyword_index.candidates(content) >> c.category_shift, content)
    return (cat.category, hits) if cat is not None else (None, ())


def _infer(c: _Compiled, mask: int, content: str) -> tuple[_Cat | None, tuple[str, ...]]:
    # Only categories flagged by the character index can hit; they are tried in file order.
    while mask:
        low = mask & -mask
        cat = c.categories[low.bit_length() - 1]
        hits = _hits(cat.keywords, content)
        if hits:
            return cat, hits
        mask ^= low
    return None, ()


K = TypeVar("K", "_Marker", "_Reason")


def _first_hit(mask: int, items: Sequence[K], content: str) -> tuple[K, tuple[str, ...]] | None:
    """The first item (in rulebook order) flagged in ``mask`` whose keywords occur in the content
    and none of whose exclusions do, with the keywords that hit (the rule-based fallback)."""
    while mask:
        low = mask & -mask
        item = items[low.bit_length() - 1]
        hits = _hits(item.keywords, content)
        if hits and not _any_in(item.keywords_none, content):
            return item, hits
        mask ^= low
    return None


def _hits(keywords: tuple[str, ...], text: str) -> tuple[str, ...]:
    return tuple([k for k in keywords if k in text])  # a list display is quicker than a generator here


def _any_in(keywords: tuple[str, ...], text: str) -> bool:
    return any(k in text for k in keywords)


def _area_text(rulebook: Rulebook, area: ResolvedArea) -> str:
    if area.district is None:
        return "未提供"
    text = rulebook.units[area.district].area_names[0]
    if area.town_name:
        text += area.town_name
    if area.village:
        text += area.village
    return text


def route(
    facts: RequestFacts, rulebook: Rulebook, model: DispatchModel | None = None, prediction: Prediction | None = None
) -> Decision:
    """Decide what happens to one request. Raises :class:`FactsError` for an unknown place or category.

    With a ``model`` (the current dispatch classifier) the content is classified into the
    dispatch catalogue's leaves: an emergency leaf above ``emergency_threshold`` is transferred
    (实施方案第4条), an out-of-scope leaf above ``refuse_threshold`` is recorded and not accepted
    (第7条), a dispatchable leaf above ``confidence_threshold`` is the category, and below it the
    ticket goes to the centre's manual dispatch with the suggestions (rule ``classifier.unsure``).
    Possible emergencies or refusals among the top 3 become warnings for the agent. Without a
    model, the rulebook's keyword lists decide (the fallback of ``keywords.toml``/``intake.toml``).
    ``prediction``, when given, is the model's prediction of this content made in a batch.
    """
    c = _compiled(rulebook)
    content = facts.content
    policy = rulebook.policy.dispatch
    area = _resolve_area(rulebook, c, facts.area, (facts.address, content))
    line = c.lines.get(facts.line)
    merger_ref = line.ref if line is not None else None
    if model is not None and prediction is None:
        prediction = model.predict(content)
    elif model is None:
        prediction = None
    suggestions = _suggestions(c, rulebook, prediction, area) if prediction is not None else ()
    warnings: list[RoutingWarning] = []
    if area.conflict:
        names = "、".join(rulebook.units[d].area_names[0] for d in area.conflict)
        warnings.append(
            RoutingWarning("area.multiple_districts", f"诉求中出现多个区（市）：{names}，请向来电人核实事发地")
        )
    extra: dict[str, Any] = {
        "suggestions": suggestions,
        "model_version": model.version if model is not None else None,
        "terms": prediction.terms if prediction is not None else (),
    }
    chosen_leaf = c.leaves.get(facts.category) if facts.category is not None else None
    best = prediction.best if prediction is not None else None

    # 1. emergencies (item 4): the agent's choice, the classifier's best leaf, or (no model) keywords
    if chosen_leaf is not None and chosen_leaf.emergency is not None:
        return _transfer(c, chosen_leaf, None, area, merger_ref, "agent", warnings, extra)
    # The content decides an emergency even when the agent has already chosen a category (item 4:
    # transferred at once); the agent's category never silences it.
    urgent = _urgent(c, prediction, policy.emergency_threshold)
    if urgent is not None:
        return _transfer(c, urgent[1], urgent[0], area, merger_ref, "model", warnings, extra)
    if model is None:
        mask = c.keyword_index.candidates(content)
        found_marker = _first_hit(mask & c.emergency_mask, c.emergency, content)
        if found_marker is not None:
            marker, hits = found_marker
            return _closed(
                c,
                Disposition.EMERGENCY_TRANSFER,
                area,
                merger_ref,
                marker.rule_id,
                f"诉求内容含紧急情形（{'、'.join(hits)}），属{marker.service}，立即转接{marker.transfer_to}"
                "（实施方案第4条）。",
                marker.script,
                warnings,
                transfer_to=marker.transfer_to,
                hits=hits,
            )
    else:
        mask = 0

    # 2. out of scope (item 7): the agent's reason or leaf, the classifier's best leaf, or keywords
    if facts.not_accepted_reason is not None:
        reason = c.reasons.get(facts.not_accepted_reason)
        if reason is None:
            raise FactsError(
                "not_accepted_reason",
                "intake.unknown_reason",
                f"未知的不予受理原因：{facts.not_accepted_reason}",
            )
        return _closed(
            c,
            Disposition.NOT_ACCEPTED,
            area,
            merger_ref,
            reason.rule_id,
            f"座席判定为“{reason.title}”，登记不予受理（实施方案第7条）。",
            reason.script,
            warnings,
            reason_code=reason.code,
            extra=extra,
        )
    if chosen_leaf is not None and chosen_leaf.out_of_scope is not None:
        return _refuse(c, chosen_leaf, None, area, merger_ref, "agent", warnings, extra)
    # Refusals are weighed by the group classifier alone (Prediction.by_group): the threshold keeps
    # the meaning it was tested with, and a wrong refusal turns a citizen away.
    flag_rank = (prediction.by_group or prediction.ranked) if prediction is not None else ()
    flag_leaf = c.leaves.get(flag_rank[0].leaf) if flag_rank else None
    refuse_code, reason_conf, reason_leaf = (
        _strongest(c, flag_rank, "out_of_scope") if facts.category is None else (None, 0.0, None)
    )
    if (
        reason_leaf is not None
        and flag_leaf is not None
        and flag_leaf.out_of_scope == refuse_code
        and reason_conf >= policy.refuse_threshold
    ):
        # Refused only when the best leaf itself asks for what only that channel gives.
        return _refuse(c, reason_leaf, reason_conf, area, merger_ref, "model", warnings, extra)
    if prediction is not None and facts.category is None:
        warnings.extend(_candidate_warnings(c, prediction, policy.warn_threshold))
    if model is None:
        found_reason = _first_hit((mask >> c.refusal_shift) & c.refusal_mask, c.refusals, content)
        if found_reason is not None:
            reason, hits = found_reason
            return _closed(
                c,
                Disposition.NOT_ACCEPTED,
                area,
                merger_ref,
                reason.rule_id,
                f"诉求内容含“{'、'.join(hits)}”，属“{reason.title}”，登记不予受理（实施方案第7条）。",
                reason.script,
                warnings,
                reason_code=reason.code,
                hits=hits,
            )

    # 3. the category: the agent's, else the classifier's confident leaf, else (no model) keywords
    cat: _Cat | None
    source: Literal["agent", "keywords", "model"] | None
    cat_hits: tuple[str, ...] = ()
    unsure = False
    unit_confidence = 0.0
    if facts.category is not None:
        cat = c.category_by_code.get(facts.category)
        if cat is None:
            raise FactsError("category", "category.unknown", f"未知的诉求分类：{facts.category}")
        source = "agent"
    elif prediction is not None:
        cat = None
        # Only the best leaf may decide: when it is an emergency or a refusal that did not reach
        # its threshold, the centre decides (with the warning), never its runner-up silently.
        for cand in prediction.candidates[:1]:
            found = c.category_by_code.get(cand.leaf)
            if found is not None:
                # Confidence that the *unit* is right: the leaves that would go to the same unit add up.
                target = _target(found, area)
                confidence = sum(
                    other.confidence
                    for other in prediction.ranked
                    if (o := c.category_by_code.get(other.leaf)) is not None and _target(o, area) == target
                )
                if confidence >= policy.confidence_threshold:
                    cat, unit_confidence = found, confidence
                break
        source = "model" if cat is not None else None
        unsure = cat is None
    else:
        cat, cat_hits = _infer(c, mask >> c.category_shift, content)
        source = "keywords" if cat else None

    conflict = cat is not None and cat.territorial and bool(area.conflict)
    if conflict:
        # a place-bound matter naming two districts: the centre decides where, not the first one found
        cat, source, unsure, cat_hits = None, None, True, ()
    rule = _first_rule(c, facts, line, cat, area.district is not None, unsure)
    units = _units(c, rule, line, cat, area)
    values = {
        "unit": units[0].name if units else "",
        "line": facts.line,
        "line_name": line.name if line else "",
        "mode": line.ref.mode_label if line else "",
        "category": cat.name if cat else "",
        "area": _area_text(rulebook, area),
        "reason": rule.reason_script or "",
        "transfer_to": rule.transfer_to or "",
        "responsible": line.ref.responsible_text if line else "",
    }
    explanation = rule.explanation.format_map(values)
    if conflict and rule.rule_id == "classifier.unsure":
        explanation = (
            f"诉求属属地管理事项，但内容中出现多个区（市），无法确定事发地，转{values['unit']}核实事发地后人工派单。"
        )
    if source == "model" and cat is not None and best is not None:
        conf = next((s.confidence for s in suggestions if s.category == cat.code), best.confidence)
        explanation += (
            f"（分类器判定为“{'/'.join(cat.path)}”，置信度{conf:.0%}；派往该单位的把握{unit_confidence:.0%}）"
        )
    return Decision(
        disposition=rule.disposition,
        units=units,
        transfer_to=rule.transfer_to,
        reason_code=rule.reason_code,
        merger=merger_ref,
        category=cat.code if cat else None,
        category_source=source,
        area=area,
        rule_id=rule.rule_id,
        rulebook_version=c.version,
        explanation=explanation,
        script=rule.reason_script,
        matched_keywords=cat_hits,
        category_path=cat.path if cat else (),
        warnings=tuple(warnings),
        # the leaf's own limit only when the leaf chose the unit (not a merged line's unit, say)
        time_limit_working_days=cat.working_days
        if cat and units and rule.unit_from in (UnitSource.CATEGORY, UnitSource.AREA)
        else None,
        **extra,
    )


def _closed(
    c: _Compiled,
    disposition: Disposition,
    area: ResolvedArea,
    merger_ref: MergerRef | None,
    rule_id: str,
    explanation: str,
    script: str | None,
    warnings: list[RoutingWarning],
    *,
    transfer_to: str | None = None,
    reason_code: str | None = None,
    leaf: Leaf | None = None,
    source: Literal["agent", "model"] | None = None,
    hits: tuple[str, ...] = (),
    extra: dict[str, Any] | None = None,
) -> Decision:
    """A decision that closes the call at intake with no handling unit: a transfer or a refusal."""
    return Decision(
        disposition=disposition,
        units=(),
        transfer_to=transfer_to,
        reason_code=reason_code,
        merger=merger_ref,
        category=leaf.code if leaf is not None else None,
        category_source=source,
        area=area,
        rule_id=rule_id,
        rulebook_version=c.version,
        explanation=explanation,
        script=script,
        matched_keywords=hits,
        category_path=leaf.path if leaf is not None else (),
        warnings=tuple(warnings),
        **(extra or {}),
    )


def _how(source: Literal["agent", "model"], confidence: float | None) -> str:
    """Who decided; for the model, the confidence summed over the leaves of that line or reason."""
    return "座席选择" if source == "agent" else f"分类器判定（同类事项合计置信度{(confidence or 0):.0%}）"


def _transfer(
    c: _Compiled,
    leaf: Leaf,
    confidence: float | None,
    area: ResolvedArea,
    merger_ref: MergerRef | None,
    source: Literal["agent", "model"],
    warnings: list[RoutingWarning],
    extra: dict[str, Any],
) -> Decision:
    """An emergency leaf: transferred at once to its line (实施方案第4条)."""
    line = leaf.emergency or ""
    marker = c.marker_by_line.get(line)
    service = leaf.name if leaf.script else (marker.service if marker else line)
    return _closed(
        c,
        Disposition.EMERGENCY_TRANSFER,
        area,
        merger_ref,
        f"emergency.{line}",
        f"{_how(source, confidence)}为“{'/'.join(leaf.path)}”，属{service}，立即转接{line}（实施方案第4条）。",
        leaf.script or (marker.script if marker else f"情况紧急，请不要挂机，现为您转接{line}。"),
        warnings,
        transfer_to=line,
        leaf=leaf,
        source=source,
        extra=extra,
    )


def _refuse(
    c: _Compiled,
    leaf: Leaf,
    confidence: float | None,
    area: ResolvedArea,
    merger_ref: MergerRef | None,
    source: Literal["agent", "model"],
    warnings: list[RoutingWarning],
    extra: dict[str, Any],
) -> Decision:
    """An out-of-scope leaf: recorded, not accepted, with the reason's script (实施方案第7条)."""
    reason = c.reasons[leaf.out_of_scope or ""]
    return _closed(
        c,
        Disposition.NOT_ACCEPTED,
        area,
        merger_ref,
        reason.rule_id,
        f"{_how(source, confidence)}为“{'/'.join(leaf.path)}”，属“{reason.title}”，登记不予受理（实施方案第7条）。",
        reason.script,
        warnings,
        reason_code=reason.code,
        leaf=leaf,
        source=source,
        extra=extra,
    )


def suggestions_for(rulebook: Rulebook, prediction: Prediction, area: ResolvedArea) -> tuple[Suggestion, ...]:
    """The suggestions of a prediction at a place, as intake makes them (the centre's queue)."""
    return _suggestions(_compiled(rulebook), rulebook, prediction, area)


def target_unit(rulebook: Rulebook, category: str, area: ResolvedArea) -> str:
    """The lead unit a dispatchable leaf goes to at this place (territorial: the place's town
    sub-centre or district platform, else the leaf's unit). Raises ``KeyError`` for an unknown leaf."""
    return _target(_compiled(rulebook).category_by_code[category], area)


def _urgent(c: _Compiled, prediction: Prediction | None, threshold: float) -> tuple[float, Leaf] | None:
    """The emergency a prediction points to, as (confidence, its most probable leaf), or ``None``.

    In a view of the prediction, the emergency leaves together reach ``threshold`` and either that
    view's best leaf is one of them or they hold at least half of the probability (a past
    entrapment told in a complaint about a lift stays a complaint). Both views count, the blend
    (``Prediction.ranked``) and the group classifier alone (``by_group``): a missed emergency costs
    most, so the more alarming view decides (实施方案第4条: transferred at once).
    """
    if prediction is None:
        return None
    found: tuple[float, Leaf] | None = None
    for ranking in (prediction.ranked, prediction.by_group):
        if not ranking:
            continue
        line, confidence, leaf = _strongest(c, ranking, "emergency")
        first = c.leaves.get(ranking[0].leaf)
        first_urgent = first is not None and first.emergency is not None
        if line is None or leaf is None or confidence < threshold or not (first_urgent or confidence >= 0.5):
            continue
        if found is None or confidence > found[0]:
            found = (confidence, leaf)
    return found


def _strongest(
    c: _Compiled, ranking: Sequence[Candidate], kind: Literal["emergency", "out_of_scope"]
) -> tuple[str | None, float, Leaf | None]:
    """The emergency line (or out-of-scope reason) a ranking of leaves points to.

    Emergencies: whether it is one at all is the probability of *all* emergency leaves together
    (the model may hesitate between 110 and 120 and still be sure it is urgent); the line is the
    one with the largest share. Refusals: the probability of the leaves of one reason. Returns the
    line or reason, that confidence and its most probable leaf.
    """
    totals: dict[str, float] = {}
    leaves: dict[str, Leaf] = {}
    for cand in ranking:
        leaf = c.leaves.get(cand.leaf)
        key = getattr(leaf, kind) if leaf is not None else None
        if key is None or leaf is None:
            continue
        totals[key] = totals.get(key, 0.0) + cand.confidence
        leaves.setdefault(key, leaf)
    if not totals:
        return None, 0.0, None
    key = max(totals, key=lambda k: totals[k])
    confidence = sum(totals.values()) if kind == "emergency" else totals[key]
    return key, confidence, leaves[key]


def _target(cat: _Cat, area: ResolvedArea) -> str:
    """The lead unit a category goes to at this place (territorial: the place's platform)."""
    if cat.territorial and area.district is not None:
        return area.town or area.district
    return cat.unit


def _candidate_warnings(c: _Compiled, prediction: Prediction, threshold: float) -> list[RoutingWarning]:
    """Emergency or out-of-scope leaves among the top 3 that did not decide: the agent checks."""
    out: list[RoutingWarning] = []
    for cand in prediction.candidates:
        leaf = c.leaves.get(cand.leaf)
        if leaf is None or cand.confidence < threshold:
            continue
        if leaf.emergency is not None:
            out.append(
                RoutingWarning(
                    f"possible_emergency.{leaf.emergency}",
                    f"可能为紧急事项“{leaf.name}”（{cand.confidence:.0%}）：请向来电人核实是否正在发生，"
                    f"如属实立即转接{leaf.emergency}。",
                )
            )
        elif leaf.out_of_scope is not None:
            reason = c.reasons.get(leaf.out_of_scope)
            title = reason.title if reason else leaf.out_of_scope
            out.append(
                RoutingWarning(
                    f"possible_out_of_scope.{leaf.out_of_scope}",
                    f"可能属“{title}”（{cand.confidence:.0%}）：请核实诉求是否只能通过该途径解决，"
                    "如是请选择不予受理原因。",
                )
            )
    return out


def _suggestions(
    c: _Compiled, rulebook: Rulebook, prediction: Prediction, area: ResolvedArea
) -> tuple[Suggestion, ...]:
    out: list[Suggestion] = []
    for cand in prediction.candidates:
        leaf = c.leaves.get(cand.leaf)
        if leaf is None:
            continue
        cat = c.category_by_code.get(leaf.code)
        unit = _target(cat, area) if cat is not None else None
        out.append(
            Suggestion(
                category=leaf.code,
                category_path=leaf.path,
                confidence=cand.confidence,
                unit=unit,
                unit_name=rulebook.units[unit].name if unit else None,
                transfer_to=leaf.emergency,
                reason_code=leaf.out_of_scope,
            )
        )
    return tuple(out)


def _first_rule(
    c: _Compiled, facts: RequestFacts, line: _Line | None, cat: _Cat | None, has_area: bool, unsure: bool = False
) -> _Rule:
    """The first rule whose every given condition holds (the rulebook's last rule holds always)."""
    for r in c.rules:
        if r.lines is not None and facts.line not in r.lines:
            continue
        if r.merger_modes is not None and (line is None or line.mode not in r.merger_modes):
            continue
        if r.kinds is not None and facts.kind not in r.kinds:
            continue
        if r.categories is not None and (cat is None or cat.code not in r.categories):
            continue
        if r.category_scopes is not None and (cat is None or cat.scope not in r.category_scopes):
            continue
        if r.caller_types is not None and facts.caller_type not in r.caller_types:
            continue
        if r.keywords_any is not None and not _any_in(r.keywords_any, facts.content):
            continue
        if r.keywords_none is not None and _any_in(r.keywords_none, facts.content):
            continue
        if r.has_answer is not None and r.has_answer != facts.has_answer:
            continue
        if r.has_area is not None and r.has_area != has_area:
            continue
        if r.unsure is not None and r.unsure != unsure:
            continue
        if r.has_category is None or r.has_category == (cat is not None):
            return r
    raise StopIteration  # unreachable for a loaded rulebook: its last rule has no condition


def _units(c: _Compiled, rule: _Rule, line: _Line | None, cat: _Cat | None, area: ResolvedArea) -> tuple[UnitRef, ...]:
    source = rule.unit_from
    if source is UnitSource.NONE:
        return ()
    if source is UnitSource.FIXED:
        assert rule.fixed_units is not None  # the loader requires then.unit for a fixed source
        return rule.fixed_units
    lead_code: str | None
    assist = rule.assist
    if source is UnitSource.MERGER:
        assert line is not None  # guaranteed by the rule's merger condition
        lead_code = line.lead
    elif source is UnitSource.CATEGORY:
        assert cat is not None
        lead_code = cat.unit
        assist = assist + cat.assist
    else:  # AREA
        if area.town is not None:
            lead_code = area.town
        elif area.district is not None:
            lead_code = area.district
        else:
            assert cat is not None
            lead_code = cat.unit
        if cat is not None and cat.territorial:
            assist = assist + cat.assist
    assert lead_code is not None
    return c.unit_refs(lead_code, assist)


# --- the rulebook compiled once for routing -------------------------------------------------


class _KeywordIndex:
    """Character -> bitmask of the keyword groups (bit = position) one of whose keywords has it.

    A keyword can occur in a text only if each of its characters does, so indexing one character
    per keyword gives, in one pass over the text, a superset of the groups that can hit; the
    groups flagged are then checked exactly. The character chosen is the one fewest keywords
    share, so that common characters flag few groups.
    """

    __slots__ = ("always", "chars", "masks")

    def __init__(self, groups: Sequence[Iterable[str]]) -> None:
        keywords = [tuple(group) for group in groups]
        spread: dict[str, int] = {}
        for group in keywords:
            for k in group:
                for ch in set(k):
                    spread[ch] = spread.get(ch, 0) + 1
        masks: dict[str, int] = {}
        always = 0
        for bit, group in enumerate(keywords):
            for k in group:
                if not k:  # the empty keyword occurs in every text
                    always |= 1 << bit
                    continue
                ch = min(k, key=lambda x: spread[x])
                masks[ch] = masks.get(ch, 0) | 1 << bit
        self.always = always
        self.masks = masks
        self.chars = frozenset(masks)

    def candidates(self, text: str) -> int:
        mask = self.always
        masks = self.masks
        for ch in self.chars.intersection(text):
            mask |= masks[ch]
        return mask


@dataclass(frozen=True, slots=True)
class _Marker:
    keywords: tuple[str, ...]
    keywords_none: tuple[str, ...]
    transfer_to: str
    service: str
    script: str
    rule_id: str


@dataclass(frozen=True, slots=True)
class _Reason:
    code: str
    title: str
    script: str
    keywords: tuple[str, ...]
    keywords_none: tuple[str, ...]
    rule_id: str


@dataclass(frozen=True, slots=True)
class _Cat:
    category: Category
    code: str
    name: str
    scope: CategoryScope
    territorial: bool
    unit: str
    assist: tuple[str, ...]
    keywords: tuple[str, ...]
    path: tuple[str, ...]
    working_days: int | None


@dataclass(frozen=True, slots=True)
class _Line:
    mode: MergerMode
    name: str
    lead: str
    """Where the line's matters go: the sub-centre seats, else the responsible unit."""
    ref: MergerRef


@dataclass(frozen=True, slots=True)
class _Rule:
    rule_id: str
    lines: frozenset[str] | None
    merger_modes: frozenset[MergerMode] | None
    kinds: frozenset[Kind] | None
    categories: frozenset[str] | None
    category_scopes: frozenset[CategoryScope] | None
    caller_types: frozenset[CallerType] | None
    keywords_any: tuple[str, ...] | None
    keywords_none: tuple[str, ...] | None
    has_answer: bool | None
    has_area: bool | None
    has_category: bool | None
    unsure: bool | None
    disposition: Disposition
    unit_from: UnitSource
    fixed_units: tuple[UnitRef, ...] | None
    assist: tuple[str, ...]
    transfer_to: str | None
    reason_code: str | None
    reason_script: str | None
    explanation: str


class _Compiled:
    """What routing needs from one rulebook, as plain tuples, dicts and shared frozen refs."""

    __slots__ = (
        "_assist_refs",
        "_lead_refs",
        "_unit_tuples",
        "categories",
        "category_by_code",
        "category_shift",
        "emergency",
        "emergency_mask",
        "keyword_index",
        "leaves",
        "lines",
        "marker_by_line",
        "place_index",
        "places",
        "reasons",
        "refusal_mask",
        "refusal_shift",
        "refusals",
        "rules",
        "version",
    )

    def __init__(self, rulebook: Rulebook) -> None:
        self.version = rulebook.version
        self._lead_refs = {code: _ref(u, "lead") for code, u in rulebook.units.items()}
        self._assist_refs = {code: _ref(u, "assist") for code, u in rulebook.units.items()}
        self._unit_tuples: dict[tuple[str, tuple[str, ...]], tuple[UnitRef, ...]] = {}

        units = rulebook.units.values()
        places = [u for u in units if u.level is UnitLevel.TOWN and u.area_names]
        places += [u for u in units if u.level is UnitLevel.DISTRICT and u.area_names]
        self.places = tuple(
            (
                name,
                ResolvedArea(district=u.parent, town=u.code, town_name=u.area_names[0], source="text")
                if u.level is UnitLevel.TOWN
                else ResolvedArea(district=u.code, source="text"),
            )
            for u in places
            for name in (u.area_names[0], *u.text_names)
        )
        self.place_index = _KeywordIndex([(name,) for name, _ in self.places])

        self.emergency = tuple(
            _Marker(m.keywords, m.keywords_none, m.transfer_to, m.service, m.script, f"emergency.{m.transfer_to}")
            for m in rulebook.policy.emergency
        )
        self.reasons = {
            code: _Reason(r.code, r.title, r.script, r.keywords, r.keywords_none, f"not_accepted.{r.code}")
            for code, r in rulebook.not_accepted.items()
        }
        # Reasons without keywords are only ever chosen by the agent.
        self.refusals = tuple(
            _Reason(r.code, r.title, r.script, r.keywords, r.keywords_none, f"not_accepted.{r.code}")
            for r in rulebook.policy.not_accepted
            if r.keywords
        )
        self.categories = tuple(
            _Cat(
                category=cat,
                code=cat.code,
                name=cat.name,
                scope=cat.scope,
                territorial=cat.scope is CategoryScope.TERRITORIAL,
                unit=cat.unit,
                assist=cat.assist,
                keywords=cat.keywords,
                path=cat.path,
                working_days=cat.working_days,
            )
            for cat in rulebook.categories.values()
        )
        self.category_by_code = {cat.code: cat for cat in self.categories}
        # The keyword fallback (no model) tries keywords.toml's entries in its order.
        self.categories = tuple(self.category_by_code[f.category] for f in rulebook.keyword_fallback)
        self.leaves: dict[str, Leaf] = dict(rulebook.catalogue.leaves) if rulebook.catalogue else {}
        self.marker_by_line = {m.transfer_to: m for m in self.emergency}
        # One index over every content keyword: emergencies, then refusals, then categories.
        self.emergency_mask = (1 << len(self.emergency)) - 1
        self.refusal_shift = len(self.emergency)
        self.refusal_mask = (1 << len(self.refusals)) - 1
        self.category_shift = self.refusal_shift + len(self.refusals)
        self.keyword_index = _KeywordIndex(
            [m.keywords for m in self.emergency]
            + [r.keywords for r in self.refusals]
            + [cat.keywords for cat in self.categories]
        )

        self.lines = {
            number: _Line(
                mode=entry.mode,
                name=entry.name,
                lead=entry.route_unit or entry.unit,
                ref=MergerRef(
                    number=entry.number,
                    name=entry.name,
                    mode=entry.mode.value,
                    mode_label=MERGER_MODE_LABELS[entry.mode],
                    responsible_unit=entry.unit,
                    responsible_text=entry.responsible_text,
                ),
            )
            for number, entry in rulebook.lines.items()
        }
        self.rules = tuple(self._rule(rulebook, r) for r in rulebook.rules)

    def _rule(self, rulebook: Rulebook, rule: Rule) -> _Rule:
        w, t = rule.when, rule.then
        reason = rulebook.not_accepted.get(t.reason_code) if t.reason_code else None
        return _Rule(
            rule_id=rule.id,
            lines=w.lines,
            merger_modes=w.merger_modes,
            kinds=w.kinds,
            categories=w.categories,
            category_scopes=w.category_scopes,
            caller_types=w.caller_types,
            keywords_any=tuple(w.keywords_any) if w.keywords_any is not None else None,
            keywords_none=tuple(w.keywords_none) if w.keywords_none is not None else None,
            has_answer=w.has_answer,
            has_area=w.has_area,
            has_category=w.has_category,
            unsure=w.unsure,
            disposition=t.disposition,
            unit_from=t.unit_from,
            fixed_units=self.unit_refs(t.unit, t.assist) if t.unit_from is UnitSource.FIXED and t.unit else None,
            assist=t.assist,
            transfer_to=t.transfer_to,
            reason_code=t.reason_code,
            reason_script=reason.script if reason else None,
            explanation=t.explanation,
        )

    def unit_refs(self, lead: str, assist: tuple[str, ...]) -> tuple[UnitRef, ...]:
        """Lead first, then each assisting unit once, never the lead again; shared per rulebook.

        The cache is bounded: leads are units and assists come from rules and categories.
        """
        key = (lead, assist)
        refs = self._unit_tuples.get(key)
        if refs is None:
            refs = (self._lead_refs[lead], *(self._assist_refs[a] for a in dict.fromkeys(assist) if a != lead))
            self._unit_tuples[key] = refs
        return refs


def _ref(unit: Unit, role: Literal["lead", "assist"]) -> UnitRef:
    return UnitRef(code=unit.code, name=unit.name, role=role, level=unit.level.value)


_COMPILED: dict[int, tuple[Rulebook, _Compiled]] = {}
_COMPILED_MAX = 8


def _compiled(rulebook: Rulebook) -> _Compiled:
    """Compile a rulebook on first use and reuse it while the same object is routed against.

    Keyed by identity (a rulebook's mappings make it unhashable) and checked by identity, so a
    new rulebook at a recycled address is never served another's tables; the oldest entries
    are dropped so that reloading rulebooks does not keep them all alive.
    """
    hit = _COMPILED.get(id(rulebook))
    if hit is not None and hit[0] is rulebook:
        return hit[1]
    compiled = _Compiled(rulebook)
    while len(_COMPILED) >= _COMPILED_MAX:
        del _COMPILED[next(iter(_COMPILED))]
    _COMPILED[id(rulebook)] = (rulebook, compiled)
    return compiled

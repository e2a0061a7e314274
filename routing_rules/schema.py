"""Strict schema of the rulebook: every file is loaded into ``extra="forbid"`` models.

The rulebook is the city's rules as data (枣政办字〔2021〕22号 and its 归并清单): the handling
units, the merger list, the categories, the ordered routing rules and the intake policy. Nothing
here does I/O; :mod:`routing_rules.loader` reads the files and cross-checks them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Code = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)*$", min_length=2, max_length=64)]
Text = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]
LineNumber = Annotated[str, StringConstraints(pattern=r"^[0-9]{3,8}$")]
Rate = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UnitLevel(StrEnum):
    CENTRE = "centre"  # 12345 热线中心 itself
    CITY = "city"  # 市级部门单位
    DISTRICT = "district"  # 区（市）
    TOWN = "town"  # 镇（街）
    VILLAGE = "village"  # 村（居）


class UnitKind(StrEnum):
    CENTRE = "centre"
    DEPARTMENT = "department"  # 市直部门
    PARTY_MASS = "party_mass"  # 党群部门、群团组织
    STATIONED = "stationed"  # 省属及以上驻枣单位
    UTILITY = "utility"  # 水电气热等公共事业单位
    GOVERNMENT = "government"  # 区（市）政府、管委会
    SUBCENTRE = "subcentre"  # 群众诉求办理分中心 / 设分中心的热线座席
    COMMUNITY = "community"  # 村（居）


class Unit(Strict):
    code: Code
    name: Text
    level: UnitLevel
    kind: UnitKind
    parent: Code | None = None
    area_names: tuple[Text, ...] = ()
    """Place names this unit is the territorial platform for (district or town names)."""
    text_names: tuple[Text, ...] = ()
    """Short names recognised in free text besides the first area name (薛城 → 薛城区); names
    that are also everyday words (市中 in 市中心) are left out on purpose."""
    note: str = ""


class MergerMode(StrEnum):
    WHOLE = "whole"  # 整体并入：直接取消号码
    DUAL = "dual"  # 双号并行：保留号码、呼叫转移、座席并入
    SUBCENTRE = "subcentre"  # 设分中心：保留号码、专门座席、数据归集
    COLLABORATION = "collaboration"  # 协同合作（市纪委12388）：不归并，按职责告知
    NO_CITY_SEAT = "no_city_seat"  # 备注：市级未设立接听座席 / 未设立专门热线


MERGER_MODE_LABELS: dict[MergerMode, str] = {
    MergerMode.WHOLE: "整体并入",
    MergerMode.DUAL: "双号并行",
    MergerMode.SUBCENTRE: "设分中心",
    MergerMode.COLLABORATION: "协同合作",
    MergerMode.NO_CITY_SEAT: "市级未设座席",
}


class MergerEntry(Strict):
    number: LineNumber | None = None
    """The old hotline number; ``None`` for the remark's lines that never had a dedicated number."""
    name: Text
    mode: MergerMode
    seq: int = Field(ge=1)
    """序号 within its section of the list."""
    unit: Code
    """责任单位 as a handling-unit code."""
    responsible_text: Text
    """责任单位 exactly as the list writes it."""
    measure: Text
    """归并措施 as the list writes it."""
    party_mass: bool = False
    """Named in item 2 as a 党群热线 (12310, 12338, 12355) or the 12388 collaboration."""
    route_unit: Code | None = None
    """Where the 12345 platform dispatches the line's matters, when not the responsible unit itself
    (设分中心 lines dispatch to their sub-centre seats)."""


class CategoryScope(StrEnum):
    SECTOR = "sector"  # 行业主管：市直部门
    TERRITORIAL = "territorial"  # 属地管理：区（市）/ 镇（街）


class Category(Strict):
    code: Code
    name: Text
    group: Text
    """First-level class, aligned with the national 12345 classification (e.g. 城乡建设, 劳动和社会保障)."""
    scope: CategoryScope
    unit: Code
    """City department for a sector matter, or the fallback city department for a territorial matter
    reported without a place."""
    keywords: tuple[Text, ...] = ()
    assist: tuple[Code, ...] = ()
    path: tuple[Text, ...] = ()
    """一级 / 二级 / 三级 names of the dispatch catalogue leaf this category is."""
    working_days: int | None = Field(default=None, ge=1, le=60)
    """A time limit other than item 11's 5/10 working days, from the catalogue leaf."""


class KeywordFallback(Strict):
    """One entry of ``keywords.toml``: routing without a trained model tries these in order."""

    category: Code
    keywords: tuple[Text, ...]


class Disposition(StrEnum):
    DISPATCH = "dispatch"
    DIRECT_ANSWER = "direct_answer"
    SUBCENTRE = "subcentre"
    EMERGENCY_TRANSFER = "emergency_transfer"
    NOT_ACCEPTED = "not_accepted"


class UnitSource(StrEnum):
    FIXED = "fixed"  # then.unit
    MERGER = "merger"  # the merger-list entry of the dialled line
    CATEGORY = "category"  # the category's unit (sector)
    AREA = "area"  # the place's platform: town sub-centre, else district; category unit if no place
    NONE = "none"  # no handling unit (transfer, not accepted, direct answer)


class CallerType(StrEnum):
    CITIZEN = "citizen"
    ENTERPRISE = "enterprise"


class Kind(StrEnum):
    CONSULTATION = "consultation"
    HELP = "help"
    COMPLAINT = "complaint"
    REPORT = "report"
    SUGGESTION = "suggestion"


class When(Strict):
    """Conditions of a rule; all given conditions must hold, an absent one holds always."""

    lines: frozenset[LineNumber] | None = None
    merger_modes: frozenset[MergerMode] | None = None
    kinds: frozenset[Kind] | None = None
    categories: frozenset[Code] | None = None
    category_scopes: frozenset[CategoryScope] | None = None
    caller_types: frozenset[CallerType] | None = None
    keywords_any: frozenset[Text] | None = None
    keywords_none: frozenset[Text] | None = None
    has_answer: bool | None = None
    has_area: bool | None = None
    has_category: bool | None = None
    unsure: bool | None = None
    """The classifier's best leaf is below the confidence threshold (no category chosen)."""


class Then(Strict):
    disposition: Disposition
    unit_from: UnitSource
    unit: Code | None = None
    assist: tuple[Code, ...] = ()
    transfer_to: Annotated[str, StringConstraints(pattern=r"^(110|119|120|122)$")] | None = None
    reason_code: Code | None = None
    explanation: Text
    """Chinese text for the agent; placeholders: {unit} {line} {line_name} {mode} {category} {area}
    {reason} {transfer_to} {responsible}."""


class Rule(Strict):
    id: Code
    title: Text
    when: When = When()
    then: Then


class NotAcceptedReason(Strict):
    code: Code
    title: Text
    script: Text
    """The sentence the agent reads to the caller."""
    keywords: tuple[Text, ...] = ()
    keywords_none: tuple[Text, ...] = ()


class EmergencyMarker(Strict):
    transfer_to: Annotated[str, StringConstraints(pattern=r"^(110|119|120|122)$")]
    service: Text
    keywords: tuple[Text, ...]
    keywords_none: tuple[Text, ...] = ()
    script: Text


class TimeLimits(Strict):
    """Item 11: citizens 5 working days, enterprises 10; an extension at most 10 working days."""

    citizen_working_days: int = Field(ge=1, le=60)
    enterprise_working_days: int = Field(ge=1, le=60)
    extension_max_working_days: int = Field(ge=0, le=60)


class DispatchPolicy(Strict):
    """Thresholds of the dispatch classifier (issue 9); probabilities in 0..1."""

    confidence_threshold: Rate = 0.35
    """The best leaf's unit (its confidence summed with the leaves going to the same unit) below
    this: the ticket goes to the centre's manual dispatch with the top-3 suggestions."""
    emergency_threshold: Rate = 0.3
    """An emergency line whose leaves add up to at least this confidence: transferred at once (item 4)."""
    refuse_threshold: Rate = 0.45
    """The best leaf is out of scope and its reason's leaves add up to at least this: not accepted (item 7)."""
    warn_threshold: Rate = 0.1
    """An emergency or out-of-scope leaf among the top 3 with at least this confidence is shown
    to the agent as a warning instead."""


class IntakePolicy(Strict):
    time_limits: TimeLimits
    dispatch: DispatchPolicy = DispatchPolicy()
    not_accepted: tuple[NotAcceptedReason, ...]
    emergency: tuple[EmergencyMarker, ...]


class Meta(Strict):
    version: Text
    title: Text
    source: Text
    effective: Text


class ReasonOption(Strict):
    code: Code
    title: Text


class WorkflowPolicy(Strict):
    """Rules the seeds leave open, decided by the centre (issue 3); every value is configurable."""

    accept_within_working_days: int = Field(ge=1, le=10)
    """签收时限: a dispatched ticket is to be accepted within this many working days."""
    return_window_working_days: int = Field(ge=1, le=10)
    """退单时限: a unit may return a ticket within this many working days of its dispatch to it."""
    max_returns_before_escalation: int = Field(ge=1, le=10)
    """A ticket returned more than this many times goes to arbitration (机构编制部门) directly."""
    min_reply_chars: int = Field(ge=1, le=500)
    boilerplate_replies: tuple[Text, ...]
    """Replies that say nothing (已处理、收到…) are refused, also with punctuation around them."""
    return_reasons: tuple[ReasonOption, ...]
    supervision_reasons: tuple[ReasonOption, ...]
    cannot_resolve_reasons: tuple[ReasonOption, ...]
    sla: SlaPolicy


class ReminderPoint(StrEnum):
    LAST_WORKING_DAY = "last_working_day"  # 00:00 of the last working day of the limit
    HALF_LIMIT = "half_limit"  # 00:00 of the working day in the middle of the limit


CALLBACK_SAMPLING_KEYS: tuple[str, ...] = (Disposition.DIRECT_ANSWER.value, Disposition.EMERGENCY_TRANSFER.value)
"""Dispositions closed at intake whose tickets may be sampled for a callback."""


class SlaPolicy(Strict):
    """Enforcement of the time limits without anyone watching (实施方案第11–13条)."""

    reminders: tuple[ReminderPoint, ...]
    supervision_after_overdue_working_days: int = Field(ge=0, le=30)
    """A 督办单 when still unreplied this many working days after the deadline."""
    notice_after_overdue_working_days: int = Field(ge=1, le=60)
    """A 通报 when still unreplied this many working days after the deadline."""
    supervision_reply_working_days: int = Field(ge=1, le=30)
    callback_within_working_days: int = Field(ge=1, le=30)
    callback_max_attempts: int = Field(ge=1, le=10)
    """Failed callback attempts, on different days, before closing as unreachable."""
    redo_max_rounds: int = Field(ge=0, le=10)
    callback_sampling: dict[str, Rate] = Field(default_factory=lambda: dict.fromkeys(CALLBACK_SAMPLING_KEYS, 0.0))
    """Share (0..1) of the tickets closed at intake that still get a 回访, by disposition:
    ``direct_answer`` (直接答复) and ``emergency_transfer`` (紧急转接) need no callback, so 0.0
    by default; a key left out samples none. Sampled by the callback machinery, never at intake."""
    notification_max_attempts: int = Field(ge=1, le=20)
    notification_backoff_seconds: tuple[int, ...] = Field(min_length=1)
    sweep_interval_seconds: int = Field(ge=5, le=3600)
    sweep_batch: int = Field(ge=1, le=100_000)

    @field_validator("callback_sampling")
    @classmethod
    def _known_sampling_keys(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(CALLBACK_SAMPLING_KEYS))
        if unknown:
            allowed = ", ".join(CALLBACK_SAMPLING_KEYS)
            raise ValueError(f"callback_sampling: unknown key(s) {', '.join(unknown)}; allowed: {allowed}")
        return value


WorkflowPolicy.model_rebuild()


# --- the dispatch catalogue (派单目录) ---------------------------------------------------------

EmergencyLine = Annotated[str, StringConstraints(pattern=r"^(110|119|120|122)$")]
Example = Annotated[str, StringConstraints(min_length=4, max_length=1000, strip_whitespace=True)]


class CatalogueLeaf(Strict):
    """三级事项: one matter a caller can raise, and what the hotline does with it.

    Exactly one of: a handling direction (``scope`` + ``unit``), an ``emergency`` line
    (实施方案第4条, transferred at once) or an ``out_of_scope`` reason of ``intake.toml``
    (第7条, recorded, not accepted).
    """

    code: Code
    name: Text
    scope: CategoryScope | None = None
    """``sector``: the city department ``unit``; ``territorial``: the place's district platform or
    town sub-centre, ``unit`` when no place is known."""
    unit: Code | None = None
    assist: tuple[Code, ...] = ()
    working_days: int | None = Field(default=None, ge=1, le=60)
    """A time limit that differs from the 5/10 working days of item 11 (working days)."""
    emergency: EmergencyLine | None = None
    out_of_scope: Code | None = None
    """A reason code of ``intake.toml`` ``[[not_accepted]]``."""
    script: Text | None = None
    """For an emergency leaf: what the agent reads, when the line's own script (``intake.toml``) does not fit."""
    examples: tuple[Example, ...] = ()
    """Requests in callers' everyday words, written by the centre (training data of the classifier)."""
    note: str = ""


class CatalogueSecond(Strict):
    """二级事项."""

    code: Code
    name: Text
    leaf: tuple[CatalogueLeaf, ...] = ()


class CatalogueGroupMeta(Strict):
    code: Code
    name: Text
    """一级分类: one of the 15 first-level names of the public message-board taxonomy."""


class CatalogueFile(Strict):
    """One file of ``routing_rules/data/catalogue/``: one first-level group (一级) and its tree."""

    group: CatalogueGroupMeta
    second: tuple[CatalogueSecond, ...] = ()


class ExtraExamples(Strict):
    code: Code
    examples: tuple[Example, ...]


class CatalogueExamples(Strict):
    """A file of ``catalogue/examples/``: more example requests for leaves defined elsewhere."""

    leaf: tuple[ExtraExamples, ...] = ()

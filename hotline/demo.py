"""演示数据：synthetic but realistic tickets, written fast by bulk COPY.

``python -m hotline demo generate --tickets N`` calls :func:`generate_tickets`. Every ticket is what
the real intake would have written: its facts go through the real router
(:func:`dispatcher.routing.route`) with the shipped rulebook, its reply deadline (5 / 10 working
days) and sign-for deadline (``[workflow] accept_within_working_days``) are computed by the
working-day calendar, and it gets its routing decision, handling units and timeline events.

A dispatched ticket is then handled up to ``now`` the way the workflow writes it
(:mod:`hotline.workflow.actions`, :mod:`hotline.workflow.callbacks`), so that every KPI of
docs/kpi.md has data:

* 签收 (a few late): ``accepted_at``, the sign-for limit ``met``;
* 答复 (most in time, some after the limit): a ``replies`` row (``due_at`` = the reply limit's,
  ``on_time`` = replied by then), ``replied_at``, the reply limit ``met``;
* 答复审核通过: a round's ``callbacks`` row, due ``callback_within_working_days`` later;
* 回访: not reached on ``callback_max_attempts`` different days → closed ``unreachable``; reached →
  an ``evaluations`` row and closed ``satisfied`` / ``basically_satisfied``, ``unreasonable``
  (unsatisfied, not reasonable) or, reasonably unsatisfied, 重办: a new round with fresh reply and
  sign-for limits (``redo_count``), up to ``redo_max_rounds``, after which a 督办单
  (``supervision_orders``, mostly answered by its reply-by date) and closed ``unsatisfied``.

A few tickets stop at each step (never signed, never replied, callback still pending), and every
step later than ``now`` is left undone: recent tickets are still open. No notifications are
written (the workers would send them) and no SLA steps (the sweep plans the running limits).

Speed: routing is pure and deterministic, so a pool of a few thousand distinct request templates is
routed once and each ticket reuses one of them (plus a neutral closing sentence that contains no
keyword or place name of the rulebook, so the decision is exactly the one ``route`` gives for the
stored content); limits are computed once per local start day. Rows go to PostgreSQL with ``COPY``
(asyncpg ``copy_records_to_table``), one transaction per batch; ids and ticket numbers are reserved
from the sequences first, the ids of the rows hanging off the tickets once a batch is generated.

Deterministic: the same ``seed`` and ``now`` give the same tickets (ids depend on the database).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import random
import sys
import time
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Any, Generic, TypeVar

import asyncpg
from chinese_calendar import constants as cn_calendar

from dispatcher.calendar import LOCAL_TZ, Deadline, WorkingCalendar, schedule_from_chinesecalendar_data
from dispatcher.classifier import DispatchModel, Prediction
from dispatcher.routing import AreaInput, Decision, FactsError, RequestFacts, route
from hotline.textsearch import vector_binary
from routing_rules.loader import Rulebook, load_rulebook
from routing_rules.schema import CallerType, Category, CategoryScope, Disposition, Kind, MergerMode, Unit, UnitLevel

__all__ = [
    "DEMO_USERNAME",
    "DemoDataError",
    "credit_code",
    "credit_code_check",
    "generate_tickets",
    "to_asyncpg_dsn",
]

DEMO_USERNAME = "demo-generator"
TEMPLATE_POOL = 4000
"""Distinct request templates routed per run (each ticket reuses one)."""

T = TypeVar("T")


class DemoDataError(RuntimeError):
    """The database is not ready for demo data (e.g. not migrated, units not loaded)."""


# --- small helpers -------------------------------------------------------------------


class _Picker(Generic[T]):
    """Weighted choice by bisection on cumulative weights (faster than ``random.choices`` for one item)."""

    __slots__ = ("_cum", "_items", "_total")

    def __init__(self, weighted: Iterable[tuple[T, float]]) -> None:
        pairs = [(item, w) for item, w in weighted if w > 0]
        if not pairs:
            raise ValueError("nothing to pick from")
        self._items: list[T] = [p[0] for p in pairs]
        self._cum: list[float] = list(accumulate(p[1] for p in pairs))
        self._total = self._cum[-1]

    def __call__(self, rng: random.Random) -> T:
        return self._items[bisect_right(self._cum, rng.random() * self._total)]


def to_asyncpg_dsn(database_url: str) -> str:
    """``postgresql+asyncpg://…`` (SQLAlchemy) -> ``postgresql://…`` (asyncpg accepts ``?host=/dir``)."""
    scheme, sep, rest = database_url.partition("://")
    if not sep:
        raise ValueError(f"not a database URL: {database_url!r}")
    base = scheme.split("+", 1)[0]
    if base not in ("postgresql", "postgres"):
        raise ValueError(f"not a PostgreSQL URL: {database_url!r}")
    return f"postgresql://{rest}"


# --- 统一社会信用代码 (GB 32100-2015) ---------------------------------------------------

_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def _org_code(body: str) -> str:
    """组织机构代码 (GB 11714): 8 digits and the check character."""
    check = 11 - sum(int(c) * w for c, w in zip(body, _ORG_WEIGHTS, strict=True)) % 11
    return body + ("X" if check == 10 else "0" if check == 11 else str(check))


def credit_code(division: str, org_body: str, *, authority: str = "9", org_type: str = "1") -> str:
    """统一社会信用代码 with valid check characters: 登记管理部门 + 机构类别 + 行政区划 + 组织机构代码 + 校验码."""
    head = authority + org_type + division + _org_code(org_body)
    return head + credit_code_check(head)


def credit_code_check(head: str) -> str:
    """校验码 of the first 17 characters of a 统一社会信用代码 (GB 32100-2015)."""
    total = sum(_USCC_CHARS.index(c) * w for c, w in zip(head, _USCC_WEIGHTS, strict=True))
    return _USCC_CHARS[(31 - total % 31) % 31]


# --- vocabulary --------------------------------------------------------------------------

_SURNAMES = (
    ("王", 9.0), ("张", 8.0), ("李", 8.0), ("刘", 6.0), ("孙", 5.0), ("陈", 3.0), ("杨", 3.0), ("赵", 3.0),
    ("徐", 2.5), ("褚", 1.0), ("胡", 1.5), ("马", 2.0), ("高", 2.0), ("于", 1.5), ("郭", 1.5), ("宋", 1.5),
    ("周", 1.5), ("吴", 1.0), ("朱", 1.5), ("黄", 1.0), ("田", 1.2), ("杜", 1.2), ("孔", 1.2), ("颜", 0.8),
    ("魏", 1.0), ("邵", 1.0), ("韩", 1.0), ("曹", 1.0), ("吕", 0.8), ("任", 0.8), ("姜", 0.8), ("董", 0.8),
    ("程", 0.6), ("袁", 0.6), ("贾", 0.6), ("丁", 0.6), ("薛", 0.6), ("孟", 0.8), ("梁", 0.6), ("史", 0.5),
    ("殷", 0.5), ("秦", 0.5), ("闫", 0.5), ("侯", 0.5), ("邱", 0.4), ("满", 0.3), ("蒋", 0.4), ("欧阳", 0.1),
)  # fmt: skip
_GIVEN = (
    "伟", "磊", "静", "敏", "强", "军", "勇", "杰", "涛", "超", "鹏", "辉", "娜", "芳", "丽", "燕",
    "建国", "建华", "建军", "国庆", "志强", "志刚", "海涛", "海燕", "晓东", "晓燕", "振华", "德福", "春梅", "秀兰",
    "桂英", "凤兰", "淑珍", "玉兰", "秀英", "文杰", "俊峰", "立新", "庆丰", "红霞", "丽娟", "雪梅", "明亮", "永强",
    "子涵", "梓轩", "欣怡", "雨桐", "浩然", "博文", "宇航", "思远", "佳琪", "诗涵", "一鸣", "家豪", "婷婷", "晨曦",
    "金凤", "长山", "广军", "保国", "传友", "士忠", "继峰", "玉华", "兆伦", "庆华", "兴旺", "美玲", "福生",
)  # fmt: skip
_BRANDS = (
    "鑫达", "恒源", "华鲁", "宏泰", "金诚", "瑞祥", "汇通", "盛隆", "远航", "润泽", "中兴", "鲁南", "嘉禾",
    "永盛", "聚丰", "天成", "博远", "创新", "泰和", "益康", "丰源", "海纳", "东盛", "新元", "龙腾", "兴业",
)  # fmt: skip
_INDUSTRIES = (
    ("机械制造", 2.0), ("商贸", 3.0), ("建材", 1.5), ("食品", 1.5), ("化工", 1.0), ("物流", 1.5),
    ("煤业", 0.8), ("纺织", 0.8), ("电子科技", 1.0), ("餐饮管理", 1.0), ("建筑工程", 1.5), ("农业科技", 1.0),
    ("医药", 0.6), ("新能源", 0.8), ("物业服务", 0.8), ("信息技术", 1.0),
)  # fmt: skip
_PHONE_PREFIXES = (
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "150", "151", "152", "153",
    "155", "156", "157", "158", "159", "166", "177", "178", "180", "181", "182", "183", "186", "187",
    "188", "189", "198", "199",
)  # fmt: skip
_ROADS = (
    "光明大道", "建华路", "文化路", "君山路", "长白山路", "黄河路", "华山路", "龙头路", "解放路", "振兴路",
    "青檀路", "善国路", "北辛路", "学院路", "民生路", "塔寺路", "府前路", "衡山路", "泰山路", "平安路",
)  # fmt: skip
_ESTATES = (
    "幸福家园",
    "阳光花园",
    "金色华府",
    "锦绣城",
    "和谐佳苑",
    "丽景苑",
    "翡翠城",
    "御景湾",
    "龙湖名邸",
    "书香苑",
)
_VILLAGE_STEMS = ("王庄", "李庄", "张庄", "前楼", "后楼", "东湖", "西岭", "南河崖", "北洼", "大官庄", "小宫", "石门")

# Towns (镇、街道) of districts without sub-centres in the rulebook: recorded by name.
_TOWN_NAMES: dict[str, tuple[str, ...]] = {
    "市中区": ("中心街街道", "光明路街道", "矿区街道", "文化路街道", "龙山路街道", "垎塔埠街道", "税郭镇", "孟庄镇", "齐村镇", "永安镇", "西王庄镇"),
    "峄城区": ("坛山街道", "吴林街道", "古邵镇", "阴平镇", "底阁镇", "榴园镇", "峨山镇"),
    "台儿庄区": ("运河街道", "邳庄镇", "张山子镇", "泥沟镇", "涧头集镇", "马兰屯镇"),
    "滕州市": (
        "荆河街道", "龙泉街道", "北辛街道", "善南街道", "东沙河街道", "洪绪街道", "南沙河镇", "大坞镇", "滨湖镇",
        "级索镇", "西岗镇", "姜屯镇", "鲍沟镇", "张汪镇", "官桥镇", "柴胡店镇", "羊庄镇", "木石镇", "界河镇",
        "龙阳镇", "东郭镇",
    ),
    "枣庄高新区": ("兴仁街道", "张范街道"),
}  # fmt: skip
_DISTRICT_WEIGHTS = {"滕州市": 34.0, "市中区": 18.0, "薛城区": 14.0, "峄城区": 10.0, "山亭区": 9.0, "台儿庄区": 8.0}
_DIVISIONS = {"市中区": "370402", "薛城区": "370403", "峄城区": "370404", "台儿庄区": "370405", "山亭区": "370406", "滕州市": "370481"}  # fmt: skip

_CATEGORY_WEIGHTS = {
    "housing.property": 3.0, "urban.sanitation": 3.0, "labour.wage_arrears": 2.5, "urban.noise": 2.0,
    "utility.heating": 2.0, "market.consumer_rights": 2.0, "social_security.pension": 2.0, "education.school": 1.5,
    "housing.construction": 1.5, "environment.pollution": 1.5, "transport.taxi_bus": 1.2, "utility.water_supply": 1.2,
    "utility.power": 1.2, "public_security.traffic": 1.2, "social_security.medical": 1.2, "community.dispute": 1.2,
}  # fmt: skip
_ENTERPRISE_CATEGORY_WEIGHTS = {
    "business.environment": 5.0, "tax.service": 3.0, "labour.wage_arrears": 1.5, "utility.power": 2.0,
    "utility.water_supply": 1.0, "utility.gas": 1.0, "market.consumer_rights": 1.0, "safety.production": 1.0,
    "environment.pollution": 1.0, "resources.land": 1.0, "housing.provident_fund": 0.8, "social_security.pension": 0.8,
}  # fmt: skip
_KINDS = ((Kind.CONSULTATION, 30.0), (Kind.HELP, 18.0), (Kind.COMPLAINT, 32.0), (Kind.REPORT, 10.0), (Kind.SUGGESTION, 10.0))  # fmt: skip
_ENTERPRISE_KINDS = ((Kind.CONSULTATION, 35.0), (Kind.HELP, 35.0), (Kind.COMPLAINT, 20.0), (Kind.SUGGESTION, 10.0))
_CHANNELS = (
    ("phone", 60.0), ("wechat", 10.0), ("web", 8.0), ("app", 8.0), ("gov_portal", 4.0), ("provincial_hotline", 4.0),
    ("leader_mailbox", 3.0), ("sms", 2.0), ("email", 1.0),
)  # fmt: skip
_MERGER_MODE_WEIGHTS = {
    MergerMode.DUAL: 5.0, MergerMode.SUBCENTRE: 4.0, MergerMode.NO_CITY_SEAT: 1.0,
    MergerMode.WHOLE: 0.4, MergerMode.COLLABORATION: 0.5,
}  # fmt: skip
_MERGER_BOOST = {"12333": 3.0, "12315": 3.0, "12366": 2.0, "12329": 1.5, "12319": 1.5}

_PATTERNS: dict[Kind, tuple[str, ...]] = {
    Kind.CONSULTATION: (
        "咨询{kw}相关政策，想了解办理流程和需要准备的材料。",
        "来电咨询{place}{kw}的办理地点和办理时间。",
        "请问{kw}的事情应该找哪个部门，有没有线上办理渠道？",
        "想了解{kw}方面的最新规定，以及本人是否符合条件。",
    ),
    Kind.HELP: (
        "求助：{place}{kw}问题影响正常生活，希望相关部门帮助协调解决。",
        "家中老人遇到{kw}方面的困难，{place}这边一直没办成，希望得到帮助。",
        "{place}{kw}问题给家里造成很大困扰，请求帮忙联系处理。",
    ),
    Kind.COMPLAINT: (
        "反映{place}{kw}问题，已持续一周，希望尽快处理。",
        "投诉{place}{kw}问题，多次反映一直没有解决。",
        "对{place}{kw}问题的处理结果不满意，要求重新核实。",
        "{place}{kw}问题反复出现，严重影响周边居民，请尽快解决。",
    ),
    Kind.REPORT: (
        "举报{place}存在{kw}问题，请有关部门核实查处。",
        "实名举报{place}{kw}，现场情况比较严重。",
        "反映{place}有人{kw}，希望有关部门依法处理。",
    ),
    Kind.SUGGESTION: (
        "建议加强{place}{kw}方面的管理，方便群众生活。",
        "对{kw}工作提出建议：希望进一步完善相关措施，多听取群众意见。",
        "建议{place}针对{kw}问题建立长效机制。",
    ),
}
_ENTERPRISE_PATTERNS: dict[Kind, tuple[str, ...]] = {
    Kind.CONSULTATION: (
        "我公司咨询{kw}相关政策，想了解申报条件和办理流程。",
        "企业来电咨询{place}{kw}的办理渠道和所需材料。",
    ),
    Kind.HELP: (
        "我公司位于{place}，{kw}问题影响企业正常生产经营，希望协调解决。",
        "企业反映{kw}方面遇到困难，请求相关部门帮助。",
    ),
    Kind.COMPLAINT: ("我公司投诉{place}{kw}问题，多次沟通未果，影响企业经营。",),
    Kind.REPORT: ("企业举报{place}{kw}问题，请有关部门核查。",),
    Kind.SUGGESTION: ("建议进一步优化{kw}方面的服务，减少企业跑腿次数。",),
}
_LINE_PATTERNS = (
    "拨打{number}反映{topic}方面的问题，希望尽快处理。",
    "咨询{topic}相关业务，希望工作人员给予解答。",
    "通过{number}反映{topic}相关诉求，请相关部门跟进。",
)
_EMERGENCY_PATTERNS = ("{place}{road}附近{kw}，情况紧急！", "来电称{place}{kw}，请求马上处理。")
_NOT_ACCEPTED_PATTERNS = (
    "关于{kw}的事情，希望12345热线帮忙督促有关部门处理。",
    "来电人称{kw}，要求热线出面协调。",
)
_AGENT_REFUSALS = {
    "unlawful_demand": ("要求有关部门全额补偿其个人投资亏损。", "要求为不符合条件的亲属办理特殊待遇。"),
    "public_order": ("要求允许在居民楼下长期燃放烟花爆竹庆祝。",),
}
_SUFFIXES = (
    "", "", "", "", "希望尽快回复。", "请相关部门尽快处理。", "来电人情绪比较着急。", "已经反映过两次。",
    "希望能给个答复。", "请工作人员回电说明情况。", "此事已拖延较长时间。", "希望有关部门重视。",
    "来电人要求保密。", "诉求人表示可以配合调查。", "来电人希望电话回复。", "请按规定时限办理。",
)  # fmt: skip

_HOUR_WEIGHTS = (
    0.15, 0.10, 0.08, 0.07, 0.08, 0.15, 0.40, 1.20, 3.20, 4.20, 4.30, 3.60,
    2.20, 2.40, 3.60, 4.00, 3.70, 3.00, 2.00, 1.60, 1.40, 1.10, 0.70, 0.35,
)  # fmt: skip

_INITIAL_STATUS = {
    Disposition.DISPATCH: "dispatched",
    Disposition.SUBCENTRE: "dispatched",
    Disposition.DIRECT_ANSWER: "answered",
    Disposition.EMERGENCY_TRANSFER: "transferred",
    Disposition.NOT_ACCEPTED: "not_accepted",
}
_INTAKE_NOTES = {
    "dispatched": "受理派单",
    "answered": "直接答复",
    "transferred": "转接紧急热线",
    "not_accepted": "登记不予受理",
}
_INTAKE_DATA = '{"source": "demo"}'

# --- handling: 签收、答复、审核、回访、重办 ------------------------------------------------

_REPLY_TEXTS: dict[str, tuple[str, ...]] = {
    "resolved": (
        "经核实，来电反映情况属实。我单位已安排工作人员到现场处理，问题已解决，并已电话告知来电人处理结果。",
        "接到工单后，我单位当日联系来电人了解情况，会同相关部门现场核查并督促整改，现已整改到位。",
        "已与来电人当面沟通，按照相关规定为其办理了有关手续，来电人对办理结果表示认可。",
        "经调查核实，已责令相关责任方限期整改，现已整改完毕；我单位将加强日常巡查，防止问题反复。",
    ),
    "explained": (
        "经核实，来电人所提诉求暂不符合现行政策规定。工作人员已电话向其详细说明政策依据，来电人表示理解。",
        "已电话联系来电人，就其反映的事项说明了办理条件、所需材料和办理流程，并告知了业务咨询电话。",
        "该事项正在按计划推进，已向来电人说明目前进展和预计完成时间，后续有进展将及时告知来电人。",
    ),
}
_REPLY_OUTCOMES = (("resolved", 82.0), ("explained", 18.0))
_SATISFACTION_FIRST = (("satisfied", 80.0), ("basically_satisfied", 13.0), ("unsatisfied", 7.0))
_SATISFACTION_REDO = (("satisfied", 15.0), ("basically_satisfied", 15.0), ("unsatisfied", 70.0))
"""After a redo the callers still calling are the ones whose matter is hard to settle."""
_RESOLUTION: dict[str, tuple[tuple[str, float], ...]] = {
    "satisfied": (("resolved", 90.0), ("partly_resolved", 9.0), ("unresolved", 1.0)),
    "basically_satisfied": (("resolved", 55.0), ("partly_resolved", 40.0), ("unresolved", 5.0)),
    "unsatisfied": (("resolved", 3.0), ("partly_resolved", 27.0), ("unresolved", 70.0)),
}
_REASONABLE_FIRST = 0.7
"""Share of the unsatisfied whose dissatisfaction is reasonable (redo) rather than unreasonable (close)."""
_REASONABLE_REDO = 0.9
_LATE_ACCEPT = 0.03
_UNREACHABLE = 0.04
_MISSED_CALL = 0.10
"""Reached callbacks that were not answered once before."""
_ORDER_RESPONDED = 0.85
_ORDER_REASON = ("poor_quality", "办理质量不高")
"""The reason ``callbacks._supervise`` gives a 督办单 when the redo rounds are exhausted."""
_ORDER_RESPONSES = (
    "已按督办要求成立专班重新核查，进一步向来电人解释政策并明确后续化解措施，同时对相关责任人进行了约谈。",
    "收到督办单后，我单位主要负责同志带队上门走访来电人，制定了整改方案，将持续跟踪直至问题解决。",
)


# --- templates ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Template:
    facts: RequestFacts
    decision: Decision
    decision_json: str
    disposition: str
    status: str
    rule_id: str
    category: str | None
    lead: str | None
    assists: tuple[str, ...]
    area_district: str | None
    area_town: str | None
    area_village: str | None
    reason_code: str | None
    transfer_to: str | None
    answer: str | None
    working_days: int
    district_name: str | None

    @property
    def handled(self) -> bool:
        return self.lead is not None


@dataclass(frozen=True, slots=True)
class _Place:
    district: Unit
    town_unit: Unit | None
    town_name: str | None
    village: str | None

    @property
    def text(self) -> str:
        return self.district.area_names[0] + (self.town_name or "")


class _Vocabulary:
    """Every keyword and place name the router looks at; neutral sentences must contain none."""

    def __init__(self, rb: Rulebook) -> None:
        words: list[str] = list(rb.area_index)
        for c in rb.categories.values():
            words += c.keywords
        for r in rb.policy.not_accepted:
            words += (*r.keywords, *r.keywords_none)
        for e in rb.policy.emergency:
            words += (*e.keywords, *e.keywords_none)
        for rule in rb.rules:
            words += sorted(rule.when.keywords_any or ()) + sorted(rule.when.keywords_none or ())
        self.words = tuple(words)

    def neutral(self, text: str) -> bool:
        return not any(w in text for w in self.words)


class _TemplateFactory:
    def __init__(self, rb: Rulebook, rng: random.Random) -> None:
        self.rb = rb
        self.rng = rng
        districts = [u for u in rb.units.values() if u.level is UnitLevel.DISTRICT and u.area_names]
        if not districts:
            raise DemoDataError("规则库中没有区（市）单位，无法生成演示数据")
        self.districts = _Picker((d, _DISTRICT_WEIGHTS.get(d.area_names[0], 5.0)) for d in districts)
        self.towns: dict[str, list[tuple[Unit | None, str]]] = {}
        for d in districts:
            units = [
                (u, u.area_names[0]) for u in rb.units.values() if u.parent == d.code and u.level is UnitLevel.TOWN
            ]
            named = [(None, n) for n in _TOWN_NAMES.get(d.area_names[0], ()) if n not in rb.area_index]
            self.towns[d.code] = [*units, *named]
        cats = list(rb.categories.values())
        leaves = rb.catalogue.leaves if rb.catalogue is not None else {}
        self.examples = {code: leaf.examples for code, leaf in leaves.items()}
        self.categories = _Picker((c, _CATEGORY_WEIGHTS.get(c.code, 1.0)) for c in cats)
        self.enterprise_categories = _Picker((c, _ENTERPRISE_CATEGORY_WEIGHTS.get(c.code, 0.2)) for c in cats)
        self.kinds = _Picker(_KINDS)
        self.enterprise_kinds = _Picker(_ENTERPRISE_KINDS)
        self.channels = _Picker(_CHANNELS)
        lines = [m for m in rb.merger_list if m.number]
        self.merger_lines = _Picker(
            (m, _MERGER_MODE_WEIGHTS.get(m.mode, 0.5) * _MERGER_BOOST.get(m.number or "", 1.0)) for m in lines
        )
        self.line_categories = {
            m.number: [c for c in cats if c.unit == m.unit or c.unit == m.route_unit] for m in lines if m.number
        }
        self.keyword_reasons = [r for r in rb.policy.not_accepted if r.keywords]
        self.agent_reasons = [r for r in rb.policy.not_accepted if r.code in _AGENT_REFUSALS]
        self.emergencies = list(rb.policy.emergency)

    # place ------------------------------------------------------------------------------
    def place(self, *, town_share: float = 0.8) -> _Place:
        rng = self.rng
        district = self.districts(rng)
        towns = self.towns.get(district.code, [])
        if towns and rng.random() < town_share:
            unit, name = towns[rng.randrange(len(towns))]
            village = None
            if rng.random() < 0.35:
                stem = _VILLAGE_STEMS[rng.randrange(len(_VILLAGE_STEMS))]
                village = stem + ("社区" if name.endswith("街道") else "村")
            return _Place(district, unit, name, village)
        return _Place(district, None, None, None)

    def place_phrase(self, place: _Place, category: Category | None, kind: Kind) -> str:
        rng = self.rng
        text = place.text
        if kind is Kind.CONSULTATION:
            return text
        if category is not None and category.code.startswith(("housing.", "urban.", "community.")):
            return text + _ESTATES[rng.randrange(len(_ESTATES))]
        if place.village and rng.random() < 0.5:
            return text + place.village
        if rng.random() < 0.5:
            return text + _ROADS[rng.randrange(len(_ROADS))]
        return text

    # facts ------------------------------------------------------------------------------
    def facts(self) -> RequestFacts:
        rng = self.rng
        r = rng.random()
        if r < 0.009:
            return self._emergency()
        if r < 0.030:
            return self._not_accepted()
        if r < 0.115:
            return self._merger_line()
        return self._regular()

    def _area(self, place: _Place | None) -> tuple[AreaInput, str | None]:
        if place is None:
            return AreaInput(), None
        rng = self.rng
        town: str | None = None
        if place.town_name is not None:
            # the agent picks the sub-centre from the list (code) or types the town's name
            town = place.town_unit.code if place.town_unit is not None and rng.random() < 0.7 else place.town_name
        address = None
        if rng.random() < 0.6:
            road = _ROADS[rng.randrange(len(_ROADS))]
            address = f"枣庄市{place.text}{place.village or ''}{road}{rng.randint(1, 399)}号"
        return AreaInput(district=place.district.code, town=town, village=place.village), address

    def _regular(self) -> RequestFacts:
        rng = self.rng
        enterprise = rng.random() < 0.15
        caller_type = CallerType.ENTERPRISE if enterprise else CallerType.CITIZEN
        kind = (self.enterprise_kinds if enterprise else self.kinds)(rng)
        category = (self.enterprise_categories if enterprise else self.categories)(rng)
        keyword = category.keywords[rng.randrange(len(category.keywords))] if category.keywords else category.name
        with_place = category.scope is CategoryScope.TERRITORIAL or rng.random() < 0.75
        if kind is Kind.SUGGESTION and rng.random() < 0.4:
            with_place = False
        place = self.place() if with_place else None
        examples = self.examples.get(category.code, ())
        if examples and (not category.keywords or rng.random() < 0.7):
            # the catalogue's own example requests (written by us) for the leaf
            content = examples[rng.randrange(len(examples))]
        else:
            patterns = (_ENTERPRISE_PATTERNS if enterprise else _PATTERNS)[kind]
            content = patterns[rng.randrange(len(patterns))].format(
                kw=keyword, place=self.place_phrase(place, category, kind) if place else ""
            )
        area, address = self._area(place)
        agent_category = category.code if rng.random() < 0.75 else None
        has_answer = kind is Kind.CONSULTATION and rng.random() < 0.55
        return RequestFacts(
            content=content,
            kind=kind,
            caller_type=caller_type,
            channel=self.channels(rng),
            category=agent_category,
            area=area,
            address=address,
            has_answer=has_answer,
        )

    def _merger_line(self) -> RequestFacts:
        rng = self.rng
        entry = self.merger_lines(rng)
        number = entry.number or "12345"
        cats = self.line_categories.get(number, [])
        kind = self.kinds(rng)
        if kind is Kind.CONSULTATION and rng.random() < 0.5:
            kind = Kind.COMPLAINT  # calls on an old line are mostly matters to handle
        place = self.place() if rng.random() < 0.7 else None
        category: Category | None = None
        if cats:
            category = cats[rng.randrange(len(cats))]
            keyword = category.keywords[rng.randrange(len(category.keywords))] if category.keywords else category.name
            pattern = _PATTERNS[kind][rng.randrange(len(_PATTERNS[kind]))]
            content = pattern.format(kw=keyword, place=self.place_phrase(place, category, kind) if place else "")
        else:
            topic = entry.name.removesuffix("电话").removesuffix("热线").removesuffix("便民").removesuffix("服务")
            content = _LINE_PATTERNS[rng.randrange(len(_LINE_PATTERNS))].format(number=number, topic=topic)
        area, address = self._area(place)
        enterprise = rng.random() < (0.4 if entry.mode is MergerMode.SUBCENTRE else 0.08)
        return RequestFacts(
            content=content,
            kind=kind,
            caller_type=CallerType.ENTERPRISE if enterprise else CallerType.CITIZEN,
            line=number,
            channel="phone",
            category=category.code if category is not None and rng.random() < 0.6 else None,
            area=area,
            address=address,
        )

    def _emergency(self) -> RequestFacts:
        rng = self.rng
        marker = self.emergencies[rng.randrange(len(self.emergencies))]
        keyword = marker.keywords[rng.randrange(len(marker.keywords))]
        place = self.place(town_share=0.9)
        content = _EMERGENCY_PATTERNS[rng.randrange(len(_EMERGENCY_PATTERNS))].format(
            place=place.text, road=_ROADS[rng.randrange(len(_ROADS))], kw=keyword
        )
        area, address = self._area(place)
        return RequestFacts(content=content, kind=Kind.HELP, channel="phone", area=area, address=address)

    def _not_accepted(self) -> RequestFacts:
        rng = self.rng
        kind = Kind.COMPLAINT if rng.random() < 0.6 else Kind.HELP
        place = self.place() if rng.random() < 0.5 else None
        area, address = self._area(place)
        channel = self.channels(rng)
        if self.agent_reasons and rng.random() < 0.2:
            reason = self.agent_reasons[rng.randrange(len(self.agent_reasons))]
            texts = _AGENT_REFUSALS[reason.code]
            return RequestFacts(
                content=texts[rng.randrange(len(texts))],
                kind=kind,
                channel=channel,
                area=area,
                address=address,
                not_accepted_reason=reason.code,
            )
        reason = self.keyword_reasons[rng.randrange(len(self.keyword_reasons))]
        keyword = reason.keywords[rng.randrange(len(reason.keywords))]
        content = _NOT_ACCEPTED_PATTERNS[rng.randrange(len(_NOT_ACCEPTED_PATTERNS))].format(kw=keyword)
        return RequestFacts(content=content, kind=kind, channel=channel, area=area, address=address)


def _answer(rb: Rulebook, decision: Decision) -> str:
    category = rb.categories.get(decision.category) if decision.category else None
    where = "市、区（市）政务服务中心"
    if decision.area.district is not None:
        where = rb.units[decision.area.district].area_names[0] + "政务服务中心"
    topic = f"“{category.name}”相关事项" if category else "该事项"
    return f"已依据知识库答复来电人：{topic}可通过“爱山东”APP线上办理，或携带身份证件到{where}窗口办理，具体以窗口告知为准。"


def _build_templates(
    rb: Rulebook, rng: random.Random, count: int, model: DispatchModel | None = None
) -> list[_Template]:
    """Demo requests routed exactly as intake would, by ``model`` (the current classifier) when given."""
    factory = _TemplateFactory(rb, rng)
    limits = rb.policy.time_limits
    cache: dict[RequestFacts, Decision] = {}
    templates: list[_Template] = []
    attempts = 0
    pending: list[RequestFacts] = []
    predicted: dict[str, Prediction] = {}
    while len(templates) < count:
        if not pending:
            pending = [factory.facts() for _ in range(min(1000, count * 2))]
            if model is not None:
                texts = list(dict.fromkeys(f.content for f in pending))
                predicted = dict(zip(texts, model.predict_many(texts, top=3, explain=True), strict=True))
        facts = pending.pop()
        attempts += 1
        if attempts > count * 20:
            raise DemoDataError("无法生成足够的演示诉求模板（规则库与生成器不匹配）")
        decision = cache.get(facts)
        if decision is None:
            try:
                decision = route(facts, rb, model, predicted[facts.content] if model is not None else None)
            except FactsError:
                continue
            cache[facts] = decision
        lead = decision.lead
        area = decision.area
        district_name = rb.units[area.district].area_names[0] if area.district else None
        templates.append(
            _Template(
                facts=facts,
                decision=decision,
                decision_json=json.dumps(decision.as_dict(), ensure_ascii=False),
                disposition=decision.disposition.value,
                status=_INITIAL_STATUS[decision.disposition],
                rule_id=decision.rule_id,
                category=decision.category,
                lead=lead.code if lead else None,
                assists=tuple(u.code for u in decision.units if u.role == "assist"),
                area_district=area.district,
                area_town=area.town or area.town_name,
                area_village=area.village,
                reason_code=decision.reason_code,
                transfer_to=decision.transfer_to,
                answer=_answer(rb, decision) if decision.disposition is Disposition.DIRECT_ANSWER else None,
                working_days=decision.time_limit_working_days
                or (
                    limits.enterprise_working_days
                    if facts.caller_type is CallerType.ENTERPRISE
                    else limits.citizen_working_days
                ),
                district_name=district_name,
            )
        )
    return templates


# --- time ------------------------------------------------------------------------------


def _calendar() -> WorkingCalendar:
    days, years = schedule_from_chinesecalendar_data(cn_calendar.holidays, cn_calendar.workdays)
    return WorkingCalendar(days, years)


def _timestamps(rng: random.Random, n: int, now: datetime, cal: WorkingCalendar) -> list[float]:
    """``n`` sorted instants (epoch seconds) in the 365 days before ``now``: weekday and office-hour peaks."""
    end = now.timestamp()
    start = (now - timedelta(days=365)).timestamp()
    local_start = (now - timedelta(days=365)).astimezone(LOCAL_TZ)
    first_day = local_start.date()
    last_day = now.astimezone(LOCAL_TZ).date()
    cells: list[tuple[float, float]] = []
    weights: list[float] = []
    span = (last_day - first_day).days or 1
    day = first_day
    while day <= last_day:
        midnight = datetime(day.year, day.month, day.day, tzinfo=LOCAL_TZ).timestamp()
        day_weight = (1.0 if cal.is_working_day(day) else 0.5) * (0.85 + 0.3 * (day - first_day).days / span)
        for hour, hour_weight in enumerate(_HOUR_WEIGHTS):
            lo = max(midnight + hour * 3600.0, start)
            hi = min(midnight + (hour + 1) * 3600.0, end)
            if hi > lo:
                cells.append((lo, hi))
                weights.append(day_weight * hour_weight * (hi - lo) / 3600.0)
        day += timedelta(days=1)
    picker = _Picker(zip(cells, weights, strict=True))
    out: list[float] = []
    for _ in range(n):
        lo, hi = picker(rng)
        out.append(min(lo + rng.random() * (hi - lo), end - 1e-3))
    out.sort()
    return out


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


# --- people --------------------------------------------------------------------------


class _People:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.surnames = _Picker(_SURNAMES)
        self.industries = _Picker(_INDUSTRIES)
        self.divisions = list(_DIVISIONS.items())

    def name(self) -> str:
        rng = self.rng
        return self.surnames(rng) + _GIVEN[rng.randrange(len(_GIVEN))]

    def mobile(self) -> str:
        rng = self.rng
        return _PHONE_PREFIXES[rng.randrange(len(_PHONE_PREFIXES))] + f"{rng.randrange(100_000_000):08d}"

    def enterprise(self, district_name: str | None) -> tuple[str, str]:
        rng = self.rng
        brand = _BRANDS[rng.randrange(len(_BRANDS))]
        if district_name is None or district_name not in _DIVISIONS:
            district_name, division = self.divisions[rng.randrange(len(self.divisions))]
        else:
            division = _DIVISIONS[district_name]
        prefix = "枣庄" if rng.random() < 0.5 or district_name.endswith("区") else district_name.removesuffix("市")
        name = f"{prefix}{brand}{self.industries(rng)}有限公司"
        return name, credit_code(
            division, f"{rng.randrange(100_000_000):08d}", org_type="1" if rng.random() < 0.9 else "2"
        )


# --- database ------------------------------------------------------------------------

_CALLER_COLUMNS = ("id", "type", "name", "phone", "enterprise_name", "credit_code", "confidential", "created_at")
_TICKET_COLUMNS = (
    "id", "number", "channel", "line", "kind", "category", "content", "address", "area_district", "area_town",
    "area_village", "caller_id", "caller_type", "status", "disposition", "lead_unit_code", "reason_code",
    "transfer_to", "answer", "rulebook_version", "created_by", "created_at", "updated_at", "accepted_at",
    "replied_at", "redo_count", "closed_at", "final_outcome", "search_vector",
)  # fmt: skip
_DECISION_COLUMNS = (
    "id",
    "ticket_id",
    "rulebook_version",
    "rule_id",
    "disposition",
    "decision",
    "created_at",
    "model_version",
)
_UNIT_COLUMNS = ("ticket_id", "unit_code", "role", "assigned_at")
_DEADLINE_COLUMNS = (
    "id", "ticket_id", "unit_code", "kind", "start_at", "working_days", "extension_days", "due_date", "due_at",
    "provisional", "state", "created_at",
)  # fmt: skip
_EVENT_COLUMNS = (
    "id", "ticket_id", "at", "actor_id", "action", "from_status", "to_status", "unit_code", "due_before",
    "due_after", "note", "data",
)  # fmt: skip
_REPLY_COLUMNS = ("id", "ticket_id", "unit_code", "outcome", "content", "replied_at", "due_at", "on_time", "actor_id")
_CALLBACK_COLUMNS = ("id", "ticket_id", "round", "due_at", "state", "attempts", "attempt_days", "created_at", "done_at")
_EVALUATION_COLUMNS = (
    "id", "ticket_id", "callback_id", "caller_id", "satisfaction", "resolution", "reasonable", "note", "at",
    "actor_id",
)  # fmt: skip
_ORDER_COLUMNS = (
    "id", "ticket_id", "unit_code", "reason_code", "content", "reply_by", "issued_at", "issued_by", "state",
    "response", "responded_at",
)  # fmt: skip

_RESERVE = """
SELECT ARRAY(SELECT nextval(pg_get_serial_sequence('tickets', 'id')) FROM generate_series(1, $1)),
       ARRAY(SELECT nextval(pg_get_serial_sequence('callers', 'id')) FROM generate_series(1, $1)),
       ARRAY(SELECT nextval(pg_get_serial_sequence('routing_decisions', 'id')) FROM generate_series(1, $1)),
       ARRAY(SELECT nextval('ticket_number_seq') FROM generate_series(1, $1))
"""
_SEQUENCED = ("deadlines", "ticket_events", "replies", "callbacks", "evaluations", "supervision_orders")
"""Tables of a batch's rows whose number is known once generated (the order of :meth:`_Batch.counts`)."""
_RESERVE_CHILDREN = "SELECT " + ", ".join(
    f"ARRAY(SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, ${i}::int))"
    for i, table in enumerate(_SEQUENCED, 1)
)


async def _reserve(conn: Any, counts: Sequence[tuple[str, int]]) -> dict[str, list[int]]:
    """Ids for ``counts`` (table, how many) in the order of ``_SEQUENCED``, in one round trip."""
    if tuple(table for table, _ in counts) != _SEQUENCED:  # pragma: no cover - a table added to one list only
        raise ValueError(f"reserve ids for {_SEQUENCED}, got {counts}")
    row = await conn.fetchrow(_RESERVE_CHILDREN, *(n for _, n in counts))
    return {table: sorted(row[i]) for i, table in enumerate(_SEQUENCED)}


async def _demo_user(conn: Any) -> int:
    await conn.execute(
        """INSERT INTO users (username, password_hash, role, display_name)
           VALUES ($1, '!', 'agent', '演示数据生成器') ON CONFLICT (username) DO NOTHING""",
        DEMO_USERNAME,
    )
    user_id: int = await conn.fetchval("SELECT id FROM users WHERE username = $1", DEMO_USERNAME)
    return user_id


async def _check_units(conn: Any, templates: Sequence[_Template]) -> None:
    try:
        rows = await conn.fetch("SELECT code FROM handling_units")
    except asyncpg.UndefinedTableError as exc:
        raise DemoDataError("数据库尚未迁移：请先运行 `python -m hotline migrate`") from exc
    if not rows:
        raise DemoDataError("承办单位表（handling_units）为空：请先运行 `python -m hotline migrate` 加载单位与日历")
    loaded = {r["code"] for r in rows}
    needed: set[str] = set()
    for t in templates:
        needed.update(c for c in (t.lead, t.area_district, *t.assists) if c)
    missing = sorted(needed - loaded)
    if missing:
        raise DemoDataError(
            f"承办单位表缺少规则库中的单位（{', '.join(missing[:5])} 等 {len(missing)} 个）："
            "请先运行 `python -m hotline migrate` 同步单位"
        )


# --- progress ------------------------------------------------------------------------


def _duration(seconds: float) -> str:
    s = max(0, math.ceil(seconds))
    return f"{s // 3600}h{s % 3600 // 60:02d}m{s % 60:02d}s" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class _Progress:
    def __init__(self, total: int, enabled: bool) -> None:
        self.total = total
        self.enabled = enabled
        self.started = time.monotonic()

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = done / elapsed
        eta = (self.total - done) / rate if rate > 0 else 0.0
        pct = 100.0 * done / self.total if self.total else 100.0
        width = 30
        filled = int(width * done / self.total) if self.total else width
        bar = "#" * filled + "-" * (width - filled)
        sys.stderr.write(
            f"\r[{bar}] {done:,}/{self.total:,} 工单 {pct:5.1f}%  {rate:,.0f} 条/秒  "
            f"已用 {_duration(elapsed)}  剩余 {_duration(eta)} "
        )
        sys.stderr.flush()

    def finish(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()


# --- generation ------------------------------------------------------------------------

_CALLBACK = 0
_ORDER = 1
_REPLY_DATA = {
    (outcome, on_time): json.dumps({"outcome": outcome, "reason": None, "on_time": on_time, "attachments": 0})
    for outcome in _REPLY_TEXTS
    for on_time in (True, False)
}
_CLOSE_DATA = {
    outcome: json.dumps({"final_outcome": outcome})
    for outcome in ("satisfied", "basically_satisfied", "unsatisfied", "unreachable")
}
_CLOSE_DATA["unreasonable"] = json.dumps({"final_outcome": "unreasonable", "unreasonable": True})

_Due = tuple[Deadline, float, str]
"""A working-day limit, its due instant in epoch seconds and as ISO text (for event data)."""


@dataclass(slots=True)
class _Batch:
    """The rows of one batch. Rows of sequenced tables are kept without their leading id until
    :meth:`assign` is given the ids reserved for them (their number is known once generated)."""

    callers: list[tuple[Any, ...]] = field(default_factory=list)
    tickets: list[tuple[Any, ...]] = field(default_factory=list)
    decisions: list[tuple[Any, ...]] = field(default_factory=list)
    units: list[tuple[Any, ...]] = field(default_factory=list)
    deadlines: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    replies: list[tuple[Any, ...]] = field(default_factory=list)
    callbacks: list[tuple[Any, ...]] = field(default_factory=list)
    evaluations: list[tuple[Any, ...]] = field(default_factory=list)
    """``callback_id`` holds the position of the callback in :attr:`callbacks` until :meth:`assign`."""
    orders: list[tuple[Any, ...]] = field(default_factory=list)
    refs: list[tuple[int, int, int]] = field(default_factory=list)
    """(event position, ``_CALLBACK`` or ``_ORDER``, position): the event's data is a ``%d`` template of that id."""

    def counts(self) -> list[tuple[str, int]]:
        return [
            ("deadlines", len(self.deadlines)),
            ("ticket_events", len(self.events)),
            ("replies", len(self.replies)),
            ("callbacks", len(self.callbacks)),
            ("evaluations", len(self.evaluations)),
            ("supervision_orders", len(self.orders)),
        ]

    def assign(self, ids: dict[str, list[int]]) -> None:
        callback_ids, order_ids = ids["callbacks"], ids["supervision_orders"]
        events = self.events
        for i, kind, k in self.refs:
            event = events[i]
            events[i] = (*event[:-1], event[-1] % (callback_ids[k] if kind == _CALLBACK else order_ids[k]))
        self.refs = []
        self.deadlines = _numbered(ids["deadlines"], self.deadlines)
        self.events = _numbered(ids["ticket_events"], events)
        self.replies = _numbered(ids["replies"], self.replies)
        self.callbacks = _numbered(callback_ids, self.callbacks)
        self.evaluations = [
            (i, r[0], callback_ids[r[1]], *r[2:]) for i, r in zip(ids["evaluations"], self.evaluations, strict=True)
        ]
        self.orders = _numbered(order_ids, self.orders)


def _numbered(ids: list[int], rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [(i, *r) for i, r in zip(ids, rows, strict=True)]


@dataclass(slots=True)
class _Ticket:
    """What a dispatched ticket's handling leaves on its row."""

    status: str
    updated: datetime
    accepted_at: datetime | None = None
    replied_at: datetime | None = None
    closed_at: datetime | None = None
    final_outcome: str | None = None
    redo_count: int = 0


class _Generator:
    def __init__(
        self, rb: Rulebook, templates: list[_Template], cal: WorkingCalendar, rng: random.Random, now: datetime
    ) -> None:
        self.rb = rb
        self.templates = templates
        self.cal = cal
        self.rng = rng
        self.now = now.timestamp()
        self.people = _People(rng)
        self.day_prefix: dict[int, str] = {}
        self.day_iso: dict[int, str] = {}
        self.dues: dict[tuple[int, int], _Due] = {}
        workflow = rb.workflow
        self.accept_days = workflow.accept_within_working_days
        self.callback_days = workflow.sla.callback_within_working_days
        self.max_attempts = workflow.sla.callback_max_attempts
        self.redo_max = workflow.sla.redo_max_rounds
        self.order_days = workflow.sla.supervision_reply_working_days
        self.reply_outcomes = _Picker(_REPLY_OUTCOMES)
        self.first_satisfaction = _Picker(_SATISFACTION_FIRST)
        self.redo_satisfaction = _Picker(_SATISFACTION_REDO)
        self.resolutions = {k: _Picker(v) for k, v in _RESOLUTION.items()}

    def _prefix(self, ts: float) -> str:
        key = int((ts + 8 * 3600) // 86400)  # Asia/Shanghai has had no DST since 1991
        prefix = self.day_prefix.get(key)
        if prefix is None:
            prefix = datetime.fromtimestamp(ts, LOCAL_TZ).strftime("%Y%m%d")
            self.day_prefix[key] = prefix
        return prefix

    def _day(self, ts: float) -> str:
        """The local date, as ``callbacks.attempt_days`` records it."""
        key = int((ts + 8 * 3600) // 86400)
        day = self.day_iso.get(key)
        if day is None:
            day = datetime.fromtimestamp(ts, LOCAL_TZ).date().isoformat()
            self.day_iso[key] = day
        return day

    def _due(self, ts: float, days: int) -> _Due:
        """``cal.deadline`` from the instant ``ts``: it depends on the local start date only."""
        key = (int((ts + 8 * 3600) // 86400), days)
        due = self.dues.get(key)
        if due is None:
            d = self.cal.deadline(_utc(ts), days)
            due = (d, d.due_at.timestamp(), d.due_at.isoformat())
            self.dues[key] = due
        return due

    def batch(
        self,
        stamps: Sequence[float],
        ticket_ids: Sequence[int],
        caller_ids: Sequence[int],
        decision_ids: Sequence[int],
        numbers: Sequence[int],
        user_id: int,
    ) -> _Batch:
        rng = self.rng
        people = self.people
        templates = self.templates
        n_templates = len(templates)
        version = self.rb.version
        out = _Batch()
        callers, tickets, decisions, units, events = out.callers, out.tickets, out.decisions, out.units, out.events
        for i, ts in enumerate(stamps):
            t = templates[rng.randrange(n_templates)]
            facts = t.facts
            created = _utc(ts)
            tid = ticket_ids[i]
            cid = caller_ids[i]
            # caller
            enterprise = facts.caller_type is CallerType.ENTERPRISE
            name: str | None = people.name() if rng.random() > 0.04 else None
            if enterprise:
                ent_name, code = people.enterprise(t.district_name)
                phone = people.mobile() if rng.random() < 0.7 else f"0632-{rng.randrange(10_000_000):07d}"
                callers.append((cid, "enterprise", name, phone, ent_name, code, rng.random() < 0.01, created))
            else:
                confidential = rng.random() < 0.03
                callers.append((cid, "citizen", name, people.mobile(), None, None, confidential, created))
            suffix = _SUFFIXES[rng.randrange(len(_SUFFIXES))]
            content = facts.content + suffix
            if t.lead is not None:
                tk = self._handle(out, tid, cid, t.lead, t.working_days, ts, created, user_id)
                units.append((tid, t.lead, "lead", created))
                for code in t.assists:
                    units.append((tid, code, "assist", created))
            else:
                tk = _Ticket(t.status, created)
                events.append(
                    (tid, created, user_id, "intake", None, t.status, None, None, None, _INTAKE_NOTES[t.status], _INTAKE_DATA)
                )  # fmt: skip
            tickets.append(
                (
                    tid, f"{self._prefix(ts)}{numbers[i]:07d}", facts.channel, facts.line, facts.kind.value,
                    t.category, content, facts.address, t.area_district, t.area_town, t.area_village, cid,
                    facts.caller_type.value, tk.status, t.disposition, t.lead, t.reason_code, t.transfer_to, t.answer,
                    version, user_id, created, tk.updated, tk.accepted_at, tk.replied_at, tk.redo_count, tk.closed_at,
                    tk.final_outcome, content,
                )
            )  # fmt: skip
            decisions.append(
                (
                    decision_ids[i],
                    tid,
                    version,
                    t.rule_id,
                    t.disposition,
                    t.decision_json,
                    created,
                    t.decision.model_version,
                )
            )
        return out

    def _handle(
        self, out: _Batch, tid: int, cid: int, lead: str, days: int, ts: float, created: datetime, user_id: int
    ) -> _Ticket:
        """Intake's two limits, then rounds of 签收 → 答复 → 审核 → 回访 (a reasonable dissatisfaction
        starts another round, as ``callbacks._redo`` does), each step cut at ``now``."""
        tk = _Ticket("dispatched", created)
        reply = self._due(ts, days)
        out.events.append(
            (tid, created, user_id, "intake", None, "dispatched", lead, None, reply[0].due_at, "受理派单", _INTAKE_DATA)
        )
        start, start_dt = ts, created
        while True:
            redo_at = self._round(out, tk, tid, cid, lead, start, start_dt, days, reply, user_id)
            if redo_at is None:
                return tk
            before = reply[0].due_at
            start, start_dt = redo_at, _utc(redo_at)
            reply = self._due(start, days)
            tk.redo_count += 1
            out.events.append(
                (
                    tid, start_dt, user_id, "redo", "callback_pending", "dispatched", lead, before, reply[0].due_at,
                    f"诉求人不满意，第{tk.redo_count}轮重办", f'{{"round": {tk.redo_count}, "working_days": {days}}}',
                )
            )  # fmt: skip
            tk.status, tk.updated, tk.accepted_at = "dispatched", start_dt, None

    def _round(
        self,
        out: _Batch,
        tk: _Ticket,
        tid: int,
        cid: int,
        lead: str,
        start: float,
        start_dt: datetime,
        days: int,
        reply: _Due,
        user_id: int,
    ) -> float | None:
        """One round from dispatch (or redo) with its reply and sign-for limits; returns when it is redone."""
        accept = self._due(start, self.accept_days)
        accepted, replied, redo_at = self._steps(out, tk, tid, cid, lead, start, reply, accept, user_id)
        r, a = reply[0], accept[0]
        out.deadlines.append(
            (tid, lead, "reply", start_dt, days, 0, r.due_date, r.due_at, r.provisional, "met" if replied else "running", start_dt)
        )  # fmt: skip
        out.deadlines.append(
            (tid, lead, "accept", start_dt, self.accept_days, 0, a.due_date, a.due_at, a.provisional, "met" if accepted else "running", start_dt)
        )  # fmt: skip
        return redo_at

    def _steps(
        self,
        out: _Batch,
        tk: _Ticket,
        tid: int,
        cid: int,
        lead: str,
        start: float,
        reply: _Due,
        accept: _Due,
        user_id: int,
    ) -> tuple[bool, bool, float | None]:
        """签收 (a few late), 答复 (most in time), 审核通过 (opens the callback), 回访: (accepted, replied, redo at)."""
        rng = self.rng
        now = self.now
        events = out.events
        if rng.random() < 0.006:
            return False, False, None
        if rng.random() < _LATE_ACCEPT:
            t = accept[1] + 60.0 + rng.expovariate(1 / 14_400.0)
        else:
            t = start + 300.0 + min(rng.expovariate(1 / 10_800.0), 72 * 3600.0)
        if t > now:
            return False, False, None
        at = _utc(t)
        late = at > accept[0].due_at
        events.append(
            (
                tid, at, None, "accept", "dispatched", "accepted", lead, None, None, "超时签收" if late else "签收",
                f'{{"late": {"true" if late else "false"}, "accept_due_at": "{accept[2]}"}}',
            )
        )  # fmt: skip
        tk.status, tk.updated, tk.accepted_at = "accepted", at, at
        if rng.random() < 0.012:
            return True, False, None
        due = reply[1]
        r = rng.random()
        if r < 0.86:
            replied = start + (due - start) * (0.1 + 0.85 * rng.random())
        elif r < 0.95:
            replied = due - rng.random() * 6 * 3600.0
        else:
            replied = due + rng.expovariate(1 / (2 * 86400.0))
        t = max(replied, t + 1800.0)
        if t > now:
            return True, False, None
        at = _utc(t)
        due_at = reply[0].due_at
        on_time = at <= due_at
        outcome = self.reply_outcomes(rng)
        texts = _REPLY_TEXTS[outcome]
        content = texts[rng.randrange(len(texts))]
        out.replies.append((tid, lead, outcome, content, at, due_at, on_time, user_id))
        events.append(
            (tid, at, None, "reply", "accepted", "replied", lead, due_at, None, content, _REPLY_DATA[outcome, on_time])
        )
        tk.status, tk.updated, tk.replied_at = "replied", at, at
        if rng.random() < 0.004:
            return True, True, None
        t += 600.0 + rng.expovariate(1 / 21_600.0)
        if t > now:
            return True, True, None
        at = _utc(t)
        round_no = tk.redo_count + 1
        callback_due = self._due(t, self.callback_days)
        k = len(out.callbacks)
        events.append(
            (
                tid, at, user_id, "approve_reply", "replied", "callback_pending", lead, None, None,
                "答复审核通过，待回访",
                '{"approved": true, "callback_id": %d, '
                + f'"round": {round_no}, "callback_due_at": "{callback_due[2]}"}}',
            )
        )  # fmt: skip
        out.refs.append((len(events) - 1, _CALLBACK, k))
        tk.status, tk.updated = "callback_pending", at
        state, attempts, days, done_at, redo_at = self._callback(out, tk, tid, cid, lead, t, k, user_id)
        out.callbacks.append((tid, round_no, callback_due[0].due_at, state, attempts, days, at, done_at))
        return True, True, redo_at

    def _callback(
        self, out: _Batch, tk: _Ticket, tid: int, cid: int, lead: str, approved: float, k: int, user_id: int
    ) -> tuple[str, int, str, datetime | None, float | None]:
        """回访 of callback ``k``: (state, attempts, attempt_days JSON, done at, redo at)."""
        rng = self.rng
        now = self.now
        days: list[str] = []
        if rng.random() < 0.012:
            return "pending", 0, "[]", None, None
        if rng.random() < _UNREACHABLE:
            # not reached on ``callback_max_attempts`` different days: closed as unreachable
            t = approved + 1800.0 + rng.expovariate(1 / 14_400.0)
            for n in range(1, self.max_attempts + 1):
                if n > 1:
                    next_midnight = (int((t + 8 * 3600) // 86400) + 1) * 86400.0 - 8 * 3600
                    t = next_midnight + 9 * 3600.0 + rng.random() * 9 * 3600.0
                if t > now:
                    return "pending", n - 1, _json_list(days), None, None
                self._attempt(out, tk, tid, lead, t, k, n, days, user_id)
            at = tk.updated
            self._close(
                out, tk, tid, lead, at, "unreachable", f"{len(days)}个不同日期回访均未接通，按无法联系办结", user_id
            )
            return "unreachable", self.max_attempts, _json_list(days), at, None
        t = approved + 1800.0 + rng.expovariate(1 / 108_000.0)
        attempts = 0
        if self.max_attempts > 1 and rng.random() < _MISSED_CALL:
            missed = approved + (t - approved) * rng.random()
            if missed > now:
                return "pending", 0, "[]", None, None
            attempts = 1
            self._attempt(out, tk, tid, lead, missed, k, 1, days, user_id)
        if t > now:
            return "pending", attempts, _json_list(days), None, None
        at = _utc(t)
        first = tk.redo_count == 0
        satisfaction = (self.first_satisfaction if first else self.redo_satisfaction)(rng)
        resolution = self.resolutions[satisfaction](rng)
        reasonable: bool | None = None
        if satisfaction == "unsatisfied":
            reasonable = rng.random() < (_REASONABLE_FIRST if first else _REASONABLE_REDO)
        out.evaluations.append((tid, k, cid, satisfaction, resolution, reasonable, "", at, user_id))
        redo_at: float | None = None
        if satisfaction != "unsatisfied":
            self._close(out, tk, tid, lead, at, satisfaction, "回访满意，办结", user_id)
        elif not reasonable:
            self._close(out, tk, tid, lead, at, "unreasonable", "诉求人不满意但诉求不合理，办结", user_id)
        elif tk.redo_count < self.redo_max:
            redo_at = t
        else:
            self._supervise(out, tk, tid, lead, t, at, user_id)
        return "done", attempts, _json_list(days), at, redo_at

    def _attempt(
        self, out: _Batch, tk: _Ticket, tid: int, lead: str, t: float, k: int, n: int, days: list[str], user_id: int
    ) -> None:
        """回访未接通: attempts on the same local day count once."""
        at = _utc(t)
        day = self._day(t)
        if day not in days:
            days.append(day)
        out.events.append(
            (
                tid, at, user_id, "callback_attempt", "callback_pending", "callback_pending", lead, None, None,
                f"回访未接通（第{n}次，{len(days)}个不同日期）",
                '{"callback_id": %d, ' + f'"attempt": {n}, "days": {len(days)}}}',
            )
        )  # fmt: skip
        out.refs.append((len(out.events) - 1, _CALLBACK, k))
        tk.updated = at

    def _close(
        self, out: _Batch, tk: _Ticket, tid: int, lead: str, at: datetime, outcome: str, note: str, user_id: int
    ) -> None:
        out.events.append(
            (tid, at, user_id, "close", "callback_pending", "closed", lead, None, None, note, _CLOSE_DATA[outcome])
        )
        tk.status, tk.updated, tk.closed_at, tk.final_outcome = "closed", at, at, outcome

    def _supervise(self, out: _Batch, tk: _Ticket, tid: int, lead: str, t: float, at: datetime, user_id: int) -> None:
        """Redo rounds exhausted and still reasonably unsatisfied: a 督办单, then closed unsatisfied
        (``callbacks._supervise``); most units have answered it by its reply-by date."""
        rng = self.rng
        code, title = _ORDER_REASON
        content = f"重办{tk.redo_count}轮后诉求人仍不满意"
        reply_by = self._due(t, self.order_days)
        by = reply_by[0].due_date
        j = len(out.orders)
        out.events.append(
            (
                tid, at, user_id, "supervise", "callback_pending", "callback_pending", lead, None, None,
                f"督办（{title}）：{content}",
                '{"order_id": %d, ' + f'"reason": "{code}", "reply_by": "{by.isoformat()}"}}',
            )
        )  # fmt: skip
        out.refs.append((len(out.events) - 1, _ORDER, j))
        self._close(out, tk, tid, lead, at, "unsatisfied", f"{content}，办结并督办", user_id)
        state, response, responded_at = "open", None, None
        if reply_by[1] <= self.now and rng.random() < _ORDER_RESPONDED:
            state = "responded"
            response = _ORDER_RESPONSES[rng.randrange(len(_ORDER_RESPONSES))]
            responded_at = _utc(t + 3600.0 + rng.random() * max(reply_by[1] - t - 3600.0, 0.0))
            out.events.append(
                (
                    tid, responded_at, None, "respond_supervision", "closed", "closed", lead, None, None,
                    f"回复督办：{response}", '{"order_id": %d}',
                )
            )  # fmt: skip
            out.refs.append((len(out.events) - 1, _ORDER, j))
            tk.updated = responded_at
        out.orders.append((tid, lead, code, content, by, at, user_id, state, response, responded_at))


def _json_list(items: list[str]) -> str:
    return "[" + ", ".join(f'"{s}"' for s in items) + "]"


def _neutral_suffixes(vocabulary: _Vocabulary) -> None:
    bad = [s for s in _SUFFIXES if not vocabulary.neutral(s)]
    if bad:  # pragma: no cover - guards edits of the rulebook or of _SUFFIXES
        raise DemoDataError(f"演示数据的附加语句含有规则库关键词，会改变派单结果：{bad}")


async def _current_model(conn: asyncpg.Connection) -> DispatchModel | None:
    """The current dispatch model, so that demo tickets are routed as intake would route them."""
    from hotline.dispatch import storage

    blob = await conn.fetchval("SELECT blob FROM dispatch_models WHERE status = 'current'")
    return storage.load(blob) if blob is not None else None


async def generate_tickets(
    database_url: str,
    tickets: int,
    *,
    seed: int = 12345,
    batch: int = 20_000,
    progress: bool = True,
    now: datetime | None = None,
) -> int:
    """Write ``tickets`` synthetic tickets and their handling (see the module docstring) by COPY.

    ``database_url`` is the SQLAlchemy asyncpg URL of a migrated database whose handling units are
    loaded. Tickets are spread over the 365 days before ``now`` (default: the current UTC time).
    Returns the number of tickets written. Each batch is one transaction. The KPI rollup is not
    told about the past days written: rebuild it afterwards (``hotline.kpi_rollup.refresh(...,
    rebuild=True)``; the ``demo generate`` command does).
    """
    if tickets < 0:
        raise ValueError("tickets must not be negative")
    if batch < 1:
        raise ValueError("batch must be at least 1")
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    rb = load_rulebook()
    _neutral_suffixes(_Vocabulary(rb))
    rng = random.Random(seed)
    dsn = to_asyncpg_dsn(database_url)
    conn = await _connect(dsn)
    try:
        model = await _current_model(conn)
        templates = _build_templates(rb, rng, min(TEMPLATE_POOL, max(tickets, 1) * 4), model)
        cal = _calendar()
        await _check_units(conn, templates)
        user_id = await _demo_user(conn)
        if tickets == 0:
            return 0
        stamps = _timestamps(rng, tickets, now, cal)
        generator = _Generator(rb, templates, cal, rng, now)
        children: list[Any] = []
        try:
            for _ in _CHILD_GROUPS:
                children.append(await _connect(dsn, _CHILD_SESSION))
            return await _write(conn, children, generator, stamps, batch, user_id, progress)
        finally:
            for child in children:
                await child.close()
    finally:
        await conn.close()


_SESSION = {"application_name": "hotline-demo", "timezone": "UTC", "synchronous_commit": "off"}
_CHILD_SESSION = {**_SESSION, "hotline.kpi_marks": "off"}
"""The connections copying a batch's own rows. They switch off the KPI rollup's dirty-day marks
(migration 0005): the marks would only repeat what the rebuild after the load recomputes anyway
(``python -m hotline demo generate`` rebuilds the rollup), and their joins to tickets and
deadlines would cost each batch more as the database grows."""
_FIRST_BATCH = 1000
_ANALYZE = "ANALYZE tickets, deadlines"
"""Run after the small first batch and whenever the tickets written doubled: without statistics
(a new database; autovacuum may be off) the planner misjudges the joins of the foreign-key checks
and of the rollup rebuild that follows a load by orders of magnitude. A role that does not own
the tables gets a warning, not an error."""


async def has_tickets(database_url: str) -> bool:
    """Whether the database holds any ticket (``demo generate --if-empty`` leaves it alone then)."""
    conn = await _connect(to_asyncpg_dsn(database_url))
    try:
        return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM tickets)"))
    finally:
        await conn.close()


async def _connect(dsn: str, session: dict[str, str] = _SESSION) -> Any:
    conn = await asyncpg.connect(dsn, server_settings=session)
    # tickets.search_vector goes in as the ticket's content, cut into bigrams by the encoder
    await conn.set_type_codec("tsvector", schema="pg_catalog", encoder=vector_binary, decoder=bytes, format="binary")
    return conn


async def _copy(conn: Any, table: str, records: list[tuple[Any, ...]], columns: Sequence[str]) -> None:
    if records:
        await conn.copy_records_to_table(table, records=records, columns=columns)


_CHILD_GROUPS: tuple[tuple[tuple[str, str, tuple[str, ...]], ...], ...] = (
    (("ticket_events", "events", _EVENT_COLUMNS),),
    (
        ("routing_decisions", "decisions", _DECISION_COLUMNS),
        ("deadlines", "deadlines", _DEADLINE_COLUMNS),
        # after the deadlines: the KPI trigger on replies marks the due days of the ticket's reply limits
        ("replies", "replies", _REPLY_COLUMNS),
        ("supervision_orders", "orders", _ORDER_COLUMNS),
    ),
    (
        ("callbacks", "callbacks", _CALLBACK_COLUMNS),
        ("evaluations", "evaluations", _EVALUATION_COLUMNS),  # after their callbacks (foreign key)
        ("ticket_units", "units", _UNIT_COLUMNS),
    ),
)
"""(table, ``_Batch`` attribute, columns) copied in one transaction per group, the groups at once;
the callbacks' group is committed last (see :func:`_write_children`)."""


async def _write_children(conns: Sequence[Any], rows: _Batch) -> None:
    """Everything hanging off committed tickets, one connection per group of :data:`_CHILD_GROUPS`,
    committed only once every group's rows are in: a failure leaves none of them behind, so that
    undoing the batch deletes no callback (``evaluations.callback_id`` has no index: deleting a
    callback scans the whole evaluations table)."""

    async def group(conn: Any, tables: tuple[tuple[str, str, tuple[str, ...]], ...]) -> None:
        for table, attr, columns in tables:
            await _copy(conn, table, getattr(rows, attr), columns)

    transactions = [conn.transaction() for conn in conns]
    try:
        for tr in transactions:
            await tr.start()
        results = await asyncio.gather(
            *(group(c, g) for c, g in zip(conns, _CHILD_GROUPS, strict=True)), return_exceptions=True
        )
        failed = next((r for r in results if isinstance(r, BaseException)), None)
        if failed is not None:
            raise failed
        for tr in transactions:  # the callbacks' group last
            await tr.commit()
    except BaseException:
        for tr in transactions:
            with contextlib.suppress(Exception):  # committed or never started
                await tr.rollback()
        raise


async def _write(
    conn: Any,
    children: Sequence[Any],
    generator: _Generator,
    stamps: Sequence[float],
    batch: int,
    user_id: int,
    progress: bool,
) -> int:
    """Pipeline: callers and tickets of batch k+1 are copied while the rows hanging off batch k are.
    The first batch is small (``_FIRST_BATCH``), so that the tables have statistics early.

    Foreign keys stay checked, so a ticket's own rows are written only after the ticket is committed;
    if writing them fails, the batch's tickets and callers are deleted again.
    """
    total = len(stamps)
    bar = _Progress(total, progress)
    bar.update(0)
    bounds = [0]
    size = min(batch, _FIRST_BATCH)
    while bounds[-1] < total:
        bounds.append(min(total, bounds[-1] + size))
        size = batch
    written = 0
    analyzed = 0
    pending: asyncio.Task[None] | None = None
    pending_n = 0
    unfinished: list[tuple[list[int], list[int]]] = []
    """Committed batches (ticket ids, caller ids) whose own rows (decisions … evaluations) are not yet written."""
    try:
        for start, end in itertools.pairwise(bounds):
            chunk = stamps[start:end]
            n = len(chunk)
            row = await conn.fetchrow(_RESERVE, n)
            ticket_ids, caller_ids, decision_ids, numbers = (sorted(row[k]) for k in range(4))
            rows = generator.batch(chunk, ticket_ids, caller_ids, decision_ids, numbers, user_id)
            rows.assign(await _reserve(conn, rows.counts()))
            async with conn.transaction():
                await _copy(conn, "callers", rows.callers, _CALLER_COLUMNS)
                await _copy(conn, "tickets", rows.tickets, _TICKET_COLUMNS)
            unfinished.append((ticket_ids, caller_ids))
            if pending is not None:
                await pending
                unfinished.pop(0)
                written += pending_n
                bar.update(written)
                if written >= 2 * analyzed:
                    await conn.execute(_ANALYZE)
                    analyzed = written
            pending = asyncio.create_task(_write_children(children, rows))
            pending_n = n
        if pending is not None:
            await pending
            unfinished.pop(0)
            written += pending_n
        pending = None
    except BaseException:
        if pending is not None and not pending.done():
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        for ticket_ids, caller_ids in unfinished:
            await _undo(conn, ticket_ids, caller_ids)
        raise
    finally:
        bar.finish()
    return written


async def _undo(conn: Any, ticket_ids: list[int], caller_ids: list[int]) -> None:
    """Remove tickets whose own rows could not all be written: decisions, units, deadlines, events,
    replies, callbacks, evaluations and 督办单 cascade from the ticket (evaluations before the callers)."""
    with contextlib.suppress(Exception):
        async with conn.transaction():
            await conn.execute("DELETE FROM tickets WHERE id = ANY($1::bigint[])", ticket_ids)
            await conn.execute("DELETE FROM callers WHERE id = ANY($1::bigint[])", caller_ids)

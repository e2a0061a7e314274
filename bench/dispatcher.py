"""Benchmark the dispatcher: routing decisions per second and working-day deadlines per second.

Run from the repository root: ``python bench/dispatcher.py``.

1. ``dispatcher.routing.route`` over a realistic mix of requests: the 12345 line and merged
   lines (whole, dual, sub-centre, collaboration), every kind, Chinese contents that hit
   categories, emergencies and not-accepted reasons, places given as area input or found in the
   address text, citizens and enterprises. Target: at least 20,000 decisions/s.
2. ``dispatcher.calendar.WorkingCalendar.deadline`` against a naive day-by-day loop over
   ``chinese_calendar.is_workday`` (implemented once, in ``bench/dispatcher_calendar.py``).
   Target: at least 200,000 deadlines/s.

Figures only: nothing is asserted about time, and the script exits 0 whatever the machine.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# bench/ is no package, so its sibling script is imported by name; bench/ goes after the
# repository root so that ``dispatcher`` stays the package and never means this script.
sys.path.append(str(Path(__file__).resolve().parent))

import dispatcher_calendar

from dispatcher.routing import AreaInput, RequestFacts, route
from routing_rules.loader import Rulebook, load_rulebook
from routing_rules.schema import CallerType, Kind

ROUTING_TARGET = 20_000.0
CALENDAR_TARGET = 200_000.0

# Contents as callers phrase them; each hits what its comment says.
_ROUTINE: tuple[str, ...] = (
    "我的养老金这个月还没有到账，想问一下原因",  # sector: pension
    "公司拖欠工资三个月了，老板一直不给",  # sector: wage arrears
    "异地就医的医保报销比例是多少",  # sector: medical insurance
    "公积金提取到账太慢",  # sector: provident fund
    "在超市买到过期食品，商家拒绝退款",  # sector: consumer rights
    "孩子入学的学区划分问题想咨询",  # sector: education
    "出租车司机拒载还绕路",  # sector: taxi
    "小区已经停水两天了，一直没人管",  # territorial (小区) before utility order
    "楼下烧烤店排放油烟异味，晚上很严重",  # territorial: pollution
    "小区旁工地夜间施工噪音扰民",  # territorial: noise
    "路灯不亮，井盖也丢了",  # territorial: sanitation
    "物业不给维修电梯",  # territorial: property
    "反映一个问题，说不太清楚",  # nothing: area or caller decides
    "建议在城区多设置一些公共停车场",  # nothing: suggestion
    "想打官司没钱，怎么申请法律援助",  # litigation word excluded by 法律援助
    "商场消防通道被堵，存在火灾隐患",  # fire hazard report, not an emergency
)
# Emergencies and matters out of scope are a minority of calls.
_RARE: tuple[str, ...] = (
    "我家楼下饭店着火了，火很大",  # emergency 119
    "老人突然晕倒了没有意识",  # emergency 120
    "路口撞车了有人受伤",  # emergency 122
    "我要起诉开发商，法院判决什么时候执行",  # not accepted: litigation
    "举报村干部贪污",  # not accepted: discipline inspection
    "这个事信访局已受理，想再反映",  # not accepted: petition
)
_RARE_SHARE = 0.1

_LINES: tuple[str, ...] = (
    *("12345",) * 12,  # most calls come in on 12345 itself
    "12333",  # dual: human resources
    "12366",  # sub-centre: tax
    "96119",  # whole: fire rescue
    "12315",  # dual: market regulation
    "12329",  # dual: provident fund
    "12388",  # collaboration: discipline inspection
    "12348",  # dual: legal aid
)

_AREAS: tuple[tuple[AreaInput, str | None], ...] = (
    *((AreaInput(), None),) * 4,  # no place at all
    (AreaInput(district="山亭区", town="西集镇"), None),
    (AreaInput(district="滕州市", town="荆河街道"), None),  # town without a sub-centre
    (AreaInput(town="常庄街道"), None),
    (AreaInput(district="市中区"), None),
    (AreaInput(district="district.taierzhuang"), None),  # by unit code
    (AreaInput(), "薛城区临城街道某小区3号楼"),  # place in the address text
    (AreaInput(), "峄城区坛山街道人民路18号"),
    (AreaInput(), "枣庄市某某路口"),  # address without a known place
)


def make_requests(rulebook: Rulebook, count: int = 4_000, seed: int = 12345) -> list[RequestFacts]:
    """A reproducible mix; a few requests carry the agent's category or not-accepted reason."""
    rng = random.Random(seed)
    kinds = tuple(Kind)
    categories = tuple(rulebook.categories)
    requests: list[RequestFacts] = []
    for _ in range(count):
        area, address = rng.choice(_AREAS)
        kind = rng.choice(kinds)
        roll = rng.random()
        requests.append(
            RequestFacts(
                content=rng.choice(_RARE if rng.random() < _RARE_SHARE else _ROUTINE),
                kind=kind,
                caller_type=CallerType.ENTERPRISE if rng.random() < 0.2 else CallerType.CITIZEN,
                line=rng.choice(_LINES),
                category=rng.choice(categories) if roll < 0.1 else None,
                area=area,
                address=address,
                has_answer=kind is Kind.CONSULTATION and rng.random() < 0.3,
                not_accepted_reason="unlawful_demand" if 0.1 <= roll < 0.12 else None,
            )
        )
    return requests


def routing_rate(seconds: float = 2.0) -> dict[str, float]:
    """Decisions per second over the mix, for about ``seconds`` seconds (after one warm-up pass)."""
    rulebook = load_rulebook()
    requests = make_requests(rulebook)
    for facts in requests:  # warm-up; also fills the per-rulebook caches
        route(facts, rulebook)
    done = 0
    begin = time.perf_counter()
    stop = begin + seconds
    while True:
        for facts in requests:
            route(facts, rulebook)
        done += len(requests)
        now = time.perf_counter()
        if now >= stop:
            return {"route_per_s": done / (now - begin), "distinct_rules": _distinct_rules(rulebook, requests)}


def _distinct_rules(rulebook: Rulebook, requests: list[RequestFacts]) -> float:
    return float(len({route(f, rulebook).rule_id for f in requests}))


def _row(label: str, value: str, target: str = "", verdict: str = "") -> str:
    return f"{label:<42}{value:>18}{target:>16}  {verdict}"


def _verdict(rate: float, target: float) -> str:
    return "ok" if rate >= target else "below target"


def main() -> int:
    routing = routing_rate()
    calendar = dispatcher_calendar.run()
    rate = routing["route_per_s"]
    fast = calendar["calendar_per_s"]
    print(_row("benchmark", "per second", "target", "result"))
    print("-" * 84)
    print(_row("route(facts, rulebook)", f"{rate:,.0f}", f">= {ROUTING_TARGET:,.0f}", _verdict(rate, ROUTING_TARGET)))
    print(_row(f"  (mix covers {routing['distinct_rules']:.0f} distinct rule ids)", "", ""))
    print(
        _row("WorkingCalendar.deadline", f"{fast:,.0f}", f">= {CALENDAR_TARGET:,.0f}", _verdict(fast, CALENDAR_TARGET))
    )
    print(_row("naive loop over chinese_calendar", f"{calendar['naive_per_s']:,.0f}"))
    print(_row("  ratio calendar / naive", f"{calendar['ratio']:,.1f}x"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

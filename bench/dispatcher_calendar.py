"""Benchmark: WorkingCalendar.deadline vs. a naive day-by-day loop over chinese_calendar.is_workday.

Run from the repository root: ``python bench/dispatcher_calendar.py``.
Prints deadline computations per second for both methods and their ratio.
No assertions on time are made; results are checked for agreement once.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import chinese_calendar

from dispatcher.calendar import (
    LOCAL_TZ,
    WorkingCalendar,
    schedule_from_chinesecalendar_data,
)

_ONE_DAY = timedelta(days=1)
Case = tuple[datetime, int]


def build_calendar() -> WorkingCalendar:
    days, years = schedule_from_chinesecalendar_data(
        chinese_calendar.constants.holidays, chinese_calendar.constants.workdays
    )
    return WorkingCalendar(days, years)


def make_cases(count: int = 10_000, seed: int = 12345) -> list[Case]:
    """Random aware starts, 2004..Nov 2026 (+10 working days stays inside chinesecalendar data)."""
    rng = random.Random(seed)
    lo = datetime(2004, 1, 1, tzinfo=UTC).timestamp()
    hi = datetime(2026, 11, 30, tzinfo=UTC).timestamp()
    return [(datetime.fromtimestamp(rng.uniform(lo, hi), tz=UTC), rng.choice((5, 10))) for _ in range(count)]


def naive_deadline(start: datetime, n: int) -> tuple[date, datetime]:
    day = start.astimezone(LOCAL_TZ).date()
    counted = 0
    while counted < n:
        day += _ONE_DAY
        if chinese_calendar.is_workday(day):
            counted += 1
    return day, datetime.combine(day + _ONE_DAY, datetime.min.time(), tzinfo=LOCAL_TZ)


def _rate(fn: Callable[[datetime, int], object], cases: list[Case], seconds: float) -> float:
    done = 0
    begin = time.perf_counter()
    deadline = begin + seconds
    while True:
        for start, n in cases:
            fn(start, n)
        done += len(cases)
        now = time.perf_counter()
        if now >= deadline:
            return done / (now - begin)


def run(seconds: float = 2.0) -> dict[str, float]:
    """Measure each method for about ``seconds`` seconds; return rates (per second) and their ratio."""
    cal = build_calendar()
    cases = make_cases()
    for start, n in cases[:2000]:
        fast = cal.deadline(start, n)
        slow = naive_deadline(start, n)
        if (fast.due_date, fast.due_at) != slow or fast.provisional:
            raise RuntimeError(f"mismatch for {start.isoformat()} + {n}: {fast} vs {slow}")
    calendar_rate = _rate(cal.deadline, cases, seconds)
    naive_rate = _rate(naive_deadline, cases[:1000], seconds)
    return {
        "calendar_per_s": calendar_rate,
        "naive_per_s": naive_rate,
        "ratio": calendar_rate / naive_rate,
    }


def main() -> None:
    result = run()
    print(f"WorkingCalendar.deadline:          {result['calendar_per_s']:>14,.0f} deadlines/s")
    print(f"naive loop (chinese_calendar):     {result['naive_per_s']:>14,.0f} deadlines/s")
    print(f"speed-up:                          {result['ratio']:>14.1f}x")


if __name__ == "__main__":
    main()

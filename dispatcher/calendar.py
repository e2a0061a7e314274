"""Working-day calendar used to compute ticket handling deadlines.

Policy
------
* Time limits for 12345 hotline tickets in 枣庄 are expressed in working days
  (ordinarily 5 working days, 10 working days for complex matters; an extension
  adds further working days).
* Counting follows 民法典第二百零一条: the day on which the period starts is not
  counted; counting begins on the next day.  Per 民法典第二百零三条 the period ends
  at 24:00 of its last day.  The "local day" is the day in Asia/Shanghai, so a
  start instant given in any other zone is converted to Asia/Shanghai before its
  date is taken, and the deadline instant is 00:00 Asia/Shanghai of the day after
  the last working day.
* Working days are Monday–Friday, minus statutory holidays, plus the make-up
  working days (调休) published by the State Council, which always fall on a
  Saturday or Sunday.
* Only years whose official schedule has been loaded are known.  Any counted day
  that falls in a year that is not loaded is treated by the weekend-only rule and
  the result is flagged ``provisional``; the calendar never silently guesses.

The module is pure: standard library only, no I/O.  Adding working days costs
O(log n): inside the span of loaded years it bisects a precomputed sorted array
of working-day ordinals, outside it uses closed-form weekday arithmetic.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

__all__ = [
    "LOCAL_TZ",
    "CalendarError",
    "DayKind",
    "Deadline",
    "SpecialDay",
    "WorkingCalendar",
    "parse_schedule",
    "schedule_from_chinesecalendar_data",
]

LOCAL_TZ: ZoneInfo = ZoneInfo("Asia/Shanghai")

_ONE_DAY = timedelta(days=1)
_MIDNIGHT = time(0)
_MAX_ORDINAL = date.max.toordinal()
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class DayKind(StrEnum):
    """Kind of an entry in the official yearly schedule (放假安排)."""

    HOLIDAY = "holiday"
    MAKEUP_WORKDAY = "makeup_workday"


@dataclass(frozen=True, slots=True)
class SpecialDay:
    """A day on which the weekday/weekend rule is overridden by the official schedule."""

    day: date
    kind: DayKind
    name: str


@dataclass(frozen=True, slots=True)
class Deadline:
    """Result of a time-limit computation.

    ``due_at`` is 24:00 Asia/Shanghai of ``due_date`` (民法典第二百零三条), expressed as
    00:00 of the following day.  ``provisional`` is true when any counted day lies in
    a year whose official schedule is not loaded (weekend-only rule applied there).
    """

    due_date: date
    due_at: datetime
    working_days: int
    provisional: bool


class CalendarError(ValueError):
    """Invalid calendar data or request; ``code`` is stable, ``message`` is for users (Chinese)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __reduce__(self) -> tuple[type[CalendarError], tuple[str, str]]:
        return (type(self), (self.code, self.message))


_NEVER_NAIVE_TZ: tuple[type[tzinfo], ...] = (ZoneInfo, timezone)

_new_object = object.__new__
_set_due_date = Deadline.__dict__["due_date"].__set__
_set_due_at = Deadline.__dict__["due_at"].__set__
_set_working_days = Deadline.__dict__["working_days"].__set__
_set_provisional = Deadline.__dict__["provisional"].__set__


def _new_deadline(due_date: date, due_at: datetime, working_days: int, provisional: bool) -> Deadline:
    """Equivalent to ``Deadline(...)`` for already-validated values, about twice as fast.

    The frozen dataclass ``__init__`` routes every field through ``object.__setattr__``;
    writing the slot descriptors directly is the hot path of ``WorkingCalendar.deadline``.
    """
    result: Deadline = _new_object(Deadline)
    _set_due_date(result, due_date)
    _set_due_at(result, due_at)
    _set_working_days(result, working_days)
    _set_provisional(result, provisional)
    return result


# --- closed-form weekday arithmetic -------------------------------------------------
# Ordinal 1 (0001-01-01) is a Monday, so ordinals 1..7 are Monday..Sunday.


def _weekday_of(ordinal: int) -> int:
    return (ordinal - 1) % 7


def _weekdays_upto(ordinal: int) -> int:
    """Number of Monday–Friday days among ordinals 1..ordinal (0 for ordinal <= 0)."""
    if ordinal <= 0:
        return 0
    weeks, rest = divmod(ordinal, 7)
    return 5 * weeks + min(rest, 5)


def _nth_weekday(k: int) -> int:
    """Smallest ordinal x with ``_weekdays_upto(x) == k`` (k >= 1); it is a weekday."""
    weeks, rest = divmod(k - 1, 5)
    return 7 * weeks + rest + 1


def _midnight_after(day: date) -> datetime:
    """24:00 Asia/Shanghai of ``day`` (民法典第二百零三条), i.e. 00:00 of the next day."""
    return datetime.combine(day + _ONE_DAY, _MIDNIGHT, tzinfo=LOCAL_TZ)


def _first_counted_year(start: date) -> int:
    return start.year + 1 if (start.month == 12 and start.day == 31) else start.year


def _check_working_days(n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, int):
        raise CalendarError("calendar.invalid_working_days", f"工作日天数必须是整数，收到：{n!r}")
    if n < 1:
        raise CalendarError("calendar.invalid_working_days", f"工作日天数必须至少为 1，收到：{n}")
    return n


def _check_plain_date(value: object, label: str) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise CalendarError(
            "calendar.not_a_date",
            f"{label}必须是本地日期（date），不能是时间点或其他类型：{value!r}",
        )
    return value


class WorkingCalendar:
    """China's statutory working-day calendar for the loaded years.

    Deadlines follow 民法典第二百零一条 (the start day is not counted) and
    第二百零三条 (the period ends at 24:00 of the last day), applied to the
    city's 5/10 working-day time limits.  Days in years that are not loaded fall
    back to the weekend-only rule and make results ``provisional``.
    """

    __slots__ = (
        "_base",
        "_by_year",
        "_gapless",
        "_holidays",
        "_loaded_sorted",
        "_makeups",
        "_span_end",
        "_span_start",
        "_tail_base",
        "_work",
        "_work_dates",
        "_work_due_at",
        "loaded_years",
    )

    loaded_years: frozenset[int]

    def horizon(self, today: date) -> date:
        """The last date a user may give for a future step (a reply-by date, a period end): 31
        December of the year after the last loaded year, and never before the year after
        ``today`` (local date). Dates beyond it cannot be counted in working days and, stored,
        would only stop the sweeps (issue 10: one stored value must never stop them)."""
        last = max(self._loaded_sorted[-1] if self._loaded_sorted else today.year, today.year)
        return date(min(last + 1, 9998), 12, 31)

    def __init__(self, special_days: Iterable[SpecialDay], loaded_years: Iterable[int]) -> None:
        years: set[int] = set()
        for year in loaded_years:
            if isinstance(year, bool) or not isinstance(year, int) or not 1 <= year <= 9998:
                raise CalendarError("calendar.bad_year", f"年份无效：{year!r}")
            years.add(year)
        self.loaded_years = frozenset(years)
        self._loaded_sorted: list[int] = sorted(years)

        holidays: dict[date, SpecialDay] = {}
        makeups: dict[date, SpecialDay] = {}
        for sd in special_days:
            day = sd.day
            if day.year not in years and not _previous_december(day, years):
                raise CalendarError(
                    "calendar.year_not_loaded",
                    f"{day.isoformat()}（{sd.name}）所在的 {day.year} 年不在已加载年份内",
                )
            if day in holidays or day in makeups:
                other = holidays.get(day) or makeups[day]
                if other.kind is not sd.kind:
                    raise CalendarError(
                        "calendar.holiday_is_makeup",
                        f"{day.isoformat()} 同时被列为放假日和调休上班日（{other.name} / {sd.name}）",
                    )
                raise CalendarError("calendar.duplicate_day", f"{day.isoformat()}（{sd.name}）在安排中重复出现")
            if sd.kind is DayKind.MAKEUP_WORKDAY:
                if day.weekday() < 5:
                    raise CalendarError(
                        "calendar.makeup_not_weekend",
                        f"调休上班日 {day.isoformat()}（{sd.name}）不是周六或周日",
                    )
                makeups[day] = sd
            elif sd.kind is DayKind.HOLIDAY:
                holidays[day] = sd
            else:  # pragma: no cover - defensive, DayKind is closed
                raise CalendarError("calendar.bad_kind", f"未知的日期类型：{sd.kind!r}")

        self._holidays: frozenset[int] = frozenset(d.toordinal() for d in holidays)
        self._makeups: frozenset[int] = frozenset(d.toordinal() for d in makeups)
        by_year: dict[int, list[SpecialDay]] = {}
        for sd in (*holidays.values(), *makeups.values()):
            by_year.setdefault(sd.day.year, []).append(sd)
        for rows in by_year.values():
            rows.sort(key=lambda r: r.day)
        self._by_year: dict[int, list[SpecialDay]] = by_year

        # Precomputed span: 1 Jan of the first loaded year .. 31 Dec of the last one.
        # Gap years inside the span use the weekend rule (and mark results provisional).
        if years:
            # a notice's days in the previous December (the 2019 notice's 2018-12-29..31) count too
            earliest = min((*holidays, *makeups), default=date(min(years), 1, 1))
            self._span_start = min(date(min(years), 1, 1), earliest).toordinal()
            self._span_end = date(max(years), 12, 31).toordinal()
        else:
            self._span_start = 1
            self._span_end = 0
        self._work: list[int] = [
            o
            for o in range(self._span_start, self._span_end + 1)
            if o in self._makeups or (o not in self._holidays and _weekday_of(o) < 5)
        ]
        # Cumulative working-day count C(x) over ordinals 1..x:
        #   x <  span_start: weekdays_upto(x)
        #   inside the span: base + bisect_right(work, x)
        #   after the span:  tail_base + weekdays_upto(x)
        self._base = _weekdays_upto(self._span_start - 1)
        self._tail_base = self._base + len(self._work) - _weekdays_upto(self._span_end)
        # Hot-path tables parallel to ``_work``: the date and the 24:00 deadline instant.
        self._work_dates: list[date] = [date.fromordinal(o) for o in self._work]
        self._work_due_at: list[datetime] = [_midnight_after(d) for d in self._work_dates]
        self._gapless = len(years) == (max(years) - min(years) + 1 if years else 0)

    # --- queries -----------------------------------------------------------------------

    def is_working_day(self, day: date) -> bool:
        """Statutory working day; unloaded years use the weekend-only rule."""
        o = _check_plain_date(day, "日期").toordinal()
        if o in self._makeups:
            return True
        if o in self._holidays:
            return False
        return _weekday_of(o) < 5

    def is_provisional_year(self, year: int) -> bool:
        """True when the official schedule of ``year`` is not loaded."""
        return year not in self.loaded_years

    def year_days(self, year: int) -> list[SpecialDay]:
        """Holidays and make-up working days of ``year`` in date order."""
        return list(self._by_year.get(year, ()))

    # --- arithmetic --------------------------------------------------------------------

    def _count_upto(self, o: int) -> int:
        if o < self._span_start:
            return _weekdays_upto(o)
        if o <= self._span_end:
            return self._base + bisect_right(self._work, o)
        return self._tail_base + _weekdays_upto(o)

    def _ordinal_of_count(self, k: int) -> int:
        base = self._base
        if k <= base:
            return _nth_weekday(k)
        inside = k - base
        work = self._work
        if inside <= len(work):
            return work[inside - 1]
        return _nth_weekday(k - self._tail_base)

    def _years_provisional(self, first_year: int, last_year: int) -> bool:
        if first_year == last_year:
            return first_year not in self.loaded_years
        loaded = self._loaded_sorted
        present = bisect_right(loaded, last_year) - bisect_left(loaded, first_year)
        return present != last_year - first_year + 1

    def _add(self, start: date, n: int) -> tuple[date, bool]:
        o = start.toordinal()
        due = self._ordinal_of_count(self._count_upto(o) + n)
        if due >= _MAX_ORDINAL:
            raise CalendarError("calendar.out_of_range", "期限超出可表示的日期范围")
        due_date = date.fromordinal(due)
        return due_date, self._years_provisional(_first_counted_year(start), due_date.year)

    def add_working_days(self, start: date, n: int) -> tuple[date, bool]:
        """Last day of an ``n``-working-day period starting on local date ``start``.

        ``start`` itself is not counted (民法典第二百零一条).  Returns
        ``(due_date, provisional)``.  ``n`` must be at least 1.
        """
        return self._add(_check_plain_date(start, "起算日期"), _check_working_days(n))

    def deadline(self, start: datetime, working_days: int) -> Deadline:
        """Deadline of a time limit of ``working_days`` (e.g. 5 or 10) starting at ``start``.

        ``start`` must be timezone-aware; it is converted to Asia/Shanghai and its local
        date is the (uncounted) start day.  The limit ends at 24:00 local time of the
        last working day (民法典第二百零一条、第二百零三条).
        """
        tz = start.tzinfo if isinstance(start, datetime) else None
        if tz is None or (type(tz) not in _NEVER_NAIVE_TZ and start.utcoffset() is None):
            raise CalendarError("calendar.naive_datetime", f"起算时间必须带时区信息（aware datetime），收到：{start!r}")
        n = working_days
        if type(n) is not int or n < 1:
            n = _check_working_days(n)
        local = start.astimezone(LOCAL_TZ).date()
        o = local.toordinal()
        # Fast path: start and due date both inside the precomputed span.
        if self._span_start <= o:
            work = self._work
            idx = bisect_right(work, o) + n - 1
            if idx < len(work):
                due_date = self._work_dates[idx]
                provisional = not self._gapless and self._years_provisional(_first_counted_year(local), due_date.year)
                return _new_deadline(due_date, self._work_due_at[idx], n, provisional)
        due_date, provisional = self._add(local, n)
        return _new_deadline(due_date, _midnight_after(due_date), n, provisional)

    def extend(self, current: Deadline, working_days: int) -> Deadline:
        """Extend a deadline by ``working_days`` counted from its current last day.

        The current due date is not counted again; the total number of working days
        accumulates and a provisional deadline stays provisional.
        """
        n = _check_working_days(working_days)
        due_date, provisional = self._add(current.due_date, n)
        return Deadline(
            due_date, _midnight_after(due_date), current.working_days + n, current.provisional or provisional
        )

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in the half-open interval (start, end]; 0 when end <= start."""
        s = _check_plain_date(start, "开始日期").toordinal()
        e = _check_plain_date(end, "结束日期").toordinal()
        if e <= s:
            return 0
        return self._count_upto(e) - self._count_upto(s)


# --- schedule import ----------------------------------------------------------------------

_SCHEDULE_KEYS = {"year", "holidays", "makeup_workdays"}
_LIST_LABELS = {"holidays": "放假日", "makeup_workdays": "调休上班日"}


def _bad(message: str) -> CalendarError:
    return CalendarError("calendar.bad_format", message)


def _previous_december(day: date, years: Iterable[int] | frozenset[int] | set[int]) -> bool:
    """A day of December whose following year is loaded: an official notice for a year also
    arranges the end of the previous December (the 2019 notice made 2018-12-29 a make-up working
    day and 2018-12-30/31 holidays)."""
    return day.month == 12 and day.year + 1 in years


def parse_schedule(text: str) -> tuple[int, list[SpecialDay]]:
    """Parse and validate one year's official schedule (放假安排) imported by a supervisor.

    Format (JSON)::

        {"year": 2027,
         "holidays": [{"date": "2027-01-01", "name": "元旦"}, ...],
         "makeup_workdays": [{"date": "2027-02-07", "name": "春节调休"}]}

    Both lists are required (``makeup_workdays`` may be empty) and unknown keys are
    rejected, so a misspelt key cannot silently drop make-up days. Dates fall in ``year`` or in
    the previous December, which official notices arrange too (the 2019 notice: 2018-12-29 a
    make-up working day, 2018-12-30/31 holidays); they apply to the day they name.  Errors are
    ``CalendarError`` with a Chinese message naming the offending entry.
    """
    try:
        data: Any = json.loads(text)
    except (json.JSONDecodeError, TypeError) as exc:
        raise _bad(f"放假安排不是有效的 JSON：{exc}") from None
    if not isinstance(data, dict):
        raise _bad("放假安排必须是 JSON 对象")
    if "year" not in data:
        raise CalendarError("calendar.missing_year", "放假安排缺少年份（year）")
    year = data["year"]
    if isinstance(year, bool) or not isinstance(year, int) or not 1 <= year <= 9998:
        raise CalendarError("calendar.bad_year", f"放假安排的年份无效：{year!r}")
    unknown = sorted(set(data) - _SCHEDULE_KEYS)
    if unknown:
        raise _bad(f"放假安排包含无法识别的字段：{', '.join(unknown)}")

    days: list[SpecialDay] = []
    seen: dict[date, tuple[DayKind, str]] = {}
    for key, kind in (("holidays", DayKind.HOLIDAY), ("makeup_workdays", DayKind.MAKEUP_WORKDAY)):
        label = _LIST_LABELS[key]
        if key not in data:
            raise _bad(f"放假安排缺少{label}列表（{key}）")
        entries = data[key]
        if not isinstance(entries, list):
            raise _bad(f"{label}列表（{key}）必须是数组")
        for index, entry in enumerate(entries, start=1):
            where = f"{label}第 {index} 条"
            if not isinstance(entry, dict):
                raise _bad(f"{where}必须是包含 date 和 name 的对象：{entry!r}")
            raw_date = entry.get("date")
            name = entry.get("name")
            if not isinstance(raw_date, str) or not _ISO_DATE.fullmatch(raw_date):
                raise CalendarError("calendar.bad_date", f"{where}的日期格式应为 YYYY-MM-DD：{raw_date!r}")
            try:
                day = date.fromisoformat(raw_date)
            except ValueError:
                raise CalendarError("calendar.bad_date", f"{where}的日期不存在：{raw_date}") from None
            if not isinstance(name, str) or not name.strip():
                raise _bad(f"{where}（{raw_date}）缺少名称（name）")
            name = name.strip()
            if day.year != year and not (day.year == year - 1 and day.month == 12):
                raise CalendarError(
                    "calendar.date_outside_year",
                    f"{where}（{raw_date} {name}）不在 {year} 年内（通知只可另含上一年 12 月的安排）",
                )
            if day in seen:
                prev_kind, prev_name = seen[day]
                if prev_kind is not kind:
                    raise CalendarError(
                        "calendar.holiday_is_makeup",
                        f"{where}（{raw_date} {name}）同时被列为放假日（{prev_name}）",
                    )
                raise CalendarError("calendar.duplicate_day", f"{where}（{raw_date} {name}）与 {prev_name} 日期重复")
            if kind is DayKind.MAKEUP_WORKDAY and day.weekday() < 5:
                raise CalendarError("calendar.makeup_not_weekend", f"{where}（{raw_date} {name}）不是周六或周日")
            seen[day] = (kind, name)
            days.append(SpecialDay(day, kind, name))
    if not any(d.kind is DayKind.HOLIDAY for d in days):
        raise CalendarError("calendar.empty_schedule", f"{year} 年放假安排中没有任何放假日")
    days.sort(key=lambda d: d.day)
    return year, days


_CHINESE_NAMES: dict[str, str] = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "Mid-autumn Festival": "中秋节",
    "National Day": "国庆节",
    "Anti-Fascist 70th Day": "抗战胜利纪念日",
}


def _chinese_name(name: object) -> str:
    text = str(getattr(name, "value", name))
    return _CHINESE_NAMES.get(text, text)


CHINESECALENDAR_CORRECTIONS: tuple[SpecialDay, ...] = (
    # 国务院办公厅关于2006年部分节假日安排的通知: 元旦 1月1日至3日放假, 2005年12月31日（星期六）上班.
    # The package has no entry for it (its issue #125), so it reads as a weekend day off.
    SpecialDay(date(2005, 12, 31), DayKind.MAKEUP_WORKDAY, "元旦调休"),
)
"""Known gaps of the ``chinesecalendar`` package's data, each checked against the official notice
(State Council General Office's annual 部分节假日安排的通知); applied over the package's days."""


def schedule_from_chinesecalendar_data(
    holidays: Mapping[date, str], workdays: Mapping[date, str]
) -> tuple[list[SpecialDay], set[int]]:
    """Convert the ``chinesecalendar`` package's holiday/make-up tables to special days.

    A year counts as loaded only if it has at least one entry.  Make-up working days
    are named after the holiday they compensate, with the suffix 调休 (e.g. 国庆节调休).
    :data:`CHINESECALENDAR_CORRECTIONS` of the years the tables cover replace the package's
    entry for their day.
    """
    present = {d.year for d in holidays} | {d.year for d in workdays}
    fixed = {c.day: c for c in CHINESECALENDAR_CORRECTIONS if c.day.year in present}
    days = [SpecialDay(d, DayKind.HOLIDAY, _chinese_name(n)) for d, n in holidays.items() if d not in fixed]
    days += [
        SpecialDay(d, DayKind.MAKEUP_WORKDAY, _chinese_name(n) + "调休") for d, n in workdays.items() if d not in fixed
    ]
    days += fixed.values()
    days.sort(key=lambda s: (s.day, s.kind))
    return days, {s.day.year for s in days}

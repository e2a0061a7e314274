"""Tests for the statutory working-day calendar (民法典第二百零一条、第二百零三条; 5/10 working days)."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, date, datetime, timedelta, timezone
from functools import cache
from typing import Any

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatcher.calendar import (
    CHINESECALENDAR_CORRECTIONS,
    LOCAL_TZ,
    CalendarError,
    DayKind,
    Deadline,
    SpecialDay,
    WorkingCalendar,
    parse_schedule,
    schedule_from_chinesecalendar_data,
)

HOLIDAYS: dict[date, str] = dict(chinese_calendar.constants.holidays)
WORKDAYS: dict[date, str] = dict(chinese_calendar.constants.workdays)
FIRST_YEAR = min(d.year for d in HOLIDAYS)
LAST_YEAR = max(d.year for d in HOLIDAYS)


@cache
def official_calendar() -> WorkingCalendar:
    days, years = schedule_from_chinesecalendar_data(HOLIDAYS, WORKDAYS)
    return WorkingCalendar(days, years)


def calendar_for_years(years: set[int]) -> WorkingCalendar:
    """Calendar built from chinesecalendar data restricted to ``years``."""
    days, _ = schedule_from_chinesecalendar_data(
        {d: n for d, n in HOLIDAYS.items() if d.year in years},
        {d: n for d, n in WORKDAYS.items() if d.year in years},
    )
    return WorkingCalendar(days, years)


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    return official_calendar()


# --- brute-force reference ---------------------------------------------------------------


CORRECTED = {c.day: c.kind for c in CHINESECALENDAR_CORRECTIONS}
"""Days where the package's data is known wrong (checked against the official notices)."""


def ref_is_working(day: date, loaded: frozenset[int] | set[int]) -> bool:
    if day.year in loaded:
        if day in CORRECTED:
            return CORRECTED[day] is DayKind.MAKEUP_WORKDAY
        if day in WORKDAYS:
            return True
        if day in HOLIDAYS:
            return False
    return day.weekday() < 5


def ref_add(start: date, n: int, loaded: frozenset[int] | set[int]) -> tuple[date, bool]:
    day = start
    count = 0
    provisional = False
    while count < n:
        day += timedelta(days=1)
        provisional = provisional or day.year not in loaded
        if ref_is_working(day, loaded):
            count += 1
    return day, provisional


# --- fixed examples -----------------------------------------------------------------------


def test_national_day_2026_example(cal: WorkingCalendar) -> None:
    for hour, minute in [(0, 0), (9, 30), (23, 59)]:
        start = datetime(2026, 9, 28, hour, minute, tzinfo=LOCAL_TZ)
        result = cal.deadline(start, 5)
        assert result == Deadline(
            due_date=date(2026, 10, 10),
            due_at=datetime(2026, 10, 11, 0, 0, tzinfo=LOCAL_TZ),
            working_days=5,
            provisional=False,
        )
        assert result.due_at.isoformat() == "2026-10-11T00:00:00+08:00"
        assert result.due_at.tzinfo is LOCAL_TZ
    assert date(2026, 10, 10).weekday() == 5
    assert cal.is_working_day(date(2026, 10, 10))


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        # weekends skipped
        (date(2026, 3, 6), 1, date(2026, 3, 9)),  # Fri -> Mon
        (date(2026, 3, 2), 5, date(2026, 3, 9)),  # Mon -> next Mon
        (date(2026, 3, 2), 10, date(2026, 3, 16)),
        (date(2026, 3, 7), 1, date(2026, 3, 9)),  # start on Saturday
        (date(2026, 3, 8), 5, date(2026, 3, 13)),  # start on Sunday
        # Spring Festival 2026: 02-15..02-23 off, 02-14 and 02-28 make-up workdays
        (date(2026, 2, 13), 1, date(2026, 2, 14)),
        (date(2026, 2, 13), 2, date(2026, 2, 24)),
        (date(2026, 2, 12), 5, date(2026, 2, 26)),
        (date(2026, 2, 15), 1, date(2026, 2, 24)),  # start on a holiday
        (date(2026, 2, 20), 5, date(2026, 2, 28)),  # ends on make-up Saturday
        (date(2026, 2, 27), 1, date(2026, 2, 28)),
        # National Day 2026
        (date(2026, 10, 1), 1, date(2026, 10, 8)),  # start on a holiday
        (date(2026, 9, 28), 10, date(2026, 10, 16)),
        # year boundary: 2026-01-01..03 off, 2026-01-04 (Sun) make-up
        (date(2025, 12, 29), 5, date(2026, 1, 6)),
        (date(2025, 12, 31), 1, date(2026, 1, 4)),
    ],
)
def test_add_working_days_table(cal: WorkingCalendar, start: date, n: int, expected: date) -> None:
    assert cal.add_working_days(start, n) == (expected, False)
    assert ref_add(start, n, cal.loaded_years) == (expected, False)
    assert chinese_calendar.is_workday(expected)


def test_spring_festival_2026_days(cal: WorkingCalendar) -> None:
    for offset in range(9):
        assert not cal.is_working_day(date(2026, 2, 15) + timedelta(days=offset))
    assert cal.is_working_day(date(2026, 2, 14))
    assert cal.is_working_day(date(2026, 2, 28))
    assert not cal.is_working_day(date(2026, 3, 1))


def test_utc_start_late_evening_is_next_day_in_shanghai(cal: WorkingCalendar) -> None:
    start = datetime(2026, 9, 27, 16, 30, tzinfo=UTC)  # = 2026-09-28 00:30 in Shanghai (Monday)
    result = cal.deadline(start, 5)
    assert result.due_date == date(2026, 10, 10)
    assert result.due_at == datetime(2026, 10, 11, tzinfo=LOCAL_TZ)
    # Counted naively from the UTC date (Sunday 09-27) the result would differ.
    assert cal.add_working_days(date(2026, 9, 27), 5)[0] == date(2026, 10, 9)
    # One minute earlier it is still Sunday 23:59 in Shanghai.
    earlier = cal.deadline(datetime(2026, 9, 27, 15, 59, tzinfo=UTC), 5)
    assert earlier.due_date == date(2026, 10, 9)


def test_other_fixed_offset_converted(cal: WorkingCalendar) -> None:
    start = datetime(2026, 9, 28, 1, 0, tzinfo=timezone(timedelta(hours=9)))  # 00:00 Shanghai
    assert cal.deadline(start, 5).due_date == date(2026, 10, 10)


@pytest.mark.parametrize("bad", [0, -1, -5])
def test_non_positive_working_days_rejected(cal: WorkingCalendar, bad: int) -> None:
    with pytest.raises(ValueError):
        cal.add_working_days(date(2026, 3, 2), bad)
    with pytest.raises(CalendarError) as info:
        cal.deadline(datetime(2026, 3, 2, tzinfo=LOCAL_TZ), bad)
    assert info.value.code == "calendar.invalid_working_days"
    current = cal.deadline(datetime(2026, 3, 2, tzinfo=LOCAL_TZ), 5)
    with pytest.raises(ValueError):
        cal.extend(current, bad)


def test_non_integer_working_days_rejected(cal: WorkingCalendar) -> None:
    with pytest.raises(CalendarError):
        cal.add_working_days(date(2026, 3, 2), True)
    with pytest.raises(CalendarError):
        cal.add_working_days(date(2026, 3, 2), 1.5)  # type: ignore[arg-type]


def test_naive_datetime_rejected(cal: WorkingCalendar) -> None:
    with pytest.raises(CalendarError) as info:
        cal.deadline(datetime(2026, 9, 28, 9, 0), 5)  # noqa: DTZ001
    assert info.value.code == "calendar.naive_datetime"
    assert info.value.message


def test_datetime_rejected_where_local_date_expected(cal: WorkingCalendar) -> None:
    with pytest.raises(CalendarError) as info:
        cal.add_working_days(datetime(2026, 9, 28, tzinfo=UTC), 5)
    assert info.value.code == "calendar.not_a_date"


# --- provisional (unloaded years) ------------------------------------------------------------


def test_deadline_in_unloaded_year_is_provisional(cal: WorkingCalendar) -> None:
    assert cal.is_provisional_year(2030)
    result = cal.deadline(datetime(2030, 3, 1, 10, tzinfo=LOCAL_TZ), 5)
    assert result.provisional
    assert result.due_date.weekday() < 5
    assert result.due_date == date(2030, 3, 8)


def test_deadline_inside_loaded_years_not_provisional(cal: WorkingCalendar) -> None:
    assert not cal.is_provisional_year(2026)
    assert not cal.deadline(datetime(2026, 6, 1, tzinfo=LOCAL_TZ), 10).provisional


def test_deadline_crossing_into_unloaded_year_is_provisional(cal: WorkingCalendar) -> None:
    result = cal.deadline(datetime(2026, 12, 28, 9, tzinfo=LOCAL_TZ), 5)
    assert result.provisional
    # 2027-01-01 (Friday) counts as a working day under the weekend-only rule.
    assert result.due_date == date(2027, 1, 4)
    # Start on 2026-12-31: the only counted days are in 2027.
    assert cal.add_working_days(date(2026, 12, 31), 1) == (date(2027, 1, 1), True)


def test_start_in_unloaded_year_counting_only_loaded_days(cal: WorkingCalendar) -> None:
    # The start day is not counted, so a 2003-12-31 start only counts 2004 days.
    due, provisional = cal.add_working_days(date(2003, 12, 31), 3)
    assert not provisional
    assert (due, provisional) == ref_add(date(2003, 12, 31), 3, cal.loaded_years)


def test_gap_year_uses_weekend_rule_and_is_provisional() -> None:
    gap = calendar_for_years({2024, 2026})
    assert gap.loaded_years == frozenset({2024, 2026})
    assert gap.is_provisional_year(2025)
    assert gap.is_working_day(date(2025, 10, 1))  # Wednesday, holiday not known
    assert not gap.is_working_day(date(2026, 10, 1))
    assert gap.add_working_days(date(2025, 9, 29), 3) == (date(2025, 10, 2), True)
    assert not gap.add_working_days(date(2024, 3, 1), 5)[1]
    assert not gap.add_working_days(date(2026, 3, 1), 5)[1]
    assert gap.deadline(datetime(2025, 9, 29, 9, tzinfo=LOCAL_TZ), 3).provisional
    assert gap.deadline(datetime(2024, 12, 30, 9, tzinfo=LOCAL_TZ), 5).provisional
    assert not gap.deadline(datetime(2026, 9, 28, 9, tzinfo=LOCAL_TZ), 5).provisional
    assert gap.deadline(datetime(2026, 9, 28, 9, tzinfo=LOCAL_TZ), 5).due_date == date(2026, 10, 10)
    # Crossing the gap from 2024 to 2026.
    start, n = date(2024, 12, 2), 300
    assert gap.add_working_days(start, n) == ref_add(start, n, {2024, 2026})
    assert gap.add_working_days(start, n)[1]


def test_empty_calendar_is_weekend_only_and_provisional() -> None:
    empty = WorkingCalendar([], [])
    assert empty.deadline(datetime(2026, 9, 28, tzinfo=LOCAL_TZ), 5).provisional
    assert empty.add_working_days(date(2026, 9, 28), 5) == (date(2026, 10, 5), True)
    assert empty.working_days_between(date(2026, 9, 27), date(2026, 10, 4)) == 5


def test_far_outside_span_matches_reference(cal: WorkingCalendar) -> None:
    for start, n in [
        (date(1999, 12, 30), 2000),  # before the span, running into it
        (date(2003, 1, 1), 260 * 25),  # across the whole span
        (date(2026, 11, 1), 1000),  # after the span
        (date(1900, 1, 1), 7),
    ]:
        assert cal.add_working_days(start, n) == ref_add(start, n, cal.loaded_years)
        due, _ = cal.add_working_days(start, n)
        assert cal.working_days_between(start, due) == n


def test_out_of_range_rejected(cal: WorkingCalendar) -> None:
    with pytest.raises(CalendarError) as info:
        cal.add_working_days(date(9999, 12, 20), 20)
    assert info.value.code == "calendar.out_of_range"


# --- extend / between / year_days ---------------------------------------------------------


def test_extend_counts_from_current_due_date(cal: WorkingCalendar) -> None:
    first = cal.deadline(datetime(2026, 9, 28, 9, tzinfo=LOCAL_TZ), 5)
    extended = cal.extend(first, 5)
    assert extended.due_date == date(2026, 10, 16)
    assert extended.due_at == datetime(2026, 10, 17, tzinfo=LOCAL_TZ)
    assert extended.working_days == 10
    assert not extended.provisional
    assert extended == cal.deadline(datetime(2026, 9, 28, 9, tzinfo=LOCAL_TZ), 10)


def test_extend_keeps_provisional(cal: WorkingCalendar) -> None:
    first = cal.deadline(datetime(2026, 12, 28, tzinfo=LOCAL_TZ), 5)
    assert first.provisional
    again = cal.extend(first, 1)
    assert again.provisional and again.working_days == 6


def test_working_days_between(cal: WorkingCalendar) -> None:
    assert cal.working_days_between(date(2026, 9, 28), date(2026, 10, 10)) == 5
    assert cal.working_days_between(date(2026, 9, 28), date(2026, 9, 28)) == 0
    assert cal.working_days_between(date(2026, 10, 10), date(2026, 9, 28)) == 0
    assert cal.working_days_between(date(2026, 9, 30), date(2026, 10, 7)) == 0


def test_year_days(cal: WorkingCalendar) -> None:
    rows = cal.year_days(2026)
    assert rows == sorted(rows, key=lambda r: r.day)
    assert {r.day.year for r in rows} == {2026}
    assert SpecialDay(date(2026, 10, 10), DayKind.MAKEUP_WORKDAY, "国庆节调休") in rows
    assert SpecialDay(date(2026, 2, 17), DayKind.HOLIDAY, "春节") in rows
    assert len(rows) == sum(d.year == 2026 for d in HOLIDAYS) + sum(d.year == 2026 for d in WORKDAYS)
    assert cal.year_days(2030) == []
    rows.clear()
    assert cal.year_days(2026)  # returned list is a copy


def test_loaded_years(cal: WorkingCalendar) -> None:
    assert cal.loaded_years == frozenset(range(FIRST_YEAR, LAST_YEAR + 1))
    assert isinstance(cal.loaded_years, frozenset)


# --- constructor validation -----------------------------------------------------------------


def test_constructor_rejects_makeup_on_weekday() -> None:
    with pytest.raises(CalendarError) as info:
        WorkingCalendar([SpecialDay(date(2026, 10, 9), DayKind.MAKEUP_WORKDAY, "x")], [2026])
    assert info.value.code == "calendar.makeup_not_weekend"


def test_constructor_rejects_holiday_also_makeup() -> None:
    day = date(2026, 10, 10)
    with pytest.raises(CalendarError) as info:
        WorkingCalendar([SpecialDay(day, DayKind.HOLIDAY, "a"), SpecialDay(day, DayKind.MAKEUP_WORKDAY, "b")], [2026])
    assert info.value.code == "calendar.holiday_is_makeup"


def test_constructor_rejects_unloaded_year() -> None:
    with pytest.raises(CalendarError) as info:
        WorkingCalendar([SpecialDay(date(2027, 1, 1), DayKind.HOLIDAY, "元旦")], [2026])
    assert info.value.code == "calendar.year_not_loaded"


def test_calendar_error_is_value_error_and_pickles() -> None:
    err = CalendarError("calendar.bad_format", "格式错误")
    assert isinstance(err, ValueError)
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.code, copy.message) == ("calendar.bad_format", "格式错误")


# --- chinesecalendar conversion ---------------------------------------------------------------


def test_schedule_from_chinesecalendar_data_names_and_years() -> None:
    days, years = schedule_from_chinesecalendar_data(HOLIDAYS, WORKDAYS)
    assert years == set(range(FIRST_YEAR, LAST_YEAR + 1))
    by_day = {(d.day, d.kind): d.name for d in days}
    assert by_day[(date(2026, 10, 1), DayKind.HOLIDAY)] == "国庆节"
    assert by_day[(date(2026, 10, 10), DayKind.MAKEUP_WORKDAY)] == "国庆节调休"
    assert by_day[(date(2026, 1, 1), DayKind.HOLIDAY)] == "元旦"
    assert by_day[(date(2015, 9, 3), DayKind.HOLIDAY)] == "抗战胜利纪念日"
    names = {d.name for d in days}
    assert names >= {"春节", "清明节", "劳动节", "端午节", "中秋节"}
    added = [d for d in CORRECTED if d not in HOLIDAYS and d not in WORKDAYS]
    assert len(days) == len(HOLIDAYS) + len(WORKDAYS) + len(added)


def test_schedule_from_chinesecalendar_data_unknown_name_kept() -> None:
    days, years = schedule_from_chinesecalendar_data({date(2030, 6, 3): "Some Day"}, {})
    assert days == [SpecialDay(date(2030, 6, 3), DayKind.HOLIDAY, "Some Day")]
    assert years == {2030}


def test_calendar_agrees_with_chinesecalendar_every_day(cal: WorkingCalendar) -> None:
    day = date(FIRST_YEAR, 1, 1)
    end = date(LAST_YEAR, 12, 31)
    while day <= end:
        if day in CORRECTED:  # the package is known wrong here; the notice decides
            assert cal.is_working_day(day) == (CORRECTED[day] is DayKind.MAKEUP_WORKDAY), day
        else:
            assert cal.is_working_day(day) == chinese_calendar.is_workday(day), day
        day += timedelta(days=1)


# --- parse_schedule -------------------------------------------------------------------------


def _schedule(**overrides: Any) -> str:
    data: dict[str, Any] = {
        "year": 2027,
        "holidays": [{"date": "2027-01-01", "name": "元旦"}, {"date": "2027-02-08", "name": "春节"}],
        "makeup_workdays": [{"date": "2027-02-07", "name": "春节调休"}],
    }
    data.update(overrides)
    return json.dumps(data, ensure_ascii=False)


def test_parse_schedule_ok_and_loadable() -> None:
    year, days = parse_schedule(_schedule())
    assert year == 2027
    assert days == [
        SpecialDay(date(2027, 1, 1), DayKind.HOLIDAY, "元旦"),
        SpecialDay(date(2027, 2, 7), DayKind.MAKEUP_WORKDAY, "春节调休"),
        SpecialDay(date(2027, 2, 8), DayKind.HOLIDAY, "春节"),
    ]
    base, years = schedule_from_chinesecalendar_data(HOLIDAYS, WORKDAYS)
    extended = WorkingCalendar([*base, *days], {*years, year})
    assert extended.add_working_days(date(2026, 12, 28), 5) == (date(2027, 1, 5), False)


@pytest.mark.parametrize(
    ("text", "code", "fragment"),
    [
        ("{not json", "calendar.bad_format", "JSON"),
        ("[]", "calendar.bad_format", "对象"),
        (json.dumps({"holidays": [], "makeup_workdays": []}), "calendar.missing_year", "year"),
        (_schedule(year="2027"), "calendar.bad_year", "2027"),
        (_schedule(makeup_workday=[]), "calendar.bad_format", "makeup_workday"),
        (
            json.dumps({"year": 2027, "holidays": [{"date": "2027-01-01", "name": "元旦"}]}),
            "calendar.bad_format",
            "makeup_workdays",
        ),
        (_schedule(holidays={}), "calendar.bad_format", "holidays"),
        (_schedule(holidays=[{"date": "2027/01/01", "name": "元旦"}]), "calendar.bad_date", "第 1 条"),
        (_schedule(holidays=[{"date": "2027-02-30", "name": "x"}]), "calendar.bad_date", "2027-02-30"),
        (_schedule(holidays=[{"date": "2027-01-01"}]), "calendar.bad_format", "name"),
        (
            _schedule(holidays=[{"date": "2027-01-01", "name": "元旦"}, {"date": "2026-11-30", "name": "元旦"}]),
            "calendar.date_outside_year",
            "第 2 条",
        ),
        (
            _schedule(holidays=[{"date": "2027-01-01", "name": "元旦"}, {"date": "2027-01-01", "name": "元旦"}]),
            "calendar.duplicate_day",
            "2027-01-01",
        ),
        (
            _schedule(makeup_workdays=[{"date": "2027-02-09", "name": "春节调休"}]),
            "calendar.makeup_not_weekend",
            "2027-02-09",
        ),
        (
            _schedule(
                holidays=[{"date": "2027-02-06", "name": "春节"}],
                makeup_workdays=[{"date": "2027-02-06", "name": "春节调休"}],
            ),
            "calendar.holiday_is_makeup",
            "2027-02-06",
        ),
        (_schedule(holidays=[], makeup_workdays=[]), "calendar.empty_schedule", "2027"),
    ],
)
def test_parse_schedule_errors(text: str, code: str, fragment: str) -> None:
    with pytest.raises(CalendarError) as info:
        parse_schedule(text)
    assert info.value.code == code
    assert fragment in info.value.message


# --- property tests ---------------------------------------------------------------------------

loaded_dates = st.dates(min_value=date(FIRST_YEAR, 1, 1), max_value=date(LAST_YEAR, 12, 31))
wide_dates = st.dates(min_value=date(1990, 1, 1), max_value=date(2040, 12, 31))
small_n = st.integers(min_value=1, max_value=40)


@given(start=loaded_dates, n=small_n)
def test_matches_brute_force_reference(start: date, n: int) -> None:
    cal = official_calendar()
    assert cal.add_working_days(start, n) == ref_add(start, n, cal.loaded_years)


@settings(max_examples=50)
@given(start=wide_dates, n=st.integers(min_value=1, max_value=1500))
def test_matches_brute_force_reference_wide(start: date, n: int) -> None:
    cal = official_calendar()
    assert cal.add_working_days(start, n) == ref_add(start, n, cal.loaded_years)


@given(
    start=st.datetimes(
        min_value=datetime(1990, 1, 1),  # noqa: DTZ001
        max_value=datetime(2040, 12, 31),  # noqa: DTZ001
        timezones=st.sampled_from([UTC, LOCAL_TZ, timezone(timedelta(hours=-8))]),
    ),
    n=st.sampled_from([1, 5, 10, 15, 20]),
)
def test_deadline_is_working_day_at_local_midnight(start: datetime, n: int) -> None:
    cal = official_calendar()
    result = cal.deadline(start, n)
    assert cal.is_working_day(result.due_date)
    assert result.due_at == datetime.combine(result.due_date + timedelta(days=1), datetime.min.time(), LOCAL_TZ)
    assert result.due_at > start
    assert result.working_days == n
    local_start = start.astimezone(LOCAL_TZ).date()
    assert cal.working_days_between(local_start, result.due_date) == n
    due_date, provisional = cal.add_working_days(local_start, n)
    assert result == Deadline(due_date, result.due_at, n, provisional)


@given(a=wide_dates, b=wide_dates, n=small_n)
def test_monotonic_in_start(a: date, b: date, n: int) -> None:
    cal = official_calendar()
    a, b = min(a, b), max(a, b)
    assert cal.add_working_days(a, n)[0] <= cal.add_working_days(b, n)[0]


@given(start=wide_dates, a=small_n, b=small_n)
def test_monotonic_in_n(start: date, a: int, b: int) -> None:
    cal = official_calendar()
    if a == b:
        return
    lo, hi = min(a, b), max(a, b)
    assert cal.add_working_days(start, lo)[0] < cal.add_working_days(start, hi)[0]


@given(start=wide_dates, a=st.integers(1, 400), b=st.integers(1, 400))
def test_additive(start: date, a: int, b: int) -> None:
    cal = official_calendar()
    mid, p1 = cal.add_working_days(start, a)
    end, p2 = cal.add_working_days(mid, b)
    assert cal.add_working_days(start, a + b) == (end, p1 or p2)


@given(start=wide_dates, n=st.integers(1, 3000))
def test_between_inverts_add(start: date, n: int) -> None:
    cal = official_calendar()
    due, _ = cal.add_working_days(start, n)
    assert cal.working_days_between(start, due) == n
    assert cal.working_days_between(start, due - timedelta(days=1)) == n - 1


@given(start=wide_dates, n=small_n)
def test_provisional_iff_counted_day_in_unloaded_year(start: date, n: int) -> None:
    cal = official_calendar()
    due, provisional = cal.add_working_days(start, n)
    first = start + timedelta(days=1)
    years = range(first.year, due.year + 1)
    assert provisional == any(cal.is_provisional_year(y) for y in years)


def test_a_notice_arranges_the_previous_december_too() -> None:
    """The 2019 notice: 元旦 2018-12-30 to 2019-01-01 off, Saturday 2018-12-29 a working day."""
    from dispatcher.calendar import parse_schedule

    holidays = [
        {"date": "2018-12-30", "name": "元旦"},
        {"date": "2018-12-31", "name": "元旦"},
        {"date": "2019-01-01", "name": "元旦"},
    ]
    notice: dict[str, Any] = {
        "year": 2019,
        "holidays": [
            {"date": "2018-12-30", "name": "元旦"},
            {"date": "2018-12-31", "name": "元旦"},
            {"date": "2019-01-01", "name": "元旦"},
        ],
        "makeup_workdays": [{"date": "2018-12-29", "name": "元旦调休"}],
    }
    year, days = parse_schedule(json.dumps(notice))
    assert year == 2019 and [d.day for d in days][:3] == [date(2018, 12, 29), date(2018, 12, 30), date(2018, 12, 31)]
    # only 2019 is loaded: the December days still apply to the days they name
    cal = WorkingCalendar(days, {2019})
    assert cal.is_working_day(date(2018, 12, 29)) and not cal.is_working_day(date(2018, 12, 31))
    # Friday 2018-12-28 + 1 working day: Saturday 29th (make-up), not Monday 31st (holiday)
    assert cal.add_working_days(date(2018, 12, 28), 1)[0] == date(2018, 12, 29)
    assert cal.add_working_days(date(2018, 12, 29), 1)[0] == date(2019, 1, 2)
    # a date further back is still refused, naming the entry
    bad = {**notice, "holidays": [*holidays, {"date": "2018-11-30", "name": "错"}]}
    with pytest.raises(CalendarError) as refused:
        parse_schedule(json.dumps(bad))
    assert refused.value.code == "calendar.date_outside_year" and "2018-11-30" in refused.value.message


def test_known_gaps_of_the_package_data_are_corrected() -> None:
    """2005-12-31 (Saturday) was a working day by the 2006 notice; the package lacks it."""
    from dispatcher.calendar import schedule_from_chinesecalendar_data

    days, years = schedule_from_chinesecalendar_data(
        chinese_calendar.constants.holidays, chinese_calendar.constants.workdays
    )
    cal = WorkingCalendar(days, years)
    assert cal.is_working_day(date(2005, 12, 31))
    assert not cal.is_working_day(date(2006, 1, 2)) and not cal.is_working_day(date(2006, 1, 3))
    # and the days the package has right stay as they are (the 2019 notice, 2008 National Day)
    assert cal.is_working_day(date(2018, 12, 29)) and not cal.is_working_day(date(2018, 12, 31))
    assert cal.is_working_day(date(2008, 9, 27)) and cal.is_working_day(date(2008, 9, 28))

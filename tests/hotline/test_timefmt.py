"""One way to write time (issue 11, item 5): a limit that ends at 24:00 is written as that day's
24:00, never as 00:00 of the next; what is left or overdue is counted in working days."""

from __future__ import annotations

from datetime import UTC, date, datetime

from dispatcher.calendar import LOCAL_TZ, DayKind, SpecialDay, WorkingCalendar
from hotline.web.timefmt import due_label, left_label, local


def at(y: int, m: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=LOCAL_TZ)


# National Day 2026: 10-01..07 off, Saturday 10-10 a make-up working day
CAL = WorkingCalendar(
    [SpecialDay(date(2026, 10, d), DayKind.HOLIDAY, "国庆节") for d in range(1, 8)]
    + [SpecialDay(date(2026, 10, 10), DayKind.MAKEUP_WORKDAY, "国庆节调休")],
    [2026],
)


def test_a_limit_is_written_as_24_00_of_its_last_day() -> None:
    due = at(2026, 12, 8)  # 24:00 on Monday 12-07 is 00:00 on Tuesday
    assert due_label(due, at(2026, 12, 1)) == "12月7日（周一）24:00前"
    assert due_label(due.astimezone(UTC), at(2026, 12, 1)) == "12月7日（周一）24:00前"
    assert due_label(at(2026, 12, 7, 17, 30), at(2026, 12, 1)) == "12月7日（周一）17:30前"
    assert due_label(at(2027, 1, 5), at(2026, 12, 30)) == "2027年1月4日（周一）24:00前"
    assert due_label(None) == "—"
    assert local(at(2026, 12, 7, 9, 5).astimezone(UTC)) == "2026-12-07 09:05"


def test_left_and_overdue_in_working_days() -> None:
    due = at(2026, 10, 11)  # 24:00 on the make-up Saturday 10-10
    assert left_label(due, at(2026, 9, 28, 10), CAL) == "剩5个工作日"  # 29, 30, 08, 09, 10
    assert left_label(due, at(2026, 10, 9, 10), CAL) == "剩1个工作日"
    assert left_label(due, at(2026, 10, 10, 23), CAL) == "今日24:00到期"
    assert left_label(due, at(2026, 10, 11, 1), CAL) == "已超期不足1个工作日"  # Sunday
    assert left_label(due, at(2026, 10, 12, 9), CAL) == "已超期1个工作日"
    assert left_label(due, at(2026, 10, 14, 9), CAL) == "已超期3个工作日"
    assert left_label(due, at(2026, 10, 9, 10), None) == "剩1天"
    assert left_label(None, at(2026, 10, 9), CAL) == ""

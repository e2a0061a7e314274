"""One way to write time on every page (issue 11, item 5).

Instants are stored in UTC and shown in Beijing time. A time limit ends at 24:00 of a working day
(民法典第二百零三条): it is written ``12月7日（周一）24:00前``, never as 00:00 of the next day, and
counted in working days (``剩2个工作日``, ``今日24:00到期``, ``已超期3个工作日``) on the working
calendar in force.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from dispatcher.calendar import LOCAL_TZ, WorkingCalendar

WEEKDAYS = "一二三四五六日"


def local(at: datetime | None) -> str:
    """An instant in Beijing time, ``2026-12-07 14:05``; ``—`` for none."""
    return at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M") if at else "—"


def due_label(due_at: datetime | None, now: datetime | None = None) -> str:
    """A limit's end: ``12月7日（周一）24:00前`` (the year too when it is not ``now``'s); an end
    that is not a midnight keeps its time (``12月7日（周一）17:30前``). ``—`` for none."""
    if due_at is None:
        return "—"
    at = due_at.astimezone(LOCAL_TZ)
    if (at.hour, at.minute, at.second) == (0, 0, 0):
        day, clock = (at - timedelta(days=1)).date(), "24:00"
    else:
        day, clock = at.date(), at.strftime("%H:%M")
    this_year = (now.astimezone(LOCAL_TZ).year if now else day.year) == day.year
    year = "" if this_year else f"{day.year}年"
    return f"{year}{day.month}月{day.day}日（周{WEEKDAYS[day.weekday()]}）{clock}前"


def left_label(due_at: datetime | None, now: datetime, calendar: WorkingCalendar | None) -> str:
    """Working days left until ``due_at`` (``剩2个工作日``, ``今日24:00到期``) or past it
    (``已超期3个工作日``; ``已超期不足1个工作日``). Without a calendar, calendar days (``天``)."""
    if due_at is None:
        return ""
    today = now.astimezone(LOCAL_TZ).date()
    last = (due_at.astimezone(LOCAL_TZ) - timedelta(microseconds=1)).date()  # the limit's last day
    if now < due_at:
        if last == today:
            return "今日24:00到期" if due_at.astimezone(LOCAL_TZ).hour == 0 else "今日到期"
        n = calendar.working_days_between(today, last) if calendar else (last - today).days
        unit = "个工作日" if calendar else "天"
        return f"剩{n}{unit}" if n else f"剩不足1{unit}"
    n = calendar.working_days_between(last, today) if calendar else (today - last).days
    if n == 0:
        return "已超期不足1个工作日" if calendar else "已超期不足1天"
    return f"已超期{n}个工作日" if calendar else f"已超期{n}天"

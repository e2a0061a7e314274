"""What services need besides a session: the rulebook, the calendar cache and the clock."""

from __future__ import annotations

from dataclasses import dataclass, field

from hotline.calendar.service import CalendarCache
from hotline.clock import Clock, utc_now
from hotline.settings import Settings
from routing_rules.loader import Rulebook


@dataclass
class Runtime:
    settings: Settings
    rulebook: Rulebook
    calendar: CalendarCache = field(default_factory=CalendarCache)
    clock: Clock = utc_now

"""What services need besides a session: the rulebook, the calendar cache and the clock."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from hotline.calendar.service import CalendarCache
from hotline.clock import Clock, utc_now
from hotline.dispatch.holder import ModelHolder
from hotline.settings import Settings
from hotline.users import Actor
from routing_rules.loader import Rulebook


class ActorCache:
    """Verified bearer tokens -> actor, for a few seconds (bounded), to spare a query per request."""

    def __init__(self, seconds: float, size: int = 10_000) -> None:
        self.seconds = seconds
        self.size = size
        self._entries: dict[str, tuple[float, Actor]] = {}

    def get(self, token: str) -> Actor | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            self._entries.pop(token, None)
            return None
        return entry[1]

    def put(self, token: str, actor: Actor, token_exp: float) -> None:
        if self.seconds <= 0:
            return
        if len(self._entries) >= self.size:
            self._entries.clear()
        until = min(time.monotonic() + self.seconds, time.monotonic() + max(0.0, token_exp - time.time()))
        self._entries[token] = (until, actor)

    def forget(self, user_id: int) -> None:
        self._entries = {k: v for k, v in self._entries.items() if v[1].id != user_id}


@dataclass
class Runtime:
    settings: Settings
    rulebook: Rulebook
    calendar: CalendarCache = field(default_factory=CalendarCache)
    clock: Clock = utc_now
    actors: ActorCache = field(init=False)
    dispatch: ModelHolder = field(init=False)

    def __post_init__(self) -> None:
        self.actors = ActorCache(self.settings.auth_cache_seconds)
        self.dispatch = ModelHolder(self.settings.dispatch_model_check_seconds)

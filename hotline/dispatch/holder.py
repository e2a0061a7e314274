"""The current dispatch model of this process, re-read when another process promotes or rolls back."""

from __future__ import annotations

import asyncio
import logging
import time

from sqlalchemy.ext.asyncio import AsyncSession

from dispatcher.classifier import DispatchModel
from hotline.dispatch import repository as repo
from hotline.dispatch import storage

log = logging.getLogger(__name__)


class ModelHolder:
    """Caches the current model; checks the current version at most every ``check_seconds``.

    A promotion or rollback in any process is seen here within ``check_seconds``; one in this
    process at once (:meth:`forget`). A model that cannot be loaded is logged and routing falls
    back to the rulebook's keywords rather than failing intake.
    """

    def __init__(self, check_seconds: float = 10.0) -> None:
        self.check_seconds = check_seconds
        self.model: DispatchModel | None = None
        self.version: str | None = None
        self._checked = float("-inf")
        self._lock = asyncio.Lock()

    def forget(self) -> None:
        self._checked = float("-inf")

    async def get(self, session: AsyncSession) -> DispatchModel | None:
        if time.monotonic() - self._checked < self.check_seconds:
            return self.model
        async with self._lock:
            if time.monotonic() - self._checked < self.check_seconds:
                return self.model
            version = await repo.current_version(session)
            if version != self.version:
                self.model = await self._load(session, version) if version else None
                self.version = version
            self._checked = time.monotonic()
            return self.model

    async def _load(self, session: AsyncSession, version: str) -> DispatchModel | None:
        row = await repo.by_version(session, version)
        if row is None:
            return None
        try:
            return await asyncio.to_thread(storage.load, row.blob)
        except Exception:  # a broken archive must not stop intake: route by the rulebook's keywords
            log.exception("dispatch model %s cannot be loaded; routing falls back to keywords", version)
            return None

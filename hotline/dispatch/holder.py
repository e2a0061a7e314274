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
        self._expect: tuple[str | None, float] | None = None
        self._lock = asyncio.Lock()

    def expect(self, version: str | None) -> None:
        """This process is making ``version`` current: check at every call until it is seen (the
        promotion commits after this call), for at most a minute (it may have been rolled back)."""
        self._expect = (version, time.monotonic() + 60.0)
        self._checked = float("-inf")

    def _due(self) -> bool:
        if self._expect is not None:
            version, until = self._expect
            if version == self.version or time.monotonic() > until:
                self._expect = None
            else:
                return True
        return time.monotonic() - self._checked >= self.check_seconds

    async def get(self, session: AsyncSession) -> DispatchModel | None:
        if not self._due():
            return self.model
        async with self._lock:
            if not self._due():
                return self.model
            version = await repo.current_version(session)
            if version != self.version:
                model = await self._load(session, version) if version else None
                if version is None or model is not None:
                    self.model, self.version = model, version
                # a model that failed to load is tried again at the next check, not remembered
            self._checked = time.monotonic()
            return self.model

    async def _load(self, session: AsyncSession, version: str) -> DispatchModel | None:
        row = await repo.by_version(session, version, blob=True)
        if row is None:
            return None
        try:
            return await asyncio.to_thread(storage.load, row.blob)
        except Exception:  # a broken archive must not stop intake: route by the rulebook's keywords
            log.exception("dispatch model %s cannot be loaded; routing falls back to keywords", version)
            return None

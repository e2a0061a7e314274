"""The embedded default: without Redis the API process runs the same sweeps itself."""

from __future__ import annotations

import asyncio

from hotline.app import create_app
from hotline.settings import Settings
from routing_rules.loader import Rulebook
from tests.workers.test_sla_worker import SECRET, count_events, forget, log_calls, rollup_overdue


async def test_embedded_scheduler_enforces_deadlines_without_celery(db_url: str, rulebook: Rulebook) -> None:
    numbers = await log_calls(db_url, rulebook, 3, "embedded")
    settings = Settings(database_url=db_url, secret_key=SECRET, sweep_seconds=0.2, redis_url=None)
    app = create_app(settings, rulebook=rulebook)
    try:
        async with app.router.lifespan_context(app):
            for _ in range(100):
                counts = await count_events(db_url, numbers, "mark_overdue")
                if all(c == 1 for c in counts.values()) and len(counts) == 3 and await rollup_overdue(db_url) >= 3:
                    break
                await asyncio.sleep(0.2)
        assert await count_events(db_url, numbers, "mark_overdue") == dict.fromkeys(numbers, 1)
        # after each sweep the same loop refreshes the KPI rollup, which then counts the overdue marks
        assert await rollup_overdue(db_url) >= 3
    finally:
        await forget(db_url, numbers)

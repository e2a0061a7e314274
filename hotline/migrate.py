"""Schema migrations (Alembic) plus the reference data every database needs: units and calendar."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.calendar.service import seed_from_chinesecalendar
from hotline.units import sync_units
from routing_rules.loader import Rulebook

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["url"] = url
    return cfg


def upgrade(url: str) -> None:
    """Apply every migration (a no-op when the database is at head). Runs its own event loop."""
    command.upgrade(alembic_config(url), "head")


@dataclass(frozen=True, slots=True)
class ReferenceData:
    units: int
    calendar_years_added: list[int]


async def load_reference_data(session: AsyncSession, rulebook: Rulebook) -> ReferenceData:
    """Sync the rulebook's handling units and seed the statutory calendar; safe to run twice."""
    units = await sync_units(session, rulebook)
    years = await seed_from_chinesecalendar(session)
    return ReferenceData(units=units, calendar_years_added=years)

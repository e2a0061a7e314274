"""Confirmed dispatches (确认的派单) as training labels, and the check that a leaf can be dispatched.

Three places confirm a dispatch (issue 9): the agent's category at intake (``intake``), the
centre's manual dispatch (``centre``) and the leaf named when a return is approved or arbitrated
(``return``). They all go through :func:`record_label` and :func:`dispatchable`, which need
neither the workflow nor the classifier, so intake, the workflow and the dispatch service can use
them alike.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from hotline.dispatch import repository as repo
from hotline.errors import InvalidInput
from routing_rules.loader import Rulebook
from routing_rules.schema import Category


def dispatchable(rulebook: Rulebook, code: str, field: str = "category") -> Category:
    """The rulebook category of a dispatchable catalogue leaf ``code``.

    Raises :class:`InvalidInput` naming ``field``: ``category.required`` for a blank code,
    ``category.not_dispatchable`` for a leaf that is
    an emergency transfer or out of scope (实施方案第4、7条: never dispatched to a unit),
    ``category.unknown`` for a code that is no leaf at all.
    """
    if not code.strip():
        raise InvalidInput.one(field, "category.required", "请选择派单目录事项")
    cat = rulebook.categories.get(code)
    if cat is not None:
        return cat
    leaf = rulebook.catalogue.leaves.get(code) if rulebook.catalogue is not None else None
    if leaf is not None:
        raise InvalidInput.one(field, "category.not_dispatchable", f"“{leaf.name}”属紧急转接或不予受理事项，不能派单")
    raise InvalidInput.one(field, "category.unknown", f"未知的派单目录事项：{code}")


async def record_label(
    session: AsyncSession,
    rulebook: Rulebook,
    ticket_id: int,
    text: str,
    leaf: str,
    source: str,
    by: str | None,
    at: datetime,
) -> None:
    """A confirmed dispatch becomes a training label: one per ticket and ``source``, the latest
    wins (``at`` in UTC). A code outside the catalogue is no label and is left out."""
    if rulebook.catalogue is None or leaf not in rulebook.catalogue.nodes:
        return
    await repo.upsert_ticket_label(session, ticket_id, text, leaf, source, by, at)

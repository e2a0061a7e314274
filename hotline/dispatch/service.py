"""Use cases of smart dispatch (issue 9): train, promote, roll back, import, label, evaluate, browse.

Models are versioned rows (``dispatch_models``): the skops archive, the training data's digest,
the rulebook (and so catalogue) version, held-out metrics, who made it and when, and a status —
one ``current``, one ``previous``. A model is promoted only when its held-out first-level accuracy
is not worse than the current one's, unless forced; a rollback makes the previous current again.
Services flush, never commit.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from dispatcher.classifier import DispatchModel
from dispatcher.lifecycle import Action, Status
from dispatcher.routing import AreaInput, FactsError, ResolvedArea, resolve_area, suggestions_for, target_unit
from hotline.dispatch import repository as repo
from hotline.dispatch import storage
from hotline.dispatch.evaluation import evaluate
from hotline.dispatch.importer import ImportFileError, ReadResult, read_labelled
from hotline.dispatch.labels import dispatchable, record_label
from hotline.dispatch.training import Example, TrainResult, catalogue_examples, train
from hotline.errors import Conflict, InvalidInput, NotFound
from hotline.models import DispatchModelRow, Ticket
from hotline.runtime import Runtime
from hotline.users import Actor
from hotline.workflow.actions import redispatch
from hotline.workflow.common import CENTRE, load, record, require_role
from routing_rules.catalogue import Catalogue, Leaf
from routing_rules.loader import Rulebook
from routing_rules.schema import Kind

LABEL_SOURCES = ("import", "intake", "centre", "return")
MANUAL_DISPATCH_UNIT = "centre.dispatch"
"""The centre's manual-dispatch queue (rules ``classifier.unsure`` and ``fallback.manual_dispatch``)."""
SOURCE_LABELS = {
    "catalogue": "派单目录示例",
    "import": "导入的历史工单",
    "intake": "座席受理时选定",
    "centre": "中心人工派单",
    "return": "退单改派",
}


def catalogue_of(rulebook: Rulebook) -> Catalogue:
    assert rulebook.catalogue is not None  # the loader always builds one
    return rulebook.catalogue


@dataclass(frozen=True, slots=True)
class TrainOutcome:
    version: str
    metrics: dict[str, Any]
    counts: dict[str, int]
    n_examples: int
    seconds: float
    promoted: bool
    current_accuracy: float | None
    """The held-out accuracy of the model that was current before (``None``: there was none)."""


async def training_examples(session: AsyncSession, rulebook: Rulebook) -> list[Example]:
    """The catalogue's examples plus every stored label (imports and confirmed dispatches)."""
    examples = catalogue_examples(catalogue_of(rulebook))
    examples += [Example(text, label, source) for text, label, source in await repo.labels(session)]
    return examples


def _version(now: datetime, digest: str) -> str:
    return f"{now:%Y%m%d%H%M%S}-{digest[:8]}"


async def train_model(
    session: AsyncSession, rt: Runtime, by: str, *, promote: bool = False, force: bool = False
) -> TrainOutcome:
    """Train on all data, store the model as a candidate, and promote it when asked and not worse.

    The CPU-bound fits run in two worker processes, awaited from a thread. Raises :class:`InvalidInput` when the data cannot train a model.
    """
    rulebook = rt.rulebook
    examples = await training_examples(session, rulebook)
    now = rt.clock()
    try:
        result: TrainResult = await asyncio.to_thread(train, catalogue_of(rulebook), examples, "pending")
    except ValueError as exc:
        raise InvalidInput.one("training", "dispatch.training_data", str(exc)) from exc
    version = _version(now, result.data_digest)
    result.model.version = version
    blob = await asyncio.to_thread(storage.dump, result.model)
    existing = await repo.by_version(session, version)
    if existing is not None:  # the same data trained twice within one second
        raise Conflict("同一版本的模型已存在，请稍后重试", code="dispatch.version_exists")
    await repo.add_model(
        session,
        DispatchModelRow(
            version=version,
            status="candidate",
            blob=blob,
            data_digest=result.data_digest,
            rulebook_version=rulebook.version,
            catalogue_digest=catalogue_of(rulebook).digest,
            n_examples=result.n_examples,
            metrics=result.metrics,
            counts=result.counts,
            created_by=by,
            created_at=now,
        ),
    )
    current = await repo.by_status(session, "current")
    current_acc = float(current.metrics.get("accuracy", 0.0)) if current is not None else None
    promoted = False
    if promote:
        promoted = await promote_model(session, rt, version, force=force, raise_if_worse=False)
    return TrainOutcome(
        version=version,
        metrics=result.metrics,
        counts=result.counts,
        n_examples=result.n_examples,
        seconds=result.seconds,
        promoted=promoted,
        current_accuracy=current_acc,
    )


async def promote_model(
    session: AsyncSession, rt: Runtime, version: str, *, force: bool = False, raise_if_worse: bool = True
) -> bool:
    """Make ``version`` current; the current becomes previous. Not when its held-out accuracy is
    worse than the current one's, unless ``force``. Returns whether it was promoted.

    Raises :class:`NotFound` for an unknown version and :class:`Conflict`
    (``dispatch.not_better``) when refused and ``raise_if_worse``.
    """
    rows = await repo.lock_statuses(session)
    row = await repo.by_version(session, version, lock=True)
    if row is None:
        raise NotFound(f"模型版本不存在：{version}", code="dispatch.unknown_version")
    current = next((r for r in rows if r.status == "current"), None)
    if current is not None and current.id == row.id:
        return True
    if current is not None and not force:
        new_acc = float(row.metrics.get("accuracy", 0.0))
        old_acc = float(current.metrics.get("accuracy", 0.0))
        if new_acc < old_acc:
            if raise_if_worse:
                raise Conflict(
                    f'新模型留出集准确率 {new_acc:.1%} 低于当前模型 {old_acc:.1%}，未启用（可强制启用：命令行加 --force，接口传 "force": true）',
                    code="dispatch.not_better",
                )
            return False
    previous = [r.id for r in rows if r.status == "previous"]
    await repo.set_status(session, previous, "retired")
    if current is not None:
        await repo.set_status(session, [current.id], "previous")
    await repo.set_status(session, [row.id], "current", promoted_at=rt.clock())
    rt.dispatch.expect(row.version)
    return True


async def rollback_model(session: AsyncSession, rt: Runtime) -> str:
    """The previous model becomes current again; the current one is retired. Returns the version.

    Raises :class:`Conflict` (``dispatch.no_previous``) when there is no previous model.
    """
    rows = await repo.lock_statuses(session)
    previous = next((r for r in rows if r.status == "previous"), None)
    if previous is None:
        raise Conflict("没有可回退的上一版本模型", code="dispatch.no_previous")
    current = [r.id for r in rows if r.status == "current"]
    await repo.set_status(session, current, "retired")
    await repo.set_status(session, [previous.id], "current", promoted_at=rt.clock())
    rt.dispatch.expect(previous.version)
    return previous.version


async def ensure_model(session: AsyncSession, rt: Runtime, by: str = "migrate") -> TrainOutcome | None:
    """Train and promote a model when none is current or the catalogue changed since (``migrate``)."""
    current = await repo.by_status(session, "current")
    if current is not None and current.catalogue_digest == catalogue_of(rt.rulebook).digest:
        return None
    return await train_model(session, rt, by, promote=True, force=True)


async def current_model(session: AsyncSession, rt: Runtime) -> DispatchModel | None:
    return await rt.dispatch.get(session)


@dataclass(frozen=True, slots=True)
class ImportOutcome:
    read: ReadResult
    imported: int
    duplicates: int = 0
    """Rows already imported before (same text and label), or repeated in the file: not stored again."""
    relabelled: int = 0
    """Texts imported before with another label: the file's label replaces the old one."""


async def import_labels(
    session: AsyncSession, rt: Runtime, path: Path, text_columns: list[str], label_column: str, by: str
) -> ImportOutcome:
    """Import labelled history; unknown labels and empty cells are reported with their rows.

    One label per text: a text imported before with another label takes the file's label (a
    corrected file replaces the old one), and within a file the last row of a text wins.

    Raises :class:`InvalidInput` naming the file or column when the file cannot be read as asked.
    """
    try:
        read = await asyncio.to_thread(
            read_labelled, path, text_columns, label_column, catalogue_of(rt.rulebook), progress=True
        )
    except ImportFileError as exc:
        raise InvalidInput.one("file", exc.code, exc.message) from exc
    stored = await repo.imported_labels(session)
    # one label per text: a later row of the file, or a later file, corrects an earlier label
    latest: dict[str, str] = {}
    for r in read.known:
        if r.node is not None:
            latest[r.text] = r.node
    duplicates = len(read.known) - len(latest)
    new: list[tuple[str, str]] = []
    relabelled: list[tuple[str, str]] = []
    for text, label in latest.items():
        if stored.get(text) == label:
            duplicates += 1
        elif text in stored:
            relabelled.append((text, label))
        else:
            new.append((text, label))
    await repo.drop_import_labels(session, [t for t, _ in relabelled])
    await repo.add_import_labels(session, new + relabelled, path.name, by, rt.clock())
    return ImportOutcome(read, len(new), duplicates, len(relabelled))


async def evaluate_file(
    session: AsyncSession,
    rt: Runtime,
    path: Path,
    text_columns: list[str],
    label_column: str,
    *,
    use_model: bool = True,
    kind: Kind = Kind.COMPLAINT,
) -> tuple[dict[str, Any], ReadResult]:
    """Route every row of the file as intake does and measure (see :mod:`hotline.dispatch.evaluation`)."""
    try:
        read = await asyncio.to_thread(
            read_labelled, path, text_columns, label_column, catalogue_of(rt.rulebook), progress=True
        )
    except ImportFileError as exc:
        raise InvalidInput.one("file", exc.code, exc.message) from exc
    if not read.known:
        raise InvalidInput.one("file", "import.no_rows", f"文件 {path.name} 中没有可评估的带标签行")
    model = await current_model(session, rt) if use_model else None
    report = await asyncio.to_thread(evaluate, rt.rulebook, model, read.known, kind)
    return report, read


# --- reading for the API and pages ------------------------------------------------------------


def leaf_out(rulebook: Rulebook, leaf: Leaf) -> dict[str, Any]:
    unit = rulebook.units.get(leaf.unit) if leaf.unit else None
    return {
        "code": leaf.code,
        "name": leaf.name,
        "path": list(leaf.path),
        "path_codes": list(leaf.path_codes),
        "scope": leaf.scope.value if leaf.scope else None,
        "unit": leaf.unit,
        "unit_name": unit.name if unit else None,
        "assist": list(leaf.assist),
        "working_days": leaf.working_days,
        "emergency": leaf.emergency,
        "out_of_scope": leaf.out_of_scope,
        "examples": list(leaf.examples),
    }


def catalogue_tree(rulebook: Rulebook, q: str | None = None) -> dict[str, Any]:
    """The catalogue as a tree (一级 → 二级 → 三级); with ``q``, only leaves matching every word."""
    cat = catalogue_of(rulebook)
    wanted = {leaf.code for leaf in cat.search(q)} if q and q.strip() else None
    groups = []
    for g in cat.groups:
        gnode = cat.nodes[g]
        seconds = []
        for s in gnode.children:
            snode = cat.nodes[s]
            leaves = [
                leaf_out(rulebook, cat.leaves[code]) for code in snode.children if wanted is None or code in wanted
            ]
            if leaves:
                seconds.append({"code": s, "name": snode.name, "leaves": leaves})
        if seconds:
            groups.append({"code": g, "name": gnode.name, "children": seconds})
    return {
        "version": rulebook.version,
        "q": q or None,
        "groups": groups,
        "counts": {
            "groups": len(cat.groups),
            "seconds": sum(1 for n in cat.nodes.values() if n.level == 2),
            "leaves": len(cat.leaves),
            "examples": sum(len(leaf.examples) for leaf in cat.leaves.values()),
            "matched": len(wanted) if wanted is not None else len(cat.leaves),
        },
    }


def model_out(row: DispatchModelRow) -> dict[str, Any]:
    return {
        "version": row.version,
        "status": row.status,
        "rulebook_version": row.rulebook_version,
        "n_examples": row.n_examples,
        "counts": row.counts,
        "metrics": row.metrics,
        "created_by": row.created_by,
        "created_at": row.created_at,
        "promoted_at": row.promoted_at,
    }


async def model_overview(session: AsyncSession, rt: Runtime) -> dict[str, Any]:
    """Current and recent models with metrics, label counts and recent low-confidence tickets."""
    models = await repo.list_models(session)
    unsure = await repo.unsure_tickets(session)
    current = next((m for m in models if m.status == "current"), None)
    return {
        "stale": current is not None and current.catalogue_digest != catalogue_of(rt.rulebook).digest,
        "current": next((model_out(m) for m in models if m.status == "current"), None),
        "models": [model_out(m) for m in models],
        "labels": await repo.label_counts(session),
        "unsure": [
            {
                "number": t.number,
                "content": t.content,
                "created_at": t.created_at,
                "open": t.status not in (Status.CLOSED.value,),
                "lead_unit": t.lead_unit_code,
                "suggestions": d.decision.get("suggestions", []),
            }
            for t, d in unsure
        ],
        "threshold": rt.rulebook.policy.dispatch.confidence_threshold,
    }


# --- the centre's manual dispatch (人工派单) ---------------------------------------------------


async def manual_dispatch(
    session: AsyncSession,
    rt: Runtime,
    actor: Actor,
    number: str,
    category: str,
    unit: str | None = None,
    note: str = "",
) -> dict[str, Any]:
    """The centre dispatches a ticket waiting in its manual-dispatch queue to a catalogue leaf.

    The unit is the leaf's (a territorial leaf goes to the ticket's place when known) unless one
    is given; the ticket gets a fresh time limit for it (实施方案第11条) and the choice becomes a
    training label (source ``centre``). Raises :class:`InvalidInput` for an unknown or
    non-dispatchable leaf or unit, :class:`Conflict` when the ticket is not with the centre.
    """
    require_role(actor, *CENTRE)
    ticket = await load(session, actor, number)
    if ticket.lead_unit_code != MANUAL_DISPATCH_UNIT:
        raise Conflict("该工单不在热线中心人工派单队列中", code="dispatch.not_manual")
    cat = dispatchable(rt.rulebook, category)
    target = unit or target_unit(rt.rulebook, cat.code, _ticket_area(rt.rulebook, ticket))
    if target not in rt.rulebook.units or target == MANUAL_DISPATCH_UNIT:
        raise InvalidInput.one("unit", "unit.unknown", f"未知的承办单位：{target}")
    now = rt.clock()
    ticket.category = cat.code  # before the clock starts: the leaf may carry its own limit
    before, after = await redispatch(session, rt, ticket, target, now)
    await record(
        session,
        ticket,
        actor,
        Action.REDISPATCH,
        now,
        unit=target,
        due_before=before,
        due_after=after,
        note=note or f"人工派单：{'/'.join(cat.path)} → {rt.rulebook.units[target].name}",
        data={"category": cat.code, "to_unit": target, "manual_dispatch": True},
    )
    await record_label(session, rt.rulebook, ticket.id, ticket.content, cat.code, "centre", actor.username, now)
    return {"number": ticket.number, "status": ticket.status, "lead_unit": target, "category": cat.code}


def _ticket_area(rulebook: Rulebook, ticket: Ticket) -> ResolvedArea:
    """The place recorded on a ticket, resolved as intake resolves it (unknown if no longer valid)."""
    try:
        return resolve_area(rulebook, AreaInput(district=ticket.area_district, town=ticket.area_town))
    except FactsError:
        return ResolvedArea()


async def manual_queue_view(session: AsyncSession, rt: Runtime) -> list[dict[str, Any]]:
    """The centre's manual-dispatch queue with the classifier's suggestions for each ticket.

    Suggestions come from the current model at the ticket's place, made as intake makes them (so a
    better model helps the queue at once); without a model, from the decision stored at intake.
    """
    rows = await repo.manual_queue(session)
    model = await current_model(session, rt)
    predictions = model.predict_many([t.content for t, _ in rows], top=3) if model is not None and rows else []
    out = []
    for i, (ticket, decision) in enumerate(rows):
        if model is not None:
            made = suggestions_for(rt.rulebook, predictions[i], _ticket_area(rt.rulebook, ticket))
            suggestions = [s.as_dict() for s in made]
        else:
            suggestions = decision.decision.get("suggestions", []) if decision is not None else []
        for s in suggestions:
            s["dispatchable"] = s.get("category") in rt.rulebook.categories
        out.append(
            {
                "number": ticket.number,
                "content": ticket.content,
                "created_at": ticket.created_at,
                "kind": ticket.kind,
                "district": ticket.area_district,
                "town": ticket.area_town,
                "reason": decision.decision.get("explanation") if decision is not None else "",
                "suggestions": suggestions,
            }
        )
    return out

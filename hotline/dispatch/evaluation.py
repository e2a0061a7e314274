"""Measuring dispatch on labelled rows, routing each exactly as intake does.

Labels are compared at the level they name: a first-level label with the first level of the
predicted leaf, a leaf label with the leaf. The prediction of a row is the leaf intake decided
(the category, or the emergency / out-of-scope leaf) or, when intake sent it to manual dispatch,
the classifier's best suggestion; ``coverage`` is the share decided without the centre and
``accuracy_confident`` the accuracy on those rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from sklearn.metrics import f1_score
from wcwidth import wcswidth

from dispatcher.classifier import DispatchModel
from dispatcher.routing import RequestFacts, route
from hotline.dispatch.importer import LabelledRow
from routing_rules.catalogue import Catalogue
from routing_rules.loader import Rulebook
from routing_rules.schema import Disposition, Kind


def _at_level(catalogue: Catalogue, leaf: str | None, level: int) -> str | None:
    node = catalogue.nodes.get(leaf) if leaf else None
    if node is None or node.level < level:
        return None
    return node.path_codes[level - 1]


def evaluate(
    rulebook: Rulebook, model: DispatchModel | None, rows: Sequence[LabelledRow], kind: Kind = Kind.COMPLAINT
) -> dict[str, Any]:
    """Route every row and compare; returns figures (shares in 0..1) and tables keyed by node code."""
    catalogue = rulebook.catalogue
    assert catalogue is not None
    rows = [r for r in rows if r.node is not None]
    predictions = model.predict_many([r.text for r in rows], top=3) if model is not None else [None] * len(rows)
    dispositions: Counter[str] = Counter()
    manual = 0
    covered = covered_hits = 0
    hits = top3 = 0
    truth: list[str] = []
    guess: list[str] = []
    for row, pred in zip(rows, predictions, strict=True):
        assert row.node is not None
        level = catalogue.nodes[row.node].level
        decision = route(RequestFacts(content=row.text, kind=kind), rulebook, model, prediction=pred)
        dispositions[decision.disposition.value] += 1
        auto = decision.category is not None
        leaf = decision.category
        if leaf is None and decision.suggestions:
            leaf = decision.suggestions[0].category
        if decision.rule_id in ("classifier.unsure", "fallback.manual_dispatch"):
            manual += 1
        predicted = _at_level(catalogue, leaf, level) or "—"
        ok = predicted == row.node
        hits += ok
        truth.append(row.node)
        guess.append(predicted)
        if auto:
            covered += 1
            covered_hits += ok
        if pred is not None:
            if level == 1:
                ranked = sorted(pred.group_confidence.items(), key=lambda kv: -kv[1])[:3]
                top3 += row.node in [g for g, _ in ranked]
            else:
                nodes = {_at_level(catalogue, c.leaf, level) for c in pred.candidates[:3]}
                top3 += row.node in nodes
        else:
            top3 += ok
    n = len(rows)
    labels = sorted(set(truth))
    per_class: dict[str, dict[str, Any]] = {}
    for code in labels:
        idx = [i for i, t in enumerate(truth) if t == code]
        per_class[code] = {
            "name": catalogue.nodes[code].name,
            "n": len(idx),
            "accuracy": sum(guess[i] == code for i in idx) / len(idx),
        }
    confusion: dict[str, dict[str, int]] = {}
    for t, g in zip(truth, guess, strict=True):
        confusion.setdefault(t, {}).setdefault(g, 0)
        confusion[t][g] += 1
    return {
        "n": n,
        "accuracy": hits / n if n else 0.0,
        "top3_accuracy": top3 / n if n else 0.0,
        "macro_f1": float(f1_score(truth, guess, labels=labels, average="macro", zero_division=0)) if n else 0.0,
        "coverage": covered / n if n else 0.0,
        "accuracy_confident": covered_hits / covered if covered else 0.0,
        "not_accepted": dispositions[Disposition.NOT_ACCEPTED.value],
        "emergency_transfer": dispositions[Disposition.EMERGENCY_TRANSFER.value],
        "manual": manual,
        "dispositions": dict(dispositions),
        "threshold": rulebook.policy.dispatch.confidence_threshold,
        "model_version": model.version if model is not None else None,
        "per_class": per_class,
        "confusion": confusion,
    }


def format_report(report: dict[str, Any], catalogue: Catalogue) -> list[str]:
    """The report as Chinese text lines: figures, the per-class table and the confusion matrix."""

    def name(code: str) -> str:
        node = catalogue.nodes.get(code)
        return node.name if node else code

    n = report["n"]
    lines = [
        f"模型版本：{report['model_version'] or '无（关键词兜底）'}",
        f"样本数：{n}",
        f"准确率：{report['accuracy']:.1%}    前3准确率：{report['top3_accuracy']:.1%}    宏平均F1：{report['macro_f1']:.3f}",
        f"自动派单覆盖率（置信度≥{report['threshold']:.0%}）：{report['coverage']:.1%}    其准确率：{report['accuracy_confident']:.1%}",
        f"转人工派单：{report['manual']}    不予受理：{report['not_accepted']}    紧急转接：{report['emergency_transfer']}",
        "",
        _pad("分类", 16) + _pad("样本", 6, right=True) + _pad("准确率", 10, right=True),
    ]
    for code, row in report["per_class"].items():
        lines.append(_pad(name(code), 16) + f"{row['n']:>6}" + f"{row['accuracy']:>10.1%}")
    lines.append("")
    lines.append("混淆矩阵（行：标注，列：判定）")
    cols = list(report["per_class"].keys())
    extra = sorted({g for row in report["confusion"].values() for g in row} - set(cols))
    cols += extra
    lines.append(_pad("标注\\判定", 16) + "".join(_pad(_clip(name(c), 8), 9, right=True) for c in cols))
    for t in report["per_class"]:
        row = report["confusion"].get(t, {})
        lines.append(_pad(_clip(name(t), 14), 16) + "".join(f"{row.get(c, 0):>9}" for c in cols))
    return lines


def _width(text: str) -> int:
    """Terminal columns of ``text`` (a Chinese character takes two), by ``wcwidth``."""
    return max(0, wcswidth(text))


def _pad(text: str, width: int, right: bool = False) -> str:
    """``text`` padded with spaces to ``width`` terminal columns (right-aligned if ``right``)."""
    fill = " " * max(0, width - _width(text))
    return fill + text if right else text + fill


def _clip(text: str, width: int) -> str:
    """``text`` cut to at most ``width`` terminal columns."""
    out = ""
    for ch in text:
        if _width(out + ch) > width:
            break
        out += ch
    return out

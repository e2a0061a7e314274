"""Dispatch accuracy on real public citizen messages (first level), against the keyword baseline.

Run from the repository root: ``python bench/dispatch_accuracy.py [--data DIR] [--folds 5]``.

Reads ``../shared/data/message-board-2020/messages_sample.csv`` (495 public messages of a city's
message board with their first-level label; see that folder's README: measured here, never copied
into the project). Prints, routing every message exactly as intake does:

1. the shipped model (trained on the catalogue's own examples only, as ``migrate`` does):
   accuracy, top-3, macro-F1, coverage above the confidence threshold, messages wrongly refused
   (``not_accepted``) or turned into emergencies (none of these written messages is either);
2. the keyword fallback (routing without a model) for comparison;
3. "after importing a city's labelled history": k-fold, training on the catalogue plus the other
   folds of the sample (as ``dispatch import`` + ``dispatch train`` would), scoring the held-out fold;
4. a plain character TF-IDF + linear SVM trained on the sample folds alone, the reference the
   issue quotes;
5. the model's own held-out split of the catalogue examples.

Exits 0 and says so when the data folder is absent.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.dispatch_cases import ACCEPTED_NEAR_MISSES, EMERGENCIES, NOT_EMERGENCIES, OUT_OF_SCOPE  # noqa: E402
from dispatcher.routing import RequestFacts, route  # noqa: E402
from hotline.dispatch.evaluation import evaluate  # noqa: E402
from hotline.dispatch.importer import LabelledRow, read_labelled  # noqa: E402
from hotline.dispatch.training import Example, catalogue_examples, train  # noqa: E402
from routing_rules.loader import load_rulebook  # noqa: E402
from routing_rules.schema import Disposition, Kind  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "message-board-2020"


def line(name: str, r: dict[str, Any]) -> str:
    return (
        f"{name:<44} n={r['n']:>4}  acc {r['accuracy']:6.1%}  top3 {r['top3_accuracy']:6.1%}  "
        f"F1 {r['macro_f1']:.3f}  cover {r['coverage']:6.1%} (acc {r['accuracy_confident']:6.1%})  "
        f"refused {r['not_accepted']:>2}  emergency {r['emergency_transfer']:>2}  manual {r['manual']:>3}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--folds", type=int, default=5)
    args = ap.parse_args()
    rb = load_rulebook()
    cat = rb.catalogue
    assert cat is not None
    started = time.perf_counter()
    shipped = train(cat, catalogue_examples(cat), "bench-catalogue")
    print(
        f"shipped model: {shipped.n_examples} catalogue examples, trained in {time.perf_counter() - started:.1f} s; "
        f"own held-out split: acc {shipped.metrics['accuracy']:.1%}, top3 {shipped.metrics['top3_accuracy']:.1%}, "
        f"leaf acc {shipped.metrics['leaf_accuracy']:.1%} (n={shipped.metrics['n']})"
    )
    safety(rb, shipped.model)
    path = args.data / "messages_sample.csv"
    if not path.is_file():
        print(f"{path} is absent: no figures on real messages (the catalogue's own held-out figures are above)")
        return
    read = read_labelled(path, ["留言主题", "留言详情"], "一级标签", cat)
    rows = read.known
    print(f"{path.name}: {len(rows)} labelled messages; unknown labels: {read.unknown or 'none'}")
    print()
    print(line("shipped model (catalogue examples only)", evaluate(rb, shipped.model, rows)))
    print(line("keyword fallback (no model)", evaluate(rb, None, rows)))

    folds = max(2, args.folds)
    merged: list[dict[str, Any]] = []
    plain_hits = 0
    for k in range(folds):
        test = [r for i, r in enumerate(rows) if i % folds == k]
        train_rows = [r for i, r in enumerate(rows) if i % folds != k]
        extra = [Example(r.text, r.node or "", "import") for r in train_rows]
        fitted = train(cat, catalogue_examples(cat) + extra, f"bench-fold-{k}")
        merged.append(evaluate(rb, fitted.model, test))
        plain_hits += _plain_svm(train_rows, test)
    n = sum(r["n"] for r in merged)
    pooled = {
        key: sum(r[key] * r["n"] for r in merged) / n for key in ("accuracy", "top3_accuracy", "macro_f1", "coverage")
    }
    covered = sum(r["coverage"] * r["n"] for r in merged)
    pooled["accuracy_confident"] = (
        sum(r["accuracy_confident"] * r["coverage"] * r["n"] for r in merged) / covered if covered else 0.0
    )
    for key in ("not_accepted", "emergency_transfer", "manual"):
        pooled[key] = sum(r[key] for r in merged)
    pooled["n"] = n
    print(line(f"catalogue + imported sample ({folds}-fold)", pooled))
    print(f"{'plain char TF-IDF + LinearSVC on the sample folds alone':<44} n={n:>4}  acc {plain_hits / n:6.1%}")


def safety(rb: Any, model: Any) -> None:
    """Emergency and refusal detection on our own everyday cases (bench/dispatch_cases.py):
    recall on the true ones, and how many near misses were wrongly transferred or refused."""

    def decide(text: str) -> Any:
        return route(RequestFacts(content=text, kind=Kind.HELP), rb, model)

    caught = sum(
        (d := decide(t)).disposition is Disposition.EMERGENCY_TRANSFER and d.transfer_to == line
        for t, line in EMERGENCIES
    )
    false_em = sum(decide(t).disposition is Disposition.EMERGENCY_TRANSFER for t in NOT_EMERGENCIES)
    refused = sum(
        (d := decide(t)).disposition is Disposition.NOT_ACCEPTED and d.reason_code == reason
        for t, reason in OUT_OF_SCOPE
    )
    false_ref = sum(decide(t).disposition is Disposition.NOT_ACCEPTED for t in ACCEPTED_NEAR_MISSES)
    print(
        f"emergencies caught (right line) {caught}/{len(EMERGENCIES)}; near misses transferred "
        f"{false_em}/{len(NOT_EMERGENCIES)}; out-of-scope refused (right reason) {refused}/{len(OUT_OF_SCOPE)}; "
        f"accepted near misses refused {false_ref}/{len(ACCEPTED_NEAR_MISSES)}"
    )


def _plain_svm(train_rows: list[LabelledRow], test: list[LabelledRow]) -> int:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    pipe = make_pipeline(TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True), LinearSVC())
    pipe.fit([r.text for r in train_rows], [r.node for r in train_rows])
    predicted = pipe.predict([r.text for r in test])
    return sum(p == r.node for p, r in zip(predicted, test, strict=True))


if __name__ == "__main__":
    main()

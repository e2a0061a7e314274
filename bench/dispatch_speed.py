"""Smart dispatch speed: routing decisions/s with the classifier on one core, training time at
10,000 examples, model size and load time.

Run from the repository root: ``python bench/dispatch_speed.py [--seconds 3]``. Numeric libraries
are limited to one thread before they load, so the figure is one core's.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dispatcher.routing import AreaInput, RequestFacts, route  # noqa: E402
from hotline.dispatch import storage  # noqa: E402
from hotline.dispatch.training import Example, catalogue_examples, train  # noqa: E402
from routing_rules.loader import load_rulebook  # noqa: E402
from routing_rules.schema import Kind  # noqa: E402

TARGET_DECISIONS = 2_000
TARGET_TRAIN_SECONDS = 60.0


def rate(fn, items: list[RequestFacts], seconds: float) -> float:  # type: ignore[no-untyped-def]
    for f in items[:200]:
        fn(f)  # warm-up
    n = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for f in items:
            fn(f)
        n += len(items)
    return n / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    rb = load_rulebook()
    cat = rb.catalogue
    assert cat is not None
    examples = catalogue_examples(cat)

    started = time.perf_counter()
    shipped = train(cat, examples, "bench")
    shipped_s = time.perf_counter() - started

    # 10,000 examples: the catalogue's plus labelled variants of them (as imported history would add)
    rng = random.Random(12345)
    extra: list[Example] = []
    prefixes = ("来电人反映：", "市民来电称，", "网友留言：", "企业反映：", "诉求人表示，")
    while len(examples) + len(extra) < 10_000:
        e = examples[rng.randrange(len(examples))]
        extra.append(
            Example(prefixes[rng.randrange(len(prefixes))] + e.text + f"（第{len(extra)}件）", e.label, "import")
        )
    started = time.perf_counter()
    big = train(cat, examples + extra, "bench-10k")
    big_s = time.perf_counter() - started

    blob = storage.dump(shipped.model)
    started = time.perf_counter()
    model = storage.load(blob)
    load_s = time.perf_counter() - started

    texts = [e.text for e in examples]
    rng.shuffle(texts)
    areas = [AreaInput(), AreaInput(district="薛城区", town="常庄街道"), AreaInput(district="滕州市")]

    def facts_of(items: list[str]) -> list[RequestFacts]:
        return [RequestFacts(content=t, kind=Kind.COMPLAINT, area=areas[i % 3]) for i, t in enumerate(items[:4000])]

    calls = facts_of([t for t in texts if len(t) <= 120])
    letters = facts_of([t for t in texts if len(t) > 120])
    mix = facts_of(texts)
    with_model = rate(lambda f: route(f, rb, model), mix, args.seconds)
    on_calls = rate(lambda f: route(f, rb, model), calls, args.seconds)
    on_letters = rate(lambda f: route(f, rb, model), letters, args.seconds)
    keywords = rate(lambda f: route(f, rb), mix, args.seconds)

    def mean_len(items: list[RequestFacts]) -> float:
        return sum(len(f.content) for f in items) / len(items)

    print(f"{'measure':<52}{'figure':>14}  target")
    print(
        f"{f'decisions/s, classifier, catalogue mix ({mean_len(mix):.0f} chars)':<52}{with_model:>14,.0f}  >= {TARGET_DECISIONS:,}"
    )
    print(
        f"{f'  calls as typed (<= 120 chars, {mean_len(calls):.0f} avg)':<52}{on_calls:>14,.0f}  >= {TARGET_DECISIONS:,}"
    )
    print(f"{f'  online messages (> 120 chars, {mean_len(letters):.0f} avg)':<52}{on_letters:>14,.0f}")
    print(f"{'routing decisions/s, keyword fallback (no model)':<52}{keywords:>14,.0f}")
    print(f"{'ratio keyword / classifier':<52}{keywords / with_model:>14.1f}")
    print(f"{f'training on the catalogue ({shipped.n_examples:,} examples), s':<52}{shipped_s:>14.1f}")
    print(f"{f'training on {big.n_examples:,} examples, s':<52}{big_s:>14.1f}  < {TARGET_TRAIN_SECONDS:.0f}")
    print(f"{'stored model, MB (skops, compressed)':<52}{len(blob) / 1e6:>14.1f}")
    print(f"{'model load, s':<52}{load_s:>14.2f}")


if __name__ == "__main__":
    main()

"""The dispatch classifier's features and inference (分得更准): text -> ranked catalogue leaves.

Pure: the fitted model is an argument, nothing here reads or writes files or databases; training
orchestration, storage (skops) and versioning live in ``hotline.dispatch``.

The model is hierarchical, because labelled history often names only the first level:

* a *group* classifier over the 15 first-level groups (一级), trained on every example, whatever
  level its label names;
* a *leaf* classifier over the 三级 matters, trained on the examples labelled at leaf level.

Both share one feature space: character 1–3-grams (robust to typos and unknown words) plus word
1–2-grams from rjieba (the Rust port of jieba), TF-IDF weighted with sublinear term frequency,
each block L2-normalised (scikit-learn ``TfidfVectorizer`` in a ``FeatureUnion``). Each classifier
is a linear SVM with sigmoid-calibrated probabilities (``CalibratedClassifierCV``); the leaf
classifier of a group only sees the features that occur in that group's examples and tells its
siblings apart, so a leaf's confidence is ``P(group) × P(leaf | group)``.

Training (``hotline.dispatch.training``) fits scikit-learn objects; :class:`DispatchModel` holds
what inference needs of them as plain arrays (vocabularies, idf, weights, calibration), which
keeps a stored model small, a decision fast (thousands per second on one core) and this module
free of scikit-learn. Its features and probabilities equal
scikit-learn's own ``transform`` and ``predict_proba`` (tested).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, NamedTuple

import numpy as np
import rjieba

_DIGITS = re.compile(r"[0-9]+")
_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """NFKC, lower case, runs of digits as one ``0``, whitespace collapsed.

    Numbers (amounts, house numbers, dates) say nothing about the matter and would only spread
    the n-grams thin.
    """
    text = unicodedata.normalize("NFKC", text).lower()
    text = _DIGITS.sub("0", text)
    return _SPACE.sub(" ", text).strip()


_NOT_A_WORD = re.compile(r"^[\W_]*$")


def words(text: str) -> list[str]:
    """rjieba words of an already normalised text, tokens of only punctuation, symbols or spaces dropped."""
    match = _NOT_A_WORD.match
    return [w for w in rjieba.cut(text) if not match(w)]


class Candidate(NamedTuple):
    """One ranked leaf: its code and ``P(group) × P(leaf | group)`` in 0..1."""

    leaf: str
    confidence: float


@dataclass(frozen=True, slots=True)
class Prediction:
    candidates: tuple[Candidate, ...]
    """Best first; at most ``top`` leaves."""
    group_confidence: Mapping[str, float]
    """First-level group code -> probability (sums to 1)."""
    terms: tuple[str, ...] = ()
    """The words and character n-grams of the text that weighed most for the best group."""
    ranked: tuple[Candidate, ...] = ()
    """Every leaf scored with at least 0.1 %, best first, for confidences summed over leaves."""

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None


@dataclass
class Linear:
    """A calibrated one-vs-rest linear classifier as arrays.

    ``weights`` is (features × k) with k = classes, or 1 for two classes (the score of the second
    class, as scikit-learn's binary SVM); ``cols`` (sorted) maps its rows to the shared feature
    space, ``None`` meaning all features. Probabilities: the sigmoid ``1 / (1 + exp(a·s + b))``
    of each class's score, normalised to sum 1 (``CalibratedClassifierCV``, method ``sigmoid``).
    """

    classes: list[str]
    weights: np.ndarray[Any, Any] | None
    intercept: np.ndarray[Any, Any] | None
    cal_a: np.ndarray[Any, Any] | None
    cal_b: np.ndarray[Any, Any] | None
    cols: np.ndarray[Any, Any] | None = None

    def proba(self, cols: np.ndarray[Any, Any], vals: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        n = len(self.classes)
        if self.weights is None or self.intercept is None or self.cal_a is None or self.cal_b is None:
            return np.ones(n)
        if self.cols is not None:
            pos = np.searchsorted(self.cols, cols)
            pos[pos >= len(self.cols)] = 0
            hit = self.cols[pos] == cols if len(self.cols) else np.zeros(len(cols), dtype=bool)
            rows, v = pos[hit], vals[hit]
        else:
            rows, v = cols, vals
        scores = v.astype(np.float64) @ self.weights[rows] + self.intercept
        sig = 1.0 / (1.0 + np.exp(self.cal_a * scores + self.cal_b))
        if n == 2:
            return np.array([1.0 - sig[0], sig[0]])
        total = sig.sum()
        return sig / total if total > 0 else np.full(n, 1.0 / n)


@dataclass
class DispatchModel:
    """A fitted classifier as plain arrays; ``version`` identifies it in every decision."""

    version: str
    catalogue_digest: str
    char_vocab: dict[str, int]
    char_idf: np.ndarray[Any, Any]
    word_vocab: dict[str, int]
    """Word n-gram -> column, already offset by the number of char columns."""
    word_idf: np.ndarray[Any, Any]
    groups: Linear
    leaves: dict[str, Linear]
    """First-level group code -> the classifier of its leaves."""
    names: list[str] = field(default_factory=list)
    """Column -> feature text (for explanations)."""

    def features(self, text: str) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """Sparse TF-IDF features of ``text``: sorted column indices and their values."""
        t = normalise(text)
        n = len(t)
        # n-grams counted by Counter (a C loop), each looked up once
        grams = Counter([*t, *(t[i : i + 2] for i in range(n - 1)), *(t[i : i + 3] for i in range(n - 2))])
        tokens = words(t)
        wgrams = Counter([*tokens, *(f"{a} {b}" for a, b in pairwise(tokens))])
        blocks = []
        for counter, vocab, idf in ((grams, self.char_vocab, self.char_idf), (wgrams, self.word_vocab, self.word_idf)):
            hits = [(c, k) for c, k in zip(map(vocab.get, counter), counter.values(), strict=True) if c is not None]
            if not hits:
                continue
            cols = np.fromiter((c for c, _ in hits), dtype=np.int64, count=len(hits))
            tf = np.fromiter((k for _, k in hits), dtype=np.float64, count=len(hits))
            base = 0 if idf is self.char_idf else len(self.char_idf)
            vals = (1.0 + np.log(tf)) * idf[cols - base]
            blocks.append((cols, vals / math.sqrt(float(vals @ vals))))
        if not blocks:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        cols = np.concatenate([c for c, _ in blocks])
        vals = np.concatenate([v for _, v in blocks])
        order = np.argsort(cols, kind="stable")
        return cols[order], vals[order]

    def predict(self, text: str, top: int = 3, explain: bool = True) -> Prediction:
        """Ranked leaves for one text, best first by ``P(group) × P(leaf | group)``.

        Leaves are scored within the most probable group and any other above 5 % (a leaf of a
        group below 5 % cannot reach 5 % itself); a group with a single leaf proposes it. ``ranked`` keeps every leaf scored
        above 0.1 % (for confidences summed over leaves). Ranking by the joint confidence was as
        good as taking the best leaf of the most probable group on our held-out split, and better
        on the public sample, so the suggestions are simply best first.
        """
        cols, vals = self.features(text)
        pg = self.groups.proba(cols, vals)
        groups = self.groups.classes
        order = np.argsort(-pg, kind="stable")
        names: list[str] = []
        scores: list[np.ndarray[Any, Any]] = []
        for rank, gi in enumerate(order):
            p = float(pg[gi])
            if rank > 0 and p < 0.05:
                break
            model = self.leaves.get(groups[gi])
            if model is None:
                continue
            joint = model.proba(cols, vals) * p
            names.extend(model.classes)
            scores.append(joint)
        ranked: list[Candidate] = []
        if scores:
            flat = np.concatenate(scores)
            # the long tail (below 0.1 %) changes no sum of confidences: it is left out of ``ranked``
            keep = np.flatnonzero(flat >= 1e-3)
            keep = keep[np.argsort(-flat[keep], kind="stable")]
            ranked = [Candidate(names[k], float(flat[k])) for k in keep]
        gconf = {g: float(pg[i]) for i, g in enumerate(groups)}
        terms = self._terms(cols, vals, int(order[0])) if explain and len(order) else ()
        kept = tuple(c for c in ranked if c.confidence > 0)
        return Prediction(kept[:top], gconf, terms, kept)

    def predict_many(self, texts: Sequence[str], top: int = 3, explain: bool = False) -> list[Prediction]:
        return [self.predict(t, top=top, explain=explain) for t in texts]

    def _terms(self, cols: np.ndarray[Any, Any], vals: np.ndarray[Any, Any], best: int, n: int = 5) -> tuple[str, ...]:
        """The words (rjieba words of two or more characters; neither character n-grams nor word
        pairs, which read as fragments) of this text with the largest weight × value towards the
        best group."""
        w = self.groups.weights
        if w is None or not len(cols) or not self.names:
            return ()
        words_only = cols >= len(self.char_idf)
        cols, vals = cols[words_only], vals[words_only]
        if not len(cols):
            return ()
        # two groups: the one weight column scores the second
        column = w[cols, 0] * (1.0 if best == 1 else -1.0) if w.shape[1] == 1 else w[cols, best]
        contrib = vals * column
        out: list[str] = []
        for k in np.argsort(-contrib, kind="stable"):
            if contrib[k] <= 0 or len(out) >= n:
                break
            term = self.names[int(cols[k])]
            # single words only: word pairs with a particle (峄城区 的) read as fragments
            if " " in term or len(term) < 2 or any(term in other or other in term for other in out):
                continue
            out.append(term)
        return tuple(out)

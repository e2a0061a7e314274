"""The dispatch classifier's features and inference (分得更准): text -> ranked catalogue leaves.

Pure: the fitted model is an argument, nothing here reads or writes files or databases; training
orchestration, storage (skops) and versioning live in ``hotline.dispatch``.

The model is hierarchical, because labelled history often names only the first level:

* a *group* classifier over the 15 first-level groups (一级), trained on every example, whatever
  level its label names;
* a *second-level* classifier over the 二级 matters (and a first-level code for an example labelled
  only at the first level), whose probabilities summed per group give a second opinion on the
  group. A group is a union of unlike matters, and a line drawn around all of 党务政务 also takes
  in the generic framing of any letter to a mayor ("尊敬的领导…建议…"); a matter's own line does
  not. On real citizen messages that opinion is far better (78 % against 68 % first-level accuracy
  on the public message-board sample, trained on our examples only; equal on our own held-out
  split), while the group classifier learns a city's own filing conventions faster from imported
  history. ``P(group) = blend × P_group + (1 − blend) × Σ P_second``, ``blend`` chosen at training;
* a *leaf* classifier over the 三级 matters, trained on the examples labelled at leaf level.

All share one feature space: character 1–3-grams (robust to typos and unknown words) plus word
1–2-grams from rjieba (the Rust port of jieba), TF-IDF weighted with sublinear term frequency,
each block L2-normalised (scikit-learn ``TfidfVectorizer`` in a ``FeatureUnion``). Each classifier
is a linear SVM with sigmoid-calibrated probabilities (``CalibratedClassifierCV``); the leaf
classifier of a group only sees the features that occur in that group's examples and tells its
siblings apart, so a leaf's confidence is ``P(group) × P(leaf | group)``.

Training (``hotline.dispatch.training``) fits scikit-learn objects; :class:`DispatchModel` holds
what inference needs of them as plain arrays (vocabularies, idf, weights, calibration), which
keeps a stored model small, a decision fast (about a millisecond on one core) and this module
free of scikit-learn. Its features and probabilities equal
scikit-learn's own ``transform`` and ``predict_proba`` (tested).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain, pairwise, repeat
from typing import Any, NamedTuple

import numpy as np
import rjieba

_DIGITS = re.compile(r"[0-9]+")
_SURROGATE = re.compile("[\ud800-\udfff]")
_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """NFKC, lower case, runs of digits as one ``0``, whitespace collapsed, lone surrogates as U+FFFD.

    Numbers (amounts, house numbers, dates) say nothing about the matter and would only spread
    the n-grams thin.
    """
    # a lone surrogate (JSON allows "\ud800") cannot be encoded, and the word segmenter needs UTF-8
    text = unicodedata.normalize("NFKC", _SURROGATE.sub("\ufffd", text)).lower()
    text = _DIGITS.sub("0", text)
    return _SPACE.sub(" ", text).strip()


_CP_BITS = 21
"""Bits of one code point plus one (at most 0x110000 < 2**21): three fit in a positive int64."""


def _gram_key(gram: str) -> int:
    """A character 1–3-gram as one integer: its code points plus one, 21 bits each, first highest.

    Plus one, so that no code point is zero and grams of different lengths never share a key."""
    key = 0
    for ch in gram:
        key = (key << _CP_BITS) | (ord(ch) + 1)
    return key


def _gram_keys(text: str) -> np.ndarray[Any, Any]:
    """The keys (:func:`_gram_key`) of every character 1-, 2- and 3-gram of an already
    :func:`normalise`-d ``text`` (whose whitespace runs are single spaces, as scikit-learn's
    ``analyzer="char"`` makes them), at every position, no padding: an int64 array of the n
    unigrams, then the n − 1 bigrams, then the n − 2 trigrams (none below zero)."""
    cp = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.int64) + 1
    bi = (cp[:-1] << _CP_BITS) | cp[1:]
    tri = (bi[:-1] << _CP_BITS) | cp[2:]
    return np.concatenate([cp, bi, tri])


_NOT_A_WORD = re.compile(r"^[\W_]*$")


def words(text: str) -> list[str]:
    """rjieba words of an already normalised text, tokens of only punctuation, symbols or spaces dropped."""
    match = _NOT_A_WORD.match
    return [w for w in rjieba.cut(text) if not match(w)]


def _rank(names: list[str], scores: np.ndarray[Any, Any]) -> tuple[Candidate, ...]:
    """Leaves scored at least 0.1 %, best first (the long tail changes no sum of confidences)."""
    keep = np.flatnonzero(scores >= 1e-3)
    keep = keep[np.argsort(-scores[keep], kind="stable")]
    # built by C loops: tuple.__new__ is what a NamedTuple's own constructor calls
    pairs = zip(map(names.__getitem__, keep.tolist()), scores[keep].tolist(), strict=True)
    return tuple(map(tuple.__new__, repeat(Candidate), pairs))


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
    by_group: tuple[Candidate, ...] = ()
    """As ``ranked``, but weighed by the group classifier alone (``P_group × P(leaf | group)``):
    what emergencies and refusals are decided on, so that their thresholds keep the meaning
    they were set and tested with (``intake.toml [dispatch]``)."""

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None


def _calibrated(
    scores: np.ndarray[Any, Any], cal_a: np.ndarray[Any, Any], cal_b: np.ndarray[Any, Any]
) -> np.ndarray[Any, Any]:
    """Sigmoid ``1 / (1 + exp(a·s + b))`` of each class's score, normalised to sum 1 (two classes:
    the one score is the second class's, as scikit-learn's binary SVM)."""
    sig = 1.0 / (1.0 + np.exp(cal_a * scores + cal_b))
    if len(sig) == 1:
        return np.array([1.0 - sig[0], sig[0]])
    total = sig.sum()
    return sig / total if total > 0 else np.full(len(sig), 1.0 / len(sig))


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
    _slot: np.ndarray[Any, Any] | None = field(init=False, repr=False, default=None)
    """Feature -> its row of ``weights``, or -1 (up to the largest of ``cols``): one lookup per
    feature instead of a binary search."""

    def __post_init__(self) -> None:
        if self.cols is not None:
            self._slot = np.full(int(self.cols.max()) + 1 if len(self.cols) else 0, -1, dtype=np.int32)
            self._slot[self.cols] = np.arange(len(self.cols), dtype=np.int32)

    def proba(self, cols: np.ndarray[Any, Any], vals: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        n = len(self.classes)
        if self.weights is None or self.intercept is None or self.cal_a is None or self.cal_b is None:
            return np.ones(n)
        _, rows, v = self.rows(cols, vals)
        scores = v @ self.weights[rows] + self.intercept
        return _calibrated(scores, self.cal_a, self.cal_b)

    def rows(
        self, cols: np.ndarray[Any, Any], vals: np.ndarray[Any, Any]
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """The features this classifier sees among ``cols``: (their columns, their rows of
        ``weights``, their values)."""
        if self._slot is None:
            return cols, cols, vals
        inside = cols < len(self._slot)
        cols, vals = cols[inside], vals[inside]
        rows = self._slot[cols]
        hit = rows >= 0
        return cols[hit], rows[hit], vals[hit]


def _positions(starts: np.ndarray[Any, Any], lens: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """The concatenated ranges ``starts[i] … starts[i] + lens[i] − 1``, gathered in one go."""
    return np.repeat(starts - (np.cumsum(lens) - lens), lens) + np.arange(int(lens.sum()))


DENSE_ROW_MIN = 16
"""A feature with more than this many stored weights is held as a dense row in memory."""


@dataclass
class SparseLinear:
    """A calibrated one-vs-rest linear classifier over many classes, its weights sparse by feature.

    Row ``f`` of the (features × classes) weight matrix is ``data[indptr[f]:indptr[f + 1]]`` at the
    classes ``indices[...]`` (CSR), as stored. Training keeps only the largest weights (see
    ``hotline.dispatch.training.prune``), which keeps a 150-class model small. In memory, the
    features with more than :data:`DENSE_ROW_MIN` weights (the common n-grams, where most of a
    text's work lies) are also held as dense rows, so a decision gathers a few hundred dense rows
    and a short sparse tail. Probabilities as :class:`Linear` (at least three classes).
    """

    classes: list[str]
    indptr: np.ndarray[Any, Any]
    indices: np.ndarray[Any, Any]
    data: np.ndarray[Any, Any]
    intercept: np.ndarray[Any, Any]
    cal_a: np.ndarray[Any, Any]
    cal_b: np.ndarray[Any, Any]
    _dense_slot: np.ndarray[Any, Any] = field(init=False, repr=False)
    _dense: np.ndarray[Any, Any] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        counts = np.diff(self.indptr)
        heavy = np.flatnonzero(counts > DENSE_ROW_MIN)
        # feature -> its dense row, or -1
        self._dense_slot = np.full(len(counts), -1, dtype=np.int64)
        self._dense_slot[heavy] = np.arange(len(heavy))
        dense = np.zeros((len(heavy), len(self.classes)), dtype=np.float32)
        lens = counts[heavy]
        pos = _positions(self.indptr[heavy], lens)
        dense[np.repeat(np.arange(len(heavy)), lens), self.indices[pos]] = self.data[pos]
        self._dense = dense

    def proba(self, cols: np.ndarray[Any, Any], vals: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        known = cols < len(self._dense_slot)
        cols, vals = cols[known], vals[known]
        slots = self._dense_slot[cols]
        heavy = slots >= 0
        scores = self.intercept.copy()
        if heavy.any():
            scores += vals[heavy] @ self._dense[slots[heavy]]
        cols, vals = cols[~heavy], vals[~heavy]
        starts = self.indptr[cols]
        lens = self.indptr[cols + 1] - starts
        total = int(lens.sum())
        if total:
            pos = _positions(starts, lens)
            contrib = self.data[pos].astype(np.float64) * np.repeat(vals, lens)
            scores += np.bincount(self.indices[pos], weights=contrib, minlength=len(self.classes))
        return _calibrated(scores, self.cal_a, self.cal_b)


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
    seconds: SparseLinear | None = None
    """The second-level classifier (classes: 二级 codes, or a 一级 code for first-level labels)."""
    second_group: np.ndarray[Any, Any] | None = None
    """Index into ``groups.classes`` of each class of ``seconds``."""
    blend: float = 1.0
    """Weight of the group classifier in ``P(group)``; the rest is the second-level sum."""
    _char_keys: np.ndarray[Any, Any] = field(init=False, repr=False)
    """The char vocabulary's n-grams as integers (see :func:`_gram_keys`), sorted."""
    _char_cols: np.ndarray[Any, Any] = field(init=False, repr=False)
    """The column of each of ``_char_keys``."""
    _idf: np.ndarray[Any, Any] = field(init=False, repr=False)
    """``char_idf`` then ``word_idf``: the idf of every column."""

    def __post_init__(self) -> None:
        keys = np.fromiter(map(_gram_key, self.char_vocab), dtype=np.int64, count=len(self.char_vocab))
        cols = np.fromiter(self.char_vocab.values(), dtype=np.int64, count=len(self.char_vocab))
        order = np.argsort(keys, kind="stable")
        self._char_keys, self._char_cols = keys[order], cols[order]
        self._idf = np.concatenate([self.char_idf, self.word_idf])

    def group_proba(self, cols: np.ndarray[Any, Any], vals: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """``P(group)`` in the order of ``groups.classes``, summing to 1."""
        return self.blended(*self.group_views(cols, vals))

    def group_views(
        self, cols: np.ndarray[Any, Any], vals: np.ndarray[Any, Any], second: bool = True
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any] | None]:
        """The group classifier's ``P(group)`` and the second-level probabilities summed per group
        (``None`` without a second level or when ``second`` is false), both in the order of
        ``groups.classes``."""
        own = self.groups.proba(cols, vals)
        if not second or self.seconds is None or self.second_group is None:
            return own, None
        summed = np.bincount(self.second_group, weights=self.seconds.proba(cols, vals), minlength=len(own))
        return own, summed

    def blended(
        self, own: np.ndarray[Any, Any], summed: np.ndarray[Any, Any] | None, blend: float | None = None
    ) -> np.ndarray[Any, Any]:
        """``blend × own + (1 − blend) × summed`` (``blend`` defaults to the model's)."""
        b = self.blend if blend is None else blend
        return own if summed is None or b >= 1.0 else b * own + (1.0 - b) * summed

    def features(self, text: str) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """Sparse TF-IDF features of ``text``: sorted column indices and their values.

        Character n-grams are integers (:func:`_gram_key`), counted and looked up in the sorted
        vocabulary keys by numpy; words are looked up by ``dict.get`` in a C loop: no Python-level
        loop per n-gram.
        """
        t = normalise(text)
        tokens = words(t)
        # every n-gram's column, repeated as often as it occurs: chars by their packed keys, words
        # by dict lookup; one np.unique then gives both blocks' columns (chars first) and counts
        keys = _gram_keys(t)
        pos = np.searchsorted(self._char_keys, keys)
        pos[pos >= len(self._char_keys)] = 0
        chars = self._char_cols[pos[self._char_keys[pos] == keys]] if len(self._char_keys) else pos[:0]
        wgrams = chain(tokens, map(" ".join, pairwise(tokens)))
        found = np.fromiter(map(self.word_vocab.get, wgrams, repeat(-1)), dtype=np.int64)
        cols, tf = np.unique(np.concatenate([chars, found[found >= 0]]), return_counts=True)
        vals = (1.0 + np.log(tf)) * self._idf[cols]
        # each block L2-normalised on its own, as each vectorizer of the FeatureUnion does
        split = int(np.searchsorted(cols, len(self.char_idf)))
        for block in (vals[:split], vals[split:]):
            if len(block):
                block /= math.sqrt(float(block @ block))
        return cols, vals

    def predict(self, text: str, top: int = 3, explain: bool = True) -> Prediction:
        """Ranked leaves for one text, best first by ``P(group) × P(leaf | group)``.

        ``P(group)`` is the blend of the group classifier and the second-level sum (see the module
        docstring); ``by_group`` ranks the same leaves by the group classifier alone. Leaves are
        scored within the most probable group of either view and any other group above 5 % in
        either (a leaf of a group below 5 % cannot reach 5 % itself); a group with a single leaf
        proposes it. ``ranked`` keeps every leaf scored above 0.1 % (for confidences summed over
        leaves). Ranking by the joint confidence was as
        good as taking the best leaf of the most probable group on our held-out split, and better
        on the public sample, so the suggestions are simply best first.
        """
        cols, vals = self.features(text)
        own, summed = self.group_views(cols, vals, second=self.blend < 1.0)
        pg = self.blended(own, summed)
        groups = self.groups.classes
        order = np.argsort(-pg, kind="stable")
        own_best = int(np.argmax(own)) if len(own) else -1
        names: list[str] = []
        conditional: list[np.ndarray[Any, Any]] = []
        index: list[int] = []
        for gi in range(len(groups)):
            if gi != order[0] and gi != own_best and pg[gi] < 0.05 and own[gi] < 0.05:
                continue
            model = self.leaves.get(groups[gi])
            if model is None:
                continue
            leaf_p = model.proba(cols, vals)
            names.extend(model.classes)
            conditional.append(leaf_p)
            index.extend([gi] * len(leaf_p))
        ranked: tuple[Candidate, ...] = ()
        by_group: tuple[Candidate, ...] = ()
        if conditional:
            leaf_p = np.concatenate(conditional)
            at = np.asarray(index)
            ranked = _rank(names, leaf_p * pg[at])
            by_group = ranked if self.seconds is None or self.blend >= 1.0 else _rank(names, leaf_p * own[at])
        gconf = {g: float(pg[i]) for i, g in enumerate(groups)}
        terms = self._terms(cols, vals, int(order[0])) if explain and len(order) else ()
        return Prediction(ranked[:top], gconf, terms, ranked, by_group)

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
        cols, rows, vals = self.groups.rows(cols[words_only], vals[words_only])
        if not len(cols):
            return ()
        # two groups: the one weight column scores the second
        column = w[rows, 0] * (1.0 if best == 1 else -1.0) if w.shape[1] == 1 else w[rows, best]
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

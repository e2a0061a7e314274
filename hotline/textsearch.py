"""Chinese full-text search by character bigrams (issue 11): the tokenizer search engines use for
Chinese text (Lucene's CJK analyzer, Elasticsearch's ``cjk_bigram``).

A text is cut at spaces and punctuation into runs; each run of two or more characters gives its
overlapping two-character tokens, lower-cased (``小区停水了`` → 小区 区停 停水 水了). Every word of two
or more characters is then found wherever it stands, with no dictionary that could cut the text
and the query differently; a search word becomes the phrase of its bigrams (``<->``: each follows
the previous one), which is an exact substring match. Done here rather than in SQL: a PostgreSQL
function cutting bigrams took 1.3 ms per ticket (``substr`` on multibyte text walks the string),
this takes a few microseconds, and the result goes to the database as a ``tsvector`` literal
(no parser, no dictionary; also through ``COPY``).
"""

from __future__ import annotations

import re
import struct

_BREAK = re.compile(r"[\W_]+")
MAX_POSITION = 16383
"""PostgreSQL's largest tsvector position; later tokens share it (still found, not as a phrase)."""


def runs(text: str) -> list[str]:
    """The text's runs of letters, digits and CJK characters, lower-cased."""
    return [r for r in _BREAK.split(text.lower()) if r]


def bigrams(run: str) -> list[str]:
    return [run[i : i + 2] for i in range(len(run) - 1)]


MAX_POSITIONS = 256
"""PostgreSQL keeps at most this many positions of one lexeme (``MAXNUMPOS``)."""


def positions(text: str) -> dict[str, list[int]]:
    """Each bigram of ``text`` with its positions (1-based, ascending); positions run on across
    runs, so only bigrams of one run are adjacent."""
    out: dict[str, list[int]] = {}
    position = 0
    for run in runs(text):
        for gram in bigrams(run):
            position = min(position + 1, MAX_POSITION)
            seen = out.setdefault(gram, [])
            if len(seen) < MAX_POSITIONS and (not seen or seen[-1] < position):
                seen.append(position)
    return out


def vector_literal(text: str) -> str:
    """The ``tsvector`` text of ``text``'s bigrams (``'小区':1 '区停':2 …``), for SQL parameters;
    empty for a text without a run of two characters."""
    return " ".join(f"'{gram}':{','.join(map(str, at))}" for gram, at in positions(text).items())


def vector_binary(text: str) -> bytes:
    """The same ``tsvector`` in PostgreSQL's binary form (``tsvectorsend``), for binary ``COPY``:
    the number of lexemes, then each lexeme (UTF-8, NUL-terminated, in PostgreSQL's order: bytes,
    then length), its number of positions and the positions (16 bits each)."""
    grams = sorted(((g.encode(), at) for g, at in positions(text).items()), key=lambda e: (e[0], len(e[0])))
    parts = [struct.pack("!i", len(grams))]
    for lexeme, at in grams:
        parts.append(lexeme + b"\0" + struct.pack(f"!H{len(at)}H", len(at), *at))
    return b"".join(parts)


def query_literal(words: str) -> tuple[str | None, list[str]]:
    """The ``tsquery`` text for ``words`` (every word must occur: ``&``; a word's bigrams in
    sequence: ``<->``), and the single-character words, which have no bigram and are left to a
    ``LIKE``. ``None`` when no word has two characters."""
    phrases, singles = [], []
    for run in runs(words):
        if len(run) == 1:
            singles.append(run)
        else:
            phrases.append("(" + " <-> ".join(f"'{g}'" for g in bigrams(run)) + ")")
    return (" & ".join(phrases) or None), singles

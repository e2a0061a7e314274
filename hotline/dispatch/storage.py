"""Models stored with skops (safe loading: only the types we allow are ever instantiated).

Never plain pickle: a stored model is data from the database. What is stored is plain data —
dicts, lists, strings and numpy arrays (see :class:`dispatcher.classifier.DispatchModel`) — and
``skops.io.load`` refuses every type outside the allow-list below, so a tampered blob cannot
run code.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import fields
from typing import Any, TypeVar

import numpy as np
import skops.io as sio

from dispatcher.classifier import DispatchModel, Linear, SparseLinear

TRUSTED_TYPES = frozenset(
    {
        "builtins.dict",
        "builtins.list",
        "builtins.str",
        "builtins.int",
        "builtins.float",
        "builtins.NoneType",
        "numpy.ndarray",
    }
)
"""Exactly the types a stored model is made of; anything else (``builtins.exec`` included) is refused."""
TRUSTED_LOADERS = frozenset({"DictNode", "ListNode", "JsonNode", "NdArrayNode", "TypeNode"})

FORMAT = 2
"""2 added the second-level classifier; archives of format 1 (without it) still load."""
READABLE = frozenset({1, 2})


class UntrustedModel(Exception):
    """The stored model names a type outside the allow-list, or is not a model; it is not loaded."""


_Part = TypeVar("_Part", Linear, SparseLinear)


def _part_out(m: Linear | SparseLinear) -> dict[str, Any]:
    """A classifier's constructor fields as plain data: numpy arrays and the list of class names."""
    return {f.name: getattr(m, f.name) for f in fields(m) if f.init}


def _part_in(kind: type[_Part], d: dict[str, Any]) -> _Part:
    values = {f.name: d[f.name] for f in fields(kind) if f.init}
    values["classes"] = [str(c) for c in values["classes"]]
    return kind(**values)


def dump(model: DispatchModel) -> bytes:
    """The model as a skops archive (bytes)."""
    state = {
        "format": FORMAT,
        "version": model.version,
        "catalogue_digest": model.catalogue_digest,
        # Vocabularies as one string of the column names (n-grams never hold a newline: the text
        # is normalised first), which stores and loads far faster than a dict per entry.
        "names": "\n".join(model.names),
        "char_idf": model.char_idf,
        "word_idf": model.word_idf,
        "groups": _part_out(model.groups),
        "leaves": {g: _part_out(m) for g, m in model.leaves.items()},
        "seconds": None if model.seconds is None else _part_out(model.seconds),
        "second_group": model.second_group,
        "blend": float(model.blend),
    }
    return bytes(sio.dumps(state, compression=8))


def _types(node: Any, found: set[str], loaders: set[str]) -> None:
    """Every ``module.class`` and loader an archive's schema names, however deep."""
    if isinstance(node, dict):
        if "__class__" in node or "__module__" in node or "__loader__" in node:
            found.add(f"{node.get('__module__')}.{node.get('__class__')}")
            loaders.add(str(node.get("__loader__")))
        for value in node.values():
            _types(value, found, loaders)
    elif isinstance(node, list):
        for value in node:
            _types(value, found, loaders)


def load(blob: bytes) -> DispatchModel:
    """Load a skops archive, refusing any type that is not allowed. Raises :class:`UntrustedModel`.

    skops trusts its own default types (scikit-learn estimators among them); we trust fewer: the
    schema is read first and any type or loader outside :data:`TRUSTED_TYPES` and
    :data:`TRUSTED_LOADERS` is refused before anything is loaded.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            schema = json.loads(archive.read("schema.json"))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise UntrustedModel(f"不是有效的模型文件：{exc}") from exc
    found: set[str] = set()
    loaders: set[str] = set()
    _types(schema, found, loaders)
    refused = sorted((found - TRUSTED_TYPES) | (loaders - TRUSTED_LOADERS))
    if refused:
        raise UntrustedModel(f"模型文件包含不受信任的类型：{', '.join(refused)}")
    try:
        state: Any = sio.loads(blob, trusted=sorted(found))
        if not isinstance(state, dict) or state.get("format") not in READABLE:
            raise UntrustedModel("模型文件格式不符")
        names = str(state["names"]).split("\n")
        offset = len(state["char_idf"])
        return DispatchModel(
            version=str(state["version"]),
            catalogue_digest=str(state["catalogue_digest"]),
            char_vocab={n: i for i, n in enumerate(names[:offset])},
            char_idf=state["char_idf"],
            word_vocab={n: i + offset for i, n in enumerate(names[offset:])},
            word_idf=state["word_idf"],
            groups=_part_in(Linear, state["groups"]),
            leaves={str(g): _part_in(Linear, m) for g, m in state["leaves"].items()},
            names=names,
            seconds=None if state.get("seconds") is None else _part_in(SparseLinear, state["seconds"]),
            second_group=None if state.get("second_group") is None else np.asarray(state["second_group"]),
            blend=float(state.get("blend", 1.0)),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise UntrustedModel(f"模型文件格式不符：{exc}") from exc

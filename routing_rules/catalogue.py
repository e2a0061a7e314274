"""The dispatch catalogue (派单目录): three levels of matters, each leaf saying where it goes.

国办函〔2025〕66号 asks every 12345 platform for a maintained 派单目录; the first level uses the
15 first-level groups of a real city's public message-board taxonomy so that measured figures
compare with published ones. One TOML file per first-level group lives in
``routing_rules/data/catalogue/``; :func:`load_catalogue` validates it and refuses, naming file and
entry: unknown units or reasons, duplicate codes or examples, empty nodes, leaves with fewer than
:data:`MIN_EXAMPLES` examples, leaves that state no direction or more than one.

Nothing here does network I/O or imports a framework; run ``python -m routing_rules.catalogue
FILE...`` to check catalogue files on their own against the shipped units and reasons.
"""

from __future__ import annotations

import hashlib
import sys
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from routing_rules.schema import CatalogueExamples, CatalogueFile, CatalogueLeaf, CategoryScope

FIRST_LEVEL_NAMES: tuple[str, ...] = (
    "城乡建设",
    "环境保护",
    "交通运输",
    "教育文体",
    "劳动和社会保障",
    "商贸旅游",
    "卫生计生",
    "政法",
    "民政",
    "农村农业",
    "国土资源",
    "经济管理",
    "科技与信息产业",
    "党务政务",
    "纪检监察",
)
"""The 15 first-level names of the public message-board taxonomy (2020 泰迪杯 C 题 附件1)."""

MIN_EXAMPLES = 5
"""Each leaf carries at least this many example requests (issue 9)."""

LEVEL_NAMES = {1: "一级", 2: "二级", 3: "三级"}


class CatalogueError(Exception):
    """The catalogue cannot be used; ``file`` (relative to the catalogue folder, ``.`` for the
    folder itself) and ``entry`` (a node code) say where the fault is."""

    def __init__(self, file: str, entry: str, problem: str) -> None:
        self.file = file
        self.entry = entry
        self.problem = problem
        super().__init__(f"派单目录无效 {file} [{entry}]: {problem}")


@dataclass(frozen=True, slots=True)
class Node:
    """One node of the tree at any level; ``path`` holds the names from the first level down."""

    code: str
    name: str
    level: int
    """1 一级, 2 二级, 3 三级 (a leaf)."""
    path: tuple[str, ...]
    path_codes: tuple[str, ...]
    children: tuple[str, ...] = ()
    file: str = ""


@dataclass(frozen=True, slots=True)
class Leaf:
    """A 三级 matter with its direction; exactly one of ``unit``/``emergency``/``out_of_scope``."""

    code: str
    name: str
    path: tuple[str, str, str]
    path_codes: tuple[str, str, str]
    scope: CategoryScope | None
    unit: str | None
    assist: tuple[str, ...]
    working_days: int | None
    emergency: str | None
    out_of_scope: str | None
    examples: tuple[str, ...]
    script: str | None
    note: str
    file: str

    @property
    def group(self) -> str:
        """The first-level name (一级)."""
        return self.path[0]

    @property
    def group_code(self) -> str:
        return self.path_codes[0]


@dataclass(frozen=True)
class Catalogue:
    groups: tuple[str, ...]
    """First-level codes in file order."""
    nodes: Mapping[str, Node]
    """Every node by code, all three levels."""
    leaves: Mapping[str, Leaf]
    """Leaves by code, in catalogue order."""
    digest: str
    by_name: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Node name -> codes of the nodes with that name (names may repeat across branches)."""

    def resolve(self, label: str) -> Node | None:
        """A node by code, or by name (any level) when the name means one node or one branch, or by
        path (``城乡建设/物业管理``); ``None`` when unknown or ambiguous."""
        label = label.strip()
        node = self.nodes.get(label)
        if node is not None:
            return node
        codes = self.by_name.get(label, ())
        if len(codes) == 1:
            return self.nodes[codes[0]]
        if codes:
            # A second-level node and its own leaf of the same name (物业管理) mean one matter: the
            # node higher up is right whichever was meant. Names in different branches stay ambiguous.
            top = min((self.nodes[c] for c in codes), key=lambda n: n.level)
            if all(self.nodes[c].path_codes[: top.level] == top.path_codes for c in codes):
                return top
        if "/" in label or ">" in label:  # a path such as 城乡建设/物业管理/物业收费
            parts = tuple(p.strip() for p in label.replace(">", "/").split("/") if p.strip())
            for n in self.nodes.values():
                if n.path == parts:
                    return n
        return None

    def search(self, words: str) -> list[Leaf]:
        """Leaves whose names (any level) or examples contain every whitespace-separated word
        (codes are for programs and are not searched)."""
        terms = [w for w in words.split() if w]
        if not terms:
            return list(self.leaves.values())
        out = []
        for leaf in self.leaves.values():
            hay = "\n".join((*leaf.path, *leaf.examples))
            if all(t in hay for t in terms):
                out.append(leaf)
        return out


def catalogue_files(directory: Path) -> list[Path]:
    """The catalogue's files in load order (sorted by name): the tree files, then ``examples/``."""
    return sorted(directory.glob("*.toml")) + sorted((directory / "examples").glob("*.toml"))


def _tree_files(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    trees = [p for p in paths if p.parent.name != "examples"]
    extras = [p for p in paths if p.parent.name == "examples"]
    return trees, extras


def load_catalogue(
    directory: Path,
    unit_exists: Callable[[str], bool],
    reason_exists: Callable[[str], bool],
    *,
    files: Iterable[Path] | None = None,
    require_all_groups: bool = True,
) -> Catalogue:
    """Read and validate every catalogue file of ``directory`` (or just ``files``).

    Raises :class:`CatalogueError` naming the file and the entry (code) at fault.
    """
    paths, extra_paths = _tree_files(list(files) if files is not None else catalogue_files(directory))
    digest = hashlib.sha256()
    nodes: dict[str, Node] = {}
    leaves: dict[str, Leaf] = {}
    groups: list[str] = []
    seen_examples: dict[str, str] = {}
    group_names: dict[str, str] = {}
    if not paths:
        raise CatalogueError(".", "-", "派单目录没有任何文件")
    for path in paths:
        name = path.name
        data = _read(path, name, CatalogueFile, digest)

        g = data.group
        if g.name not in FIRST_LEVEL_NAMES:
            raise CatalogueError(name, g.code, f"一级分类“{g.name}”不是留言分类体系的15个一级分类之一")
        if g.name in group_names:
            raise CatalogueError(name, g.code, f"一级分类“{g.name}”已在 {group_names[g.name]} 中定义")
        group_names[g.name] = name
        _claim(nodes, name, g.code)
        if not data.second:
            raise CatalogueError(name, g.code, "一级分类下没有二级事项")
        seconds: list[str] = []
        for s in data.second:
            _claim(nodes, name, s.code)
            if not s.leaf:
                raise CatalogueError(name, s.code, "二级事项下没有三级事项")
            leaf_codes: list[str] = []
            for leaf in s.leaf:
                _claim(nodes, name, leaf.code)
                _check_leaf(name, leaf, unit_exists, reason_exists)
                _claim_examples(name, leaf.code, leaf.examples, seen_examples)
                path3 = (g.name, s.name, leaf.name)
                codes3 = (g.code, s.code, leaf.code)
                leaves[leaf.code] = Leaf(
                    code=leaf.code,
                    name=leaf.name,
                    path=path3,
                    path_codes=codes3,
                    scope=leaf.scope,
                    unit=leaf.unit,
                    assist=leaf.assist,
                    working_days=leaf.working_days,
                    emergency=leaf.emergency,
                    out_of_scope=leaf.out_of_scope,
                    examples=leaf.examples,
                    script=leaf.script,
                    note=leaf.note,
                    file=name,
                )
                nodes[leaf.code] = Node(leaf.code, leaf.name, 3, path3, codes3, (), name)
                leaf_codes.append(leaf.code)
            nodes[s.code] = Node(s.code, s.name, 2, (g.name, s.name), (g.code, s.code), tuple(leaf_codes), name)
            seconds.append(s.code)
        nodes[g.code] = Node(g.code, g.name, 1, (g.name,), (g.code,), tuple(seconds), name)
        groups.append(g.code)
    for path in extra_paths:
        _add_examples(path, leaves, seen_examples, digest)
    for built in leaves.values():
        if len(built.examples) < MIN_EXAMPLES:
            raise CatalogueError(
                built.file, built.code, f"示例诉求只有 {len(built.examples)} 条，至少需要 {MIN_EXAMPLES} 条"
            )
    if require_all_groups:
        missing = [n for n in FIRST_LEVEL_NAMES if n not in group_names]
        if missing:
            raise CatalogueError(".", "-", f"缺少一级分类：{'、'.join(missing)}")
    by_name: dict[str, list[str]] = {}
    for n in nodes.values():
        by_name.setdefault(n.name, []).append(n.code)
    ordered = {code: nodes[code] for code in _tree_order(groups, nodes)}
    return Catalogue(
        groups=tuple(groups),
        nodes=ordered,
        leaves=leaves,
        digest=digest.hexdigest(),
        by_name={k: tuple(v) for k, v in by_name.items()},
    )


F = TypeVar("F", CatalogueFile, CatalogueExamples)


def _read(path: Path, name: str, model: type[F], digest: Any) -> F:
    """One TOML file of the catalogue, validated into ``model``; its bytes go into ``digest``."""
    try:
        raw = path.read_bytes()
        doc = tomllib.loads(raw.decode("utf-8"))
    except OSError as exc:
        raise CatalogueError(name, "-", f"无法读取文件: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CatalogueError(name, "-", f"TOML 格式错误: {exc}") from exc
    digest.update(name.encode() + b"\0" + raw)
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        raise CatalogueError(name, _entry_of(doc, exc), _problems(exc)) from exc


def _claim_examples(file: str, code: str, examples: Iterable[str], seen: dict[str, str]) -> None:
    """Each example once in the whole catalogue (whitespace ignored): one text, one matter."""
    for ex in examples:
        key = "".join(ex.split())
        if key in seen:
            raise CatalogueError(file, code, f"示例“{ex}”与 {seen[key]} 重复")
        seen[key] = code


def _add_examples(path: Path, leaves: dict[str, Leaf], seen: dict[str, str], digest: Any) -> None:
    """More examples for existing leaves, from a file of ``examples/`` (``[[leaf]] code, examples``)."""
    name = f"examples/{path.name}"
    data = _read(path, name, CatalogueExamples, digest)
    for item in data.leaf:
        leaf = leaves.get(item.code)
        if leaf is None:
            raise CatalogueError(name, item.code, "派单目录中没有这个三级事项")
        _claim_examples(name, item.code, item.examples, seen)
        leaves[item.code] = replace(leaf, examples=leaf.examples + item.examples)


def _tree_order(groups: list[str], nodes: Mapping[str, Node]) -> list[str]:
    out: list[str] = []
    for g in groups:
        out.append(g)
        for s in nodes[g].children:
            out.append(s)
            out.extend(nodes[s].children)
    return out


def _claim(nodes: dict[str, Node], file: str, code: str) -> None:
    if code in nodes:
        raise CatalogueError(file, code, f"编码重复（已在 {nodes[code].file} 中使用）")
    # reserve the code until the node is built: a placeholder with the file name
    nodes[code] = Node(code, code, 0, (), (), (), file)


def _check_leaf(
    file: str, leaf: CatalogueLeaf, unit_exists: Callable[[str], bool], reason_exists: Callable[[str], bool]
) -> None:
    def fail(problem: str) -> CatalogueError:
        return CatalogueError(file, leaf.code, problem)

    directions = sum((leaf.unit is not None, leaf.emergency is not None, leaf.out_of_scope is not None))
    if directions != 1:
        raise fail(
            "三级事项必须且只能给出一种去向：unit（承办单位）、emergency（紧急热线）或 out_of_scope（不予受理原因）"
        )
    if leaf.unit is not None:
        if leaf.scope is None:
            raise fail("给出 unit 时必须给出 scope（sector 或 territorial）")
        if not unit_exists(leaf.unit):
            raise fail(f"引用了不存在的承办单位 {leaf.unit}")
    elif leaf.scope is not None or leaf.assist or leaf.working_days is not None:
        raise fail("紧急转接或不予受理的事项不得给出 scope、assist 或 working_days")
    if leaf.script is not None and leaf.emergency is None:
        raise fail("只有紧急转接事项可以给出 script")
    for a in leaf.assist:
        if not unit_exists(a):
            raise fail(f"引用了不存在的协办单位 {a}")
        if a == leaf.unit:
            raise fail(f"协办单位 {a} 与承办单位相同")
    if leaf.out_of_scope is not None and not reason_exists(leaf.out_of_scope):
        raise fail(f"不予受理原因 {leaf.out_of_scope} 未在 intake.toml 中定义")


def _entry_of(doc: object, exc: ValidationError) -> str:
    """The code of the entry a validation error is in, walking the error's location."""
    for err in exc.errors():
        node: object = doc
        found = "-"
        for part in err["loc"]:
            if isinstance(node, dict):
                node = node.get(part)
            elif isinstance(node, list) and isinstance(part, int) and part < len(node):
                node = node[part]
            else:
                break
            if isinstance(node, dict) and isinstance(node.get("code"), str):
                found = node["code"]
        return found
    return "-"


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '-'}: {err['msg']}" for err in exc.errors())


def _main(argv: list[str]) -> int:
    """Check catalogue files against the shipped units and not-accepted reasons."""
    base = Path(__file__).parent / "data"
    units = tomllib.loads((base / "units.toml").read_text("utf-8"))
    intake = tomllib.loads((base / "intake.toml").read_text("utf-8"))
    unit_codes = {u["code"] for u in units.get("unit", [])}
    reasons = {r["code"] for r in intake.get("not_accepted", [])}
    files = [Path(a).resolve() for a in argv] or None
    try:
        cat = load_catalogue(
            base / "catalogue",
            unit_codes.__contains__,
            reasons.__contains__,
            files=files,
            require_all_groups=files is None,
        )
    except CatalogueError as exc:
        print(exc, file=sys.stderr)
        return 1
    seconds = sum(1 for n in cat.nodes.values() if n.level == 2)
    examples = sum(len(leaf.examples) for leaf in cat.leaves.values())
    print(f"OK: 一级 {len(cat.groups)}，二级 {seconds}，三级 {len(cat.leaves)}，示例 {examples}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))

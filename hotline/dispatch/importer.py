"""Reading labelled history (CSV or XLSX) for import and evaluation; errors name row and column.

Labels are catalogue nodes at any level, by code or by name (``城乡建设``, ``urban_rural``,
``城乡建设/物业管理``); a label the catalogue does not know is listed with its rows, never guessed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from routing_rules.catalogue import Catalogue


class ImportFileError(Exception):
    """The file cannot be read as asked; ``code`` is stable, the message is for people."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(message)


@dataclass
class LabelledRow:
    row: int
    """1-based row number in the file, the header being row 1."""
    text: str
    label: str
    node: str | None
    """The catalogue node code the label resolves to; ``None`` if unknown."""


@dataclass
class ReadResult:
    rows: list[LabelledRow] = field(default_factory=list)
    empty_text: list[int] = field(default_factory=list)
    empty_label: list[int] = field(default_factory=list)
    unknown: dict[str, list[int]] = field(default_factory=dict)
    """Unknown label -> the rows that carry it."""
    ambiguous: dict[str, tuple[list[int], tuple[str, ...]]] = field(default_factory=dict)
    """A name several nodes share -> (its rows, the paths it could mean)."""
    bad_bytes: list[int] = field(default_factory=list)
    """Rows holding bytes that are not text in the file's encoding (read as U+FFFD), skipped."""

    @property
    def known(self) -> list[LabelledRow]:
        return [r for r in self.rows if r.node is not None]

    @property
    def total(self) -> int:
        """Rows read (blank lines not counted), skipped ones included."""
        ambiguous = sum(len(rows) for rows, _ in self.ambiguous.values())
        return len(self.rows) + len(self.empty_text) + len(self.empty_label) + len(self.bad_bytes) + ambiguous

    def problems(self, limit: int = 10) -> list[str]:
        """Chinese lines naming rows and columns, for the CLI and the page."""
        out: list[str] = []
        for label, (rows, paths) in sorted(self.ambiguous.items(), key=lambda kv: -len(kv[1][0])):
            out.append(
                f"标签“{label}”对应派单目录中多个同名节点（{'、'.join(paths)}），请改用编码或完整路径："
                f"第 {_rows(rows, limit)} 行（共 {len(rows)} 行，已跳过）"
            )
        for label, rows in sorted(self.unknown.items(), key=lambda kv: -len(kv[1])):
            out.append(f"标签“{label}”不在派单目录中：第 {_rows(rows, limit)} 行（共 {len(rows)} 行，已跳过）")
        if self.bad_bytes:
            out.append(
                f"含无法识别的字节（不是有效的 UTF-8 或 GB18030 文本）：第 {_rows(self.bad_bytes, limit)} 行"
                f"（共 {len(self.bad_bytes)} 行，已跳过）"
            )
        if self.empty_text:
            out.append(f"文本列为空：第 {_rows(self.empty_text, limit)} 行（共 {len(self.empty_text)} 行，已跳过）")
        if self.empty_label:
            out.append(f"标签列为空：第 {_rows(self.empty_label, limit)} 行（共 {len(self.empty_label)} 行，已跳过）")
        return out


def _rows(rows: Sequence[int], limit: int) -> str:
    shown = "、".join(str(r) for r in rows[:limit])
    return shown + ("…" if len(rows) > limit else "")


def _table(path: Path) -> Iterator[list[str]]:
    """Rows of a CSV (UTF-8, UTF-8 with BOM or GB18030) or of the first sheet of an XLSX."""
    if path.is_dir():
        raise ImportFileError("import.not_a_file", f"{path} 是文件夹，不是文件：请给出 CSV 或 XLSX 文件的路径")
    if not path.is_file():
        raise ImportFileError("import.file_missing", f"文件不存在：{path}")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        try:
            book = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises several types for a broken file
            raise ImportFileError(
                "import.bad_xlsx", f"无法读取 Excel 文件 {path.name}：文件已损坏或不是 XLSX 格式"
            ) from exc
        try:
            sheet = book.worksheets[0]
            for values in sheet.iter_rows(values_only=True):
                yield ["" if v is None else str(v) for v in values]
        finally:
            book.close()
        return
    if suffix not in (".csv", ".txt", ".tsv"):
        raise ImportFileError("import.bad_type", f"只支持 CSV 或 XLSX 文件：{path.name}")
    text = _decode(path.read_bytes())
    dialect = "excel-tab" if suffix == ".tsv" else "excel"
    reader = csv.reader(io.StringIO(text, newline=""), dialect=dialect)
    try:
        yield from reader
    except csv.Error as exc:
        why = (
            f"有单元格超过 {csv.field_size_limit():,} 个字符"
            if "field larger than field limit" in str(exc)
            else "引号或分隔符不配对"
        )
        raise ImportFileError("import.bad_row", f"文件 {path.name} 第 {reader.line_num} 行附近无法读取：{why}") from exc


REPLACEMENT = "\ufffd"
"""What a byte that is not text in the file's encoding is read as."""


def _decode(raw: bytes) -> str:
    """UTF-8 (with or without BOM) or GB18030, whichever the bytes are.

    A UTF-8 file with a few broken bytes stays UTF-8: its broken bytes become U+FFFD and the rows
    that hold them are skipped and listed (:attr:`ReadResult.bad_bytes`), rather than the whole
    file being read as GB18030 and garbled. GB18030 text is almost never valid multi-byte UTF-8, so
    the share of well-formed UTF-8 characters tells the two apart.
    """
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    lenient = raw.decode("utf-8-sig", errors="replace")
    broken = lenient.count(REPLACEMENT)
    wide = sum(1 for ch in lenient if ord(ch) > 0x7F) - broken
    if wide >= 4 * broken:
        return lenient
    return raw.decode("gb18030", errors="replace")


def read_labelled(
    path: Path, text_columns: Sequence[str], label_column: str, catalogue: Catalogue, *, progress: bool = False
) -> ReadResult:
    """Read ``path``; text columns are joined with a newline; labels resolved against ``catalogue``.

    Raises :class:`ImportFileError` for a missing or unreadable file, or a column that is not in
    the header (the message lists the columns there are).
    """
    rows = _table(path)
    try:
        header = [h.strip() for h in next(rows)]
    except StopIteration:
        raise ImportFileError("import.empty_file", f"文件为空：{path.name}") from None
    missing = [c for c in (*text_columns, label_column) if c not in header]
    if missing:
        names = "、".join(f"“{c}”" for c in missing)
        raise ImportFileError(
            "import.unknown_column",
            f"列{names}不在文件 {path.name} 的表头中；表头有：{'、'.join(h for h in header if h)}",
        )
    text_idx = [header.index(c) for c in text_columns]
    label_idx = header.index(label_column)
    result = ReadResult()
    iterator: Iterator[list[str]] = rows
    if progress:
        from tqdm import tqdm

        iterator = tqdm(rows, desc=f"读取 {path.name}", unit="行")
    cache: dict[str, str | None] = {}
    for number, raw_values in enumerate(iterator, start=2):
        # NUL cannot be stored in PostgreSQL text and carries nothing
        values = [v.replace("\x00", "") for v in raw_values]
        if not any(v.strip() for v in values):
            continue
        cell = [values[i].strip() if i < len(values) else "" for i in text_idx]
        text = "\n".join(c for c in cell if c)
        label = values[label_idx].strip() if label_idx < len(values) else ""
        if REPLACEMENT in text or REPLACEMENT in label:
            result.bad_bytes.append(number)
            continue
        if not text:
            result.empty_text.append(number)
            continue
        if not label:
            result.empty_label.append(number)
            continue
        if label not in cache:
            node = catalogue.resolve(label)
            cache[label] = node.code if node is not None else None
        code = cache[label]
        if code is None:
            same = catalogue.by_name.get(label, ())
            if len(same) > 1:
                rows_of, _ = result.ambiguous.setdefault(
                    label, ([], tuple("/".join(catalogue.nodes[c].path) for c in same))
                )
                rows_of.append(number)
                continue
            result.unknown.setdefault(label, []).append(number)
        result.rows.append(LabelledRow(number, text, label, code))
    return result

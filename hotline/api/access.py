"""The access table (``docs/access.md``): which roles may call each API operation, made from the
app's own OpenAPI document (each route's :class:`hotline.api.deps.RoleCheck`, ``x-roles``).

Regenerate with ``python -m hotline access-table > docs/access.md``; a test fails when the file
and the code disagree."""

from __future__ import annotations

from typing import Any

from hotline.users import ROLE_LABELS, Role

HEADER = """# 接口权限表 (who may call each API operation)

Generated from the OpenAPI document by `python -m hotline access-table > docs/access.md`; do not
edit by hand (`tests/hotline/test_access_matrix.py` fails when this file and the code disagree).
✓ = the role may call the operation; any other role gets 403 `auth.role_forbidden`. Within an
allowed role, unit handlers act only on tickets their unit has a part in *now* (404 otherwise),
and lead-unit actions need the lead unit (README, Security).
"""


def rows(doc: dict[str, Any]) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """``(method, path, summary, roles)`` for every ``/api/`` operation, in document order; an
    operation without ``x-roles`` is public (``roles == ()``)."""
    out = []
    for path, item in doc["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, op in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                out.append((method.upper(), path, op.get("summary", ""), tuple(op.get("x-roles", ()))))
    return out


def access_table(doc: dict[str, Any]) -> str:
    """The Markdown table of ``docs/access.md`` (one row per operation, one column per role)."""
    roles = list(Role)
    head = "| 接口 | 说明 | " + " | ".join(ROLE_LABELS[r] for r in roles) + " |"
    rule = "|---|---|" + "---|" * len(roles)
    lines = [HEADER, head, rule]
    for method, path, summary, allowed in rows(doc):
        cells = ["公开"] * len(roles) if not allowed else ["✓" if r.value in allowed else "" for r in roles]
        lines.append(f"| `{method} {path}` | {summary} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"

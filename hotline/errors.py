"""Domain errors carry their HTTP status and a stable code; messages are Chinese for people.

One handler (``hotline.app``) renders them as JSON; expected conflicts are never 500s.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldProblem:
    field: str
    code: str
    message: str


class DomainError(Exception):
    http_status = 400
    code = "error"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.field = field


class NotFound(DomainError):
    http_status = 404
    code = "not_found"


class Unauthorized(DomainError):
    http_status = 401
    code = "auth.unauthorized"


class Forbidden(DomainError):
    http_status = 403
    code = "auth.forbidden"


class Conflict(DomainError):
    http_status = 409
    code = "conflict"


class InvalidInput(DomainError):
    """422 with every problem found, each naming the field and the rule broken."""

    http_status = 422
    code = "validation"

    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("；".join(p.message for p in problems) or "输入有误")
        self.problems = problems

    @classmethod
    def one(cls, field: str, code: str, message: str) -> InvalidInput:
        return cls([FieldProblem(field, code, message)])

"""The service's edge: every request's text is checked and normalised before any route sees it.

One ASGI middleware (:class:`InputGuard`) does for every endpoint, API and page alike, what no
single form or schema could do for all (issue 10, items 1, 4 and 5):

* a request body larger than ``Settings.max_body_bytes`` is refused with 413 before it is parsed
  (by its ``Content-Length``, or while it streams in without one); a multipart body with 415
  (nothing here takes files, and its fields would escape the checks below);
* a JSON body that is not UTF-8, not JSON, nested deeper than :data:`MAX_DEPTH`, or holds a number
  beyond 64 bits or a non-finite one is refused with 422 and our error body (never FastAPI's
  ``{"detail": …}``);
* every string of the query, of a JSON body (keys too) and of the path is checked by
  :func:`text_problem`: NUL and other control characters (tab and newlines allowed), bidirectional
  overrides and isolates, lone surrogates, and text made only of blanks are refused with 422,
  naming the field and the rule; a page's form is scrubbed of them instead (:func:`scrub`), so
  that what a person typed is never thrown away by an error page;
* every such string is normalised by :func:`clean`: full-width digits and letters
  (``１３８００００５６７８``) and other compatibility characters become their plain forms (NFKC),
  so that a number typed in any width is stored and looked up alike.

API paths answer JSON (``{"error": {"code", "message", "fields"}}``, codes ``validation.*`` and
``request.too_large``); pages answer the Chinese error page.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_DEPTH = 32
"""Deepest nesting of objects and arrays a JSON body may have (ours need four)."""

INT64 = 2**63 - 1

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_BLANK = re.compile("^[\\s\u200b-\u200d\u2060\ufeff\u3000]+$")
_IDEOGRAPH = re.compile("[\u3400-\u9fff\uf900-\ufaff]")
_CJK_PUNCTUATION = re.compile("[\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff5e]+")
"""Full-width punctuation (，！：（） …), which Chinese prose uses on purpose: kept as typed there."""


@dataclass(frozen=True, slots=True)
class Problem:
    field: str
    code: str
    rule: str
    """The rule broken, in Chinese, without the field's name (pages show this)."""

    @property
    def message(self) -> str:
        return f"{self.field}：{self.rule}"


def text_problem(field: str, value: str) -> Problem | None:
    """What is wrong with one string a request carries, or ``None``.

    Refused: lone surrogates (``validation.invalid_character``), NUL and the other C0/C1 control
    characters except tab, line feed and carriage return (``validation.control_character``),
    bidirectional overrides and isolates U+202A–U+202E, U+2066–U+2069, which make text read
    differently from what it is (``validation.bidi_control``), and a non-empty text of only
    blanks, zero-width characters included (``validation.blank``). The empty string is left to
    each field's own rule (required or not).
    """
    if _SURROGATE.search(value):
        return Problem(field, "validation.invalid_character", "含有无效的字符（孤立的代理项）")
    if _CONTROL.search(value):
        return Problem(field, "validation.control_character", "不能含有控制字符（如 NUL）")
    if _BIDI.search(value):
        return Problem(field, "validation.bidi_control", "不能含有改变文字方向的控制字符")
    if value and _BLANK.match(value):
        return Problem(field, "validation.blank", "不能只含空白字符")
    return None


def clean(value: str) -> str:
    """``value`` in NFKC (full-width digits and letters, compatibility characters to their plain
    forms), except that Chinese prose keeps its full-width punctuation (，！：（）), which NFKC
    would turn into ASCII. A text without Chinese characters (a phone number, a code, an e-mail
    address) is NFKC throughout."""
    if value.isascii():
        return value
    if not _IDEOGRAPH.search(value):
        return unicodedata.normalize("NFKC", value)
    out: list[str] = []
    at = 0
    for m in _CJK_PUNCTUATION.finditer(value):
        out.append(unicodedata.normalize("NFKC", value[at : m.start()]))
        out.append(m.group())
        at = m.end()
    out.append(unicodedata.normalize("NFKC", value[at:]))
    return "".join(out)


class Refused(Exception):
    """A request refused at the edge: HTTP status, stable code, Chinese message, field problems."""

    def __init__(self, status: int, code: str, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.problems = problems or []

    @classmethod
    def field(cls, field: str, code: str, rule: str) -> Refused:
        problem = Problem(field, code, rule)
        return cls(422, "validation", problem.message, [problem])


def _check(field: str, value: str) -> str:
    problem = text_problem(field, value)
    if problem is not None:
        raise Refused(422, "validation", problem.message, [problem])
    return clean(value)


def _walk(value: Any, path: str, depth: int) -> Any:
    """The JSON value with every string (keys too) checked and cleaned, integers within 64 bits."""
    name = path or "body"
    if depth > MAX_DEPTH:
        raise Refused.field("body", "validation.too_deep", f"JSON 嵌套超过 {MAX_DEPTH} 层")
    if isinstance(value, str):
        return _check(name, value)
    if isinstance(value, int) and not isinstance(value, bool) and not -INT64 - 1 <= value <= INT64:
        raise Refused.field(name, "validation.number_too_large", "数值超出范围（64 位整数）")
    if isinstance(value, list):
        return [_walk(v, f"{path}.{i}" if path else str(i), depth + 1) for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            key = f"{path}.{k}" if path else str(k)
            out[_check(key, k)] = _walk(v, key, depth + 1)
        return out
    return value


def _no_constant(name: str) -> Any:
    raise Refused.field("body", "validation.not_finite", f"不允许 {name}：数值必须有限")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise Refused.field("body", "validation.not_finite", "数值超出范围：必须是有限的数")
    return value


def clean_json(raw: bytes) -> bytes:
    """A JSON body checked and cleaned, re-encoded as UTF-8 JSON; raises :class:`Refused`
    (422: not UTF-8, not JSON, too deep, a number out of range or not finite, a bad string)."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Refused.field("body", "validation.bad_encoding", "请求体不是有效的 UTF-8 文本") from None
    try:
        data = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        raise Refused.field("body", "validation.too_deep", f"JSON 嵌套超过 {MAX_DEPTH} 层") from None
    except ValueError:
        raise Refused.field("body", "validation.json_invalid", "JSON 格式错误") from None
    return json.dumps(_walk(data, "", 0), ensure_ascii=False).encode()


def scrub(value: str) -> str:
    """A form field as a person meant it: control and direction-override characters dropped
    (tab and newlines kept), blank-only text empty, then :func:`clean`."""
    value = _BIDI.sub("", _CONTROL.sub("", value))
    return "" if _BLANK.match(value) else clean(value)


def clean_pairs(raw: bytes, *, what: str) -> bytes:
    """A query string or a form body (``application/x-www-form-urlencoded``), cleaned.

    A query string is checked like JSON (:func:`text_problem`; raises :class:`Refused` naming the
    parameter). A form is what a person typed into a page: refusing it would throw their text
    away, so it is scrubbed instead (:func:`scrub`), and the page's own rules (required fields)
    answer with the form as it was filled in."""
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise Refused.field(what, "validation.bad_encoding", "不是有效的 UTF-8 文本") from None
    if what == "form":
        cleaned = [(scrub(k), scrub(v)) for k, v in pairs]
    elif what == "page query":
        cleaned = [(_check(k, k), "" if _BLANK.match(v) else _check(k, v)) for k, v in pairs]
    else:
        cleaned = [(_check(k, k), _check(k, v)) for k, v in pairs]
    return urlencode(cleaned, quote_via=quote).encode()


class InputGuard:
    """ASGI middleware: the checks of this module on every HTTP request (see the module docstring)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, answer: Callable[[Scope, Refused], Awaitable[Any]]) -> None:
        """``answer`` turns a refusal into the response (the app's error body or error page)."""
        self.app = app
        self.max_body = max_body_bytes
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            scope, receive = await self._guard(scope, receive)
        except Refused as exc:
            await self._answer(scope, exc, send)
            return
        await self.app(scope, receive, send)

    async def _guard(self, scope: Scope, receive: Receive) -> tuple[Scope, Receive]:
        path = scope.get("path", "")
        scope = dict(scope)
        if not path.isascii() or _CONTROL.search(path):
            scope["path"] = _check("path", path)
        query = scope.get("query_string", b"")
        if query:
            # a page's query is often a search form a person filled in: a field left blank is an
            # empty one there (the page keeps the rest of what was typed); the rest is checked
            page = not path.startswith("/api/")
            scope["query_string"] = clean_pairs(query, what="page query" if page else "query")
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        length = headers.get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                raise Refused.field("Content-Length", "validation.int_parsing", "必须是整数") from None
            if declared > self.max_body:
                raise self._too_large()
        ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        is_json = ctype == b"application/json" or ctype.endswith(b"+json")
        is_form = ctype == b"application/x-www-form-urlencoded"
        if ctype == b"multipart/form-data":
            # No page or operation takes files; a multipart form would pass unchecked.
            raise Refused(
                415,
                "request.unsupported_media_type",
                "不支持 multipart/form-data 请求：页面表单请用 application/x-www-form-urlencoded，接口请用 JSON",
            )
        if scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            return scope, receive
        body = await self._read(receive)
        if body and is_json:
            body = clean_json(body)
        elif body and is_form:
            body = clean_pairs(body, what="form")
        scope["headers"] = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"content-length"]
        scope["headers"].append((b"content-length", str(len(body)).encode()))
        return scope, _replay(body, receive)

    async def _read(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise self._too_large()
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def _too_large(self) -> Refused:
        limit = f"{self.max_body / 1024 / 1024:g} MB" if self.max_body >= 1024 * 1024 else f"{self.max_body // 1024} KB"
        return Refused(413, "request.too_large", f"提交的内容过大（上限 {limit}），请精简后再提交")

    async def _answer(self, scope: Scope, exc: Refused, send: Send) -> None:
        response = await self.answer(scope, exc)
        await response(scope, _empty_receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the (cleaned) body over once, then waits as the original does."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _empty_receive() -> Message:
    return {"type": "http.disconnect"}


CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",  # no inline script anywhere: pages load theirs from /static
        "style-src 'self' 'unsafe-inline'",  # style attributes, htmx's indicator style
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class SecurityHeaders:
    """ASGI middleware: security headers on every response (issue 10, item 6).

    Content-Security-Policy without inline scripts (:data:`CONTENT_SECURITY_POLICY`),
    ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: same-origin``, ``X-Frame-Options: DENY``,
    ``Strict-Transport-Security`` when the request came over HTTPS, and ``Cache-Control: no-store``
    on everything but ``/static`` (pages and API answers carry personal data; a shared computer's
    cache or the back button must not show them after logout) unless the route set its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"
        static = scope.get("path", "").startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                extra = [
                    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"x-frame-options", b"DENY"),
                ]
                if https:
                    extra.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
                if not static:
                    extra.append((b"cache-control", b"no-store"))
                headers += [(k, v) for k, v in extra if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)

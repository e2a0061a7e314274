"""Public pages, no sign-in: 办理进度查询 (rate-limited, CSRF via the pre-session cookie) and the
monthly 办理情况公开. They show no personal data; :mod:`hotline.public` decides what is shown."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from hotline import public
from hotline.errors import InvalidInput
from hotline.requestctx import RuntimeDep, SessionDep
from hotline.web.deps import check_csrf, render

router = APIRouter(prefix="/public", include_in_schema=False)


def _client(request: Request) -> str:
    # The socket peer: a proxy in front must pass the real address through (--forwarded-allow-ips).
    return request.client.host if request.client else "unknown"


@router.get("/progress", response_class=HTMLResponse)
async def progress_form(request: Request, rt: RuntimeDep) -> Response:
    return render(request, "public_progress.html", None, rt)


@router.post("/progress", response_class=HTMLResponse)
async def progress_lookup(
    request: Request,
    session: SessionDep,
    rt: RuntimeDep,
    number: Annotated[str, Form()] = "",
    last_four: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, rt.settings.secret_key, csrf)
    form = {"number": number.strip()[:32]}
    try:
        found = await public.lookup_progress(session, rt, _client(request), number, last_four)
    except public.TooManyLookups as exc:
        response = render(request, "public_limited.html", None, rt, status_code=429, message=exc.message)
        response.headers["Retry-After"] = "600"
        return response
    except InvalidInput as exc:
        return render(
            request, "public_progress.html", None, rt, status_code=422, errors=exc.problems, form=form, searched=False
        )
    return render(request, "public_progress.html", None, rt, form=form, searched=True, found=found)


@router.get("/disclosure", response_class=HTMLResponse)
async def disclosure(
    request: Request, session: SessionDep, rt: RuntimeDep, month: str = "", page: str = "1"
) -> Response:
    page_no = int(page) if page.isdigit() and 0 < int(page) < 100_000 else 1
    try:
        result = await public.disclosure(session, rt, month or None, page_no)
    except InvalidInput as exc:
        return render(request, "public_disclosure.html", None, rt, status_code=422, errors=exc.problems, month=month)
    return render(request, "public_disclosure.html", None, rt, d=result, month=result.month)

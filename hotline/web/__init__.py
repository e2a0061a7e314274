"""Server-rendered Jinja2 pages (agents, units, supervisors, public). Never imports ``hotline.api``."""

from __future__ import annotations

from fastapi import APIRouter

from hotline.web import agent, auth, centre, dashboard, dispatch, public, search, unit


def routers() -> list[APIRouter]:
    """Every page router, in the order the app includes them."""
    return [
        auth.router,
        search.router,
        agent.router,
        unit.router,
        centre.router,
        dispatch.router,
        dashboard.router,
        public.router,
    ]

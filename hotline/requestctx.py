"""Request dependencies shared by the JSON API and the web pages: the runtime and the transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed when the handler succeeds, rolled back otherwise."""
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    async with sessions() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


# scope="function": the commit happens before the response is sent. With the default ("request")
# FastAPI sends the response first and commits afterwards, so a client could be told 201 for a
# ticket whose commit then fails, and a redirect could be followed before the data is visible.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]

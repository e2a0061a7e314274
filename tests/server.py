"""A real ``python -m hotline serve`` process on a given database, for tests that need one (the
browser journey, the fuzzer, the forwarded-header limit): started, waited for, stopped."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_server(db_url: str, secret: str) -> Iterator[str]:
    """The base URL of a server on ``db_url`` signing with ``secret`` (no scheduler, no trusted
    proxies); the test fails if it does not answer ``/healthz`` within 30 s."""
    port = free_port()
    env = {
        **os.environ,
        "HOTLINE_DATABASE_URL": db_url,
        "HOTLINE_SECRET_KEY": secret,
        "HOTLINE_EMBEDDED_SCHEDULER": "false",
    }
    env.pop("HOTLINE_TRUSTED_PROXIES", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "hotline", "serve", "--port", str(port), "--quiet"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.25)
        else:
            pytest.fail("server did not start")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

"""Sustained intake through the HTTP API, against raw single-row asyncpg inserts of the same rows.

Run from the repository root: ``python bench/intake.py [--seconds 20] [--concurrency 16] [--workers 2]``.

* Starts a real server process (``python -m hotline serve``) on a fresh, migrated database:
  ``HOTLINE_BENCH_DATABASE_URL`` names the PostgreSQL server (an asyncpg URL); without it the
  embedded PostgreSQL under ``var/bench-pg`` is used.
* Drives ``POST /api/v1/tickets`` with keep-alive connections from this process for a bounded
  time and count; every request routes, records the decision, the deadline and the timeline.
* Then inserts the same caller + ticket rows with plain single-row asyncpg INSERTs at the same
  concurrency, and prints tickets/s, latency percentiles and the ratio of the two.

Targets (issue 2): at least 500 tickets/s with p99 under 100 ms on the 2-core machine.
Figures only: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_RATE = 500.0
TARGET_P99_MS = 100.0
SECRET = "bench-secret-0123456789-abcdefghijklmnop"

CONTENTS = [
    ("complaint", "小区楼下广场舞噪音扰民，晚上十点后还在跳", {"district": "薛城区", "town": "常庄街道"}),
    ("consultation", "想咨询养老保险补缴的办理流程", None),
    ("help", "家里停水两天了，物业说是供水公司的问题", {"district": "市中区"}),
    ("report", "某工厂夜间偷排污水，河道有异味", {"district": "滕州市"}),
    ("complaint", "出租车拒载还绕路", None),
    ("suggestion", "建议在学校门口增设红绿灯", {"district": "山亭区", "town": "西集镇"}),
    ("complaint", "公积金提取审核太慢", None),
    ("complaint", "拖欠农民工工资三个月", {"district": "峄城区"}),
]
LINES = ["12345"] * 12 + ["12333", "12315", "12366", "96119", "12329", "12369"]


def request_body(rng: random.Random) -> dict[str, object]:
    kind, content, area = rng.choice(CONTENTS)
    enterprise = rng.random() < 0.15
    caller: dict[str, object] = {"type": "enterprise" if enterprise else "citizen", "name": "测试用户"}
    caller["phone"] = f"13{rng.randint(100000000, 999999999)}"
    if enterprise:
        caller["enterprise_name"] = "枣庄市某某科技有限公司"
    body: dict[str, object] = {
        "channel": rng.choice(["phone", "web", "wechat", "app"]),
        "line": rng.choice(LINES),
        "caller": caller,
        "kind": kind,
        "content": f"{content}（编号{rng.randint(1, 10**6)}）",
    }
    if area:
        body["area"] = area
    return body


def server_url() -> str:
    url = os.environ.get("HOTLINE_BENCH_DATABASE_URL")
    if url:
        return url
    from hotline.embedded import embedded_url

    return embedded_url(ROOT / "var" / "bench-pg", database="postgres")


def with_database(url: str, name: str) -> str:
    p = urlsplit(url)
    return urlunsplit((p.scheme, p.netloc, "/" + name, p.query, p.fragment))


def plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Http:
    """A minimal keep-alive HTTP/1.1 client: cheap enough that the load generator is not the bottleneck."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def drive_api(port: int, token: str, seconds: float, concurrency: int, limit: int) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    sent = 0
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    async def worker(seed: int) -> None:
        nonlocal errors, sent
        rng = random.Random(seed)
        http = Http(port)
        try:
            while time.perf_counter() < deadline and sent < limit:
                sent += 1
                body = json.dumps(request_body(rng)).encode()
                key = {"Idempotency-Key": uuid.uuid4().hex}
                t0 = time.perf_counter()
                status, _ = await http.request("POST", "/api/v1/tickets", body, headers | key)
                latencies.append(time.perf_counter() - t0)
                if status != 201:
                    errors += 1
        finally:
            http.close()

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return latencies, errors


async def drive_raw(db: str, rows: int, concurrency: int) -> float:
    """The same caller + ticket rows by plain single-row INSERTs: no routing, no timeline, no HTTP."""
    pool = await asyncpg.create_pool(plain(db), min_size=concurrency, max_size=concurrency)
    assert pool is not None
    user_id = await pool.fetchval("SELECT id FROM users WHERE username = 'bench-agent'")
    rng = random.Random(7)
    bodies = [request_body(rng) for _ in range(rows)]
    next_row = 0

    async def worker() -> None:
        nonlocal next_row
        async with pool.acquire() as conn:
            while next_row < rows:
                body = bodies[next_row]
                next_row += 1
                caller = body["caller"]
                assert isinstance(caller, dict)
                caller_id = await conn.fetchval(
                    "INSERT INTO callers (type, name, phone) VALUES ($1, $2, $3) RETURNING id",
                    caller["type"],
                    caller["name"],
                    caller["phone"],
                )
                await conn.execute(
                    "INSERT INTO tickets (number, channel, line, kind, content, caller_id, caller_type, status,"
                    " disposition, rulebook_version, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, 'dispatched',"
                    " 'dispatch', 'raw', $8)",
                    f"R{uuid.uuid4().hex[:14]}",
                    body["channel"],
                    body["line"],
                    body["kind"],
                    body["content"],
                    caller_id,
                    caller["type"],
                    user_id,
                )

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    await pool.close()
    return rows / elapsed


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2, help="server worker processes")
    ap.add_argument("--limit", type=int, default=200_000, help="at most this many requests")
    args = ap.parse_args()

    server = server_url()
    name = f"hotline_bench_{uuid.uuid4().hex[:6]}"
    asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    db = with_database(server, name)
    env = {**os.environ, "HOTLINE_DATABASE_URL": db, "HOTLINE_SECRET_KEY": SECRET}
    port = free_port()
    proc: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run([sys.executable, "-m", "hotline", "migrate"], env=env, check=True, cwd=ROOT)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "hotline",
                "users",
                "create",
                "bench-agent",
                "--role",
                "agent",
                "--password",
                "bench-pass-1",
            ],
            env=env,
            check=True,
            cwd=ROOT,
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "hotline", "serve", "--port", str(port), "--workers", str(args.workers), "--quiet"],
            env=env,
            cwd=ROOT,
        )
        token = asyncio.run(_login(port))
        asyncio.run(drive_api(port, token, 2.0, args.concurrency, 2_000))  # warm-up
        latencies, errors = asyncio.run(drive_api(port, token, args.seconds, args.concurrency, args.limit))
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        proc = None
        api_rate = len(latencies) / args.seconds
        raw_rate = asyncio.run(drive_raw(db, min(len(latencies), 20_000), args.concurrency))
    finally:
        if proc is not None:
            proc.kill()
        asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    p50, p95, p99 = (percentile(latencies, q) * 1000 for q in (0.50, 0.95, 0.99))
    print()
    print(f"intake via HTTP ({args.workers} server workers, {args.concurrency} connections, {args.seconds:.0f} s)")
    print(f"{'':34}{'figure':>14}{'target':>14}  result")
    print("-" * 72)
    print(f"{'tickets/s (routing + timeline)':34}{api_rate:>14,.0f}{'>= 500':>14}  {_ok(api_rate >= TARGET_RATE)}")
    print(f"{'latency p50 ms':34}{p50:>14.1f}")
    print(f"{'latency p95 ms':34}{p95:>14.1f}")
    print(f"{'latency p99 ms':34}{p99:>14.1f}{'< 100':>14}  {_ok(p99 < TARGET_P99_MS)}")
    print(f"{'errors (non-201)':34}{errors:>14}")
    print(f"{'raw asyncpg single-row inserts/s':34}{raw_rate:>14,.0f}")
    print(f"{'ratio API / raw inserts':34}{api_rate / raw_rate:>13.2f}x")
    print(f"{'mean ms per request':34}{statistics.fmean(latencies) * 1000:>14.1f}")


def _ok(flag: bool) -> str:
    return "ok" if flag else "below target"


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(plain(url))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _login(port: int) -> str:
    for _ in range(100):
        try:
            http = Http(port)
            form = urlencode({"username": "bench-agent", "password": "bench-pass-1"}).encode()
            status, body = await http.request(
                "POST", "/api/v1/auth/token", form, {"Content-Type": "application/x-www-form-urlencoded"}
            )
            http.close()
            if status == 200:
                return str(json.loads(body)["access_token"])
        except OSError:
            pass
        await asyncio.sleep(0.2)
    raise SystemExit("server did not come up")


if __name__ == "__main__":
    main()

"""Delivery throughput to a receiver that answers after 50 ms.

The service's own delivery worker (in-process, the real lifespan) sends N
queued webhook notifications with `delivery_concurrency` in flight; the
ceiling is concurrency / 50 ms.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import asyncpg

from app.main import create_app
from app.settings import load_settings
from bench.common import plain_dsn

COUNT = 3_000
DELAY = 0.05
CONCURRENCY = 16


RECEIVER = """
import asyncio, sys

async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\\r\\n\\r\\n")
            length = 0
            for line in head.split(b"\\r\\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            await asyncio.sleep(float(sys.argv[1]))
            writer.write(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()

asyncio.run(main())
"""


class SlowReceiver:
    """An asyncio HTTP/1.1 server in a process of its own (sharing the GIL
    with the service would slow both): 200 after DELAY."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", RECEIVER, str(DELAY)], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


QUEUE = """
INSERT INTO notifications (id, alert_id, channel, reason, level, status, attempts, created_at, next_attempt_at)
SELECT gen_random_uuid(), NULL, 'sink', 'test', 1, 'pending', 0, now(), now() FROM generate_series(1, $1::int)
"""


async def run(url: str) -> dict[str, float]:
    receiver = SlowReceiver()
    conn = await asyncpg.connect(plain_dsn(url))
    try:
        await conn.execute("TRUNCATE notifications, alert_events, alerts")
        settings = load_settings(
            database_url=url,
            channels={"sink": {"type": "webhook", "url": f"http://127.0.0.1:{receiver.port}/"}},
            default_channels=["sink"],
            delivery_concurrency=CONCURRENCY,
            enable_escalation=False,
            log_level="warning",
        )
        app = create_app(settings)
        await conn.execute(QUEUE, COUNT)
        async with app.router.lifespan_context(app):
            started = time.perf_counter()
            app.state.wake_delivery()
            # Polling the database is the measurement: it is where "sent" is true.
            while await conn.fetchval("SELECT count(*) FROM notifications WHERE status = 'sent'") < COUNT:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            elapsed = time.perf_counter() - started
    finally:
        await conn.close()
        receiver.close()
    rate = COUNT / elapsed
    ceiling = CONCURRENCY / DELAY
    return {
        "notifications": COUNT,
        "per_s": round(rate, 1),
        "ceiling_per_s": ceiling,
        "ratio": round(rate / ceiling, 3),
    }


def main(url: str) -> dict[str, float]:
    figures = asyncio.run(run(url))
    print(
        f"delivery {COUNT:,} webhooks to a 50 ms receiver, {CONCURRENCY} in flight: {figures['per_s']:.0f}/s "
        f"of a {figures['ceiling_per_s']:.0f}/s ceiling = {figures['ratio']:.0%}"
    )
    return figures

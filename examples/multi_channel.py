"""Multi-channel: one alert to every configured channel, then each channel's
delivery status as the service reports it.

    ALERTS_URL=http://127.0.0.1:8000 python examples/multi_channel.py
"""

from __future__ import annotations

import sys
import time
import uuid

from app.client import AlertClient

WAIT_SECONDS = 20.0


def main() -> int:
    with AlertClient() as client:
        channels = [c.name for c in client.list_channels()]
        print(f"configured channels: {', '.join(channels)}")
        sent = client.send_alert(
            alert_type="payment_errors",
            severity="critical",
            message="Payment error rate at 12% (threshold 2%)",
            source=f"checkout-{uuid.uuid4().hex[:6]}",
            channels=channels,
        )
        print(f"alert {sent.id} sent to {len(channels)} channel(s)")
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            rows = client.get_alert(sent.id).notifications
            done = [r for r in rows if r.status in ("sent", "failed", "silenced")]
            if len(done) == len(rows) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    for row in sorted(rows, key=lambda r: r.channel):
        extra = f" ({row.last_error})" if row.last_error else ""
        print(f"{row.channel}: {row.status} after {row.attempts} attempt(s){extra}")
    return 0 if all(r.status == "sent" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

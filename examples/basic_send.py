"""Basic send: one alert to the service, and what it answered.

ALERTS_URL=http://127.0.0.1:8000 python examples/basic_send.py
"""

from __future__ import annotations

import sys

from app.client import AlertClient, AlertServiceError


def main() -> int:
    with AlertClient(source="example-host") as client:  # ALERTS_URL, ALERTS_API_KEY
        try:
            sent = client.send_alert(
                alert_type="disk_full",
                severity="high",
                message="/var is 91% full on example-host",
                labels={"mount": "/var"},
                details={"used_pct": 91},
            )
        except AlertServiceError as exc:
            print(f"could not send the alert: {exc}", file=sys.stderr)
            return 1
    print(f"alert {sent.id}: {sent.outcome}, status {sent.status}, severity {sent.severity}")
    print(
        f"fingerprint {sent.fingerprint[:16]}..., notified: {sent.notified}, channels: {', '.join(sent.channels)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

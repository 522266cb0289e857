"""Deduplication: the same problem reported five times is one alert; a
higher severity raises it and notifies again.

    ALERTS_URL=http://127.0.0.1:8000 python examples/deduplication.py
"""

from __future__ import annotations

import sys
import uuid

from app.client import AlertClient


def main() -> int:
    source = f"api-{uuid.uuid4().hex[:6]}"  # a fresh identity each run
    with AlertClient(source=source) as client:
        outcomes = []
        for pct in (91, 92, 93, 94, 95):
            sent = client.send_alert(
                alert_type="cpu_high", severity="medium", message=f"CPU at {pct}%", labels={"pool": "api"}
            )
            outcomes.append(sent.outcome)
        print(f"outcomes: {', '.join(outcomes)}")
        print(f"one alert {sent.id}: occurrences: {sent.occurrences}, suppressed: {sent.suppressed_count}")
        print(f"message is the newest: {sent.message!r}")
        worse = client.send_alert(
            alert_type="cpu_high", severity="critical", message="CPU at 99%", labels={"pool": "api"}
        )
        print(f"higher severity: {worse.outcome}, severity now {worse.severity}, notified: {worse.notified}")
    same = worse.id == sent.id and sent.occurrences == 5 and worse.severity == "critical"
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())

"""Full workflow: several services report problems, duplicates merge, the
on-call engineer acknowledges and resolves, and the figures sum it up.

    ALERTS_URL=http://127.0.0.1:8000 python examples/full_workflow.py
"""

from __future__ import annotations

import sys
import uuid
from collections import Counter

from app.client import AlertClient

RUN = uuid.uuid4().hex[:6]
PROBLEMS = [
    ("disk_full", "high", f"db-{RUN}", "/var is 92% full"),
    ("cpu_high", "medium", f"api-{RUN}", "CPU at 88%"),
    ("payment_errors", "critical", f"checkout-{RUN}", "Error rate 9%"),
    ("cert_expiry", "low", f"edge-{RUN}", "TLS certificate expires in 20 days"),
]


def main() -> int:
    with AlertClient(actor="oncall-example") as client:
        ids = {}
        for alert_type, severity, source, message in PROBLEMS:
            sent = client.send_alert(alert_type=alert_type, severity=severity, message=message, source=source)
            ids[alert_type] = sent.id
            print(f"{alert_type:<15} {severity:<9} -> {sent.outcome} {sent.id}")
        for _ in range(3):  # the disk keeps complaining
            client.send_alert(
                alert_type="disk_full", severity="high", message="/var is 93% full", source=f"db-{RUN}"
            )
        disk = client.get_alert(ids["disk_full"])
        print(f"disk_full merged: occurrences {disk.occurrences}, suppressed {disk.suppressed_count}")

        client.acknowledge(ids["payment_errors"], note="rolling back the release")
        client.resolve_alert(ids["payment_errors"], notes="rollback done, errors back to 0.1%")
        client.resolve_alert(ids["disk_full"], notes="old logs removed")
        tick = client.check_escalations()
        print(f"escalation check: {len(tick.steps)} step(s)")

        mine = [a for a in client.list_alerts(limit=200).items if a.source.endswith(RUN)]
        stats = client.get_statistics()
        print(f"service statistics: total {stats.total}, active {stats.active}, resolved {stats.resolved}")
    by_status = Counter(a.status for a in mine)
    print("this run: " + ", ".join(f"{status} {n}" for status, n in sorted(by_status.items())))
    ok = by_status == Counter({"resolved": 2, "open": 2})
    print("workflow complete" if ok else "workflow did not end as expected")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

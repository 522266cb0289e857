"""Resolution tracking: acknowledge, resolve with notes, and read back who
did what and how long it took.

    ALERTS_URL=http://127.0.0.1:8000 python examples/resolution_tracking.py
"""

from __future__ import annotations

import sys
import uuid

from app.client import AlertClient


def main() -> int:
    with AlertClient(source=f"queue-{uuid.uuid4().hex[:6]}") as client:
        sent = client.send_alert(alert_type="queue_backlog", severity="high", message="12,000 jobs waiting")
        client.acknowledge(sent.id, by="alice", note="scaling workers")
        client.change_status(sent.id, "in_progress", by="alice", note="adding 4 workers")
        done = client.resolve_alert(sent.id, resolved_by="alice", notes="backlog drained after scaling")
        detail = client.get_alert(sent.id)
        resolved = client.list_alerts(status=["resolved"], alert_type="queue_backlog", limit=5)
    print(f"alert {done.id}: {done.status}, resolved by {done.resolved_by}")
    print(f"resolution time: {done.resolution_minutes:.2f} min; notes: {done.resolution_notes}")
    print("history:")
    for event in detail.history:
        move = f"{event.from_status or '-'} -> {event.to_status}" if event.to_status else event.kind
        print(f"  {event.at:%H:%M:%S}  {event.actor or '-':<10} {move}  {event.note or ''}".rstrip())
    print(f"resolved queue_backlog alerts on record: {len(resolved.items)}")
    return 0 if done.status == "resolved" and done.resolved_by == "alice" else 1


if __name__ == "__main__":
    sys.exit(main())

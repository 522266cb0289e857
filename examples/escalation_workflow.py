"""Escalation workflow: a critical alert nobody handles climbs levels; an
acknowledgement stops it.

Escalation runs on minutes. This script asks the service for its policy and
waits for the first step only when it comes within ALERTS_EXAMPLE_WAIT
seconds (default 60); under the default policy (30 minutes) it shows the
plan, acknowledges and resolves instead.

    ALERTS_URL=http://127.0.0.1:8000 python examples/escalation_workflow.py
"""

from __future__ import annotations

import os
import sys
import time
import uuid

from app.client import AlertClient


def main() -> int:
    wait = float(os.environ.get("ALERTS_EXAMPLE_WAIT", "60"))
    with AlertClient(source=f"db-{uuid.uuid4().hex[:6]}", actor="oncall-example") as client:
        policy = client.get_escalation_policy()
        rules = [r for r in policy.rules if "critical" in r.severities]
        for rule in rules:
            repeat = (
                f", repeating every {rule.repeat_every_minutes:g} min" if rule.repeat_every_minutes else ""
            )
            print(
                f"policy {policy.name}: critical -> level {rule.level} after {rule.after_minutes:g} min{repeat}"
            )
        sent = client.send_alert(
            alert_type="replication_lag", severity="critical", message="Replica 45 s behind"
        )
        print(f"alert {sent.id} at level {sent.escalation_level}")
        first = min((r.after_minutes for r in rules), default=None)
        if first is not None and first * 60 <= wait:
            deadline = time.monotonic() + wait
            level = sent.escalation_level
            while level == sent.escalation_level and time.monotonic() < deadline:
                time.sleep(min(1.0, first * 60 / 2 + 0.05))
                client.check_escalations()  # the service's own ticker may get there first
                level = client.get_alert(sent.id).escalation_level
            if level == sent.escalation_level:
                print("no escalation within the wait", file=sys.stderr)
                return 1
            steps = [e for e in client.get_alert(sent.id).history if e.kind == "escalation"]
            print(
                f"escalated to level {level} (from level {steps[0].data['from_level']}), nobody had acknowledged"
            )
        else:
            print(f"first escalation due in {first:g} min: not waiting for it here")
        acked = client.acknowledge(sent.id, note="looking at the replica")
        after = [s for s in client.check_escalations().steps if s.alert_id == sent.id]
        print(
            f"acknowledged by {acked.acknowledged_by} at level {acked.escalation_level}; further steps: {len(after)}"
        )
        done = client.resolve_alert(sent.id, notes="replica caught up")
        print(f"resolved; highest level reached: {done.max_escalation_level}")
    return 0 if not after else 1


if __name__ == "__main__":
    sys.exit(main())

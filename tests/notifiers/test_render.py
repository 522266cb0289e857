"""Rendering: one title format for every channel, user text escaped."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.notifiers import render
from tests.notifiers.conftest import ALERT_ID

if TYPE_CHECKING:
    from tests.notifiers.conftest import MakeNotification


def test_title_names_severity_type_source_level_and_reason(
    make_notification: MakeNotification,
) -> None:
    n = make_notification(reason="escalation", level=3)
    assert render.title(n) == "[CRITICAL] disk_full on db-1 (level 3, escalation)"


def test_title_is_one_line_and_omits_a_missing_source(
    make_notification: MakeNotification,
) -> None:
    n = make_notification(reason="new", level=1, alert_type="disk\nfull", source=None)
    assert render.title(n) == "[CRITICAL] disk full (level 1, new)"


def test_resolved_notification_says_so_and_is_green(
    make_notification: MakeNotification,
) -> None:
    n = make_notification(reason="resolved", status="resolved")
    assert render.title(n).startswith("[RESOLVED] disk_full on db-1")
    assert render.colour(n) == render.RESOLVED_COLOUR


def test_colour_follows_severity(make_notification: MakeNotification) -> None:
    colours = {
        sev: render.colour(make_notification(severity=sev))
        for sev in ("info", "low", "medium", "high", "critical")
    }
    assert colours == render.SEVERITY_COLOURS


def test_channel_test_notification_is_short_and_names_the_channel(
    make_notification: MakeNotification,
) -> None:
    n = make_notification(channel="ops-email", test=True, reason="test")
    assert render.title(n) == "Test notification from channel ops-email"
    assert "test notification from channel ops-email" in render.text_body(n)
    assert "ops-email" in render.html_body(n)


def test_text_body_carries_message_facts_and_link(
    make_notification: MakeNotification,
) -> None:
    body = render.text_body(make_notification())
    assert "Disk <b>97%</b> full & rising\nsecond line" in body
    assert "Occurrences: 4" in body
    assert "Labels:      env=prod, mount=/var" in body
    assert body.endswith("\nOpen the alert: http://alerts.example/ui/alerts/" + ALERT_ID + "\n")
    assert "http://alerts.example/alerts/" not in body  # the console page, not the API's JSON


def test_html_body_links_to_the_console_page(make_notification: MakeNotification) -> None:
    body = render.html_body(make_notification())
    assert f'<a href="http://alerts.example/ui/alerts/{ALERT_ID}">Open the alert</a>' in body
    assert "http://alerts.example/alerts/" not in body


def test_the_link_falls_back_to_the_api_when_there_is_no_console_page(
    make_notification: MakeNotification,
) -> None:
    n = make_notification(console_url=None)
    assert render.link(n) == f"http://alerts.example/alerts/{ALERT_ID}"
    assert render.link(make_notification(test=True, reason="test")) is None


def test_html_body_escapes_user_text(make_notification: MakeNotification) -> None:
    n = make_notification(source="<script>x</script>")
    body = render.html_body(n)
    assert "<b>97%" not in body
    assert "<script>" not in body
    assert "Disk &lt;b&gt;97%&lt;/b&gt; full &amp; rising" in body
    assert '<a href="http://alerts.example/ui/alerts/' in body


def test_bodies_carry_action_links_after_the_alerts_own(make_notification: MakeNotification) -> None:
    n = make_notification()
    actions = [
        ("Acknowledge", "https://alerts.example/actions/a.b"),
        ("Resolve", "https://x/actions/c?d=1&e=2"),
    ]
    text = render.text_body(n, actions=actions)
    assert text.index("Open the alert:") < text.index("Acknowledge: https://alerts.example/actions/a.b\n")
    assert "Resolve: https://x/actions/c?d=1&e=2\n" in text
    html = render.html_body(n, actions=actions)
    assert '<a href="https://alerts.example/actions/a.b">Acknowledge</a>' in html
    assert '<a href="https://x/actions/c?d=1&amp;e=2">Resolve</a>' in html  # attribute-escaped
    assert "/actions/" not in render.text_body(n) + render.html_body(n)

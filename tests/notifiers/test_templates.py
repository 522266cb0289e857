"""Channel templates: a custom title and body reach every medium through its
own escaping, a broken template stops start-up by name, and one that fails
to render sends the default wording with a warning."""

from __future__ import annotations

import json
import logging
import os
import tomllib
import uuid
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

import httpx
import pytest

from app.notifiers import render
from app.notifiers.base import Notification
from app.notifiers.console import ConsoleNotifier
from app.notifiers.email import EmailNotifier
from app.notifiers.registry import build_notifiers
from app.notifiers.slack import SlackNotifier
from app.notifiers.telegram import TelegramNotifier
from app.notifiers.templates import ChannelTemplates, format_time
from app.notifiers.webhook import WebhookNotifier
from app.settings import (
    ConfigError,
    ConsoleChannel,
    EmailChannel,
    SlackChannel,
    TelegramChannel,
    WebhookChannel,
    load_settings,
)
from tests.docs.blocks import DOCS, block_containing
from tests.helpers import create_alert, wait_for
from tests.notifiers.conftest import ALERT_ID

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import StartSmtp
    from tests.notifiers.conftest import MakeNotification
    from tests.peers import HttpReceiver

TITLE = (
    "{{ alert.severity | upper }} {{ alert.labels.team }}: {{ alert.alert_type }} ({{ notification.reason }})"
)
BODY = (
    "{{ alert.message }}\n"
    "Team {{ alert.labels.team }} since {{ alert.first_seen_at | time }}, "
    "{{ alert.occurrences }} times.{% if link %}\nSee {{ link }}{% endif %}"
)
EVIL = '<script>alert(1)</script><a href="http://evil.example">x</a>'
TOKEN = "123456789:AAFsecret-bot_token"
DEFAULT_TITLE = "[CRITICAL] disk_full on db-1 (level 3, escalation)"


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No alerts.toml or ALERTS_* from the developer's machine."""
    monkeypatch.chdir(tmp_path)
    for name in [k for k in os.environ if k.startswith("ALERTS_")]:
        monkeypatch.delenv(name)


def templates(title: str | None = None, body: str | None = None, *, html: bool = False) -> ChannelTemplates:
    config = ConsoleChannel(type="console", title_template=title, body_template=body)
    return ChannelTemplates.of("ops", config, html_part=html)


class Tags(HTMLParser):
    """The element names in an HTML text, as a browser or Telegram would parse them."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)


# --- rendering --------------------------------------------------------------------


def test_custom_title_and_body_read_the_documented_context(make_notification: MakeNotification) -> None:
    n = make_notification(labels={"team": "storage"}, reason="repeat")
    words = render.Wording(n, templates(TITLE, BODY))
    assert words.title == "CRITICAL storage: disk_full (repeat)"
    assert words.message == (
        "Disk <b>97%</b> full & rising\nsecond line\n"
        f"Team storage since 2024-05-01 10:00 UTC, 4 times.\nSee http://alerts.example/ui/alerts/{ALERT_ID}"
    )


def test_every_documented_field_is_defined_even_when_the_alert_lacks_it(
    make_notification: MakeNotification,
) -> None:
    fields = [
        "id",
        "team",
        "fingerprint",
        "alert_type",
        "severity",
        "status",
        "message",
        "source",
        "labels",
        "details",
        "occurrences",
        "escalation_level",
        "first_seen_at",
        "last_seen_at",
        "triggered_at",
        "acknowledged_at",
        "acknowledged_by",
        "resolved_at",
        "resolved_by",
        "resolution_notes",
        "resolution_minutes",
    ]
    body = "|".join(f"{{{{ alert.{name} }}}}" for name in fields)
    body += "|{{ notification.id }}|{{ notification.level }}|{{ notification.channel }}"
    body += "|{{ notification.created_at }}|{{ console_url }}|{{ alert_url }}|{{ html }}"
    values = render.message(make_notification(level=2), templates(body=body)).split("|")
    assert values[0] == ALERT_ID and values[1] == "None"  # the sample alert has no team
    assert values[len(fields) + 1 :] == [
        "2",
        "ops",
        "2024-05-01T11:00:00+00:00",
        f"http://alerts.example/ui/alerts/{ALERT_ID}",
        f"http://alerts.example/alerts/{ALERT_ID}",
        "False",
    ]


def test_a_title_is_one_line_and_cut_whatever_the_template_makes(make_notification: MakeNotification) -> None:
    title = "{{ alert.message }}{% for i in range(100) %} word{% endfor %}"
    got = render.title(make_notification(), templates(title))
    assert got.startswith("Disk <b>97%</b> full & rising second line word word")
    assert "\n" not in got and len(got) == 200 and got.endswith("\u2026")


def test_a_channel_test_renders_custom_templates_with_a_sample_alert(
    make_notification: MakeNotification,
) -> None:
    n = make_notification(test=True, reason="test", channel="ops")
    words = render.Wording(
        n, templates("{{ alert.severity | upper }} {{ alert.alert_type }}", "{{ alert.message }}")
    )
    assert words.title == "INFO channel_test"
    assert words.message == f"This is a test notification from channel ops (notification {n.id})."


def test_the_time_filter_formats_in_utc() -> None:
    assert format_time("2024-05-01T12:30:00+02:00") == "2024-05-01 10:30 UTC"
    assert format_time("2024-05-01T12:30:00+00:00", "%H:%M") == "12:30"
    assert format_time(None) == ""


@pytest.mark.parametrize(
    ("field", "source", "why"),
    [
        (
            "title_template",
            "{{ alert.nope.deeper }}",
            "UndefinedError: 'dict object' has no attribute 'nope'",
        ),
        ("title_template", "{{ ''.__class__.__mro__ }}", "SecurityError: access to attribute '__class__'"),
        (
            "title_template",
            "{{ alert.labels.update({'x': 1}) }}",
            "SecurityError: access to attribute 'update'",
        ),
        ("title_template", "{{ alert.labels.team }}", "'dict object' has no attribute 'team'"),
        ("title_template", "{% if false %}x{% endif %}  ", "it rendered an empty title"),
        ("body_template", "{{ 1 // 0 }}", "ZeroDivisionError"),
        ("body_template", "{{ alert.first_seen_at | time('%Q') if false else alert.missing }}", "missing"),
    ],
)
def test_a_template_that_fails_to_render_falls_back_to_the_default_with_a_warning(
    make_notification: MakeNotification,
    caplog: pytest.LogCaptureFixture,
    field: str,
    source: str,
    why: str,
) -> None:
    n = make_notification()
    words = render.Wording(n, templates(**{field.removesuffix("_template"): source}))
    caplog.set_level(logging.WARNING, logger="app.notifiers.templates")

    assert (words.title, words.message) == (render.title(n), render.message(n))
    assert words.title == DEFAULT_TITLE

    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith(f"channel ops: {field} failed, the default was sent instead: ")
    assert why in record.getMessage()
    assert (record.channel, record.field, record.notification_id) == ("ops", field, str(n.id))  # type: ignore[attr-defined]


# --- start-up ---------------------------------------------------------------------


@pytest.mark.usefixtures("isolated")
@pytest.mark.parametrize(
    ("kind", "extra"),
    [
        ("email", {"host": "127.0.0.1", "to": ["a@example.com"]}),
        ("console", {}),
        ("slack", {"url": "http://x"}),
    ],
)
@pytest.mark.parametrize(
    ("field", "source", "why"),
    [
        ("title_template", "{{ alert.id }", "unexpected '}' (line 1)"),
        ("body_template", "line one\n{% if x %}", "Unexpected end of template"),
        ("body_template", "{{ alert.id | nofilter }}", "No filter named 'nofilter'. (line 1)"),
        ("title_template", "", "String should have at least 1 character"),
    ],
)
def test_a_template_that_does_not_compile_stops_start_up_naming_channel_and_field(
    kind: str, extra: dict[str, Any], field: str, source: str, why: str
) -> None:
    channel = {"type": kind, **extra, field: source}
    with pytest.raises(ConfigError) as caught:
        load_settings(channels={"ops-mail": channel})
    assert f"channels.ops-mail.{kind}.{field}: {why}" in str(caught.value)


@pytest.mark.usefixtures("isolated")
def test_the_configuration_file_carries_templates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "alerts.toml"
    config.write_text(
        "[channels.ops-mail]\n"
        'type = "email"\nhost = "127.0.0.1"\nto = ["a@example.com"]\n'
        "title_template = '{{ alert.severity | upper }}: {{ alert.message }}'\n"
        "body_template = '''\n{{ alert.message }}\nfirst seen {{ alert.first_seen_at | time }}\n'''\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("ALERTS_CONFIG_FILE", str(config))
    mail = load_settings().channels["ops-mail"]
    assert mail.title_template == "{{ alert.severity | upper }}: {{ alert.message }}"
    assert mail.body_template == "{{ alert.message }}\nfirst seen {{ alert.first_seen_at | time }}\n"

    config.write_text(config.read_text().replace("| time }}\n'''", "| time }\n'''"), encoding="utf-8")
    with pytest.raises(
        ConfigError, match=r"channels\.ops-mail\.email\.body_template: unexpected '}' \(line 2\)"
    ):
        load_settings()


# --- through each medium ------------------------------------------------------------


@pytest.mark.asyncio
async def test_email_subject_text_and_escaped_html_from_the_templates(
    smtp_server: StartSmtp, make_notification: MakeNotification
) -> None:
    server = smtp_server()
    config = EmailChannel(
        type="email",
        host="127.0.0.1",
        port=server.port,
        to=["oncall@example.com"],
        title_template=TITLE,
        body_template="<b>Team</b> {{ alert.labels.team }}{% if html %} (html){% endif %}\n{{ alert.message }}",
    )
    n = make_notification(labels={"team": EVIL})

    await EmailNotifier("ops-mail", config).send(n)

    [got] = server.recorder.delivered
    msg = got.message
    assert msg["Subject"] == f"CRITICAL {EVIL}: disk_full (escalation)"
    parts = {part.get_content_type(): part.get_content() for part in msg.iter_parts()}
    plain = parts["text/plain"].replace("\r\n", "\n")
    assert plain.startswith(
        f"CRITICAL {EVIL}: disk_full (escalation)\n\n<b>Team</b> {EVIL}\nDisk <b>97%</b> full & rising\n"
    )
    page = parts["text/html"].replace("\r\n", "\n")
    # The label, the message and the title are escaped; the template's own <b> is kept.
    assert (
        "<b>Team</b> &lt;script&gt;alert(1)&lt;/script&gt;&lt;a href=&#34;http://evil.example&#34;&gt;"
        in page
    )
    assert " (html)\nDisk &lt;b&gt;97%&lt;/b&gt; full &amp; rising" in page
    assert Tags(page).tags == ["html", "body", "h2", "p", "b", *["table", *["tr", "th", "td"] * 9], "p", "a"]


@pytest.mark.asyncio
async def test_email_falls_back_in_both_parts_when_the_body_fails(
    smtp_server: StartSmtp, make_notification: MakeNotification, caplog: pytest.LogCaptureFixture
) -> None:
    server = smtp_server()
    config = EmailChannel(
        type="email",
        host="127.0.0.1",
        port=server.port,
        to=["oncall@example.com"],
        body_template="{{ alert.nope }}",
    )
    n = make_notification()

    await EmailNotifier("ops-mail", config).send(n)

    parts = {p.get_content_type(): p.get_content() for p in server.recorder.delivered[0].message.iter_parts()}
    assert parts["text/plain"].replace("\r\n", "\n") == render.text_body(n)
    assert parts["text/html"].replace("\r\n", "\n") == render.html_body(n)
    fields = [r.field for r in caplog.records if r.name == "app.notifiers.templates"]  # type: ignore[attr-defined]
    assert fields == ["body_template", "body_template (HTML part)"]


@pytest.mark.asyncio
async def test_slack_escapes_rendered_text_so_a_label_cannot_forge_a_link(
    http_receiver: HttpReceiver, make_notification: MakeNotification
) -> None:
    forged = "<https://evil.example|Open the alert> <!channel>"
    config = SlackChannel(
        type="slack", url=f"{http_receiver.url}/hook", title_template=TITLE, body_template=BODY
    )
    async with httpx.AsyncClient() as client:
        await SlackNotifier("chat", config, client).send(make_notification(labels={"team": forged}))

    payload = json.loads(http_receiver.requests[0].body)
    header, facts, message, link = payload["attachments"][0]["blocks"]
    assert header["text"] == {"type": "plain_text", "text": f"CRITICAL {forged}: disk_full (escalation)"}
    escaped = "&lt;https://evil.example|Open the alert&gt; &lt;!channel&gt;"
    assert f"Team {escaped} since 2024-05-01 10:00 UTC, 4 times." in message["text"]["text"]
    assert payload["text"].startswith(f"CRITICAL {escaped}: disk_full (escalation): Disk &lt;b&gt;97%")
    # Every mrkdwn text (the header is plain_text, shown as written) is escaped.
    mrkdwn = [payload["text"], message["text"]["text"], *(f["text"] for f in facts["fields"])]
    assert not [text for text in mrkdwn if "<https://evil.example" in text or "<!channel>" in text]
    assert link["text"]["text"] == f"<http://alerts.example/ui/alerts/{ALERT_ID}|Open the alert>"


@pytest.mark.asyncio
async def test_slack_limits_apply_after_rendering(
    http_receiver: HttpReceiver, make_notification: MakeNotification
) -> None:
    config = SlackChannel(
        type="slack",
        url=f"{http_receiver.url}/hook",
        title_template="{% for i in range(50) %}title {% endfor %}",
        body_template="{% for i in range(2000) %}&{% endfor %}",
    )
    async with httpx.AsyncClient() as client:
        await SlackNotifier("chat", config, client).send(make_notification())

    blocks = json.loads(http_receiver.requests[0].body)["attachments"][0]["blocks"]
    assert len(blocks[0]["text"]["text"]) == 150  # the header limit
    assert len(blocks[2]["text"]["text"]) == 3000  # a section's, counted after escaping


@pytest.mark.asyncio
async def test_telegram_escapes_rendered_text_so_a_label_cannot_add_markup(
    http_receiver: HttpReceiver, make_notification: MakeNotification
) -> None:
    http_receiver.answer(200, body=b'{"ok":true,"result":{"message_id":1}}')
    config = TelegramChannel(
        type="telegram",
        bot_token=TOKEN,
        chat_id=-100,
        api_url=http_receiver.url,
        title_template=TITLE,
        body_template=BODY,
    )
    async with httpx.AsyncClient() as client:
        await TelegramNotifier("tg", config, client).send(make_notification(labels={"team": EVIL}))

    text = json.loads(http_receiver.requests[0].body)["text"]
    lines = text.split("\n")
    assert lines[0] == (
        "<b>CRITICAL &lt;script&gt;alert(1)&lt;/script&gt;&lt;a href=&quot;http://evil.example&quot;&gt;"
        "x&lt;/a&gt;: disk_full (escalation)</b>"
    )
    assert lines[4].startswith("Team &lt;script&gt;")
    # Telegram's parser would find only the service's own tags: bold and the one link.
    tags = Tags(text).tags
    assert set(tags) == {"b", "a"} and tags.count("a") == 1


@pytest.mark.asyncio
async def test_webhook_carries_title_and_body_only_when_the_channel_sets_them(
    http_receiver: HttpReceiver, make_notification: MakeNotification
) -> None:
    templated = WebhookChannel(
        type="webhook", url=f"{http_receiver.url}/a", title_template=TITLE, body_template=BODY
    )
    plain = WebhookChannel(type="webhook", url=f"{http_receiver.url}/b")
    n = make_notification(labels={"team": "storage"})
    async with httpx.AsyncClient() as client:
        await WebhookNotifier("hooks", templated, client).send(n)
        await WebhookNotifier("hooks", plain, client).send(n)

    first, second = (json.loads(r.body) for r in http_receiver.requests)
    assert first["title"] == "CRITICAL storage: disk_full (escalation)"
    assert first["body"].startswith("Disk <b>97%</b> full & rising\nsecond line\nTeam storage since")
    assert {k: v for k, v in first.items() if k not in ("title", "body")} == second
    assert "title" not in second and "body" not in second


@pytest.mark.asyncio
async def test_console_logs_the_rendered_title(
    make_notification: MakeNotification, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.notifiers.console")
    config = ConsoleChannel(type="console", title_template=TITLE, body_template="{{ alert.labels.team }}")
    await ConsoleNotifier("console", config).send(make_notification(labels={"team": "storage"}))

    [record] = [r for r in caplog.records if r.name == "app.notifiers.console"]
    assert record.getMessage().startswith("CRITICAL storage: disk_full (escalation) http://")
    assert record.notification["message"] == "storage"  # type: ignore[attr-defined]


@pytest.mark.asyncio
@pytest.mark.usefixtures("isolated")
async def test_every_http_type_words_its_message_with_the_channel_templates(
    http_receiver: HttpReceiver, make_notification: MakeNotification, caplog: pytest.LogCaptureFixture
) -> None:
    http_receiver.answer(200, body=b'{"ok":true}')
    url = http_receiver.url
    sid = "AC" + "0" * 32
    own = {"title_template": "T:{{ alert.labels.team }}", "body_template": "B:{{ alert.source }}"}
    channels: dict[str, dict[str, Any]] = {
        "slack": {"type": "slack", "url": f"{url}/slack"},
        "webhook": {"type": "webhook", "url": f"{url}/webhook"},
        "pagerduty": {"type": "pagerduty", "routing_key": "rk", "url": f"{url}/pagerduty"},
        "opsgenie": {"type": "opsgenie", "api_key": "k", "api_url": f"{url}/opsgenie"},
        "teams": {"type": "teams", "url": f"{url}/teams"},
        "discord": {"type": "discord", "url": f"{url}/discord"},
        "telegram": {"type": "telegram", "bot_token": TOKEN, "chat_id": 1, "api_url": f"{url}/telegram"},
        "sms": {"type": "sms", "account_sid": sid, "auth_token": "t", "from_number": "+15005550006",
                "to": ["+15551230001"], "api_url": f"{url}/sms"},
    }  # fmt: skip
    settings = load_settings(channels={name: {**c, **own} for name, c in channels.items()})
    n = make_notification(labels={"team": "storage"})
    async with httpx.AsyncClient() as client:
        notifiers = build_notifiers(settings, client)
        for name in channels:
            await notifiers[name].send(n)

    bodies = {r.path.split("/")[1]: unquote_plus(r.body.decode()) for r in http_receiver.requests}
    assert set(bodies) == set(channels)
    for name, body in bodies.items():
        assert "T:storage" in body and "B:db-1" in body, name
        assert DEFAULT_TITLE not in body, name
    assert not [r for r in caplog.records if r.name == "app.notifiers.templates"]


def test_the_documented_example_reads_as_the_documentation_shows() -> None:
    example = block_containing(DOCS / "notifications.md", "toml", "[channels.ops-mail]")
    shown = block_containing(DOCS / "notifications.md", "text", "Service billing on db-1")
    mail = tomllib.loads(example.text)["channels"]["ops-mail"]
    alert = {
        "id": ALERT_ID,
        "alert_type": "disk_full",
        "severity": "high",
        "message": "Disk /var at 97% on db-1, and rising quickly over the last ten minutes",
        "source": "db-1",
        "labels": {"service": "billing", "env": "prod"},
        "occurrences": 3,
        "first_seen_at": "2026-11-30T09:12:44+00:00",
    }
    n = Notification(uuid.uuid4(), "ops-mail", "new", 1, datetime.now(UTC), alert)
    words = render.Wording(n, templates(mail["title_template"], mail["body_template"]))
    assert f"{words.title}\n\n{words.message}\n" == shown.text


# --- through the whole service ------------------------------------------------------


async def test_the_service_words_alerts_and_channel_tests_with_the_channel_templates(
    service_factory: Any, http_receiver: HttpReceiver
) -> None:
    hook = {
        "type": "webhook",
        "url": f"{http_receiver.url}/hooks",
        "title_template": "{{ alert.severity | upper }} {{ alert.alert_type }} ({{ notification.reason }})",
        "body_template": "{{ alert.message }} [{{ notification.channel }}]",
    }
    async with service_factory(channels={"hooks": hook}, default_channels=["hooks"]) as svc:
        await create_alert(svc.client, severity="high", alert_type="disk_full", message="97% full")
        response = await svc.client.post("/channels/hooks/test")
        assert response.status_code == 202

        async def both() -> bool:
            return len(http_receiver.requests) == 2

        await wait_for(both)

    sent = sorted((json.loads(r.body) for r in http_receiver.requests), key=lambda p: p["reason"])
    assert [(p["reason"], p["title"], p["body"]) for p in sent] == [
        ("new", "HIGH disk_full (new)", "97% full [hooks]"),
        (
            "test",
            "INFO channel_test (test)",
            f"This is a test notification from channel hooks (notification {sent[1]['notification_id']}). [hooks]",
        ),
    ]

"""Settings: environment over TOML, and start-up refusing bad values by name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.settings import ConfigError, load_settings

TOML = """
dedup_window_minutes = 15
default_channels = ["console", "hooks"]

[channels.hooks]
type = "webhook"
url = "http://127.0.0.1:9/alerts"
method = "PUT"
secret = "s3cret"

[channels.ops-email]
type = "email"
host = "smtp.example.com"
to = ["oncall@example.com"]

[[escalation.rules]]
level = 2
severities = ["high", "critical"]
after_minutes = 0.5
channels = ["ops-email"]
"""


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "alerts.toml"
    path.write_text(TOML)
    monkeypatch.setenv("ALERTS_CONFIG_FILE", str(path))
    return path


def test_defaults_need_no_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.database_url == "sqlite+aiosqlite:///./alerts.db"
    assert settings.default_channels == ["console"] and settings.dedup_window_minutes == 60
    assert settings.suppression_threshold == 10 and settings.max_attempts == 3
    assert [(r.level, r.severities, r.after_minutes) for r in settings.escalation.rules] == [
        (2, ["high"], 30),
        (3, ["high"], 60),
        (3, ["critical"], 30),
        (4, ["critical"], 120),
    ]


def test_file_is_read_and_environment_wins(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert settings.dedup_window_minutes == 15
    hooks = settings.channels["hooks"]
    assert hooks.type == "webhook" and hooks.method == "PUT"
    assert "s3cret" not in repr(settings)
    assert set(settings.channels) == {"console", "hooks", "ops-email"}
    assert settings.escalation.rules[0].after_minutes == 0.5
    monkeypatch.setenv("ALERTS_DEDUP_WINDOW_MINUTES", "2.5")
    assert load_settings().dedup_window_minutes == 2.5


@pytest.mark.parametrize(
    ("patch", "key"),
    [
        (('type = "webhook"', 'type = "pigeon"'), "channels.hooks"),
        (('channels = ["ops-email"]', 'channels = ["pager"]'), "escalation.rules[0].channels"),
        (("level = 2", "level = 7"), "escalation.rules.0.level"),
        (("after_minutes = 0.5", "after_minutes = -1"), "escalation.rules.0.after_minutes"),
        (('method = "PUT"', 'methd = "PUT"'), "channels.hooks.webhook.methd"),
        (("dedup_window_minutes = 15", 'dedup_window_minutes = "soon"'), "dedup_window_minutes"),
    ],
)
def test_bad_values_stop_start_up_naming_the_key(config_file: Path, patch: tuple[str, str], key: str) -> None:
    config_file.write_text(TOML.replace(*patch))
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert key in str(caught.value)


def test_bad_environment_value_names_the_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ALERTS_MAX_ATTEMPTS", "zero")
    with pytest.raises(ConfigError, match="max_attempts"):
        load_settings()
    monkeypatch.setenv("ALERTS_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("ALERTS_DATABASE_URL", "mysql://x")
    with pytest.raises(ConfigError, match="database_url"):
        load_settings()


def test_missing_config_file_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERTS_CONFIG_FILE", "/nonexistent/alerts.toml")
    with pytest.raises(ConfigError, match="ALERTS_CONFIG_FILE"):
        load_settings()


def test_example_configuration_in_the_repository_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    example = Path(__file__).resolve().parent.parent / "alerts.example.toml"
    monkeypatch.setenv("ALERTS_CONFIG_FILE", str(example))
    settings = load_settings()
    assert {c.type for c in settings.channels.values()} == {"email", "slack", "webhook", "console"}
    assert settings.default_channels == ["console", "ops-slack"]
    assert settings.escalation.name == "platform"
    assert [r.level for r in settings.escalation.rules] == [2, 3, 3, 4]
    assert settings.channels["incident-hook"].headers == {"X-Team": "platform"}  # type: ignore[union-attr]


def test_a_file_that_is_not_toml_is_named_with_the_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "alerts.toml"
    path.write_text('dedup_window_minutes = 15\ndefault_channels = = ["console"]\n')
    monkeypatch.setenv("ALERTS_CONFIG_FILE", str(path))
    with pytest.raises(ConfigError, match=rf"{re.escape(str(path))}: not valid TOML: .*line 2"):
        load_settings()

"""Email channel settings: encryption by port, and credentials never in clear."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.settings import ConfigError, EmailChannel, load_settings

PASSWORD = "smtp-pass-123"


def email(**overrides: Any) -> EmailChannel:
    return EmailChannel(
        **({"type": "email", "host": "smtp.example.com", "to": ["a@example.com"]} | overrides)
    )


@pytest.mark.parametrize(
    ("overrides", "starttls", "use_tls"),
    [
        ({}, True, False),  # port 587 by default
        ({"port": 587}, True, False),
        ({"port": 465}, False, True),
        ({"port": 25}, False, False),
        ({"port": 2525}, False, False),
        ({"port": 587, "starttls": False}, False, False),
        ({"port": 587, "use_tls": True}, False, True),
        ({"port": 465, "use_tls": False}, False, False),
        ({"port": 465, "starttls": True}, True, False),
        ({"port": 25, "starttls": True}, True, False),
        ({"port": 2465, "use_tls": True}, False, True),
    ],
)
def test_encryption_follows_the_port_unless_set(
    overrides: dict[str, Any], starttls: bool, use_tls: bool
) -> None:
    config = email(**overrides)
    assert (config.starttls, config.use_tls) == (starttls, use_tls)


def test_starttls_and_use_tls_stay_exclusive() -> None:
    with pytest.raises(ValueError, match="exclusive") as caught:
        email(starttls=True, use_tls=True, username="alerts", password=PASSWORD)
    assert PASSWORD not in str(caught.value)


@pytest.fixture
def write_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.chdir(tmp_path)

    def write(channel_lines: str) -> Path:
        path = tmp_path / "alerts.toml"
        path.write_text(
            '[channels.ops-email]\ntype = "email"\nhost = "smtp.example.com"\n'
            f'to = ["oncall@example.com"]\nusername = "alerts"\npassword = "{PASSWORD}"\n{channel_lines}\n'
        )
        monkeypatch.setenv("ALERTS_CONFIG_FILE", str(path))
        return path

    return write


@pytest.mark.parametrize(
    "lines",
    ["port = 25", "port = 587\nstarttls = false", "port = 465\nuse_tls = false", "port = 2525"],
)
def test_credentials_over_plaintext_stop_start_up_naming_the_channel(write_config: Any, lines: str) -> None:
    write_config(lines)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "channels.ops-email" in message
    assert (
        "credentials over plaintext: set starttls = true, use port 465, or allow_insecure_auth = true"
        in message
    )
    assert PASSWORD not in message
    assert PASSWORD not in str(caught.value.__cause__)  # nor in a start-up traceback


@pytest.mark.parametrize("lines", ["", "port = 587", "port = 465", "port = 25\nstarttls = true"])
def test_credentials_over_an_encrypted_connection_load(write_config: Any, lines: str) -> None:
    write_config(lines)
    assert load_settings().channels["ops-email"].type == "email"


def test_allow_insecure_auth_lets_credentials_go_in_clear(write_config: Any) -> None:
    write_config("port = 25\nallow_insecure_auth = true")
    config = load_settings().channels["ops-email"]
    assert isinstance(config, EmailChannel)
    assert (config.starttls, config.use_tls, config.allow_insecure_auth) == (False, False, True)


def test_a_missing_ca_file_stops_start_up_naming_the_key(write_config: Any, tmp_path: Path) -> None:
    write_config(f'tls_ca_file = "{tmp_path / "no-such-ca.pem"}"')
    with pytest.raises(ConfigError, match=r"channels\.ops-email\.email\.tls_ca_file"):
        load_settings()

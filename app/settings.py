"""Settings: environment (prefix ALERTS_) over an optional TOML file.

The TOML file (ALERTS_CONFIG_FILE, default ./alerts.toml when present) carries
what is awkward in environment variables: channels, the escalation policy and
API keys. Every value is validated at start-up; a bad one stops the service
with a message that names the key, never later in the middle of a delivery.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import tomllib
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FilePath,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

SEVERITIES: tuple[str, ...] = ("info", "low", "medium", "high", "critical")
Severity = Literal["info", "low", "medium", "high", "critical"]
# The words other tools use, accepted on input (any case) and answered with
# the canonical name: the one table for POST /alerts and the integrations.
SEVERITY_ALIASES: dict[str, Severity] = {
    "critical": "critical",
    "crit": "critical",
    "fatal": "critical",
    "emergency": "critical",
    "page": "critical",
    "high": "high",
    "error": "high",
    "err": "high",
    "major": "high",
    "medium": "medium",
    "warning": "medium",
    "warn": "medium",
    "low": "low",
    "minor": "low",
    "info": "info",
    "informational": "info",
    "notice": "info",
    "none": "info",
}


def canonical_severity(word: str) -> Severity | None:
    """The canonical name of a severity or of one of its aliases, in any case."""
    return SEVERITY_ALIASES.get(word.strip().lower())


PositiveFloat = Annotated[float, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]


class ConfigError(Exception):
    """A configuration value is wrong; the message names the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Channel(_Strict):
    """What every channel type takes besides its own keys: its own wording, as
    Jinja2 templates (notifiers/templates.py), compiled here, so a broken one
    stops start-up naming the channel and the field; and flood control."""

    # Flood control (services/flood.py): individual notifications per clock
    # minute; past it they are folded into one digest when the minute ends.
    # None: unlimited.
    max_per_minute: int | None = Field(default=None, ge=1, le=100_000)
    title_template: str | None = Field(default=None, min_length=1, max_length=10_000)
    body_template: str | None = Field(default=None, min_length=1, max_length=10_000)

    @field_validator("title_template", "body_template")
    @classmethod
    def _compiles(cls, source: str | None) -> str | None:
        from app.notifiers.templates import TemplateSourceError, compile_template  # jinja2: only when used

        if source is not None:
            try:
                compile_template(source)
            except TemplateSourceError as exc:
                raise PydanticCustomError("template", "{why}", {"why": str(exc)}) from None
        return source


class ConsoleChannel(_Channel):
    type: Literal["console"]
    send_resolved: bool = False


class EmailChannel(_Channel):
    """An SMTP channel. Encryption follows the port unless set explicitly.

    `starttls` and `use_tls` left out (None) mean "by port": 587 upgrades with
    STARTTLS, 465 speaks TLS from the first byte, any other port neither. An
    explicit true or false wins. After validation both hold the decision
    (never None). Credentials (`username`) over a connection that would not be
    encrypted are refused unless `allow_insecure_auth` says so.
    """

    type: Literal["email"]
    host: str
    port: int = Field(default=587, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    from_address: str = "alerts@localhost"
    to: list[str] = Field(min_length=1)
    starttls: bool | None = None
    use_tls: bool | None = None
    tls_ca_file: FilePath | None = None
    allow_insecure_auth: bool = Field(default=False, validate_default=True)
    timeout_seconds: PositiveFloat | None = None
    send_resolved: bool = False

    # The checks sit on fields, not on the model, so that an error carries
    # that field's value and never the channel's table with its password.
    @field_validator("use_tls")
    @classmethod
    def _one_tls_mode(cls, use_tls: bool | None, info: ValidationInfo) -> bool | None:
        if use_tls and info.data.get("starttls"):
            raise PydanticCustomError("tls_modes", "starttls and use_tls are exclusive: pick one")
        return use_tls

    @field_validator("allow_insecure_auth")
    @classmethod
    def _no_credentials_in_clear(cls, allow: bool, info: ValidationInfo) -> bool:
        data = info.data
        if allow or not data.get("username") or not {"port", "starttls", "use_tls"} <= data.keys():
            return allow  # allowed, nothing to send, or already an error elsewhere
        if not any(cls._by_port(data["port"], data["starttls"], data["use_tls"])):
            raise PydanticCustomError(
                "plaintext_credentials",
                "credentials over plaintext: set starttls = true, use port 465, or allow_insecure_auth = true",
            )
        return allow

    @staticmethod
    def _by_port(port: int, starttls: bool | None, use_tls: bool | None) -> tuple[bool, bool]:
        """(starttls, use_tls) decided: explicit values win, else 587 and 465."""
        starttls = starttls if starttls is not None else port == 587 and not use_tls
        use_tls = use_tls if use_tls is not None else port == 465 and not starttls
        return starttls, use_tls

    @model_validator(mode="after")
    def _decide_tls(self) -> EmailChannel:
        starttls, use_tls = self._by_port(self.port, self.starttls, self.use_tls)
        # The model is frozen; the decision is recorded once, here.
        object.__setattr__(self, "starttls", starttls)
        object.__setattr__(self, "use_tls", use_tls)
        return self


class SlackChannel(_Channel):
    """Slack, in one of two modes, exactly one configured:

    - webhook: `url`, an incoming webhook; one message per notification;
    - app: `bot_token` and `channel`; the first notification of an alert is
      posted with chat.postMessage and later ones update that message
      (notifiers/slack_app.py), with Acknowledge and Resolve buttons when
      `signing_secret` is set (POST /integrations/slack/actions).

    The checks sit on fields, declared in the order they need each other,
    so that an error names the field at fault and never shows the token.
    """

    # The input may be a secret; merged with _Channel's configuration.
    model_config = ConfigDict(hide_input_in_errors=True)

    type: Literal["slack"]
    bot_token: SecretStr | None = None
    channel: str | None = Field(
        default=None, pattern=r"^#?[A-Za-z0-9][A-Za-z0-9._-]{0,79}$", validate_default=True
    )
    url: str | None = Field(default=None, pattern=r"^https?://", validate_default=True)
    api_url: str = Field(default="https://slack.com/api", pattern=r"^https?://")
    signing_secret: SecretStr | None = Field(default=None, min_length=1, validate_default=True)
    timeout_seconds: PositiveFloat | None = None
    send_resolved: bool = True

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, token: SecretStr | None) -> SecretStr | None:
        # It goes into a header: nothing but a token's characters.
        if token is not None and not re.fullmatch(r"xox[a-z]-[A-Za-z0-9-]+", token.get_secret_value()):
            raise PydanticCustomError("bot_token", "a bot token looks like xoxb-<digits and letters>")
        return token

    @field_validator("channel")
    @classmethod
    def _channel_with_token(cls, channel: str | None, info: ValidationInfo) -> str | None:
        has_token = info.data.get("bot_token") is not None
        if "bot_token" in info.data and has_token != (channel is not None):
            missing = "channel" if has_token else "bot_token"
            raise PydanticCustomError(
                "slack_app",
                "app mode needs bot_token and channel together: {missing} is missing",
                {"missing": missing},
            )
        return channel

    @field_validator("url")
    @classmethod
    def _one_mode(cls, url: str | None, info: ValidationInfo) -> str | None:
        app = info.data.get("bot_token") is not None or info.data.get("channel") is not None
        if url is not None and app:
            raise PydanticCustomError(
                "slack_mode", "url (incoming webhook) and bot_token + channel (app) are two modes: set one"
            )
        if url is None and not app and "bot_token" in info.data and "channel" in info.data:
            raise PydanticCustomError(
                "slack_mode", "set url (an incoming webhook), or bot_token and channel (an app)"
            )
        return url

    @field_validator("signing_secret")
    @classmethod
    def _secret_for_app(cls, secret: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if secret is not None and info.data.get("url") is not None:
            raise PydanticCustomError(
                "slack_mode", "signing_secret verifies an app's buttons: a webhook (url) has none"
            )
        return secret

    @property
    def mode(self) -> Literal["webhook", "app"]:
        return "app" if self.bot_token is not None else "webhook"


# A Standard Webhooks secret: "whsec_" and the key in base64.
WHSEC_PREFIX = "whsec_"


def signing_key(secret: str) -> bytes:
    """The HMAC key of a webhook secret: a `whsec_<base64>` secret's decoded
    bytes (as in the Standard Webhooks libraries), else the UTF-8 bytes as written."""
    if not secret.startswith(WHSEC_PREFIX):
        return secret.encode()
    encoded = secret.removeprefix(WHSEC_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error:
        key = b""
    if not key:
        raise PydanticCustomError("whsec", "a whsec_ secret must be base64 after the prefix")
    return key


class WebhookChannel(_Channel):
    model_config = ConfigDict(hide_input_in_errors=True)  # the input may be the secret

    type: Literal["webhook"]
    url: str = Field(pattern=r"^https?://")
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    secret: SecretStr | None = None
    timeout_seconds: PositiveFloat | None = None
    send_resolved: bool = True
    # The URLs a person's webhook contact method may have (services/oncall/
    # contacts.py): each must start with one of these. None allowed: this
    # channel delivers to no person's URL, so that nothing outside the
    # configuration becomes a URL the service calls with this channel's
    # headers and secret.
    person_url_prefixes: list[Annotated[str, Field(pattern=r"^https?://[^/?#]+/")]] = Field(
        default_factory=list, max_length=50
    )

    def takes_person_url(self, url: str) -> bool:
        return any(url.startswith(prefix) for prefix in self.person_url_prefixes)

    @field_validator("secret")
    @classmethod
    def _standard_secret(cls, secret: SecretStr | None) -> SecretStr | None:
        if secret is not None and secret.get_secret_value().startswith(WHSEC_PREFIX):
            signing_key(secret.get_secret_value())  # refuses a whsec_ secret that is not base64
        return secret


# --- paging and chat services; each URL can point at a proxy (or a test) -------------


class PagerDutyChannel(_Channel):
    model_config = ConfigDict(hide_input_in_errors=True)  # the input may be the secret

    type: Literal["pagerduty"]
    routing_key: SecretStr = Field(min_length=1)
    url: str = Field(default="https://events.pagerduty.com/v2/enqueue", pattern=r"^https?://")
    timeout_seconds: PositiveFloat | None = None
    send_resolved: bool = True


class OpsgenieResponder(_Strict):
    """A team, user, escalation or schedule, by `id` or by `name` (`username` for a user)."""

    type: Literal["team", "user", "escalation", "schedule"]
    id: str | None = Field(default=None, min_length=1)
    name: str | None = Field(default=None, min_length=1)
    username: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_identifier(self) -> OpsgenieResponder:
        given = [key for key in ("id", "name", "username") if getattr(self, key) is not None]
        allowed = "id or username" if self.type == "user" else "id or name"
        if len(given) != 1 or given[0] not in allowed.split(" or "):
            raise PydanticCustomError(
                "responder",
                "a {kind} responder needs exactly one of {allowed}",
                {"kind": self.type, "allowed": allowed},
            )
        return self


class OpsgenieChannel(_Channel):
    model_config = ConfigDict(hide_input_in_errors=True)  # the input may be the secret

    type: Literal["opsgenie"]
    api_key: SecretStr = Field(min_length=1)
    api_url: str = Field(default="https://api.opsgenie.com", pattern=r"^https?://")
    responders: list[OpsgenieResponder] = Field(default_factory=list, max_length=50)
    tags: list[Annotated[str, Field(min_length=1, max_length=50)]] = Field(
        default_factory=list, max_length=20
    )
    timeout_seconds: PositiveFloat | None = None
    send_resolved: bool = True


class TeamsChannel(_Channel):
    type: Literal["teams"]
    # A Workflows flow's "When a Teams webhook request is received" URL.
    url: str = Field(pattern=r"^https?://")
    timeout_seconds: PositiveFloat | None = None
    send_resolved: bool = True


class DiscordChannel(_Channel):
    type: Literal["discord"]
    url: str = Field(pattern=r"^https?://")
    timeout_seconds: PositiveFloat | None = None
    send_resolved: bool = True


class TelegramChannel(_Channel):
    model_config = ConfigDict(hide_input_in_errors=True)  # the input may be the secret

    type: Literal["telegram"]
    bot_token: SecretStr
    chat_id: int | Annotated[str, Field(pattern=r"^@[A-Za-z0-9_]{4,}$")]
    api_url: str = Field(default="https://api.telegram.org", pattern=r"^https?://")
    timeout_seconds: PositiveFloat | None = None
    send_resolved: bool = True

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, token: SecretStr) -> SecretStr:
        # It goes into the URL path: nothing that could change the path is let through.
        if not re.fullmatch(r"[0-9]+:[A-Za-z0-9_-]+", token.get_secret_value()):
            raise PydanticCustomError("bot_token", "a bot token looks like 123456789:AAF-token_chars")
        return token


_E164 = Annotated[str, Field(pattern=r"^\+[1-9][0-9]{6,14}$")]


class SmsChannel(_Channel):
    """Twilio's Messages API: one text per number in `to`."""

    model_config = ConfigDict(hide_input_in_errors=True)  # the input may be the secret

    type: Literal["sms"]
    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$")
    auth_token: SecretStr = Field(min_length=1)
    from_number: _E164
    to: list[_E164] = Field(min_length=1)
    api_url: str = Field(default="https://api.twilio.com", pattern=r"^https?://")
    timeout_seconds: PositiveFloat | None = None
    send_resolved: bool = False


ChannelConfig = Annotated[
    ConsoleChannel
    | EmailChannel
    | SlackChannel
    | WebhookChannel
    | PagerDutyChannel
    | OpsgenieChannel
    | TeamsChannel
    | DiscordChannel
    | TelegramChannel
    | SmsChannel,
    Field(discriminator="type"),
]


class EscalationRule(_Strict):
    level: int = Field(ge=2, le=4)
    severities: list[Severity] = Field(min_length=1)
    after_minutes: NonNegativeFloat
    repeat_every_minutes: PositiveFloat | None = None
    channels: list[str] = Field(default_factory=list)


def default_policy() -> list[EscalationRule]:
    return [
        EscalationRule(level=2, severities=["high"], after_minutes=30),
        EscalationRule(level=3, severities=["high"], after_minutes=60, repeat_every_minutes=30),
        EscalationRule(level=3, severities=["critical"], after_minutes=30, repeat_every_minutes=30),
        EscalationRule(level=4, severities=["critical"], after_minutes=120, repeat_every_minutes=15),
    ]


class EscalationPolicy(_Strict):
    name: str = "default"
    rules: list[EscalationRule] = Field(default_factory=default_policy)


# A person's contact method type -> the channel type that delivers it
# (services/oncall/contacts.py). `phone` has none yet: not deliverable.
CONTACT_CHANNEL_TYPES: dict[str, str] = {
    "email": "email",
    "sms": "sms",
    "slack": "slack",
    "telegram": "telegram",
    "webhook": "webhook",
}
CONTACT_TYPES: tuple[str, ...] = (*CONTACT_CHANNEL_TYPES, "phone")


def delivers_contacts(config: ChannelConfig) -> bool:
    """Whether a channel can deliver to a person's address: Slack only as an
    app (a direct message to a member id), since a webhook-mode Slack posts
    where its URL says; a webhook only when it names the URLs people may
    have (`person_url_prefixes`)."""
    if isinstance(config, WebhookChannel):
        return bool(config.person_url_prefixes)
    return not isinstance(config, SlackChannel) or config.mode == "app"


DEFAULT_TEAM = "default"
ALL_TEAMS = "*"
TEAM_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"


class ApiKey(_Strict):
    name: str = Field(min_length=1)
    hash: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    scopes: list[Literal["alerts:write", "alerts:manage", "oncall:manage", "read", "admin"]] = Field(
        min_length=1
    )
    # The team whose alerts the key creates and acts on; "*" acts on every
    # team (as does the admin scope) and creates in the default team.
    team: str = Field(default=DEFAULT_TEAM, pattern=rf"{TEAM_PATTERN}|^\*$")


class SnsTopic(_Strict):
    """An SNS topic whose messages POST /integrations/sns accepts, for the
    keys of one team."""

    arn: str = Field(pattern=r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,256}$")
    team: str = Field(default=DEFAULT_TEAM, pattern=TEAM_PATTERN)


def _config_file() -> Path | None:
    named = os.environ.get("ALERTS_CONFIG_FILE")
    if named:
        path = Path(named)
        if not path.is_file():
            raise ConfigError(f"ALERTS_CONFIG_FILE: no such file: {named}")
        return path
    default = Path("alerts.toml")
    return default if default.is_file() else None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ALERTS_", extra="forbid", frozen=True)

    database_url: str = "sqlite+aiosqlite:///./alerts.db"
    enabled: bool = True
    default_channels: list[str] = Field(default_factory=lambda: ["console"])
    enable_deduplication: bool = True
    enable_escalation: bool = True
    dedup_window_minutes: PositiveFloat = 60.0
    suppression_threshold: int = Field(default=10, ge=1)
    escalation_interval_seconds: PositiveFloat = 60.0
    max_attempts: int = Field(default=3, ge=1)
    retry_base_seconds: PositiveFloat = 2.0
    retry_max_seconds: PositiveFloat = 300.0
    delivery_timeout_seconds: PositiveFloat = 10.0
    delivery_concurrency: int = Field(default=16, ge=1)
    delivery_poll_seconds: PositiveFloat = 5.0
    delivery_lease_seconds: PositiveFloat = 60.0
    auto_close_hours: PositiveFloat | None = None
    retention_days: PositiveFloat | None = None
    housekeeping_interval_seconds: PositiveFloat = 300.0
    silence_check_seconds: PositiveFloat = 10.0
    heartbeat_check_seconds: PositiveFloat = 10.0
    # Alertmanager's always-firing alert (kube-prometheus names it Watchdog):
    # a beat of that Alertmanager's heartbeat instead of an alert; "" turns
    # that off. The timeout should exceed the route's repeat_interval.
    alertmanager_watchdog: str = Field(default="Watchdog", max_length=200)
    alertmanager_watchdog_timeout_seconds: float = Field(default=300, ge=10, le=7 * 24 * 3600)
    # Amazon SNS (POST /integrations/sns): the topics each team may subscribe
    # (none: every message is refused), hosts trusted besides SNS's own
    # endpoints (a private endpoint), and the severity of a CloudWatch ALARM.
    sns_topics: list[SnsTopic] = Field(default_factory=list)
    sns_allowed_hosts: list[str] = Field(default_factory=list)
    sns_alarm_severity: Severity = "high"
    silence_max_matchers: int = Field(
        default=32, ge=1, le=256, description="Matchers one silence may have; more is refused (422)."
    )
    silence_max_pattern_length: int = Field(
        default=256,
        ge=1,
        le=1_000,
        description="Characters in one regular-expression matcher's pattern; longer is refused (422).",
    )
    silence_max_in_force: int = Field(
        default=1_000,
        ge=1,
        le=100_000,
        description="Silences in force or pending at once; a new one past that is refused (422).",
    )
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    max_batch_alerts: int = Field(
        default=1_000,
        ge=1,
        le=100_000,
        description=(
            "Alerts one batch may hold (POST /alerts with an array, one Alertmanager POST); "
            "more is refused (422)."
        ),
    )
    public_url: str = "http://127.0.0.1:8000"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "text"] = "json"
    api_keys: list[ApiKey] = Field(default_factory=list)
    public_docs: bool = True
    public_metrics: bool = False
    # The web console's login: how long a session lasts, and the key that
    # signs its cookie (made once and kept in the database when not given).
    console_session_hours: PositiveFloat = Field(default=12, le=24 * 30)
    console_secret: SecretStr | None = Field(default=None, min_length=32)
    # Acknowledge and resolve links in emails (services/action_links.py):
    # the key that signs them (else the console's key kept in the database,
    # under another salt) and how long one stays good after it is sent.
    action_secret: SecretStr | None = Field(default=None, min_length=32)
    action_link_ttl_hours: PositiveFloat = Field(default=24, le=24 * 14)
    rate_limit_per_minute: PositiveFloat | None = None
    rate_limit_burst: int | None = Field(default=None, ge=1)
    database_pool_size: int = Field(default=20, ge=1, le=500)
    # PostgreSQL ingest: statements under way at once per process; submissions
    # arriving meanwhile share the next one (db/group_commit.py).
    ingest_statements_in_flight: int = Field(default=4, ge=1, le=500)
    database_connect_timeout_seconds: PositiveFloat = 5.0
    database_statement_timeout_seconds: PositiveFloat = 30.0
    # A transaction-mode pooler between the service and PostgreSQL
    # (db/pooler.py): "pgbouncer" keeps every connection free of session state.
    database_pooler: Literal["none", "pgbouncer"] = "none"
    channels: dict[str, ChannelConfig] = Field(
        default_factory=dict,
        validate_default=True,
        description="Declared notification channels; `console` is always there.",
    )
    escalation: EscalationPolicy = Field(default_factory=EscalationPolicy)
    oncall_contact_channels: dict[str, str] = Field(
        default_factory=dict,
        description="A contact method type (email, sms, slack, telegram, webhook) -> the channel "
        "that delivers it to people; an unmapped type uses the only channel of its type.",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_level(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("use sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db")
        return value

    @field_validator("channels", mode="after")
    @classmethod
    def _console_always_declared(cls, value: dict[str, ChannelConfig]) -> dict[str, ChannelConfig]:
        # The console needs no configuration, so it is always there to route to.
        return {"console": ConsoleChannel(type="console"), **value}

    @field_validator("api_keys", mode="after")
    @classmethod
    def _keys_distinct(cls, value: list[ApiKey]) -> list[ApiKey]:
        for i, key in enumerate(value):
            for earlier in value[:i]:
                if key.name == earlier.name:
                    raise ValueError(f"api_keys[{i}]: name {key.name!r} is used twice")
                if key.hash == earlier.hash:
                    raise ValueError(f"api_keys[{i}]: the same hash as {earlier.name!r}")
        return value

    @model_validator(mode="after")
    def _pooler_needs_postgresql(self) -> Settings:
        if self.database_pooler != "none" and not self.database_url.startswith("postgresql"):
            raise ValueError(
                f"database_pooler {self.database_pooler!r} needs a postgresql+asyncpg:// database_url"
            )
        return self

    @model_validator(mode="after")
    def _channels_exist(self) -> Settings:
        for name in self.default_channels:
            if name not in self.channels:
                raise ValueError(f"default_channels names undeclared channel {name!r}")
        for i, rule in enumerate(self.escalation.rules):
            for name in rule.channels:
                if name not in self.channels:
                    raise ValueError(f"escalation.rules[{i}].channels names undeclared channel {name!r}")
        return self

    @model_validator(mode="after")
    def _contact_channels_fit(self) -> Settings:
        for kind, name in self.oncall_contact_channels.items():
            key = f"oncall_contact_channels.{kind}"
            if kind not in CONTACT_CHANNEL_TYPES:
                known = ", ".join(CONTACT_CHANNEL_TYPES)
                why = "phone calls are not delivered yet" if kind == "phone" else f"types: {known}"
                raise ValueError(f"{key}: not a deliverable contact type ({why})")
            config = self.channels.get(name)
            if config is None:
                raise ValueError(f"{key} names undeclared channel {name!r}")
            if config.type != CONTACT_CHANNEL_TYPES[kind]:
                raise ValueError(
                    f"{key}: channel {name!r} is of type {config.type!r}, not {CONTACT_CHANNEL_TYPES[kind]!r}"
                )
            if not delivers_contacts(config):
                raise ValueError(
                    f"{key}: channel {name!r} is a Slack webhook; a person needs a Slack app"
                    if isinstance(config, SlackChannel)
                    else f"{key}: channel {name!r} sets no person_url_prefixes, so it calls no person's URL"
                )
        return self

    @cached_property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=_config_file()))


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(part) for part in err["loc"]) or "settings"
        lines.append(f"{key}: {err['msg']}")
    return "invalid configuration: " + "; ".join(lines)


def load_settings(**overrides: Any) -> Settings:
    """Build and validate settings; raise ConfigError naming the bad key."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{_config_file()}: not valid TOML: {exc}") from exc

"""Which configured channel delivers each type of a person's contact method.

`oncall_contact_channels` maps a type to a channel (checked at start-up:
declared, of the right type, a Slack app for `slack`). A type it does not
map uses the only configured channel of that type; none, or several, and
the type is not deliverable: the step's history says which. `phone` has no
channel type yet.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.settings import CONTACT_CHANNEL_TYPES, Settings, WebhookChannel, delivers_contacts

# What a channel of these types needs before it delivers to a person's address.
_REACHES = {"slack": "an app, not an incoming webhook", "webhook": "one with person_url_prefixes"}


@dataclass(frozen=True, slots=True)
class ContactChannels:
    channels: dict[str, str]  # contact type -> channel name
    undeliverable: dict[str, str]  # contact type -> why not
    webhook: WebhookChannel | None = None  # the channel of webhook contacts, which limits their URLs

    @classmethod
    def of(cls, settings: Settings) -> ContactChannels:
        channels: dict[str, str] = {}
        undeliverable: dict[str, str] = {"phone": "phone calls are not delivered yet"}
        for kind, channel_type in CONTACT_CHANNEL_TYPES.items():
            named = settings.oncall_contact_channels.get(kind)
            if named is not None:
                channels[kind] = named
                continue
            fitting = [
                name
                for name, config in settings.channels.items()
                if config.type == channel_type and delivers_contacts(config)
            ]
            if len(fitting) == 1:
                channels[kind] = fitting[0]
            elif fitting:
                undeliverable[kind] = (
                    f"{len(fitting)} {channel_type} channels ({', '.join(fitting)}) and "
                    f"oncall_contact_channels.{kind} names none"
                )
            elif any(config.type == channel_type for config in settings.channels.values()):
                undeliverable[kind] = f"no {channel_type} channel reaches a person ({_REACHES[channel_type]})"
            else:
                undeliverable[kind] = f"no {channel_type} channel is configured"
        webhook = settings.channels.get(channels.get("webhook", ""))
        return cls(channels, undeliverable, webhook if isinstance(webhook, WebhookChannel) else None)

    def channel_for(self, kind: str) -> str | None:
        return self.channels.get(kind)

    def why_not(self, kind: str) -> str:
        return self.undeliverable.get(kind, f"unknown contact type {kind!r}")

    def refusal(self, kind: str, address: str) -> str | None:
        """Why this address is not one the type's channel calls, if it is not:
        a webhook contact's URL must start with one of its channel's
        `person_url_prefixes`."""
        if kind == "webhook" and self.webhook is not None and not self.webhook.takes_person_url(address):
            return f"{address[:100]!r} is not under the person_url_prefixes of channel {self.channels['webhook']!r}"
        return None

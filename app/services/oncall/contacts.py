"""Which configured channel delivers each type of a person's contact method.

`oncall_contact_channels` maps a type to a channel (checked at start-up:
declared, of the right type, a Slack app for `slack`). A type it does not
map uses the only configured channel of that type; none, or several, and
the type is not deliverable: the step's history says which. `phone` has no
channel type yet.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.settings import CONTACT_CHANNEL_TYPES, Settings, delivers_contacts


@dataclass(frozen=True, slots=True)
class ContactChannels:
    channels: dict[str, str]  # contact type -> channel name
    undeliverable: dict[str, str]  # contact type -> why not

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
            elif not fitting:
                undeliverable[kind] = f"no {channel_type} channel is configured"
            else:
                undeliverable[kind] = (
                    f"{len(fitting)} {channel_type} channels ({', '.join(fitting)}) and "
                    f"oncall_contact_channels.{kind} names none"
                )
        return cls(channels, undeliverable)

    def channel_for(self, kind: str) -> str | None:
        return self.channels.get(kind)

    def why_not(self, kind: str) -> str:
        return self.undeliverable.get(kind, f"unknown contact type {kind!r}")

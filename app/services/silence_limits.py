"""What a new silence may ask for: RE2 patterns, and the limits that keep
matching cheap (settings `silence_max_matchers`, `silence_max_pattern_length`,
`silence_max_in_force`).

Each refusal is a 422 naming the limit (its setting) and the field.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import InvalidInput
from app.models import Silence
from app.schemas import SilenceMatcher
from app.services import silence_patterns
from app.settings import Settings

# Serializes silence creation on PostgreSQL, so that two replicas creating
# at once cannot both take the last place under silence_max_in_force.
_CREATE_LOCK = 0x51_1E_0C_E5


def check_matchers(
    matchers: Sequence[SilenceMatcher], settings: Settings, *, kind: str = "silence", field: str = "matchers"
) -> None:
    """`kind`: what has the matchers (a silence, a route), for the message;
    `field`: where the matchers are in the body (`routes.2.matchers` in an
    on-call document)."""
    limit = settings.silence_max_matchers
    if len(matchers) > limit:
        raise InvalidInput(
            f"{len(matchers)} matchers: a {kind} has at most {limit} (silence_max_matchers)",
            field=field,
        )
    for i, matcher in enumerate(matchers):
        if not matcher.is_regex:
            continue
        where = f"matchers[{i}] ({matcher.name})"
        longest = settings.silence_max_pattern_length
        if len(matcher.value) > longest:
            raise InvalidInput(
                f"{where}: the pattern has {len(matcher.value)} characters, at most {longest} "
                "(silence_max_pattern_length)",
                field=f"{field}.{i}.value",
            )
        if reason := silence_patterns.refusal(matcher.value):
            raise InvalidInput(
                f"{where}: not a regular expression RE2 accepts (no backreferences or lookaround): {reason}",
                field=f"{field}.{i}.value",
            )


async def check_room(session: AsyncSession, settings: Settings, *, now: datetime) -> None:
    """Refuse a new silence when silence_max_in_force silences are already
    in force or pending."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CREATE_LOCK})
    in_force = await session.scalar(
        select(func.count()).where(Silence.released_at.is_(None), Silence.ends_at > now)
    )
    limit = settings.silence_max_in_force
    if int(in_force or 0) >= limit:
        raise InvalidInput(
            f"{in_force} silences are in force or pending, the most there can be (silence_max_in_force); "
            "expire one first",
            field="matchers",
        )

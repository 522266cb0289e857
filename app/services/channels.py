"""Per-channel delivery figures, computed by one aggregate query."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Notification
from app.settings import Settings


@dataclass(frozen=True, slots=True)
class ChannelFigures:
    name: str
    type: str
    sent: int
    failed: int
    pending: int
    silenced: int
    success_rate: float | None
    mean_latency_ms: float | None


async def channel_figures(session: AsyncSession, settings: Settings) -> list[ChannelFigures]:
    rows = await session.execute(
        select(
            Notification.channel,
            Notification.status,
            func.count(),
            func.avg(Notification.duration_ms).filter(Notification.status == "sent"),
        ).group_by(Notification.channel, Notification.status)
    )
    counts: dict[tuple[str, str], int] = {}
    latency: dict[str, float] = {}
    for channel, status, count, mean in rows:
        counts[(channel, status)] = int(count)
        if status == "sent" and mean is not None:
            latency[channel] = float(mean)
    figures = []
    for name, config in settings.channels.items():
        sent = counts.get((name, "sent"), 0)
        failed = counts.get((name, "failed"), 0)
        pending = counts.get((name, "pending"), 0) + counts.get((name, "sending"), 0)
        finished = sent + failed
        figures.append(
            ChannelFigures(
                name=name,
                type=config.type,
                sent=sent,
                failed=failed,
                pending=pending,
                silenced=counts.get((name, "silenced"), 0),
                success_rate=sent / finished if finished else None,
                mean_latency_ms=latency.get(name),
            )
        )
    return figures

"""A per-key token bucket: `rate_limit_per_minute` sustained, `rate_limit_burst` at once.

Kept in this process's memory: with N replicas a key may make N times the
rate in all. That is enough to stop one runaway client from crowding out the
others, which is the point here; a shared limit would cost a database or
Redis round trip on every request. A refused request gets 429 with
Retry-After (whole seconds until a token is back).

Buckets live in a dict keyed by caller; the number of callers is bounded by
the configured keys (plus, in open mode, client addresses, which are pruned
when the dict grows past MAX_BUCKETS).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from app.errors import AppError
from app.settings import Settings

MAX_BUCKETS = 10_000


class RateLimited(AppError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, retry_after: float) -> None:
        seconds = max(1, math.ceil(retry_after))
        super().__init__(f"rate limit exceeded; retry in {seconds}s")
        self.headers = {"Retry-After": str(seconds)}


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, *, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0  # tokens per second
        self.burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def check(self, caller: str) -> None:
        """Take one token for `caller`, or raise RateLimited."""
        now = self._clock()
        bucket = self._buckets.get(caller)
        if bucket is None:
            if len(self._buckets) >= MAX_BUCKETS:
                self._prune(now)
            bucket = self._buckets[caller] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens < 1.0:
            raise RateLimited((1.0 - bucket.tokens) / self.rate)
        bucket.tokens -= 1.0

    def _prune(self, now: float) -> None:
        # A bucket that would be full again carries no information: drop it.
        full_after = self.burst / self.rate
        self._buckets = {k: b for k, b in self._buckets.items() if now - b.updated < full_after}


def limiter_for(settings: Settings) -> RateLimiter | None:
    """The limiter the settings ask for; None when rate limiting is off."""
    if settings.rate_limit_per_minute is None:
        return None
    burst = settings.rate_limit_burst or max(1, math.ceil(settings.rate_limit_per_minute))
    return RateLimiter(per_minute=settings.rate_limit_per_minute, burst=burst)

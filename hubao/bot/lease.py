"""Named leases, so that something only one instance may hold (a long connection that the
platform allows once per bot, a scheduler job) is held by exactly one live instance."""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol


class Leases(Protocol):
    async def try_acquire(self, name: str, ttl: timedelta) -> bool:
        """Take or renew ``name`` for this instance; False while another live instance holds it."""
        ...

    async def release(self, name: str) -> None: ...

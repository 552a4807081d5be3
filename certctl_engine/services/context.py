"""What every service is built from: the open store, the secret box and a clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from certctl_engine.secretbox import SecretBox
from certctl_engine.store import Store


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ServiceContext:
    """Shared by all services of one engine; the clock is injectable so time can be simulated."""

    store: Store
    secrets: SecretBox
    clock: Callable[[], datetime] = field(default=system_clock)

    def now(self) -> datetime:
        return self.clock()

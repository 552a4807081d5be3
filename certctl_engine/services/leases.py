"""Named leases in the store: one holder at a time, handed over when the holder stops renewing.

The scheduler holds the ``scheduler`` lease, so one store never runs its loops twice, be it
a dashboard and a headless engine on one SQLite file or several engines on one PostgreSQL.
The store's write lock makes take-over atomic on both back ends.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta

from certctl_engine.services.context import ServiceContext
from certctl_engine.store.models import LeaseModel

__all__ = ["SCHEDULER_LEASE", "LeaseService", "local_holder_name"]

SCHEDULER_LEASE = "scheduler"
"""The lease whose holder runs the scheduler loops (and so every job the engine runs itself)."""


def _pid_namespace() -> str:
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return "-"


def local_holder_name() -> str:
    """``host:pid@pid-namespace``: enough for another process on this machine to tell whether we live."""
    return f"{socket.gethostname()}:{os.getpid()}@{_pid_namespace()}"


def _dead_here(holder: str) -> bool:
    """True only when ``holder`` names a process of this host and PID namespace that no longer exists.

    A holder elsewhere (another host, another container's namespace, an older name format)
    is never judged here: its lease runs out by time alone.
    """
    host, _, rest = holder.partition(":")
    pid_text, _, namespace = rest.partition("@")
    if host != socket.gethostname() or namespace != _pid_namespace() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, owned by someone else
        return False
    return False


class LeaseService:
    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    def acquire(self, name: str, holder: str, ttl: timedelta) -> bool:
        """Take or renew the lease; False while another holder's lease is still valid.

        A holder on this machine whose process is gone (killed, crashed) loses its lease at
        once, so an engine restarted after a crash resumes without waiting for the lease to
        run out; a holder elsewhere keeps it until it expires.
        """
        now = self._ctx.now()
        with self._ctx.store.write():
            row = LeaseModel.get_or_none(LeaseModel.name == name)
            if row is None:
                LeaseModel.create(name=name, holder=holder, acquired_at=now, expires_at=now + ttl)
                return True
            if row.holder != holder and row.expires_at > now and not _dead_here(row.holder):
                return False
            if row.holder != holder:
                row.acquired_at = now
            row.holder = holder
            row.expires_at = now + ttl
            row.save()
            return True

    def release(self, name: str, holder: str) -> None:
        with self._ctx.store.write():
            LeaseModel.delete().where((LeaseModel.name == name) & (LeaseModel.holder == holder)).execute()

    def holder(self, name: str) -> str | None:
        row = LeaseModel.get_or_none(LeaseModel.name == name)
        if row is None or row.expires_at <= self._ctx.now():
            return None
        return str(row.holder)

    def acquired_at(self, name: str, holder: str) -> datetime | None:
        """When ``holder`` took the lease it holds now (None if it does not hold it)."""
        row = LeaseModel.get_or_none((LeaseModel.name == name) & (LeaseModel.holder == holder))
        return None if row is None else row.acquired_at

"""Prometheus text exposition (format 0.0.4) of the engine's figures."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import peewee

from certctl_engine.domain import CertificateStatus, JobStatus, JobType
from certctl_engine.store.models import JobModel

if TYPE_CHECKING:
    from certctl_engine.engine import Engine
    from certctl_engine.scheduler import Scheduler

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _family(name: str, kind: str, help_text: str, samples: Iterable[tuple[dict[str, str], float]]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        label_text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        lines.append(f"{name}{{{label_text}}} {value:g}" if label_text else f"{name} {value:g}")
    return lines


def render(engine: Engine, scheduler: Scheduler | None = None, *, uptime_seconds: float = 0.0) -> str:
    """The whole exposition; every figure comes from one aggregate query."""
    summary = engine.stats.dashboard()
    inventory = summary.inventory
    jobs = {
        (job_type, status): int(count)
        for job_type, status, count in JobModel.select(JobModel.type, JobModel.status, peewee.fn.COUNT(peewee.SQL("*")))
        .group_by(JobModel.type, JobModel.status)
        .tuples()
    }
    lines: list[str] = []
    lines += _family(
        "certctl_certificates",
        "gauge",
        "Managed certificates by status.",
        [({"status": s.value}, inventory.by_status.get(s.value, 0)) for s in CertificateStatus],
    )
    lines += _family(
        "certctl_certificates_expiring",
        "gauge",
        "Live certificates by days until expiry.",
        [
            ({"window": "expired"}, inventory.expiry.expired),
            ({"window": "0-7d"}, inventory.expiry.days_0_7),
            ({"window": "8-30d"}, inventory.expiry.days_8_30),
            ({"window": "31-90d"}, inventory.expiry.days_31_90),
        ],
    )
    lines += _family(
        "certctl_jobs",
        "gauge",
        "Jobs by type and state.",
        [({"type": t.value, "status": s.value}, jobs.get((t.value, s.value), 0)) for t in JobType for s in JobStatus],
    )
    lines += _family(
        "certctl_job_failures_30d",
        "gauge",
        "Jobs that ended Failed in the last 30 days.",
        [({}, summary.failed_jobs_30d)],
    )
    lines += _family(
        "certctl_agents",
        "gauge",
        "Agents by status.",
        [
            ({"status": "Online"}, summary.agents.online),
            ({"status": "Offline"}, summary.agents.offline),
            ({"status": "Degraded"}, summary.agents.degraded),
        ],
    )
    lines += _family(
        "certctl_audit_sequence",
        "counter",
        "Sequence number of the newest audit event.",
        [({}, summary.audit_sequence)],
    )
    if scheduler is not None:
        lines += _family(
            "certctl_scheduler_loop_duration_seconds",
            "gauge",
            "Duration of each loop's last tick.",
            [({"loop": name}, state.last_duration) for name, state in scheduler.state.items()],
        )
        lines += _family(
            "certctl_scheduler_loop_failures_total",
            "counter",
            "Ticks that raised, per loop.",
            [({"loop": name}, state.failures) for name, state in scheduler.state.items()],
        )
        lines += _family(
            "certctl_scheduler_leader",
            "gauge",
            "1 when this engine runs the loops.",
            [({}, 1 if scheduler.leading else 0)],
        )
    lines += _family(
        "certctl_uptime_seconds", "gauge", "Seconds since the engine service started.", [({}, uptime_seconds)]
    )
    return "\n".join(lines) + "\n"

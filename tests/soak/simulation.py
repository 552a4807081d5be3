"""Years of certctl in minutes: the real engine on a simulated clock, its scheduler loops run tick by tick.

The engine is opened on a fresh SQLite store with a clock this module moves by hand
(``tests/frozen_clock.Clock``); every service reads it through ``ServiceContext.now``. The
loops are the scheduler's own ``LOOPS``: each ``LoopSpec.run(engine)`` is called when its
interval has passed in simulated time, in the scheduler's order, never by sleeping.

Skipping idle time. Between two ticks of the long loops (renewal check, policy scan, CRL
refresh, network scan) the short ones (jobs, notifications, agent health, job retry,
short-lived expiry) only have work when something is due: a pending job's
``scheduled_at``, a notification's next attempt, audit events the notifier has not read, an
alert threshold being crossed, a silent agent's heartbeat timeout, or an event of this
harness (a new issuance, a fault starting or ending). The clock jumps to the first such
moment (or to the next long-loop tick); the short loops' skipped ticks would have found
nothing to do. For ten simulated minutes after a fault starts or ends the short loops run
at their own intervals regardless.

What the world holds: ``certificates`` local-CA certificates (GenericCA, ``validity_days``
47, a renewal policy renewing at a third of the lifetime left), issued staggered over the
first renewal period so renewals spread out; each deployed to its own Files target
(engine-side), one to a real NGINX on loopback (verification on), one to a Files target of
an agent registered with the bootstrap token and driven through ``engine.agents`` (its
heartbeats, work polls and reports), and optionally a few from pebble. Alerts go to a
webhook channel on a loopback receiver.

pebble works in real time: it stamps its own ``notBefore``/``notAfter`` (years ahead), so
its certificates never enter the policy window on the simulated clock. They are issued and
renewed for real (HTTP-01 on loopback); the simulated clock only decides when each renewal
is due (when two thirds of a 47-day lifetime, counted from the version's simulated
creation, have passed), and the harness then queues the renewal job the way ``certctl
certs renew`` does; the job processor loop runs it against pebble.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import peewee
from frozen_clock import Clock
from tls_servers import served_serial

from certctl_engine.connectors.targets.base import DeploymentBundle
from certctl_engine.connectors.targets.files import FilesConnector
from certctl_engine.domain import (
    ACTIVE_JOB_STATUSES,
    Actor,
    AgentStatus,
    CertificateStatus,
    JobStatus,
    JobType,
    NotificationStatus,
    VerificationStatus,
)
from certctl_engine.engine import Engine
from certctl_engine.scheduler import LOOPS, LoopSpec, loop_intervals
from certctl_engine.services.agents import HEARTBEAT_TIMEOUT
from certctl_engine.services.deployments import split_chain
from certctl_engine.services.notifications import CURSOR_KEY
from certctl_engine.store.models import (
    AuditEventModel,
    CertificateModel,
    CertificateVersionModel,
    JobModel,
    NotificationModel,
    StoreMetaModel,
)

from .receiver import WebhookReceiver

if TYPE_CHECKING:
    from acme_server import Pebble
    from tls_servers import NginxServer

START = datetime(2027, 3, 1, tzinfo=UTC)
"""Simulated day 0: months ahead of the real date, so a stray real-time read shows as a timestamp before it."""
MONTH = timedelta(days=30)
ADMIN = Actor("soak-admin")
BOOTSTRAP_TOKEN = "soak-bootstrap-token"
LONG_LOOPS = frozenset({"renewal_check", "network_scan", "policy_scan", "crl_refresh"})
SHORT_LOOPS = frozenset(spec.name for spec in LOOPS) - LONG_LOOPS
BUSY_AFTER_EVENT = timedelta(minutes=10)
FILES = {"cert_file": "cert.pem", "chain_file": "chain.pem", "fullchain_file": "fullchain.pem", "key_file": "key.pem"}
AGENT_FILES = {"cert_file": "cert.pem", "chain_file": "chain.pem", "fullchain_file": "fullchain.pem"}
LIVE = (
    CertificateStatus.ACTIVE.value,
    CertificateStatus.EXPIRING.value,
    CertificateStatus.EXPIRED.value,
    CertificateStatus.RENEWAL_IN_PROGRESS.value,
    CertificateStatus.FAILED.value,
)
RELOAD_FAULT_SECONDS = 45
"""How long the failing post-deploy command fails after its first failure (two of the job's three attempts)."""
NOTIFIER_DOWN = timedelta(minutes=6)
"""How long the webhook answers 500 after its first refusal (within the notifier's five attempts)."""


@dataclass(frozen=True, slots=True)
class SoakScale:
    """How big the simulated world is; printed with every run."""

    certificates: int = 150
    days: float = 730.0
    validity_days: int = 47
    pebble_certificates: int = 0
    nginx: bool = True
    agent: bool = True
    faults: tuple[str, ...] = ("reload", "agent_offline", "notifier_down")
    thresholds: tuple[int, ...] = (30, 14, 7, 0)
    intervals: tuple[tuple[str, str], ...] = ()
    """Loop interval settings as an operator sets them (``CERTCTL_SCHEDULER_*`` names); defaults otherwise."""

    @property
    def window_days(self) -> int:
        """Renew at a third of the lifetime left (16 days for 47)."""
        return round(self.validity_days / 3)

    def describe(self) -> str:
        extra = [f"{self.pebble_certificates} from pebble"] if self.pebble_certificates else []
        extra += ["1 on NGINX"] if self.nginx else []
        extra += ["1 on an agent"] if self.agent else []
        return (
            f"{self.certificates} local-CA certificates ({', '.join(extra) or 'Files targets only'}), "
            f"{self.validity_days}-day lifetimes, renewal window {self.window_days} days, "
            f"{self.days:g} simulated days, faults: {', '.join(self.faults) or 'none'}"
        )


@dataclass
class MonthFigures:
    month: int
    store_bytes: int
    growth_bytes: int
    ticks: int
    tick_p50_ms: float
    tick_max_ms: float
    tick_cpu_mean_ms: float
    """CPU time of the engine's thread per tick, averaged: ticks are a stable mix of light and heavy ones,
    so their median jumps between the two while the mean follows the cost."""
    renewal_check_p50_ms: float
    renewals: int
    deployments: int
    alerts: int

    def row(self) -> str:
        return (
            f"{self.month:>5} {self.store_bytes / 1e6:>9.2f} {self.growth_bytes / 1e6:>9.2f} {self.ticks:>6} "
            f"{self.tick_p50_ms:>8.2f} {self.tick_max_ms:>8.1f} {self.tick_cpu_mean_ms:>8.2f} "
            f"{self.renewal_check_p50_ms:>9.2f} "
            f"{self.renewals:>8} {self.deployments:>8} {self.alerts:>6}"
        )


MONTH_HEADER = (
    f"{'month':>5} {'store MB':>9} {'+MB':>9} {'ticks':>6} {'p50 ms':>8} {'max ms':>8} {'cpu avg':>8} {'check ms':>9} "
    f"{'renewals':>8} {'deploys':>8} {'alerts':>6}"
)


@dataclass
class FaultRecord:
    """What was seen of one injected fault, for the tests to assert on."""

    name: str
    started_at: datetime | None = None
    ended_at: datetime | None = None
    certificate_id: str | None = None
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass
class SoakReport:
    scale: SoakScale
    months: list[MonthFigures]
    expired_unrenewed: list[tuple[str, datetime, datetime]]
    loop_errors: list[tuple[datetime, str, str]]
    deployment_mismatches: list[tuple[datetime, str, str]]
    faults: dict[str, FaultRecord]
    ticks: int
    loop_runs: Counter[str]
    wall_seconds: float
    ended_at: datetime


@dataclass(order=True)
class _Event:
    at: datetime
    seq: int
    action: Callable[[], None] = field(compare=False)
    name: str = field(compare=False, default="")


class LoopDriver:
    """The scheduler's loops on simulated time: each runs when its interval has passed, in ``LOOPS`` order."""

    def __init__(self, engine: Engine, clock: Clock, intervals: dict[str, float]) -> None:
        self.engine = engine
        self.clock = clock
        self.intervals = intervals
        self.next_due = {spec.name: clock.now for spec in LOOPS}
        self.runs: Counter[str] = Counter()
        self.errors: list[tuple[datetime, str, str]] = []

    def run_due(self) -> dict[str, tuple[float, float]]:
        """Run every loop that is due now; the (wall, CPU) seconds each took."""
        took: dict[str, tuple[float, float]] = {}
        now = self.clock.now
        for spec in LOOPS:
            if now < self.next_due[spec.name]:
                continue
            self.next_due[spec.name] = now + timedelta(seconds=self.intervals[spec.name])
            took[spec.name] = self._run(spec)
        return took

    def _run(self, spec: LoopSpec) -> tuple[float, float]:
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            spec.run(self.engine)
        except Exception as exc:  # the scheduler logs and goes on; here it is a finding
            self.errors.append((self.clock.now, spec.name, f"{type(exc).__name__}: {exc}"))
        self.runs[spec.name] += 1
        return time.perf_counter() - started, time.thread_time() - cpu

    def next_long(self) -> datetime:
        return min(self.next_due[name] for name in LONG_LOOPS)

    def next_short(self) -> datetime:
        return min(self.next_due[name] for name in SHORT_LOOPS)


class SimulatedAgent:
    """An agent as the engine sees it: heartbeats, work polls, local Files deployments and reports."""

    def __init__(self, engine: Engine, directory: Path) -> None:
        self.engine = engine
        self.directory = directory
        self.registration = engine.agents.register("soak-agent", bootstrap_token=BOOTSTRAP_TOKEN, hostname="agent1")
        self.id = self.registration.agent.id
        self.online = True
        self.deployed: list[tuple[datetime, str, str]] = []  # (when, job id, version id)

    def step(self, now: datetime) -> None:
        if not self.online:
            return
        self.engine.agents.heartbeat(self.id, {"hostname": "agent1", "version": "soak"})
        for item in self.engine.agents.work(self.id):
            if item.type is not JobType.DEPLOYMENT:
                continue
            picked = self.engine.agents.certificate_for(self.id, item.certificate_id)
            bundle = DeploymentBundle(
                certificate_id=item.certificate_id,
                version_id=picked["version_id"],
                fingerprint_sha256=picked["fingerprint_sha256"],
                certificate_pem=picked["certificate_pem"],
                chain_pem=picked["chain_pem"],
            )
            try:
                FilesConnector().deploy(bundle, dict(item.target_config or {}))
            except Exception as exc:  # reported as the real agent does
                self.engine.agents.report(self.id, item.job_id, "Failed", str(exc))
                continue
            self.engine.agents.report(self.id, item.job_id, "Completed")
            self.deployed.append((now, item.job_id, picked["version_id"]))


class Soak:
    """One simulated world; ``run()`` drives it to the end and returns what was seen."""

    def __init__(
        self,
        scale: SoakScale,
        workdir: Path,
        *,
        pebble: Pebble | None = None,
        nginx: NginxServer | None = None,
    ) -> None:
        self.scale = scale
        self.workdir = workdir
        self.clock = Clock(START)
        self.receiver = WebhookReceiver()
        env = {"CERTCTL_HOME": str(workdir / "home"), "CERTCTL_AGENT_BOOTSTRAP_TOKEN": BOOTSTRAP_TOKEN}
        self.db_path = workdir / "certctl.db"
        self.engine = Engine.open(str(self.db_path), env=env, clock=self.clock)
        self.driver = LoopDriver(self.engine, self.clock, loop_intervals(dict(scale.intervals)))
        self.events: list[_Event] = []
        self._seq = 0
        self._busy_until = START
        self.cert_ids: list[str] = []
        self.target_dirs: dict[str, Path] = {}  # certificate id -> the Files directory it is deployed to
        self.nginx = nginx
        self.nginx_cert: str | None = None
        self.agent: SimulatedAgent | None = None
        self.agent_cert: str | None = None
        self.pebble_certs: list[str] = []
        self._pebble_due: dict[str, tuple[str, datetime]] = {}
        self.faults: dict[str, FaultRecord] = {}
        self.expired: list[tuple[str, datetime, datetime]] = []
        self.mismatches: list[tuple[datetime, str, str]] = []
        self._tick_ms: dict[int, list[float]] = defaultdict(list)
        self._tick_cpu_ms: dict[int, list[float]] = defaultdict(list)
        self._check_ms: dict[int, list[float]] = defaultdict(list)
        self.months: list[MonthFigures] = []
        self._last_store = 0
        self.ticks = 0
        self._build(pebble)

    # ------------------------------------------------------------------ the world
    def _build(self, pebble: Pebble | None) -> None:
        e, s = self.engine, self.scale
        e.issuers.create("Local CA", "GenericCA", {"validity_days": s.validity_days}, actor=ADMIN, id="iss-local")
        e.renewal_policies.create(
            "47-day",
            actor=ADMIN,
            id="rp-soak",
            renewal_window_days=s.window_days,
            alert_thresholds_days=list(s.thresholds),
        )
        e.notifications.create_channel("soak webhook", "Webhook", {"url": self.receiver.url}, actor=ADMIN)
        if s.agent:
            self.agent = SimulatedAgent(e, self.workdir / "agent")
        for i in range(s.certificates):
            name = f"site{i:04d}"
            if i == 0 and self.nginx is not None:
                target = e.targets.create(
                    "nginx", "NGINX", self.nginx.target_config(verify_delay_seconds=0), actor=ADMIN, id="tgt-nginx"
                )
                cn = "www.example.test"
            elif i == 1 and self.agent is not None:
                directory = self.workdir / "agent" / name
                directory.mkdir(parents=True)
                target = e.targets.create(
                    f"agent-{name}",
                    "Files",
                    {"directory": str(directory), **AGENT_FILES},
                    actor=ADMIN,
                    agent_id=self.agent.id,
                )
                self.target_dirs[f"cert-{name}"] = directory
                cn = f"{name}.example.test"
            else:
                directory = self.workdir / "targets" / name
                directory.mkdir(parents=True)
                config: dict[str, Any] = {"directory": str(directory), **FILES}
                if i == 2 and "reload" in s.faults:
                    # The reload that fails while the flag file exists (see _reload_fault).
                    config["post_deploy_command"] = ["/usr/bin/test", "!", "-e", str(self.workdir / "reload-broken")]
                target = e.targets.create(f"files-{name}", "Files", config, actor=ADMIN)
                self.target_dirs[f"cert-{name}"] = directory
                cn = f"{name}.example.test"
            cert = e.certificates.create(
                name=name,
                common_name=cn,
                issuer_id="iss-local",
                renewal_policy_id="rp-soak",
                target_ids=[target.id],
                actor=ADMIN,
                id=f"cert-{name}",
                queue_issuance=False,  # the plan queues each issuance at its staggered time
            )
            self.cert_ids.append(cert.id)
            if target.id == "tgt-nginx":
                self.nginx_cert = cert.id
            elif self.agent is not None and target.agent_id == self.agent.id:
                self.agent_cert = cert.id
            # Issued over the first renewal period, so that renewals spread out over the month.
            stagger = timedelta(days=s.validity_days - s.window_days) * i / max(s.certificates, 1)
            self._at(START + stagger, self._issue(cert.id), "issue")
        if s.pebble_certificates:
            if pebble is None:
                raise ValueError("pebble_certificates needs a running pebble")
            base = {"directory_url": pebble.directory_url, "ca_bundle": pebble.ca_bundle, "email": "soak@example.com"}
            config = {**base, "http_address": f"127.0.0.1:{pebble.http_port}"}
            e.issuers.create("pebble", "ACME", config, actor=ADMIN, id="iss-pebble")
            for i in range(s.pebble_certificates):
                name = f"acme{i:02d}"
                directory = self.workdir / "targets" / name
                directory.mkdir(parents=True)
                target = e.targets.create(f"files-{name}", "Files", {"directory": str(directory), **FILES}, actor=ADMIN)
                cert = e.certificates.create(
                    name=name,
                    common_name=f"{name}.example.test",
                    issuer_id="iss-pebble",
                    renewal_policy_id="rp-soak",
                    target_ids=[target.id],
                    actor=ADMIN,
                    id=f"cert-{name}",
                    queue_issuance=False,  # the plan queues its issuance at the start, below
                )
                self.target_dirs[cert.id] = directory
                self.pebble_certs.append(cert.id)
                self._at(START, self._issue(cert.id), "issue")
        self._plan_faults()

    def _issue(self, cert_id: str) -> Callable[[], None]:
        return lambda: self.engine.jobs.create(JobType.ISSUANCE, cert_id, actor=ADMIN)

    def _at(self, when: datetime, action: Callable[[], None], name: str) -> None:
        self._seq += 1
        self.events.append(_Event(when, self._seq, action, name))
        self.events.sort()

    def _due_at(self, cert_id: str) -> datetime:
        """When the policy window opens for the certificate's current version."""
        expires = CertificateModel.get_by_id(cert_id).expires_at
        return expires - timedelta(days=self.scale.window_days)

    # ------------------------------------------------------------------ faults
    def _plan_faults(self) -> None:
        days = self.scale.days
        if "reload" in self.scale.faults:
            self._at(START + timedelta(days=days * 0.30), self._reload_fault, "reload fault armed")
        if "agent_offline" in self.scale.faults and self.agent is not None:
            self._at(START + timedelta(days=days * 0.15), self._agent_fault, "agent fault planned")
        if "notifier_down" in self.scale.faults:
            self._at(START + timedelta(days=days * 0.45), self._notifier_fault, "notifier down")
        if "issuer_outage" in self.scale.faults:
            self._at(START + timedelta(days=days * 0.5), self._issuer_fault, "issuer outage planned")

    def _reload_fault(self) -> None:
        """The third certificate's Files target: its post-deploy command fails from its next renewal on."""
        cert_id = self.cert_ids[2]
        (self.workdir / "reload-broken").write_text("reload is broken\n")
        current = self.engine.certificates.current_version(cert_id)
        self.faults["reload"] = FaultRecord(
            "reload", certificate_id=cert_id, notes={"armed_at": self.clock.now, "old_version": current.id}
        )

    def _observe_reload(self) -> None:
        record = self.faults.get("reload")
        if record is None or record.ended_at is not None:
            return
        job = (
            JobModel.select()
            .where(
                (JobModel.type == JobType.DEPLOYMENT.value)
                & (JobModel.certificate == record.certificate_id)
                & JobModel.last_error.contains("rolled back")
            )
            .order_by(JobModel.created_at.desc())
            .first()
        )
        if job is None:
            return
        if record.started_at is None:
            record.started_at = self.clock.now
            record.notes["job_id"] = job.id
            version = self.engine.certificates.get_version(record.notes["old_version"])
            served = (self.target_dirs[record.certificate_id] / "cert.pem").read_text()
            record.notes["rolled_back_to_old"] = served == split_chain(version.pem_chain)[0]
            record.notes["error"] = job.last_error
            broken = self.workdir / "reload-broken"

            def repair() -> None:
                broken.unlink()
                record.ended_at = self.clock.now

            self._at(self.clock.now + timedelta(seconds=RELOAD_FAULT_SECONDS), repair, "reload repaired")

    def _agent_fault(self) -> None:
        """The agent goes silent for a week around its certificate's next renewal."""
        assert self.agent is not None and self.agent_cert is not None
        due = self._due_at(self.agent_cert)
        start = max(due - timedelta(days=3), self.clock.now + timedelta(hours=1))
        end = start + timedelta(days=7)
        record = FaultRecord("agent_offline", started_at=start, ended_at=end, certificate_id=self.agent_cert)
        record.notes["old_version"] = self.engine.certificates.current_version(self.agent_cert).id
        self.faults["agent_offline"] = record
        agent = self.agent

        def leave() -> None:
            agent.online = False

        def come_back() -> None:
            agent.online = True

        self._at(start, leave, "agent silent")
        self._at(end, come_back, "agent back")

    def _notifier_fault(self) -> None:
        self.receiver.down = True
        self.faults["notifier_down"] = FaultRecord("notifier_down", started_at=self.clock.now)

    def _observe_notifier(self) -> None:
        record = self.faults.get("notifier_down")
        if record is None or "first_refusal" in record.notes or not self.receiver.refused():
            return
        record.notes["first_refusal"] = self.clock.now

        def back() -> None:
            self.receiver.down = False
            record.ended_at = self.clock.now
            record.notes["refused"] = dict(self.receiver.refused())

        self._at(self.clock.now + NOTIFIER_DOWN, back, "notifier back")

    def _issuer_fault(self) -> None:
        """The local CA refuses (its issuer disabled) for one day, from just before the next renewals."""
        live = [c for c in self.cert_ids if self.engine.certificates.current_version(c) is not None]
        due = min(d for d in (self._due_at(c) for c in live) if d > self.clock.now)
        start, end = due - timedelta(minutes=30), due - timedelta(minutes=30) + timedelta(days=1)
        record = FaultRecord("issuer_outage", started_at=start, ended_at=end)
        record.notes["affected"] = sorted(c for c in live if start <= self._due_at(c) < end)
        self.faults["issuer_outage"] = record
        self._at(start, lambda: self.engine.issuers.update("iss-local", actor=ADMIN, enabled=False), "issuer off")
        self._at(end, lambda: self.engine.issuers.update("iss-local", actor=ADMIN, enabled=True), "issuer on")

    # ------------------------------------------------------------------ pebble
    def _queue_pebble_renewals(self) -> None:
        """Renewal jobs for pebble certificates whose simulated lifetime says they are due."""
        lifetime = timedelta(days=self.scale.validity_days - self.scale.window_days)
        for cert_id in self.pebble_certs:
            version = self.engine.certificates.current_version(cert_id)
            if version is None:
                continue
            known = self._pebble_due.get(cert_id)
            if known is None or known[0] != version.id:
                self._pebble_due[cert_id] = (version.id, version.created_at + lifetime)
            if self.clock.now >= self._pebble_due[cert_id][1] and (
                self.engine.jobs.active_for(cert_id, JobType.RENEWAL) is None
            ):
                self.engine.jobs.create(JobType.RENEWAL, cert_id, actor=ADMIN, details={"reason": "soak: pebble due"})

    # ------------------------------------------------------------------ stepping
    def _next_work(self, now: datetime) -> datetime | None:
        """The first moment a short loop has something to do (see the module docstring)."""
        moments: list[datetime] = []
        job = JobModel.select(peewee.fn.MIN(JobModel.scheduled_at)).where(JobModel.status == JobStatus.PENDING.value)
        if (first := job.scalar()) is not None:
            moments.append(first)
        note = NotificationModel.select(peewee.fn.MIN(NotificationModel.next_attempt_at)).where(
            (NotificationModel.status == NotificationStatus.PENDING.value)
            & NotificationModel.channel_ref.is_null(False)
        )
        if (first := note.scalar()) is not None:
            moments.append(first)
        cursor = StoreMetaModel.get_or_none(StoreMetaModel.key == CURSOR_KEY)
        latest = AuditEventModel.select(peewee.fn.MAX(AuditEventModel.sequence)).scalar() or 0
        if cursor is not None and int(cursor.value) < latest:
            moments.append(now)
        for days in self.scale.thresholds:
            horizon = now + timedelta(days=days)
            soonest = (
                CertificateModel.select(peewee.fn.MIN(CertificateModel.expires_at))
                .where(
                    (CertificateModel.expires_at > horizon)
                    & CertificateModel.current_version_id.is_null(False)
                    & CertificateModel.status.in_(LIVE)
                )
                .scalar()
            )
            if soonest is not None:
                moments.append(soonest - timedelta(days=days))
        if self.agent is not None and not self.agent.online:
            row = self.engine.agents.get(self.agent.id)
            if row.status is AgentStatus.ONLINE and row.last_heartbeat_at is not None:
                moments.append(row.last_heartbeat_at + HEARTBEAT_TIMEOUT + timedelta(seconds=1))
        return min(moments) if moments else None

    def _next_time(self, now: datetime, end: datetime) -> datetime:
        candidates = [self.driver.next_long(), end, START + MONTH * (self._month(now) + 1)]
        if self.events:
            candidates.append(self.events[0].at)
        if self._pebble_due:
            candidates.extend(due for _, due in self._pebble_due.values())
        short = self.driver.next_short()
        if now < self._busy_until:
            candidates.append(short)
        work = self._next_work(now)
        if work is not None:
            candidates.append(max(work, short))
        return max(min(candidates), now + timedelta(seconds=1))

    @staticmethod
    def _month(now: datetime) -> int:
        return int((now - START) / MONTH)

    def run(self, *, progress: Callable[[MonthFigures], None] | None = None) -> SoakReport:
        started = time.perf_counter()
        end = START + timedelta(days=self.scale.days)
        month = 0
        while self.clock.now < end:
            now = self.clock.now
            while self.events and self.events[0].at <= now:
                event = self.events.pop(0)
                event.action()
                if event.name != "issue":  # an issuance is a pending job, which the work queries see
                    self._busy_until = now + BUSY_AFTER_EVENT
            if self.agent is not None:
                self.agent.step(now)
            self._queue_pebble_renewals()
            took = self.driver.run_due()
            if took:
                self.ticks += 1
                self._tick_ms[month].append(sum(wall for wall, _ in took.values()) * 1000)
                self._tick_cpu_ms[month].append(sum(cpu for _, cpu in took.values()) * 1000)
                if "renewal_check" in took:
                    self._check_ms[month].append(took["renewal_check"][0] * 1000)
            self._check_not_expired(now)
            self._observe_reload()
            self._observe_notifier()
            following = self._next_time(now, end)
            if self._month(following) != month or following >= end:
                figures = self._close_month(month, min(following, end))
                if progress is not None:
                    progress(figures)
                month = self._month(following)
            self.clock.now = following
        self._check_deployed(self.clock.now)
        return SoakReport(
            scale=self.scale,
            months=self.months,
            expired_unrenewed=self.expired,
            loop_errors=self.driver.errors,
            deployment_mismatches=self.mismatches,
            faults=self.faults,
            ticks=self.ticks,
            loop_runs=self.driver.runs,
            wall_seconds=time.perf_counter() - started,
            ended_at=self.clock.now,
        )

    # ------------------------------------------------------------------ checks while running
    def _check_not_expired(self, now: datetime) -> None:
        """Every issued certificate's current version is still valid at this tick."""
        rows = (
            CertificateModel.select(CertificateModel.id, CertificateModel.expires_at)
            .where(
                (CertificateModel.expires_at <= now)
                & CertificateModel.current_version_id.is_null(False)
                & CertificateModel.status.in_(LIVE)
            )
            .tuples()
        )
        for cert_id, expires_at in rows:
            if not any(c == cert_id for c, _, _ in self.expired):
                self.expired.append((cert_id, expires_at, now))

    def _check_deployed(self, now: datetime) -> None:
        """Each target holds (NGINX: serves) its certificate's current version, unless a deployment is under way."""
        busy = {
            cert_id
            for (cert_id,) in JobModel.select(JobModel.certificate)
            .where(
                (JobModel.type.in_([JobType.DEPLOYMENT.value, JobType.RENEWAL.value, JobType.ISSUANCE.value]))
                & JobModel.status.in_([s.value for s in ACTIVE_JOB_STATUSES])
            )
            .tuples()
        }
        for cert_id in [*self.cert_ids, *self.pebble_certs]:
            version = self.engine.certificates.current_version(cert_id)
            if version is None or cert_id in busy:
                continue
            if cert_id == self.nginx_cert and self.nginx is not None:
                served = served_serial(self.nginx.port)
                if served != int(version.serial_number, 16):
                    self.mismatches.append((now, cert_id, f"nginx serves serial {served:x}"))
                continue
            path = self.target_dirs[cert_id] / "cert.pem"
            if not path.exists() or path.read_text() != split_chain(version.pem_chain)[0]:
                self.mismatches.append((now, cert_id, f"{path} does not hold version {version.id}"))

    def _close_month(self, month: int, until: datetime) -> MonthFigures:
        self._check_deployed(self.clock.now)
        begin = START + MONTH * month
        db = self.engine.store.database
        size = int(db.execute_sql("PRAGMA page_count").fetchone()[0]) * int(
            db.execute_sql("PRAGMA page_size").fetchone()[0]
        )

        def completed(kind: JobType) -> int:
            return (
                JobModel.select()
                .where(
                    (JobModel.type == kind.value)
                    & (JobModel.status == JobStatus.COMPLETED.value)
                    & (JobModel.completed_at >= begin)
                    & (JobModel.completed_at < until)
                )
                .count()
            )

        alerts = (
            NotificationModel.select()
            .where((NotificationModel.sent_at >= begin) & (NotificationModel.sent_at < until))
            .count()
        )
        ticks = self._tick_ms.get(month, [])
        cpu = self._tick_cpu_ms.get(month, [])
        checks = self._check_ms.get(month, [])
        figures = MonthFigures(
            month=month + 1,
            store_bytes=size,
            growth_bytes=size - self._last_store,
            ticks=len(ticks),
            tick_p50_ms=statistics.median(ticks) if ticks else 0.0,
            tick_max_ms=max(ticks) if ticks else 0.0,
            tick_cpu_mean_ms=statistics.fmean(cpu) if cpu else 0.0,
            renewal_check_p50_ms=statistics.median(checks) if checks else 0.0,
            renewals=completed(JobType.RENEWAL),
            deployments=completed(JobType.DEPLOYMENT),
            alerts=alerts,
        )
        self._last_store = size
        self.months.append(figures)
        return figures

    def close(self) -> None:
        self.engine.close()
        self.receiver.close()


# ---------------------------------------------------------------------- reading the outcome
def versions_by_certificate(engine: Engine, cert_ids: list[str]) -> dict[str, list[Any]]:
    return {c: sorted(engine.certificates.list_versions(c), key=lambda v: v.created_at) for c in cert_ids}


def jobs_of(kind: JobType) -> Iterator[JobModel]:
    return iter(JobModel.select().where(JobModel.type == kind.value))


def deployment_gaps(engine: Engine, cert_ids: list[str]) -> list[str]:
    """Versions (other than one still being deployed at the end) with a mapped target that never got them."""
    gaps: list[str] = []
    done: dict[tuple[str, str], list[JobModel]] = defaultdict(list)
    for job in jobs_of(JobType.DEPLOYMENT):
        if job.status == JobStatus.COMPLETED.value:
            done[(job.certificate_id, (job.details or {}).get("version_id", ""))].append(job)
    for cert_id, versions in versions_by_certificate(engine, cert_ids).items():
        targets = engine.certificates.get(cert_id).target_ids
        for version in versions:
            jobs = done.get((cert_id, version.id), [])
            if sorted(j.target_id for j in jobs) != sorted(targets):
                active = engine.jobs.active_for(cert_id, JobType.RENEWAL) is not None or any(
                    j.status in ACTIVE_JOB_STATUSES
                    for j in engine.jobs.list(type=JobType.DEPLOYMENT, certificate_id=cert_id, limit=5).items
                )
                if not (active and version is versions[-1]):
                    gaps.append(f"{cert_id} version {version.id}: deployed to {[j.target_id for j in jobs]}")
            for job in jobs:
                if job.target_id == "tgt-nginx" and job.verification_status != VerificationStatus.SUCCESS.value:
                    gaps.append(f"{cert_id} version {version.id}: NGINX verification {job.verification_status}")
    return gaps


def expiry_alerts() -> dict[tuple[str, int], int]:
    """How many expiry alerts were queued per (version, threshold), over all channels."""
    counts: Counter[tuple[str, int]] = Counter()
    for row in NotificationModel.select().where(
        NotificationModel.type.in_(["ExpirationWarning", "CertificateExpired"])
    ):
        details = row.details or {}
        counts[(str(details.get("version_id")), int(details.get("threshold_days", -1)))] += 1
    return dict(counts)


def timestamps_before(moment: datetime) -> list[str]:
    """Rows stamped before simulated day 0: the mark of a stray real-time clock read."""
    found: list[str] = []
    for model, column in (
        (AuditEventModel, AuditEventModel.timestamp),
        (JobModel, JobModel.created_at),
        (JobModel, JobModel.updated_at),
        (CertificateVersionModel, CertificateVersionModel.created_at),
        (NotificationModel, NotificationModel.created_at),
        (CertificateModel, CertificateModel.updated_at),
    ):
        count = model.select().where(column < moment).count()
        if count:
            found.append(f"{model.__name__}.{column.name}: {count} row(s)")
    return found


def audit_out_of_order() -> int:
    """Audit events stamped earlier than the event before them (a clock read that went back)."""
    previous: datetime | None = None
    backwards = 0
    for (stamp,) in AuditEventModel.select(AuditEventModel.timestamp).order_by(AuditEventModel.sequence).tuples():
        if previous is not None and stamp < previous:
            backwards += 1
        previous = stamp
    return backwards


def flatness(months: list[MonthFigures]) -> dict[str, tuple[float, float]]:
    """(early, late) figures: months 2-4 (after the staggered first issuance) against the last three."""
    full = [m for m in months if m.ticks]
    early, late = full[1:4], full[-4:-1] if len(full) > 4 else full[-3:]
    return {
        "tick_p50_ms": (
            statistics.median(m.tick_p50_ms for m in early),
            statistics.median(m.tick_p50_ms for m in late),
        ),
        "tick_cpu_mean_ms": (
            statistics.median(m.tick_cpu_mean_ms for m in early),
            statistics.median(m.tick_cpu_mean_ms for m in late),
        ),
        "growth_bytes": (
            statistics.median(m.growth_bytes for m in early),
            statistics.median(m.growth_bytes for m in late),
        ),
    }

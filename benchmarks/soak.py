"""Time-travel soak at full size: the real engine and its scheduler loops on a simulated clock.

    python benchmarks/soak.py [--years 2] [--certs 1000] [--pebble 0] [--no-nginx] [--no-faults]

The world and the way time is driven are those of ``tests/soak`` (see
``tests/soak/simulation.py``): local-CA certificates with 47-day lifetimes renewed at a third
of their lifetime left, each deployed to its own Files target, one to a real NGINX on
loopback (verification on), one through a simulated agent, alerts to a loopback webhook;
the reload, agent-offline and notifier-down faults are injected on the way. Per simulated
month it prints the store size and its growth, the scheduler ticks with their p50 and
maximum time, the renewal check's p50, and the renewals, deployments and alerts done; at
the end it checks what ``tests/soak`` asserts and prints each outcome. It reports; it is
not a test.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import signal
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from soak.conftest import OPERATOR_INTERVALS
from soak.simulation import (
    MONTH_HEADER,
    START,
    Soak,
    SoakScale,
    audit_out_of_order,
    deployment_gaps,
    expiry_alerts,
    flatness,
    timestamps_before,
    versions_by_certificate,
)
from tls_servers import LeafIssuer, NginxServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=float, default=2.0, help="simulated years (default 2)")
    parser.add_argument("--certs", type=int, default=1000, help="local-CA certificates (default 1000)")
    parser.add_argument("--pebble", type=int, default=0, help="certificates from a pebble on loopback (default 0)")
    parser.add_argument("--no-nginx", action="store_true", help="no real NGINX target")
    parser.add_argument("--no-faults", action="store_true", help="no injected faults")
    args = parser.parse_args(argv)
    # A stopped run still stops its NGINX and removes its files (the finally blocks below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.certs < 3:
        parser.error("--certs must be at least 3 (NGINX, agent and reload-fault certificates)")
    scale = SoakScale(
        certificates=args.certs,
        days=round(args.years * 365),
        pebble_certificates=args.pebble,
        nginx=not args.no_nginx,
        faults=() if args.no_faults else SoakScale().faults,
        intervals=OPERATOR_INTERVALS,
    )
    print(f"certctl soak benchmark on {platform.python_implementation()} {platform.python_version()}")
    print(f"scale: {scale.describe()}")
    print(f"intervals: {dict(OPERATOR_INTERVALS)} (the other loops at their defaults)")
    workdir = Path(tempfile.mkdtemp(prefix="certctl-soak-"))
    peers: dict[str, Any] = {}
    try:
        if scale.nginx:
            nginx = NginxServer(workdir / "nginx")
            (workdir / "nginx").mkdir()
            nginx.start(LeafIssuer().issue())
            peers["nginx"] = nginx
        if scale.pebble_certificates:
            from acme_server import Pebble, free_port

            peers["pebble"] = Pebble(workdir / "pebble", http_port=free_port()).start()
        soak = Soak(scale, workdir / "world", **peers)
        try:
            print(MONTH_HEADER, flush=True)
            report = soak.run(progress=lambda m: print(m.row(), flush=True))
            print(f"\n{report.ticks} ticks, {sum(report.loop_runs.values())} loop runs in {report.wall_seconds:.0f} s")
            return _verdicts(soak, report)
        finally:
            soak.close()
    finally:
        for peer in peers.values():
            peer.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _verdicts(soak: Soak, report: Any) -> int:
    every = [*soak.cert_ids, *soak.pebble_certs]
    versions = [v for vs in versions_by_certificate(soak.engine, every).values() for v in vs]
    alerts = expiry_alerts()
    accepted = soak.receiver.accepted()
    shape = flatness(report.months)
    checks = {
        "no certificate passed not_after unrenewed": not report.expired_unrenewed,
        "no scheduler loop raised": not report.loop_errors,
        "every version deployed to every target (NGINX verified)": not deployment_gaps(soak.engine, every),
        "targets held the current version at every month end": not report.deployment_mismatches,
        "fingerprints unique": len({v.fingerprint_sha256 for v in versions}) == len(versions),
        "each expiry threshold queued once per version": set(alerts.values()) <= {1},
        "each alert delivered to the webhook exactly once": set(accepted.values()) <= {1},
        "audit chain verifies": soak.engine.audit.verify().ok,
        "no timestamp from the wall clock": not timestamps_before(START) and audit_out_of_order() == 0,
        "faults met and survived": all(f.ended_at is not None for f in report.faults.values()),
    }
    print(
        f"\nversions {len(versions)}, expiry alerts {sum(alerts.values())} "
        f"({dict(Counter(t for _, t in alerts))} by threshold), webhook deliveries {sum(accepted.values())}"
    )
    for name, (early, late) in shape.items():
        print(f"{name}: months 2-4 {early:.2f}, last three {late:.2f} (ratio {late / early if early else 0:.2f})")
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())

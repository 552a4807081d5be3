"""Deployment benchmark: N certificates to one NGINX, one reload per certificate against one per batch.

    python benchmarks/deploy.py [--count 200]

A real nginx (Debian package ``nginx``) runs on a loopback port from a temporary directory
with N ``server`` blocks, one per name ``siteI.example.test``, each including the lines
``snippet_for`` gives for its target (``ssl_certificate``/``ssl_certificate_key`` in its
own files). A local CA (P-256) issues two leaves per name, so each round deploys new files.

1. Per certificate: ``NginxConnector.deploy`` N times, each writing two files atomically,
   running ``nginx -t`` (which loads all N certificates) and ``nginx -s reload``.
2. Per batch: ``NginxConnector.deploy_batch`` once with all N: the same 2N writes, one
   ``nginx -t`` and one reload.
3. Unchanged: the batch again with the same versions: SHA-256 comparison only, no write,
   no command.

After each round every name is fetched over TLS with its SNI and must present the serial
just deployed (after the reload settles); that check is not timed. Time per certificate
and the ratio are printed. This is a benchmark, not a test: it reports.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from tls_servers import LeafIssuer, NginxServer, serial_of, served_serial, write_initial

from certctl_engine.connectors.targets.base import DeploymentBundle
from certctl_engine.connectors.targets.common import run_command
from certctl_engine.connectors.targets.nginx import NginxConnector
from certctl_engine.connectors.targets.snippets import snippet_for
from certctl_engine.domain import TargetType


@dataclass
class ManySites(NginxServer):
    """One nginx with ``count`` TLS server blocks, each on its own certificate files."""

    count: int = 200

    def site_config(self, i: int) -> dict[str, Any]:
        return self.target_config(
            fullchain_file=f"site{i}.crt", key_file=f"site{i}.key", check_after_reload=False, server_name=name(i)
        )

    def start_sites(self, first: list[DeploymentBundle]) -> None:
        write_initial(self.certs, first[0])
        for i, bundle in enumerate(first):
            (self.certs / f"site{i}.crt").write_text(bundle.fullchain_pem)
            (self.certs / f"site{i}.key").write_text(bundle.key_pem or "")
            (self.certs / f"site{i}.conf").write_text(snippet_for(TargetType.NGINX, self.site_config(i)))
        (self.certs / "ssl.conf").write_text(snippet_for(TargetType.NGINX, self.site_config(0)))
        self.write_conf()
        conf = self.conf.read_text()
        blocks = "".join(
            f"  server {{\n    listen 127.0.0.1:{self.port} ssl;\n    server_name {name(i)};\n"
            f"    include {self.certs}/site{i}.conf;\n    return 200 'ok';\n  }}\n"
            for i in range(self.count)
        )
        self.conf.write_text(conf.rstrip().removesuffix("}") + blocks + "}\n")
        self._spawn([self.binary, "-p", str(self.workdir), "-c", str(self.conf), "-e", str(self.workdir / "error.log")])


def name(i: int) -> str:
    return f"site{i}.example.test"


def check_served(server: ManySites, bundles: list[DeploymentBundle], timeout: float = 20.0) -> None:
    """Every name presents its newly deployed serial (nginx reloads asynchronously)."""
    deadline = time.monotonic() + timeout
    for i, bundle in enumerate(bundles):
        while served_serial(server.port, name(i)) != serial_of(bundle):
            if time.monotonic() > deadline:
                raise SystemExit(f"{name(i)} still serves an old certificate after {timeout:g}s")
            time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    args = parser.parse_args()
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        raise SystemExit("nginx is not installed: apt-get install -y nginx")
    count = args.count
    ca = LeafIssuer()
    connector = NginxConnector()
    with tempfile.TemporaryDirectory(prefix="certctl-deploy-bench-") as tmp:
        server = ManySites(Path(tmp), binary=binary, count=count)
        started = time.perf_counter()
        server.start_sites([ca.issue(name(i)) for i in range(count)])
        print(f"nginx {server.port}: {count} TLS server blocks up in {time.perf_counter() - started:.2f}s")
        try:
            configs = [server.site_config(i) for i in range(count)]
            one_test = time.perf_counter()
            run_command(connector.test_argv(configs[0]), what="nginx -t")
            test_seconds = time.perf_counter() - one_test

            per_cert = [ca.issue(name(i)) for i in range(count)]
            started = time.perf_counter()
            for bundle, config in zip(per_cert, configs, strict=True):
                connector.deploy(bundle, config)
            per_cert_seconds = time.perf_counter() - started
            check_served(server, per_cert)

            batch = [ca.issue(name(i)) for i in range(count)]
            started = time.perf_counter()
            result = connector.deploy_batch(list(zip(batch, configs, strict=True)))
            batch_seconds = time.perf_counter() - started
            check_served(server, batch)
            assert result.changed and result.details["written"] == 2 * count

            started = time.perf_counter()
            again = connector.deploy_batch(list(zip(batch, configs, strict=True)))
            unchanged_seconds = time.perf_counter() - started
            assert not again.changed
        finally:
            server.stop()

    print(f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}")
    print(f"one `nginx -t` with {count} certificates: {test_seconds * 1000:.0f} ms")
    print(f"{'mode':<34}{'total':>10}{'per certificate':>18}{'reloads':>9}")
    rows = [
        ("one test + reload per certificate", per_cert_seconds, count),
        ("one test + reload per batch", batch_seconds, 1),
        ("unchanged batch (SHA-256 only)", unchanged_seconds, 0),
    ]
    for label, seconds, reloads in rows:
        print(f"{label:<34}{seconds:>9.2f}s{seconds / count * 1000:>15.2f} ms{reloads:>9}")
    print(f"batch is {per_cert_seconds / batch_seconds:.1f}x faster per certificate; every name served its new serial")


if __name__ == "__main__":
    main()

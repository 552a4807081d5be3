"""ACME benchmark: certificates from pebble through certctl against the same with certbot.

    python benchmarks/acme_issuance.py [--count 20] [--certbot-venv DIR]

Starts Debian's pebble and pebble-challtestsrv on loopback (the harness the tests use,
tests/acme_server.py), then issues ``--count`` certificates (HTTP-01, one name each):

1. certctl: a fresh SQLite store, one ACME issuer pointing at pebble with certctl's
   standalone HTTP-01 responder, ``--count`` registered certificates, then
   ``engine.issuance.issue_many`` (account registration included, timed end to end; its
   orders run side by side); then ``--count`` more with ``engine.issuance.issue`` one call
   each, for reference;
2. certbot: ``certbot certonly --standalone`` once per certificate, as an operator would
   script it, against the same pebble (its own account, the same HTTP-01 port), each run a
   new process. certbot comes from PyPI, installed into the benchmark's own venv
   (``--certbot-venv``, default ``~/.cache/certctl-bench/certbot``) on first use.

pebble runs without its deliberate nonce rejections (certbot stops after two in a row). Wall
time of each, per certificate, and the ratio (target: certctl faster) are printed.
Both issued sets are checked to chain to pebble's root. This is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The pebble harness the tests use.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from acme_server import Pebble, free_port, missing_binaries

from certctl_engine.domain import Actor
from certctl_engine.engine import Engine
from certctl_engine.pki import load_certificates

ACTOR = Actor("benchmark")
CERTBOT_SPEC = "certbot>=5,<6"


def ensure_certbot(venv: Path) -> Path:
    certbot = venv / "bin" / "certbot"
    if certbot.exists():
        return certbot
    print(f"  installing {CERTBOT_SPEC} into {venv} (first run only)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", CERTBOT_SPEC], check=True)
    return certbot


def verify(root_pem: str, chain_pem: str, tmp: Path) -> bool:
    (tmp / "root.pem").write_text(root_pem)
    marker = "-----END CERTIFICATE-----\n"
    leaf, _, rest = chain_pem.partition(marker)
    (tmp / "leaf.pem").write_text(leaf + marker)
    (tmp / "chain.pem").write_text(rest)
    done = subprocess.run(
        ["openssl", "verify", "-CAfile", "root.pem", "-untrusted", "chain.pem", "leaf.pem"],
        cwd=tmp,
        capture_output=True,
    )
    return done.returncode == 0


def run_certctl(pebble: Pebble, count: int, tmp: Path) -> tuple[float, float, list[str]]:
    with Engine.open(str(tmp / "certctl.db"), env={"CERTCTL_HOME": str(tmp)}) as engine:
        engine.issuers.create(
            "pebble",
            "ACME",
            {
                "directory_url": pebble.directory_url,
                "ca_bundle": pebble.ca_bundle,
                "http_address": f"127.0.0.1:{pebble.http_port}",
            },
            actor=ACTOR,
            id="iss-pebble",
        )
        ids, singles = (
            [
                engine.certificates.create(
                    name=f"{prefix}{i}",
                    common_name=f"certctl-{prefix}{i}.example.com",
                    issuer_id="iss-pebble",
                    actor=ACTOR,
                    queue_issuance=False,  # issued at once below
                ).id
                for i in range(count)
            ]
            for prefix in ("b", "s")
        )
        start = time.perf_counter()
        result = engine.issuance.issue_many(ids, actor=ACTOR)
        elapsed = time.perf_counter() - start
        if result.failed:
            raise SystemExit(f"certctl failed: {result.failed[0]}")
        start = time.perf_counter()
        for cert_id in singles:
            engine.issuance.issue(cert_id, actor=ACTOR)
        one_by_one = time.perf_counter() - start
        return elapsed, one_by_one, [v.pem_chain for v in result.issued]


def run_certbot(certbot: Path, pebble: Pebble, count: int, tmp: Path) -> tuple[float, list[str]]:
    env = {**os.environ, "REQUESTS_CA_BUNDLE": pebble.ca_bundle}
    dirs = ["--config-dir", str(tmp / "cb"), "--work-dir", str(tmp / "cb-work"), "--logs-dir", str(tmp / "cb-logs")]
    chains: list[str] = []
    start = time.perf_counter()
    for i in range(count):
        name = f"certbot-{i}.example.com"
        done = subprocess.run(
            [
                str(certbot), "certonly", "--standalone", "--non-interactive", "--agree-tos",
                "--register-unsafely-without-email", "--server", pebble.directory_url,
                "--http-01-address", "127.0.0.1", "--http-01-port", str(pebble.http_port),
                "--key-type", "ecdsa", "-d", name, *dirs,
            ],
            env=env,
            capture_output=True,
            text=True,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"certbot failed for {name}:\n{done.stdout}\n{done.stderr}")
        chains.append((tmp / "cb" / "live" / name / "fullchain.pem").read_text())
    return time.perf_counter() - start, chains


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20, help="certificates each (default 20)")
    parser.add_argument(
        "--certbot-venv", type=Path, default=Path.home() / ".cache" / "certctl-bench" / "certbot", help="certbot's venv"
    )
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be positive")
    if missing_binaries():
        raise SystemExit(f"needs {', '.join(missing_binaries())} (apt-get install pebble openssl)")
    print("certctl ACME benchmark")
    print(f"  python {platform.python_version()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    certbot = ensure_certbot(args.certbot_venv)
    version = subprocess.run([str(certbot), "--version"], capture_output=True, text=True).stdout.strip()
    print(f"  {version}, pebble {shutil.which('pebble')}")
    with tempfile.TemporaryDirectory(prefix="certctl-acme-bench-") as name:
        tmp = Path(name)
        # No deliberate nonce rejections: certbot gives up after two in a row, which is noise here.
        pebble = Pebble(tmp / "pebble", http_port=free_port(), nonce_reject_percent=0).start()
        try:
            (tmp / "certctl").mkdir()
            (tmp / "certbot").mkdir()
            ours, ours_single, our_chains = run_certctl(pebble, args.count, tmp / "certctl")
            theirs, their_chains = run_certbot(certbot, pebble, args.count, tmp / "certbot")
            root = pebble.root_pem()
            ok_ours = all(verify(root, c, tmp) for c in our_chains)
            ok_theirs = all(verify(root, c, tmp) for c in their_chains)
            names = {load_certificates(c.encode())[0].subject.rfc4514_string() for c in our_chains}
        finally:
            pebble.stop()
    print()
    print(f"  certctl issue_many, {args.count} certificates: {ours:7.2f} s  {ours / args.count * 1000:7.0f} ms/cert")
    print(
        f"  certctl issue x {args.count} (one call each):  {ours_single:7.2f} s  "
        f"{ours_single / args.count * 1000:7.0f} ms/cert  ({ours_single / theirs:.2f}x certbot)"
    )
    print(f"  certbot certonly x {args.count}:             {theirs:7.2f} s  {theirs / args.count * 1000:7.0f} ms/cert")
    ratio = ours / theirs
    print(f"  certctl / certbot: {ratio:.2f}x  (target < 1x: {'PASS' if ratio < 1 else 'MISS'})")
    print(f"  chains verify against pebble's root: certctl {ok_ours}, certbot {ok_theirs}; {len(names)} distinct names")
    return 0


if __name__ == "__main__":
    sys.exit(main())

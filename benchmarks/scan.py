"""Network discovery benchmark: 1,000 loopback TLS endpoints scanned by certctl and by nmap.

    python benchmarks/scan.py [--hosts 10] [--ports 100] [--concurrency 50]

A separate process opens ``hosts`` x ``ports`` TLS listeners on 127.0.0.1 ... 127.0.0.N
(default 1,000), each serving its own leaf under one test root. Then, in one run:

1. certctl: a scan target over those addresses and ports (loopback explicitly allowed),
   ``engine.discovery.scan_target`` end to end: probes, parsing, and storing every served
   certificate in a fresh SQLite store;
2. nmap: ``nmap -Pn -n -sT --script ssl-cert`` over the same addresses and ports, which
   connects, handshakes and prints each certificate.

Wall times, the ratio (target: certctl faster) and the number of leaves each found are
printed. This is a benchmark, not a test: it reports and always exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from certctl_engine.domain import Actor
from certctl_engine.engine import Engine
from certctl_engine.pki import build_leaf, certificate_to_pem, create_root_ca, generate_private_key, private_key_to_pem

ACTOR = Actor("benchmark")


def _free_ports(count: int) -> list[int]:
    import socket

    sockets, ports = [], []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)
        ports.append(sock.getsockname()[1])
    for sock in sockets:
        sock.close()
    return ports


def make_files(directory: Path, count: int) -> list[tuple[Path, Path]]:
    ca = create_root_ca(common_name="Scan Benchmark Root")
    now = datetime.now(UTC)
    pairs = []
    for index in range(count):
        key = generate_private_key()
        leaf = build_leaf(
            issuer_cert=ca.certificate,
            issuer_key=ca.key,
            public_key=key.public_key(),
            common_name=f"svc{index}.scan.example.com",
            sans=[f"svc{index}.scan.example.com"],
            not_before=now - timedelta(minutes=5),
            not_after=now + timedelta(days=30),
        )
        cert, key_file = directory / f"c{index}.pem", directory / f"k{index}.pem"
        cert.write_text(certificate_to_pem(leaf) + ca.certificate_pem)
        key_file.write_bytes(private_key_to_pem(key))
        pairs.append((cert, key_file))
    return pairs


def serve(endpoints: list[tuple[str, int]], files: list[tuple[Path, Path]], ready: multiprocessing.Event) -> None:
    async def main() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.close()

        for (host, port), (cert, key) in zip(endpoints, files, strict=True):
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert, key)
            await asyncio.start_server(handle, host, port, ssl=context, backlog=128)
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=10, help="loopback addresses 127.0.0.1.. (default 10)")
    parser.add_argument("--ports", type=int, default=100, help="ports per address (default 100)")
    parser.add_argument("--concurrency", type=int, default=100, help="certctl's concurrent probes (default 100)")
    args = parser.parse_args(argv)
    nmap = shutil.which("nmap")
    print("certctl network scan benchmark")
    print(f"  python {platform.python_version()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    hosts = [f"127.0.0.{i}" for i in range(1, args.hosts + 1)]
    ports = _free_ports(args.ports)
    endpoints = [(h, p) for h in hosts for p in ports]
    with tempfile.TemporaryDirectory(prefix="certctl-scan-bench-") as name:
        tmp = Path(name)
        files = make_files(tmp, len(endpoints))
        ready = multiprocessing.Event()
        server = multiprocessing.Process(target=serve, args=(endpoints, files, ready), daemon=True)
        server.start()
        if not ready.wait(120):
            raise SystemExit("the listeners did not start")
        try:
            with Engine.open(str(tmp / "certctl.db"), env={"CERTCTL_HOME": str(tmp)}) as engine:
                target = engine.discovery.create_target(
                    "bench", [f"{h}/32" for h in hosts], ports=ports, allow_reserved=True, actor=ACTOR
                )
                start = time.perf_counter()
                result = engine.discovery.scan_target(target.id, actor=ACTOR, concurrency=args.concurrency)
                ours = time.perf_counter() - start
                leaves = _count_leaves(engine)
            print(f"  {len(endpoints):,} endpoints ({len(hosts)} addresses x {len(ports)} ports)")
            print(
                f"  certctl scan_target (concurrency {args.concurrency}): {ours:7.2f} s, "
                f"{result.certificates_found:,} certificates stored, {leaves:,} leaves"
            )
            if nmap is None:
                print("  nmap: not installed (apt-get install nmap); comparison skipped")
                return 0
            port_list = ",".join(str(p) for p in ports)
            start = time.perf_counter()
            done = subprocess.run(
                [nmap, "-Pn", "-n", "-sT", "-p", port_list, "--script", "+ssl-cert", *hosts],
                capture_output=True,
                text=True,
            )
            theirs = time.perf_counter() - start
            found = len(re.findall(r"ssl-cert: Subject: commonName=svc", done.stdout))
            print(f"  nmap --script ssl-cert:                  {theirs:7.2f} s, {found:,} certificates printed")
            ratio = ours / theirs
            print(f"  certctl / nmap: {ratio:.2f}x  (target < 1x: {'PASS' if ratio < 1 else 'MISS'})")
        finally:
            server.terminate()
            server.join(10)
    return 0


def _count_leaves(engine: Engine) -> int:
    from certctl_engine.store.models import DiscoveredCertificateModel

    return DiscoveredCertificateModel.select().where(DiscoveredCertificateModel.is_ca == False).count()  # noqa: E712


if __name__ == "__main__":
    sys.exit(main())

"""OCSP benchmark: certctl's responder against ``openssl ocsp -index ... -port`` on the same certificates.

    python benchmarks/ocsp.py [--count 10000] [--revoked-share 0.1] [--duration 10]
                              [--connections 16] [--threads 2]

On a fresh SQLite store in a temporary directory it creates a GenericCA issuer, issues N
certificates (``issue_many``) and revokes a share of them (keyCompromise). The same data is
written as an openssl CA database (``index.txt``: V or R lines with expiry, revocation time
and reason, serial), and both responders sign with the same delegated responder certificate
and key (the one certctl issued, read from its store). certctl is served by uvicorn in its
own process (``build_app``, as ``certctl engine`` does, without the scheduler); openssl by
``openssl ocsp -index index.txt -port P -rsigner ... -nmin 60`` (one process, as its
default; it binds every interface, so only loopback traffic is sent to it).

Before the load, one good, one revoked and one unknown serial are asked of both with the
``openssl ocsp`` client, and the answers must agree. The comparison is ``hey`` POSTing the
same SHA-1 CertID request (a good certificate, no nonce, as browsers and TLS stacks send
them) for ``--duration`` seconds each:

1. certctl, keep-alive connections (what HTTP/1.1 clients do);
2. certctl, a new connection per request (``-disable-keepalive``, what openssl imposes);
3. openssl ocsp (HTTP/1.0, one request per connection);
3b. the same three with a nonce in the request: every answer is then signed for its request
   on both sides (certctl caches only nonce-less answers, openssl caches nothing), so these
   compare the look-up and the signature rather than the cache;
4. and 5. ``cfssl ocspserve`` (Debian's golang-cfssl, when installed) with and without
   keep-alive, serving the same answers signed ahead of time by the same responder (cfssl
   serves stored answers from ``-responses`` and signs nothing at request time).

One request repeated favours a responder that caches its answers, as certctl does; so
certctl also gets every one of the N requests once before the other runs ("first pass":
each answer is looked up and signed on its first request; Python client threads over
keep-alive connections, timed per request), and after them a ``wrk`` run with a Lua script
that POSTs a different request for each of the N certificates in turn (round robin,
keep-alive, every answer now cached). wrk
cannot be pointed at ``openssl ocsp``: it opens and closes one connection to test the
address before the load, and openssl 3.0's responder then spins on that empty connection
and never answers again.

It prints requests per second, p50/p95/p99 latency, errors, and the ratios (certctl over
openssl for throughput, openssl over certctl for p95; above 1 means certctl is ahead), and
against cfssl in the same connection mode.
It is a benchmark, not a test: it asserts only that the responders agree, and reports.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from certctl_engine.domain import Actor
from certctl_engine.engine import Engine
from certctl_engine.pki import certificate_to_pem, load_certificates, private_key_to_pem
from certctl_engine.services.ocsp_signers import OCSPSignerService, ResponderIdentity
from certctl_engine.store.models import CertificateModel, CertificateVersionModel

ISSUER = "iss-bench"
ACTOR = Actor("bench")

_SERVER = textwrap.dedent(
    """
    import sys, uvicorn
    from certctl_engine.engine import Engine
    from certctl_engine.http import build_app
    store, home, port, http, loop = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
    engine = Engine.open(store, env={"CERTCTL_HOME": home})
    uvicorn.run(
        build_app(engine, env={}), host="127.0.0.1", port=port, log_level="error", lifespan="off", http=http, loop=loop
    )
    """
)

_WRK_SCRIPT = textwrap.dedent(
    """
    local bodies = {}
    local index = 0
    local function unhex(s) return (s:gsub("..", function(cc) return string.char(tonumber(cc, 16)) end)) end
    for line in io.lines(os.getenv("OCSP_REQUESTS")) do bodies[#bodies + 1] = unhex(line) end
    local path = os.getenv("OCSP_PATH")
    request = function()
      index = index % #bodies + 1
      local headers = {["Content-Type"] = "application/ocsp-request"}
      return wrk.format("POST", path, headers, bodies[index])
    end
    done = function(summary, latency, requests)
      io.write(string.format("P50_US %d\\nP95_US %d\\nP99_US %d\\n",
        latency:percentile(50), latency:percentile(95), latency:percentile(99)))
    end
    """
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listening(port: int) -> bool:
    """Whether something listens on ``port``, read from /proc: connecting to ask would occupy a
    single-threaded responder (openssl ocsp) with a connection that never sends a request."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[1].rsplit(":", 1)[1] == f"{port:04X}" and fields[3] == "0A":
                return True
    return False


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        if listening(port):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}")


def openssl_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%y%m%d%H%M%SZ")


def openssl_serial(serial_hex: str) -> str:
    text = format(int(serial_hex, 16), "X")
    return text if len(text) % 2 == 0 else "0" + text


def build_data(work: Path, count: int, revoked_share: float) -> tuple[Path, list[str], list[str]]:
    """Issue and revoke in a fresh store; write ca.pem, responder files and index.txt. Returns serials."""
    store = work / "certctl.db"
    with Engine.open(str(store), env={"CERTCTL_HOME": str(work)}) as engine:
        engine.issuers.create("Bench CA", "GenericCA", {"validity_days": 90}, actor=ACTOR, id=ISSUER)
        engine.ca.init(ISSUER, actor=ACTOR)
        started = time.perf_counter()
        ids = [
            engine.certificates.create(
                name=f"svc-{i}",
                common_name=f"svc-{i}.bench.example.test",
                issuer_id=ISSUER,
                actor=ACTOR,
                queue_issuance=False,  # issued at once below
            ).id
            for i in range(count)
        ]
        result = engine.issuance.issue_many(ids, actor=ACTOR)
        if result.failed:
            raise RuntimeError(f"{len(result.failed)} issuances failed: {result.failed[0].message}")
        print(f"  issued {count} certificates in {time.perf_counter() - started:.1f} s")
        revoked_ids = ids[:: max(1, round(1 / revoked_share))] if revoked_share > 0 else []
        started = time.perf_counter()
        for cert_id in revoked_ids:
            engine.revocation.revoke(cert_id, "keyCompromise", actor=ACTOR)
        print(f"  revoked {len(revoked_ids)} in {time.perf_counter() - started:.1f} s")
        ca = load_certificates(engine.ca.info(ISSUER).certificate_pem.encode())[0]
        (work / "ca.pem").write_text(certificate_to_pem(ca))
        responder = OCSPSignerService(engine.context, engine.audit).current(ISSUER, engine.ca.material(ISSUER))
        (work / "responder.pem").write_text(certificate_to_pem(responder.certificate))
        (work / "responder.key").write_bytes(private_key_to_pem(responder.key))
        os.chmod(work / "responder.key", 0o600)
        revoked_rows = {
            r.certificate_id: r for r in engine.revocation.list_revocations(ISSUER)
        }  # certificate id -> revocation
        lines: list[str] = []
        good: list[str] = []
        bad: list[str] = []
        revoked_at: dict[str, datetime] = {}
        query = (
            CertificateVersionModel.select(
                CertificateVersionModel.serial_number,
                CertificateVersionModel.not_after,
                CertificateModel.id,
                CertificateModel.common_name,
            )
            .join(CertificateModel)
            .where(CertificateModel.issuer == ISSUER)
            .tuples()
        )
        for serial, not_after, cert_id, common_name in query:
            revocation = revoked_rows.get(cert_id)
            if revocation is None:
                lines.append(f"V\t{openssl_time(not_after)}\t\t{openssl_serial(serial)}\tunknown\t/CN={common_name}")
                good.append(serial)
            else:
                revoked_at[serial] = revocation.revoked_at
                when = f"{openssl_time(revocation.revoked_at)},keyCompromise"
                lines.append(
                    f"R\t{openssl_time(not_after)}\t{when}\t{openssl_serial(serial)}\tunknown\t/CN={common_name}"
                )
                bad.append(serial)
        (work / "index.txt").write_text("\n".join(lines) + "\n")
        (work / "index.txt.attr").write_text("unique_subject = no\n")
        requests = []
        for serial in good + bad:
            builder = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
                _issuer_name_hash(ca), _issuer_key_hash(ca), int(serial, 16), hashes.SHA1()
            )
            requests.append(builder.build().public_bytes(Encoding.DER).hex())
        (work / "requests.hex").write_text("\n".join(requests) + "\n")
        write_cfssl_responses(work / "responses.txt", ca, responder, good, bad, revoked_at)
    return store, good, bad


def write_cfssl_responses(
    path: Path,
    ca: x509.Certificate,
    responder: ResponderIdentity,
    good: list[str],
    bad: list[str],
    revoked_at: dict[str, datetime],
) -> None:
    """Every answer signed ahead of time by the same responder, for ``cfssl ocspserve -responses``
    (base64 DER, one per line): cfssl serves stored answers and signs nothing itself."""
    now = datetime.now(UTC).replace(microsecond=0)
    name_hash, key_hash = _issuer_name_hash(ca), _issuer_key_hash(ca)
    lines: list[str] = []
    for serial, status in [(s, ocsp.OCSPCertStatus.GOOD) for s in good] + [
        (s, ocsp.OCSPCertStatus.REVOKED) for s in bad
    ]:
        builder = (
            ocsp.OCSPResponseBuilder()
            .add_response_by_hash(
                name_hash,
                key_hash,
                int(serial, 16),
                hashes.SHA1(),
                status,
                now,
                now + timedelta(hours=1),
                revoked_at.get(serial),
                x509.ReasonFlags.key_compromise if status is ocsp.OCSPCertStatus.REVOKED else None,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, responder.certificate)
            .certificates([responder.certificate])
        )
        signed = builder.sign(responder.key, hashes.SHA256())
        lines.append(base64.b64encode(signed.public_bytes(Encoding.DER)).decode())
    path.write_text("\n".join(lines) + "\n")


def _issuer_name_hash(ca: x509.Certificate) -> bytes:
    digest = hashes.Hash(hashes.SHA1())
    digest.update(ca.subject.public_bytes())
    return digest.finalize()


def _issuer_key_hash(ca: x509.Certificate) -> bytes:
    probe = ocsp.OCSPRequestBuilder().add_certificate(ca, ca, hashes.SHA1()).build()
    return probe.issuer_key_hash


def ask(work: Path, url: str, serial_hex: str) -> str:
    """The status line `openssl ocsp` prints for one serial, or its error."""
    done = subprocess.run(
        ["openssl", "ocsp", "-issuer", str(work / "ca.pem"), "-serial", "0x" + serial_hex, "-url", url,
         "-CAfile", str(work / "ca.pem"), "-no_nonce"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    out = done.stdout + done.stderr
    status = re.search(r"0x[0-9a-fA-F]+: (\w+)", out)
    verified = "Response verify OK" in out
    return f"{status.group(1) if status else 'no status'}{'' if verified else ' (NOT VERIFIED)'}"


def wrk_load(work: Path, port: int, path: str, args: argparse.Namespace) -> dict[str, float]:
    """A round-robin POST load over every certificate's request (wrk + Lua)."""
    env = {**os.environ, "OCSP_REQUESTS": str(work / "requests.hex"), "OCSP_PATH": path}
    done = subprocess.run(
        ["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{args.duration}s", "--timeout", "5s",
         "-s", str(work / "ocsp.lua"), f"http://127.0.0.1:{port}{path}"],
        capture_output=True, text=True, env=env, timeout=args.duration + 60,
    )  # fmt: skip
    out = done.stdout + done.stderr
    if done.returncode != 0:
        raise RuntimeError(out)

    def number(pattern: str) -> float:
        match = re.search(pattern, out)
        return float(match.group(1)) if match else 0.0

    errors = number(r"Non-2xx or 3xx responses: (\d+)")
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if socket_errors:
        errors += sum(int(g) for g in socket_errors.groups())
    return {
        "rps": number(r"Requests/sec:\s+([\d.]+)"),
        "p50": number(r"P50_US (\d+)") / 1000,
        "p95": number(r"P95_US (\d+)") / 1000,
        "p99": number(r"P99_US (\d+)") / 1000,
        "errors": errors,
    }


def first_pass(work: Path, port: int, path: str, connections: int) -> dict[str, float]:
    """Every certificate's request once (so every answer is signed on demand), over keep-alive
    connections from ``connections`` client threads; timed per request."""
    import http.client
    import threading

    bodies = [bytes.fromhex(line) for line in (work / "requests.hex").read_text().split()]
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def client(share: list[bytes]) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine: list[float] = []
        for body in share:
            started = time.perf_counter()
            connection.request("POST", path, body, {"Content-Type": "application/ocsp-request"})
            response = connection.getresponse()
            response.read()
            mine.append(time.perf_counter() - started)
            if response.status != 200:
                errors[0] += 1
        connection.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(bodies[i::connections],)) for i in range(connections)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000

    return {"rps": len(bodies) / elapsed, "p50": pct(0.5), "p95": pct(0.95), "p99": pct(0.99), "errors": errors[0]}


def hey_load(url: str, body: Path, *, keepalive: bool, args: argparse.Namespace) -> dict[str, float]:
    """One request POSTed over and over (hey), with or without keep-alive."""
    command = ["hey", "-z", f"{args.duration}s", "-c", str(args.connections), "-m", "POST", "-T",
               "application/ocsp-request", "-D", str(body), "-t", "5"]  # fmt: skip
    if not keepalive:
        command.append("-disable-keepalive")
    done = subprocess.run([*command, url], capture_output=True, text=True, timeout=args.duration + 60)
    out = done.stdout + done.stderr
    if done.returncode != 0:
        raise RuntimeError(out)

    def seconds(pattern: str) -> float:
        match = re.search(pattern, out)
        return float(match.group(1)) if match else 0.0

    statuses = {int(code): int(n) for code, n in re.findall(r"\[(\d{3})\]\s+(\d+) responses", out)}
    errors = (
        sum(int(n) for n in re.findall(r"^\s+\[(\d+)\]\s+\D", out.split("Error distribution:")[-1], re.M))
        if ("Error distribution:" in out)
        else 0
    )
    errors += sum(n for code, n in statuses.items() if code != 200)
    return {
        "rps": seconds(r"Requests/sec:\s+([\d.]+)"),
        "p50": seconds(r"50%+ in ([\d.]+) secs") * 1000,
        "p95": seconds(r"95%+ in ([\d.]+) secs") * 1000,
        "p99": seconds(r"99%+ in ([\d.]+) secs") * 1000,
        "errors": errors,
    }


def print_ratio(name: str, run: dict[str, float], base: dict[str, float]) -> None:
    """certctl's throughput over ``base``'s and ``base``'s p95 over certctl's: above 1, certctl is ahead."""
    throughput = run["rps"] / base["rps"] if base["rps"] else float("inf")
    latency = base["p95"] / run["p95"] if run["p95"] else float("inf")
    verdict = "AHEAD" if throughput > 1 and latency > 1 else "BEHIND"
    print(f"  {name:36} throughput x{throughput:.2f}  p95 x{latency:.2f}  {verdict}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--revoked-share", type=float, default=0.1)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--http", default="auto", choices=["auto", "h11", "httptools"], help="uvicorn's HTTP parser")
    parser.add_argument("--loop", default="auto", choices=["auto", "asyncio", "uvloop"], help="uvicorn's event loop")
    args = parser.parse_args()
    for tool in ("wrk", "hey", "openssl"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed (Debian package '{tool}')", file=sys.stderr)
            return 2
    work = Path(tempfile.mkdtemp(prefix="certctl-ocsp-bench-"))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        print(f"data: {args.count} certificates, {args.revoked_share:.0%} revoked, in {work}")
        store, good, bad = build_data(work, args.count, args.revoked_share)
        (work / "ocsp.lua").write_text(_WRK_SCRIPT)

        certctl_port, openssl_port = free_port(), free_port()
        root = Path(__file__).resolve().parents[1]
        server_env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
        }
        certctl = subprocess.Popen(
            [sys.executable, "-c", _SERVER, str(store), str(work), str(certctl_port), args.http, args.loop],
            cwd=root, env=server_env,
        )  # fmt: skip
        processes.append(certctl)
        responder = subprocess.Popen(
            ["openssl", "ocsp", "-index", str(work / "index.txt"), "-port", str(openssl_port), "-CA",
             str(work / "ca.pem"), "-rsigner", str(work / "responder.pem"), "-rkey", str(work / "responder.key"),
             "-nmin", "60", "-ignore_err"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        processes.append(responder)
        cfssl_port = free_port()
        cfssl = None
        if shutil.which("cfssl"):
            cfssl = subprocess.Popen(
                ["cfssl", "ocspserve", "-address", "127.0.0.1", "-port", str(cfssl_port), "-responses",
                 str(work / "responses.txt"), "-loglevel", "5"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            processes.append(cfssl)
        else:
            print("cfssl is not installed (Debian package 'golang-cfssl'): its runs are left out")
        wait_for_port(certctl_port, certctl)
        wait_for_port(openssl_port, responder)
        if cfssl is not None:
            wait_for_port(cfssl_port, cfssl)

        certctl_url = f"http://127.0.0.1:{certctl_port}/ocsp/{ISSUER}"
        openssl_url = f"http://127.0.0.1:{openssl_port}/"
        cfssl_url = f"http://127.0.0.1:{cfssl_port}/"
        print("agreement (openssl ocsp client):")
        for label, serial in (("good", good[0]), ("revoked", bad[0] if bad else good[1]), ("unknown", "1234abcd")):
            a, b = ask(work, certctl_url, serial), ask(work, openssl_url, serial)
            # cfssl answers only what it holds: an unknown serial gets "unauthorized", not "unknown".
            c = ask(work, cfssl_url, serial) if cfssl is not None and label != "unknown" else "-"
            print(f"  {label:8} certctl: {a:10} openssl: {b:10} cfssl: {c}")
            if a != b or c not in ("-", a):
                print("  the responders disagree; no load is run", file=sys.stderr)
                return 1

        body = work / "good.der"
        body.write_bytes(bytes.fromhex((work / "requests.hex").read_text().split()[0]))
        # With a nonce every answer is signed for its request (certctl caches only nonce-less
        # answers, openssl caches nothing): the same work per request on both sides.
        ca = load_certificates((work / "ca.pem").read_bytes())[0]
        with_nonce = (
            ocsp.OCSPRequestBuilder()
            .add_certificate_by_hash(_issuer_name_hash(ca), _issuer_key_hash(ca), int(good[0], 16), hashes.SHA1())
            .add_extension(x509.OCSPNonce(os.urandom(16)), critical=False)
            .build()
        )
        nonce_body = work / "nonce.der"
        nonce_body.write_bytes(with_nonce.public_bytes(Encoding.DER))
        probe = "import importlib.util as u; print(bool(u.find_spec('httptools')), bool(u.find_spec('uvloop')))"
        found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=server_env).stdout
        print(f"uvicorn in the certctl process: httptools installed, uvloop installed = {found.strip()}")
        print(
            f"load: {args.duration}s each, {args.connections} connections, POST; "
            f"uvicorn http={args.http} loop={args.loop}"
        )
        every = f"certctl {len(good) + len(bad)} certs"
        runs = {f"{every}, first pass": first_pass(work, certctl_port, f"/ocsp/{ISSUER}", args.connections)}
        runs["certctl keep-alive (hey)"] = hey_load(certctl_url, body, keepalive=True, args=args)
        runs["certctl conn/request (hey)"] = hey_load(certctl_url, body, keepalive=False, args=args)
        runs["openssl ocsp -index (hey)"] = hey_load(openssl_url, body, keepalive=False, args=args)
        runs["certctl nonce, keep-alive (hey)"] = hey_load(certctl_url, nonce_body, keepalive=True, args=args)
        runs["certctl nonce, conn/request (hey)"] = hey_load(certctl_url, nonce_body, keepalive=False, args=args)
        runs["openssl ocsp -index, nonce (hey)"] = hey_load(openssl_url, nonce_body, keepalive=False, args=args)
        if cfssl is not None:
            runs["cfssl ocspserve keep-alive (hey)"] = hey_load(cfssl_url, body, keepalive=True, args=args)
            runs["cfssl ocspserve conn/request (hey)"] = hey_load(cfssl_url, body, keepalive=False, args=args)
        runs[f"{every}, warm (wrk)"] = wrk_load(work, certctl_port, f"/ocsp/{ISSUER}", args)
        print(f"\n{'responder':36} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7}")
        for name, r in runs.items():
            print(f"{name:36} {r['rps']:9.0f} {r['p50']:8.2f} {r['p95']:8.2f} {r['p99']:8.2f} {r['errors']:7.0f}")
        print("\nratios against openssl ocsp (above 1: certctl ahead; nonce runs against openssl's nonce run)")
        for name in [n for n in runs if n.startswith("certctl")]:
            r = runs[name]
            base = runs["openssl ocsp -index, nonce (hey)" if "nonce" in name else "openssl ocsp -index (hey)"]
            print_ratio(name, r, base)
        pairs = [
            ("certctl keep-alive (hey)", "cfssl ocspserve keep-alive (hey)"),
            ("certctl conn/request (hey)", "cfssl ocspserve conn/request (hey)"),
        ]
        if all(other in runs for _, other in pairs):
            print("ratios against cfssl ocspserve, same connection mode (above 1: certctl ahead)")
            for mine, other in pairs:
                print_ratio(mine, runs[mine], runs[other])
        print(
            f"\nmachine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
            "responders and clients share them"
        )
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

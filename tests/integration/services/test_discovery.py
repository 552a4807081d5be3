"""Discovery: network scans of real TLS listeners on loopback, the SSRF guard, reports, claim and dismiss."""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from acme_server import free_port

from certctl_engine.domain import Actor, DiscoveryStatus
from certctl_engine.engine import Engine
from certctl_engine.errors import Conflict, InvalidInput
from certctl_engine.pki import (
    build_leaf,
    certificate_to_pem,
    create_root_ca,
    fingerprint_sha256,
    generate_private_key,
    private_key_to_pem,
)
from certctl_engine.services.discovery import entry_from_certificate

ALICE = Actor("alice")


class Listeners:
    """TLS servers on loopback, each serving its own leaf and the root above it."""

    def __init__(self, tmp: Path, count: int) -> None:
        self.ca = create_root_ca(common_name="Scan Test Root")
        self.ports: list[int] = []
        self.fingerprints: dict[int, str] = {}
        self.loop = asyncio.new_event_loop()
        self.servers: list[asyncio.base_events.Server] = []
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        now = datetime.now(UTC)
        for index in range(count):
            key = generate_private_key()
            leaf = build_leaf(
                issuer_cert=self.ca.certificate,
                issuer_key=self.ca.key,
                public_key=key.public_key(),
                common_name=f"svc{index}.scan.example.com",
                sans=[f"svc{index}.scan.example.com"],
                not_before=now - timedelta(minutes=5),
                not_after=now + timedelta(days=30),
            )
            chain = tmp / f"chain{index}.pem"
            chain.write_text(certificate_to_pem(leaf) + self.ca.certificate_pem)
            (tmp / f"key{index}.pem").write_bytes(private_key_to_pem(key))
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(chain, tmp / f"key{index}.pem")
            port = free_port()

            async def serve(context: ssl.SSLContext = context, port: int = port) -> asyncio.base_events.Server:
                async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                    writer.close()

                return await asyncio.start_server(handle, "127.0.0.1", port, ssl=context)

            self.servers.append(asyncio.run_coroutine_threadsafe(serve(), self.loop).result(10))
            self.ports.append(port)
            self.fingerprints[port] = fingerprint_sha256(leaf)

    def close(self) -> None:
        for server in self.servers:
            self.loop.call_soon_threadsafe(server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def listeners(tmp_path: Path) -> Iterator[Listeners]:
    servers = Listeners(tmp_path, 3)
    yield servers
    servers.close()


@pytest.fixture
def found(engine: Engine) -> Engine:
    engine.issuers.create("Local", "GenericCA", {}, actor=ALICE, id="iss-local")
    return engine


def test_scan_finds_every_listener_with_the_right_fingerprint(found: Engine, listeners: Listeners) -> None:
    closed = free_port()
    target = found.discovery.create_target(
        "loopback", ["127.0.0.1/32"], ports=[*listeners.ports, closed], allow_reserved=True, actor=ALICE
    )
    progress: list[tuple[int, int]] = []
    result = found.discovery.scan_target(target.id, actor=ALICE, progress=lambda d, t: progress.append((d, t)))
    assert progress[-1] == (4, 4)
    leaves = {d.source_path: d for d in found.discovery.list(limit=100).items if not d.is_ca}
    assert {path: d.fingerprint_sha256 for path, d in leaves.items()} == {
        f"127.0.0.1:{port}": fp for port, fp in listeners.fingerprints.items()
    }
    assert all(d.status is DiscoveryStatus.UNMANAGED and d.source_format == "network" for d in leaves.values())
    assert (result.certificates_found, result.certificates_new) == (6, 6)  # leaf and root at each of 3 places
    assert found.discovery.get_target(target.id).last_scan_certs_found == 6
    # Seen again: nothing new, last_seen moves.
    again = found.discovery.scan_target(target.id, actor=ALICE)
    assert again.certificates_new == 0


def test_the_ssrf_guard_and_size_limits(found: Engine) -> None:
    for cidr, reason in (
        ("127.0.0.0/8", "loopback"),
        ("169.254.169.254/32", "link-local"),
        ("224.0.0.1/32", "multicast"),
    ):
        with pytest.raises(InvalidInput, match=reason) as caught:
            found.discovery.create_target(f"t-{reason}", [cidr], actor=ALICE)
        assert "allow_reserved" in caught.value.message and caught.value.field == "cidrs"
    with pytest.raises(InvalidInput, match="confirm the size"):
        found.discovery.create_target("wide", ["10.1.0.0/16"], actor=ALICE)
    assert found.discovery.create_target("wide", ["10.1.0.0/16"], confirm_size=True, actor=ALICE).cidrs == (
        "10.1.0.0/16",
    )
    with pytest.raises(InvalidInput, match="at most 65,536"):
        found.discovery.create_target("huge", ["10.0.0.0/8"], confirm_size=True, actor=ALICE)
    with pytest.raises(InvalidInput, match="not an IP address"):
        found.discovery.create_target("junk", ["example.com"], actor=ALICE)
    with pytest.raises(InvalidInput, match="TCP port"):
        found.discovery.create_target("ports", ["10.2.0.0/24"], ports=[0], actor=ALICE)


def _report_entry(tmp_path: Path, cn: str) -> dict[str, object]:
    ca = create_root_ca()
    key = generate_private_key()
    now = datetime.now(UTC)
    leaf = build_leaf(
        issuer_cert=ca.certificate,
        issuer_key=ca.key,
        public_key=key.public_key(),
        common_name=cn,
        sans=[cn],
        not_before=now,
        not_after=now + timedelta(days=60),
    )
    from cryptography.hazmat.primitives.serialization import Encoding

    return entry_from_certificate(leaf.public_bytes(Encoding.DER), f"/etc/ssl/{cn}.pem", "PEM")


def test_claim_imports_the_certificate_and_dismiss_keeps_it_quiet(found: Engine, tmp_path: Path) -> None:
    keep = _report_entry(tmp_path, "legacy.example.com")
    quiet = _report_entry(tmp_path, "old.example.com")
    first = found.discovery.ingest(agent_id=None, entries=[keep, quiet], directories=["/etc/ssl"], actor=ALICE)
    assert (first.certificates_found, first.certificates_new) == (2, 2)
    items = {d.common_name: d for d in found.discovery.list().items}

    claimed = found.discovery.claim(items["legacy.example.com"].id, issuer_id="iss-local", actor=ALICE)
    assert claimed.status is DiscoveryStatus.MANAGED and claimed.managed_certificate_id
    cert = found.certificates.get(claimed.managed_certificate_id)
    version = found.certificates.current_version(cert.id)
    assert version is not None and version.fingerprint_sha256 == keep["fingerprint_sha256"]
    with pytest.raises(Conflict):
        found.discovery.claim(claimed.id, issuer_id="iss-local", actor=ALICE)
    with pytest.raises(Conflict):
        found.discovery.dismiss(claimed.id, actor=ALICE)

    dismissed = found.discovery.dismiss(items["old.example.com"].id, actor=ALICE)
    assert dismissed.status is DiscoveryStatus.DISMISSED
    found.discovery.ingest(agent_id=None, entries=[quiet], actor=ALICE)  # seen again
    assert found.discovery.get(dismissed.id).status is DiscoveryStatus.DISMISSED
    assert found.discovery.summary() == {"Unmanaged": 0, "Managed": 1, "Dismissed": 1}
    # A sighting of a managed certificate somewhere else arrives already Managed.
    elsewhere = {**keep, "source_path": "/opt/app/cert.pem"}
    found.discovery.ingest(agent_id=None, entries=[elsewhere], actor=ALICE)
    assert found.discovery.summary()["Managed"] == 2


def test_bad_reports_are_refused_whole(found: Engine, tmp_path: Path) -> None:
    entry = _report_entry(tmp_path, "x.example.com")
    with pytest.raises(InvalidInput, match="fingerprint does not match"):
        found.discovery.ingest(agent_id=None, entries=[{**entry, "fingerprint_sha256": "00" * 32}], actor=ALICE)
    with pytest.raises(InvalidInput, match="PEM"):
        found.discovery.ingest(agent_id=None, entries=[{**entry, "pem_data": "garbage"}], actor=ALICE)
    with pytest.raises(InvalidInput, match="at least one"):
        found.discovery.ingest(agent_id=None, entries=[], actor=ALICE)
    assert found.discovery.list().items == ()

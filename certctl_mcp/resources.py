"""Resources: a certificate (JSON), its PEM and chain, an issuer's CRL, the dashboard.

Each read goes to the engine in a worker thread; an engine error becomes a resource
error with the same actionable text as the tools give.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TypeVar

import anyio.to_thread
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError

from certctl_engine.errors import CertctlError
from certctl_engine.serialize import to_jsonable
from certctl_mcp.errors import hint_for
from certctl_mcp.toolkit import ToolKit, actor_for

__all__ = ["register"]

T = TypeVar("T")


async def _run(fn: Callable[[], T]) -> T:
    try:
        return await anyio.to_thread.run_sync(fn)
    except CertctlError as exc:
        raise ResourceError(f"{exc.kind}: {exc.message}. Hint: {hint_for(exc)}") from None


def register(kit: ToolKit, *, certificates: bool, pki: bool, stats: bool) -> None:
    """Register the resources of the enabled toolsets (the CRL one only when not read-only)."""
    server, engine = kit.server, kit.engine

    if certificates:

        @server.resource(
            "certctl://certificates/{certificate_id}",
            name="certificate",
            description="A managed certificate with its current version's metadata, as JSON.",
            mime_type="application/json",
        )
        async def certificate(certificate_id: str) -> str:
            def read() -> str:
                cert = engine.certificates.get(certificate_id)
                version = engine.certificates.current_version(cert.id)
                data = {"certificate": to_jsonable(cert), "current_version": to_jsonable(version)}
                if data["current_version"]:
                    data["current_version"].pop("pem_chain", None)
                    data["current_version"].pop("csr_pem", None)
                return json.dumps(data, indent=2)

            return await _run(read)

        def _version_pem(certificate_id: str, chain_only: bool) -> str:
            version = engine.certificates.current_version(certificate_id)
            if version is None:
                raise ResourceError(f"certificate '{certificate_id}' has not been issued yet; there is no PEM")
            from certctl_engine.pki import certificates_to_pem, load_certificates

            certs = load_certificates(version.pem_chain.encode())
            return certificates_to_pem(certs[1:] if chain_only else certs)

        @server.resource(
            "certctl://certificates/{certificate_id}/pem",
            name="certificate_pem",
            description="The current version's full chain as PEM: leaf first, then its issuers. No private key.",
            mime_type="application/x-pem-file",
        )
        async def certificate_pem(certificate_id: str) -> str:
            return await _run(lambda: _version_pem(certificate_id, chain_only=False))

        @server.resource(
            "certctl://certificates/{certificate_id}/chain",
            name="certificate_chain",
            description="The issuing chain of the current version as PEM (without the leaf), nearest issuer first.",
            mime_type="application/x-pem-file",
        )
        async def certificate_chain(certificate_id: str) -> str:
            return await _run(lambda: _version_pem(certificate_id, chain_only=True))

    if pki and not kit.read_only:

        @server.resource(
            "certctl://issuers/{issuer_id}/crl",
            name="issuer_crl",
            description="The CRL a local-CA issuer publishes, as PEM (the same its distribution point serves).",
            mime_type="application/x-pem-file",
        )
        async def issuer_crl(issuer_id: str, ctx: Context) -> str:
            from certctl_engine.pki.crl import crl_to_pem, load_crl

            actor = actor_for(ctx.session)

            def read() -> str:
                return crl_to_pem(load_crl(engine.crl_publisher.current(issuer_id, actor=actor).der))

            return await _run(read)

    if stats:

        @server.resource(
            "certctl://dashboard",
            name="dashboard",
            description="The dashboard summary (counts, expiry buckets, jobs, agents) as JSON.",
            mime_type="application/json",
        )
        async def dashboard() -> str:
            return await _run(lambda: json.dumps(to_jsonable(engine.stats.dashboard()), indent=2))

"""Toolset ``pki``: what a local CA publishes about revocation (CRLs, OCSP answers)."""

from __future__ import annotations

import base64
from typing import Annotated

from cryptography import x509
from mcp.server.mcpserver import Context
from pydantic import Field

from certctl_engine.pki.crl import crl_to_pem, load_crl
from certctl_mcp.models import CRLResult, OCSPResult
from certctl_mcp.toolkit import PUBLISH, READ, ToolKit, actor_for

__all__ = ["crl_result", "register"]

IssuerId = Annotated[str, Field(min_length=1, max_length=64, description="A local-CA (GenericCA) issuer id.")]


def crl_result(issuer_id: str, der: bytes) -> CRLResult:
    """Describe a DER CRL: number, entries, validity, DER (base64) and PEM."""
    crl = load_crl(der)
    try:
        number = int(crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number)
    except x509.ExtensionNotFound:
        number = 0
    return CRLResult(
        issuer_id=issuer_id,
        crl_number=number,
        entry_count=len(crl),
        this_update=crl.last_update_utc,
        next_update=crl.next_update_utc,
        der_base64=base64.b64encode(der).decode(),
        pem=crl_to_pem(crl),
    )


def register(kit: ToolKit) -> None:
    engine = kit.engine

    @kit.tool(PUBLISH)
    async def get_crl(ctx: Context, issuer_id: IssuerId) -> CRLResult:
        """The CRL a local-CA issuer publishes (DER as base64, PEM, entry count, CRL number), the same one
        its CRL distribution point serves. A new one is signed (next CRL number, audited) only when a
        revocation changed the list, the CA changed, or half of the current one's validity has passed.
        Short-lived certificates are never listed. Only GenericCA issuers with a CA publish CRLs."""
        actor = actor_for(ctx.session)
        published = await kit.run(engine.crl_publisher.current, issuer_id, actor=actor)
        return crl_result(issuer_id, published.der)

    @kit.tool(READ)
    async def check_ocsp(
        issuer_id: IssuerId,
        serial: Annotated[
            str,
            Field(
                min_length=1,
                max_length=130,
                description="Hexadecimal serial number (colons and a 0x prefix are accepted).",
            ),
        ],
    ) -> OCSPResult:
        """What the OCSP responder says about one serial of one issuer: good, revoked or unknown.

        Use it to check whether a revocation took effect. "unknown" means the issuer never
        issued that serial. Short-lived certificates are always "good" (expiry is their
        revocation). No signed response is produced; this is the status only.
        """
        check = await kit.run(engine.revocation.check, issuer_id, serial)
        return OCSPResult.model_validate(check)

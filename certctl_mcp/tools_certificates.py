"""Toolset ``certificates``: the inventory, issuance, renewal, revocation, export and import.

(No ``from __future__ import annotations`` here: the confirmation resolvers are closures,
and the SDK evaluates each tool's annotations to find them.)
"""

from enum import StrEnum
from typing import Annotated, Any

from mcp.server.elicitation import ElicitationResult
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.resolve import Elicit, Resolve
from pydantic import Field

from certctl_engine.domain import (
    Certificate,
    CertificateFilter,
    CertificateSortField,
    CertificateStatus,
    RevocationReason,
    SortOrder,
)
from certctl_engine.errors import Conflict, InvalidInput, NotFound
from certctl_mcp.confirm import CONFIRM_DESCRIPTION, Confirmation, Decision, ask, decide
from certctl_mcp.errors import ServerRefusal, tool_error
from certctl_mcp.models import (
    CertificateChange,
    CertificateDetail,
    CertificateOut,
    CertificatePage,
    ExportResult,
    FieldChange,
    ImportedCertificate,
    ImportResult,
    IssueResult,
    Outcome,
    VersionList,
    VersionOut,
)
from certctl_mcp.toolkit import CREATE, DESTRUCTIVE, READ, UPDATE, ToolKit, actor_for

__all__ = ["KeyType", "register"]

MAX_PEM_CHARS = 1_000_000


class KeyType(StrEnum):
    """Key types certctl generates for server-side keys."""

    ECDSA_P256 = "ecdsa-p256"
    ECDSA_P384 = "ecdsa-p384"
    RSA2048 = "rsa2048"
    RSA3072 = "rsa3072"
    RSA4096 = "rsa4096"
    ED25519 = "ed25519"


CertRef = Annotated[
    str,
    Field(min_length=1, max_length=255, description="The certificate's id (cert-...) or its exact unique name."),
]


def _opt_id(what: str) -> Any:
    return Annotated[str | None, Field(max_length=64, description=what)]


def register(kit: ToolKit) -> None:
    """Add the certificate tools to ``kit.server`` (mutating ones only without --read-only)."""
    engine = kit.engine

    def find(ref: str) -> Certificate:
        """A certificate by id, else by exact name (both are unique)."""
        try:
            return engine.certificates.get(ref)
        except NotFound:
            found = engine.certificates.find_by_name(ref)
            if found is None:
                raise
            return found

    def detail(cert: Certificate) -> CertificateDetail:
        version = engine.certificates.current_version(cert.id)
        days = None
        if cert.expires_at is not None:
            days = round((cert.expires_at - engine.now()).total_seconds() / 86400, 2)
        return CertificateDetail(
            certificate=CertificateOut.model_validate(cert),
            current_version=VersionOut.model_validate(version) if version else None,
            days_until_expiry=days,
        )

    # ------------------------------------------------------------------ reading
    @kit.tool(READ)
    async def list_certificates(
        status: Annotated[
            list[CertificateStatus] | None,
            Field(description="Only certificates in any of these statuses. Default: every status but Archived."),
        ] = None,
        issuer_id: _opt_id("Only certificates of this issuer (see list_issuers).") = None,
        owner_id: _opt_id("Only certificates of this owner (see list_owners).") = None,
        team_id: _opt_id("Only certificates of this team (see list_teams).") = None,
        profile_id: _opt_id("Only certificates under this profile (see list_profiles).") = None,
        environment: Annotated[
            str | None, Field(max_length=64, description="Only this environment, exactly (e.g. 'prod').")
        ] = None,
        expiring_within_days: Annotated[
            int | None,
            Field(ge=0, le=3650, description="Only certificates expiring between now and this many days from now."),
        ] = None,
        query: Annotated[
            str | None,
            Field(
                max_length=255,
                description="Case-insensitive text search in name, common name, SANs and the owner's, team's and "
                "issuer's names; a leading ! keeps what does not match.",
            ),
        ] = None,
        include_archived: Annotated[
            bool, Field(description="Also list archived certificates when no status is given.")
        ] = False,
        sort: Annotated[CertificateSortField, Field(description="Column to sort by.")] = (
            CertificateSortField.EXPIRES_AT
        ),
        order: Annotated[SortOrder, Field(description="Sort direction.")] = SortOrder.ASC,
        limit: Annotated[int, Field(ge=1, le=100, description="Rows per page, 1-100.")] = 25,
        cursor: Annotated[
            str | None,
            Field(max_length=2000, description="The next_cursor of the previous page (same sort and order)."),
        ] = None,
        include_total: Annotated[
            bool, Field(description="Also count every matching row (slower on a large inventory).")
        ] = False,
    ) -> CertificatePage:
        """List managed certificates, filtered and sorted, one page at a time.

        Use it to answer "what expires this month?" (expiring_within_days=30), to find a
        certificate's id from a name, common name or SAN (query), or to list by status,
        issuer, owner, team, profile or environment. Returns at most `limit` rows (1-100,
        default 25); when next_cursor is not null, pass it back as `cursor` with the same
        sort and order for the next page. Times are UTC; expires_at is null for a
        certificate never issued. Archived certificates are left out unless asked for.
        """
        flt = CertificateFilter(
            statuses=tuple(status or ()),
            issuer_id=issuer_id,
            owner_id=owner_id,
            team_id=team_id,
            profile_id=profile_id,
            environment=environment,
            expiring_within_days=expiring_within_days,
            query=query,
            include_archived=include_archived,
        )
        page = await kit.run(
            engine.certificates.list, flt, sort=sort, order=order, limit=limit, cursor=cursor, with_total=include_total
        )
        return CertificatePage(
            items=[CertificateOut.model_validate(c) for c in page.items], next_cursor=page.next_cursor, total=page.total
        )

    @kit.tool(READ)
    async def get_certificate(certificate_id: CertRef) -> CertificateDetail:
        """Get one certificate: its management fields, status, expiry and current version.

        Use it after list_certificates, or directly with an id or exact name. The current
        version's metadata (serial, fingerprint, validity, key) is included, not its PEM:
        export_certificate returns the PEM. days_until_expiry is negative once expired.
        """
        return await kit.run(lambda: detail(find(certificate_id)))

    @kit.tool(READ)
    async def list_certificate_versions(certificate_id: CertRef) -> VersionList:
        """List every issued version of a certificate, newest first (its renewal history).

        Each version has its serial, SHA-256 fingerprint, validity window, key algorithm
        and whether certctl holds its private key. No PEMs (use export_certificate).
        """

        def versions() -> VersionList:
            cert = find(certificate_id)
            items = engine.certificates.list_versions(cert.id)
            return VersionList(certificate_id=cert.id, items=[VersionOut.model_validate(v) for v in items])

        return await kit.run(versions)

    @kit.tool(READ)
    async def export_certificate(
        ctx: Context,
        certificate_id: CertRef,
        include_private_key: Annotated[
            bool, Field(description="Also return the server-held private key (needs a passphrase).")
        ] = False,
        passphrase: Annotated[
            str | None,
            Field(
                min_length=8,
                max_length=1024,
                description="Passphrase (8+ characters) the private key is encrypted with; required with "
                "include_private_key. Never stored or logged.",
            ),
        ] = None,
    ) -> ExportResult:
        """Export a certificate's current version as PEM: leaf, chain and full chain.

        The private key is returned only when include_private_key is true AND a
        passphrase is given, and then only as an encrypted PKCS#8 PEM (never in clear).
        Fails if the certificate was never issued, or (with the key) if certctl does not
        hold its key (issued from a CSR or imported without it). Every export is audited.
        """
        if include_private_key and not passphrase:
            raise tool_error(
                InvalidInput(
                    "include_private_key needs a passphrase: the key is only ever returned encrypted",
                    field="passphrase",
                )
            )
        if include_private_key and kit.read_only:
            raise tool_error(
                ServerRefusal(
                    "this server runs --read-only and does not export private keys",
                    hint="export without include_private_key, or ask an operator",
                )
            )
        actor = actor_for(ctx.session)

        def export() -> ExportResult:
            cert = find(certificate_id)
            bundle = engine.exchange.export_pem(
                cert.id,
                actor=actor,
                include_key=include_private_key,
                passphrase=passphrase.encode() if include_private_key and passphrase else None,
            )
            return ExportResult(
                certificate_id=cert.id,
                certificate_pem=bundle.certificate,
                chain_pem=bundle.chain,
                full_chain_pem=bundle.full_chain,
                encrypted_private_key_pem=bundle.private_key if include_private_key else None,
            )

        return await kit.run(export)

    # ------------------------------------------------------------------ writing
    @kit.tool(CREATE)
    async def create_certificate(
        ctx: Context,
        common_name: Annotated[str, Field(min_length=1, max_length=253, description="Subject common name.")],
        issuer_id: Annotated[str, Field(max_length=64, description="Issuer that will sign it (see list_issuers).")],
        name: Annotated[str | None, Field(max_length=255, description="Unique name; default: the common name.")] = None,
        sans: Annotated[
            list[str] | None, Field(max_length=500, description="Subject alternative names (DNS names, IPs, URIs).")
        ] = None,
        owner_id: _opt_id("Owner responsible for it (see list_owners); their team is used if team_id is omitted.") = (
            None
        ),
        team_id: _opt_id("Team responsible for it (see list_teams).") = None,
        profile_id: _opt_id("Certificate profile whose rules it is issued under (see list_profiles).") = None,
        renewal_policy_id: _opt_id("Renewal policy (see list_renewal_policies); default: rp-default.") = None,
        environment: Annotated[str, Field(max_length=64, description="Environment label, e.g. prod.")] = "",
        tags: Annotated[dict[str, str] | None, Field(description="Free-form key/value labels.")] = None,
    ) -> CertificateOut:
        """Register a new managed certificate (status Pending) and queue its Issuance job.

        The job waits in AwaitingApproval when the profile requires approval; otherwise the
        engine's job processor issues it, or issue_certificate issues it at once (and
        completes the job). See list_jobs for the job. Names are
        unique. The issuer, owner, team, profile and renewal policy must exist. To bring an
        existing certificate under management use import_certificate instead.
        """
        actor = actor_for(ctx.session)
        cert = await kit.run(
            engine.certificates.create,
            name=name or common_name,
            common_name=common_name,
            issuer_id=issuer_id,
            actor=actor,
            sans=sans or (),
            owner_id=owner_id,
            team_id=team_id,
            certificate_profile_id=profile_id,
            renewal_policy_id=renewal_policy_id,
            environment=environment,
            tags=tags,
        )
        return CertificateOut.model_validate(cert)

    @kit.tool(UPDATE)
    async def update_certificate(
        ctx: Context,
        certificate_id: CertRef,
        name: Annotated[str | None, Field(max_length=255, description="New unique name.")] = None,
        environment: Annotated[str | None, Field(max_length=64, description="New environment label.")] = None,
        owner_id: _opt_id("New owner id; empty string removes the owner.") = None,
        team_id: _opt_id("New team id; empty string removes the team.") = None,
        profile_id: _opt_id("New profile id; empty string removes the profile.") = None,
        renewal_policy_id: _opt_id("New renewal policy id.") = None,
        tags: Annotated[dict[str, str] | None, Field(description="Replaces all tags.")] = None,
        target_ids: Annotated[
            list[Annotated[str, Field(min_length=1, max_length=64)]] | None,
            Field(max_length=100, description="Replaces the deployment targets it maps to ([] maps none)."),
        ] = None,
    ) -> CertificateOut:
        """Change a certificate's management fields: name, environment, owner, team, profile, policy, tags,
        deployment targets (see list_targets; each new version deploys to every mapped target).

        Omitted (or null) fields stay as they are. It never changes issued material:
        use renew_certificate for a new key or validity. Archived certificates are
        read-only.
        """
        actor = actor_for(ctx.session)
        changes: dict[str, Any] = {}
        for key, value in (
            ("name", name),
            ("environment", environment),
            ("owner_id", owner_id),
            ("team_id", team_id),
            ("certificate_profile_id", profile_id),
            ("renewal_policy_id", renewal_policy_id),
            ("tags", tags),
            ("target_ids", target_ids),
        ):
            if value is not None:
                changes[key] = value

        def update() -> Certificate:
            return engine.certificates.update(find(certificate_id).id, actor=actor, **changes)

        return CertificateOut.model_validate(await kit.run(update))

    @kit.tool(UPDATE)
    async def issue_certificate(
        ctx: Context,
        certificate_id: CertRef,
        key_type: Annotated[
            KeyType | None, Field(description="Server-side key type; default: the profile's first allowed.")
        ] = None,
        ttl_seconds: Annotated[
            int | None,
            Field(ge=60, le=3650 * 86400, description="Lifetime in seconds; default: the issuer's, capped by profile."),
        ] = None,
        csr_pem: Annotated[
            str | None,
            Field(max_length=100_000, description="Sign this PEM CSR instead of making a key: the key stays with you."),
        ] = None,
    ) -> IssueResult:
        """Issue a registered (Pending) certificate for the first time through its issuer.

        certctl makes the key (sealed in its store) unless a CSR is given. Profile rules
        (names, key, lifetime) are enforced. Fails if the certificate is already issued
        (use renew_certificate) or its issuer cannot issue (only local-CA issuers can).
        """
        return await _issue(ctx, certificate_id, key_type, ttl_seconds, csr_pem, renewal=False)

    @kit.tool(CREATE)
    async def renew_certificate(
        ctx: Context,
        certificate_id: CertRef,
        key_type: Annotated[
            KeyType | None, Field(description="Server-side key type; default: the profile's first allowed.")
        ] = None,
        ttl_seconds: Annotated[
            int | None,
            Field(ge=60, le=3650 * 86400, description="Lifetime in seconds; default: the issuer's, capped by profile."),
        ] = None,
        csr_pem: Annotated[
            str | None, Field(max_length=100_000, description="Sign this PEM CSR instead of making a new key.")
        ] = None,
    ) -> IssueResult:
        """Renew an issued certificate now: a new version with a new key and validity.

        Earlier versions stay in the history (list_certificate_versions). Each call makes
        another version. Revoked or archived certificates cannot be renewed: register a
        new one. Deployment to targets is not part of this call.
        """
        return await _issue(ctx, certificate_id, key_type, ttl_seconds, csr_pem, renewal=True)

    async def _issue(
        ctx: Context,
        certificate_id: str,
        key_type: KeyType | None,
        ttl_seconds: int | None,
        csr_pem: str | None,
        *,
        renewal: bool,
    ) -> IssueResult:
        from certctl_engine.pki.keys import KeySpec

        actor = actor_for(ctx.session)

        def issue() -> IssueResult:
            cert = find(certificate_id)
            spec = KeySpec.parse(key_type.value) if key_type else None
            action = engine.issuance.renew if renewal else engine.issuance.issue
            version = action(cert.id, actor=actor, key_spec=spec, ttl_seconds=ttl_seconds, csr_pem=csr_pem)
            return IssueResult(
                certificate=CertificateOut.model_validate(engine.certificates.get(cert.id)),
                version=VersionOut.model_validate(version),
            )

        return await kit.run(issue)

    @kit.tool(CREATE)
    async def import_certificate(
        ctx: Context,
        pem: Annotated[
            str,
            Field(
                min_length=1,
                max_length=MAX_PEM_CHARS,
                description="PEM text: one or more certificates (leaf and chain), optionally with the leaf's key.",
            ),
        ],
        issuer_id: Annotated[str, Field(max_length=64, description="Issuer to record them under (see list_issuers).")],
        name: Annotated[str | None, Field(max_length=255, description="Name (only for a single leaf).")] = None,
        private_key_pem: Annotated[
            str | None, Field(max_length=100_000, description="The leaf's private key PEM, if separate.")
        ] = None,
        key_passphrase: Annotated[
            str | None, Field(max_length=1024, description="Passphrase of an encrypted private key.")
        ] = None,
        owner_id: _opt_id("Owner (see list_owners).") = None,
        team_id: _opt_id("Team (see list_teams).") = None,
        profile_id: _opt_id("Profile (see list_profiles).") = None,
        environment: Annotated[str, Field(max_length=64, description="Environment label.")] = "",
    ) -> ImportResult:
        """Bring existing certificates under management from PEM text.

        Every end-entity certificate in `pem` becomes a managed certificate whose history
        starts with this version; CA certificates become its chain. A matching key is
        kept, sealed. All or nothing: a certificate already managed fails the import.
        """
        actor = actor_for(ctx.session)
        items = await kit.run(
            engine.exchange.import_pem,
            pem.encode(),
            actor=actor,
            issuer_id=issuer_id,
            key_pem=private_key_pem.encode() if private_key_pem else None,
            key_passphrase=key_passphrase.encode() if key_passphrase else None,
            name=name,
            owner_id=owner_id,
            team_id=team_id,
            certificate_profile_id=profile_id,
            environment=environment,
            source="the PEM text",
        )
        return ImportResult(
            imported=[
                ImportedCertificate(
                    certificate=CertificateOut.model_validate(i.certificate), had_private_key=i.had_private_key
                )
                for i in items
            ]
        )

    # ------------------------------------------------------------------ destructive
    async def _ask_revoke(ctx: Context, certificate_id: str, reason: RevocationReason) -> Elicit[Confirmation] | None:
        def question() -> str:
            cert = find(certificate_id)
            return (
                f"Revoke certificate '{cert.name}' ({cert.id}, CN {cert.common_name}, status {cert.status.value}) "
                f"with reason {reason.value}? Revocation cannot be undone."
            )

        return await ask(ctx, question)

    @kit.tool(DESTRUCTIVE)
    async def revoke_certificate(
        ctx: Context,
        certificate_id: CertRef,
        confirmation: Annotated[ElicitationResult[Confirmation], Resolve(_ask_revoke)],
        reason: Annotated[RevocationReason, Field(description="RFC 5280 revocation reason.")] = (
            RevocationReason.UNSPECIFIED
        ),
        confirm: Annotated[bool, Field(description=CONFIRM_DESCRIPTION)] = False,
    ) -> CertificateChange:
        """Revoke a certificate's current version (it goes on the issuer's CRL; OCSP says revoked).

        Use for key compromise (reason keyCompromise), decommissioning
        (cessationOfOperation) or replacement (superseded). Irreversible. Asks the person
        to confirm when the client supports elicitation; otherwise needs confirm=true and
        without it returns a dry run (outcome dry_run) and changes nothing.
        """
        actor = actor_for(ctx.session)
        decision = decide(confirmation, confirm)

        def plan() -> tuple[Certificate, list[FieldChange]]:
            cert = find(certificate_id)
            if cert.status is CertificateStatus.REVOKED:
                raise Conflict(f"certificate '{cert.id}' is already revoked ({cert.revocation_reason}); nothing to do")
            if cert.status is CertificateStatus.ARCHIVED:
                raise Conflict(f"certificate '{cert.id}' is archived; archived certificates cannot be revoked")
            if cert.current_version_id is None:
                raise Conflict(f"certificate '{cert.id}' has never been issued; there is nothing to revoke")
            return cert, [
                FieldChange(field="status", before=cert.status.value, after=CertificateStatus.REVOKED.value),
                FieldChange(field="revocation_reason", before=None, after=reason.value),
                FieldChange(field="revoked_at", before=None, after="now"),
            ]

        cert, changes = await kit.run(plan)
        if decision is Decision.PROCEED:
            revoked = await kit.run(engine.revocation.revoke, cert.id, reason, actor=actor)
            return CertificateChange(
                outcome=Outcome.DONE,
                message=f"revoked '{revoked.name}' ({revoked.id}): {reason.value}",
                certificate=CertificateOut.model_validate(revoked),
                changes=changes,
            )
        return _not_done(decision, f"revoke '{cert.name}' ({cert.id}) with reason {reason.value}", cert, changes)

    async def _ask_archive(ctx: Context, certificate_id: str) -> Elicit[Confirmation] | None:
        def question() -> str:
            cert = find(certificate_id)
            return (
                f"Archive certificate '{cert.name}' ({cert.id}, CN {cert.common_name})? It leaves the active "
                "inventory and becomes read-only; its history is kept."
            )

        return await ask(ctx, question)

    @kit.tool(DESTRUCTIVE)
    async def archive_certificate(
        ctx: Context,
        certificate_id: CertRef,
        confirmation: Annotated[ElicitationResult[Confirmation], Resolve(_ask_archive)],
        confirm: Annotated[bool, Field(description=CONFIRM_DESCRIPTION)] = False,
    ) -> CertificateChange:
        """Archive (soft-delete) a certificate: it leaves the active inventory, keeping its history.

        It does not revoke: revoke first if the key must stop being trusted. Archived
        certificates are read-only and cannot be renewed. Asks the person to confirm when
        the client supports elicitation; otherwise needs confirm=true and without it
        returns a dry run.
        """
        actor = actor_for(ctx.session)
        decision = decide(confirmation, confirm)

        def plan() -> tuple[Certificate, list[FieldChange]]:
            cert = find(certificate_id)
            if cert.status is CertificateStatus.ARCHIVED:
                raise Conflict(f"certificate '{cert.id}' is already archived; nothing to do")
            return cert, [FieldChange(field="status", before=cert.status.value, after=CertificateStatus.ARCHIVED.value)]

        cert, changes = await kit.run(plan)
        if decision is Decision.PROCEED:
            archived = await kit.run(engine.certificates.archive, cert.id, actor=actor)
            return CertificateChange(
                outcome=Outcome.DONE,
                message=f"archived '{archived.name}' ({archived.id})",
                certificate=CertificateOut.model_validate(archived),
                changes=changes,
            )
        return _not_done(decision, f"archive '{cert.name}' ({cert.id})", cert, changes)


def _not_done(decision: Decision, what: str, cert: Certificate, changes: list[FieldChange]) -> CertificateChange:
    if decision is Decision.DRY_RUN:
        return CertificateChange(
            outcome=Outcome.DRY_RUN,
            message=f"dry run: would {what}; nothing changed. Call again with confirm=true to do it.",
            certificate=CertificateOut.model_validate(cert),
            changes=changes,
        )
    return CertificateChange(
        outcome=Outcome.CANCELLED,
        message=f"cancelled: the person did not confirm; did not {what}",
        certificate=CertificateOut.model_validate(cert),
        changes=[],
    )

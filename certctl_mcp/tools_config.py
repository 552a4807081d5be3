"""Toolset ``config``: issuers, profiles, owners, teams and renewal policies (list/get/create/update/delete).

(No ``from __future__ import annotations``: the delete confirmations are closures the
SDK finds by evaluating each tool's annotations.)
"""

from collections.abc import Callable
from typing import Annotated, Any

from mcp.server.elicitation import ElicitationResult
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.resolve import Elicit, Resolve
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

from certctl_engine.domain import (
    CertificateFilter,
    ExtendedKeyUsage,
    IssuerType,
    KeyAlgorithm,
    MembershipType,
    TargetType,
)
from certctl_engine.serialize import to_jsonable
from certctl_mcp.confirm import CONFIRM_DESCRIPTION, Confirmation, Decision, ask, decide
from certctl_mcp.models import (
    DeleteResult,
    IssuerCheckOut,
    IssuerList,
    IssuerOut,
    Outcome,
    OwnerList,
    OwnerOut,
    ProfileList,
    ProfileOut,
    RenewalPolicyList,
    RenewalPolicyOut,
    TeamList,
    TeamOut,
)
from certctl_mcp.models_automation import (
    AgentGroupList,
    AgentGroupMemberOut,
    AgentGroupMembers,
    AgentGroupOut,
    TargetCheckOut,
    TargetList,
    TargetOut,
)
from certctl_mcp.paging import DEFAULT_LIMIT, MAX_LIMIT, page_of
from certctl_mcp.toolkit import CREATE, DESTRUCTIVE, READ, UPDATE, ToolKit, actor_for

__all__ = ["PROBE", "TEST_CONNECTION", "KeyAlgorithmRuleIn", "register"]

TEST_CONNECTION = ToolAnnotations(readOnlyHint=False, destructiveHint=False, idempotentHint=True, openWorldHint=True)
"""Reaches a CA over the network; may store the ACME account it registers, issues nothing."""
PROBE = ToolAnnotations(readOnlyHint=True, destructiveHint=False, idempotentHint=True, openWorldHint=True)
"""Looks at a server over the network (a TLS handshake, a configuration test) and writes nothing."""

Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT, description=f"Rows per page, 1-{MAX_LIMIT}.")]
Cursor = Annotated[str | None, Field(max_length=500, description="The next_cursor of the previous page.")]
Confirm = Annotated[bool, Field(description=CONFIRM_DESCRIPTION)]
Name = Annotated[str, Field(min_length=1, max_length=255, description="Unique display name.")]
NewName = Annotated[str | None, Field(max_length=255, description="New name.")]


def _id(what: str) -> Any:
    return Annotated[str, Field(min_length=1, max_length=64, description=what)]


class KeyAlgorithmRuleIn(BaseModel):
    """One key algorithm a profile allows, with its minimum size."""

    algorithm: KeyAlgorithm = Field(description="Key algorithm.")
    min_size: int = Field(ge=0, le=16384, description="Minimum size in bits (RSA >= 2048, ECDSA >= 256, Ed25519 0).")


def _given(**values: Any) -> dict[str, Any]:
    """The arguments that were given (not None)."""
    return {k: v for k, v in values.items() if v is not None}


def register(kit: ToolKit) -> None:
    engine = kit.engine

    def count_certs(**flt: Any) -> int:
        return engine.certificates.count(CertificateFilter(include_archived=True, **flt))

    async def delete(
        ctx: Context,
        *,
        resource_type: str,
        resource_id: str,
        confirmation: Any,
        confirm: bool,
        get: Callable[[str], Any],
        remove: Callable[..., None],
        impact: Callable[[], str],
    ) -> DeleteResult:
        """The shared body of every delete tool: look up, then delete, dry-run or cancel."""
        actor = actor_for(ctx.session)
        decision = decide(confirmation, confirm)
        obj = await kit.run(get, resource_id)
        shown = to_jsonable(obj)
        label = f"{resource_type.replace('_', ' ')} '{getattr(obj, 'name', resource_id)}' ({resource_id})"
        what = f"delete {label}"
        if decision is Decision.PROCEED:
            await kit.run(remove, resource_id, actor=actor)
            return DeleteResult(
                outcome=Outcome.DONE,
                message=f"deleted {label}",
                resource_type=resource_type,
                resource_id=resource_id,
                deleted=shown,
            )
        if decision is Decision.DRY_RUN:
            note = await kit.run(impact)
            return DeleteResult(
                outcome=Outcome.DRY_RUN,
                message=f"dry run: would {what}; {note}. Nothing changed; call again with confirm=true to do it.",
                resource_type=resource_type,
                resource_id=resource_id,
                deleted=shown,
            )
        return DeleteResult(
            outcome=Outcome.CANCELLED,
            message=f"cancelled: the person did not confirm; did not {what}",
            resource_type=resource_type,
            resource_id=resource_id,
            deleted=None,
        )

    def question(kind: str, get: Callable[[str], Any], resource_id: str, note: str) -> Callable[[], str]:
        def text() -> str:
            obj = get(resource_id)
            return f"Delete {kind} '{getattr(obj, 'name', resource_id)}' ({resource_id})? {note}"

        return text

    # ================================================================== issuers
    @kit.tool(READ)
    async def list_issuers(limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> IssuerList:
        """List issuers (the CAs certificates are issued through), sorted by name, one page at a time.

        Secret configuration fields are shown redacted. Pass next_cursor back as cursor
        for the next page.
        """
        items, nxt = await kit.run(lambda: page_of("issuers", engine.issuers.list(), limit, cursor))
        return IssuerList(items=[IssuerOut.model_validate(i) for i in items], next_cursor=nxt)

    @kit.tool(READ)
    async def get_issuer(issuer_id: _id("The issuer id (see list_issuers).")) -> IssuerOut:
        """Get one issuer's type, configuration (secrets redacted) and whether it is enabled."""
        return IssuerOut.model_validate(await kit.run(engine.issuers.get, issuer_id))

    @kit.tool(TEST_CONNECTION)
    async def test_issuer(ctx: Context, issuer_id: _id("The issuer id (see list_issuers).")) -> IssuerCheckOut:
        """Reach the issuer's CA with its current configuration and say what works or precisely what does not
        (unreachable, untrusted TLS, a configuration field, an expired local CA). May register the ACME
        account on first use; issues nothing."""
        actor = actor_for(ctx.session)
        return IssuerCheckOut.model_validate(await kit.run(engine.issuance.test_issuer, issuer_id, actor=actor))

    @kit.tool(CREATE)
    async def create_issuer(
        ctx: Context,
        name: Name,
        type: Annotated[IssuerType, Field(description="Issuer type; only GenericCA (a local CA) issues today.")],
        config: Annotated[
            dict[str, Any] | None,
            Field(description="Type-specific settings, e.g. GenericCA: validity_days, ca_common_name, crl_url."),
        ] = None,
        enabled: Annotated[bool, Field(description="Whether it may issue.")] = True,
    ) -> IssuerOut:
        """Add an issuer. The configuration is checked now; secret fields in it are sealed at rest.

        A GenericCA issuer creates its own root CA on first issuance (or imports a sub-CA
        named by ca_cert_path/ca_key_path).
        """
        actor = actor_for(ctx.session)
        return IssuerOut.model_validate(
            await kit.run(engine.issuers.create, name, type, config, actor=actor, enabled=enabled)
        )

    @kit.tool(UPDATE)
    async def update_issuer(
        ctx: Context,
        issuer_id: _id("The issuer id."),
        name: NewName = None,
        type: Annotated[IssuerType | None, Field(description="New issuer type.")] = None,
        config: Annotated[dict[str, Any] | None, Field(description="Replaces the configuration.")] = None,
        enabled: Annotated[bool | None, Field(description="Enable or disable issuing.")] = None,
    ) -> IssuerOut:
        """Change an issuer's name, type, configuration or enabled flag; omitted fields stay."""
        actor = actor_for(ctx.session)
        changes = _given(name=name, type=type, config=config, enabled=enabled)
        return IssuerOut.model_validate(await kit.run(engine.issuers.update, issuer_id, actor=actor, **changes))

    async def _ask_delete_issuer(ctx: Context, issuer_id: str) -> Elicit[Confirmation] | None:
        return await ask(ctx, question("issuer", engine.issuers.get, issuer_id, "Its configuration and CA go."))

    @kit.tool(DESTRUCTIVE)
    async def delete_issuer(
        ctx: Context,
        issuer_id: _id("The issuer id."),
        confirmation: Annotated[ElicitationResult[Confirmation], Resolve(_ask_delete_issuer)],
        confirm: Confirm = False,
    ) -> DeleteResult:
        """Delete an issuer. Refused while any certificate (archived included) uses it.

        Asks the person when the client supports elicitation; otherwise needs
        confirm=true and without it returns a dry run naming what would happen.
        """

        def impact() -> str:
            used = count_certs(issuer_id=issuer_id)
            return f"it would FAIL: {used} certificate(s) use it" if used else "no certificate uses it"

        return await delete(
            ctx,
            resource_type="issuer",
            resource_id=issuer_id,
            confirmation=confirmation,
            confirm=confirm,
            get=engine.issuers.get,
            remove=engine.issuers.delete,
            impact=impact,
        )

    # ================================================================== profiles
    @kit.tool(READ)
    async def list_profiles(limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> ProfileList:
        """List certificate profiles (key, lifetime, EKU and SAN rules), sorted by name, paged."""
        items, nxt = await kit.run(lambda: page_of("profiles", engine.profiles.list(), limit, cursor))
        return ProfileList(items=[ProfileOut.model_validate(p) for p in items], next_cursor=nxt)

    @kit.tool(READ)
    async def get_profile(profile_id: _id("The profile id (see list_profiles).")) -> ProfileOut:
        """Get one profile's rules: allowed keys, max lifetime, EKUs, SAN patterns, approval."""
        return ProfileOut.model_validate(await kit.run(engine.profiles.get, profile_id))

    @kit.tool(CREATE)
    async def create_profile(
        ctx: Context,
        name: Name,
        description: Annotated[str, Field(max_length=2000, description="What it is for.")] = "",
        allowed_key_algorithms: Annotated[
            list[KeyAlgorithmRuleIn] | None,
            Field(description="Allowed keys; default ECDSA >= 256 and RSA >= 2048. The first is the default key."),
        ] = None,
        max_ttl_seconds: Annotated[
            int, Field(ge=0, description="Longest lifetime in seconds; 0 = the issuer's default.")
        ] = 0,
        allowed_ekus: Annotated[
            list[ExtendedKeyUsage] | None, Field(description="Extended key usages; default serverAuth.")
        ] = None,
        required_san_patterns: Annotated[
            list[str] | None, Field(description="Regular expressions every SAN must match.")
        ] = None,
        spiffe_uri_pattern: Annotated[str, Field(max_length=512, description="SPIFFE URI pattern, if any.")] = "",
        allow_short_lived: Annotated[
            bool, Field(description="Short-lived certificates (needs max_ttl_seconds under 3600).")
        ] = False,
        requires_approval: Annotated[bool, Field(description="Issuance waits for approval.")] = False,
        enabled: Annotated[bool, Field(description="Whether certificates may be issued under it.")] = True,
    ) -> ProfileOut:
        """Add a certificate profile: the rules certificates under it are issued by."""
        actor = actor_for(ctx.session)
        profile = await kit.run(
            engine.profiles.create,
            name,
            actor=actor,
            description=description,
            allowed_key_algorithms=[r.model_dump() for r in allowed_key_algorithms] if allowed_key_algorithms else None,
            max_ttl_seconds=max_ttl_seconds,
            allowed_ekus=allowed_ekus,
            required_san_patterns=required_san_patterns,
            spiffe_uri_pattern=spiffe_uri_pattern,
            allow_short_lived=allow_short_lived,
            requires_approval=requires_approval,
            enabled=enabled,
        )
        return ProfileOut.model_validate(profile)

    @kit.tool(UPDATE)
    async def update_profile(
        ctx: Context,
        profile_id: _id("The profile id."),
        name: NewName = None,
        description: Annotated[str | None, Field(max_length=2000, description="New description.")] = None,
        allowed_key_algorithms: Annotated[
            list[KeyAlgorithmRuleIn] | None, Field(description="Replaces the allowed keys.")
        ] = None,
        max_ttl_seconds: Annotated[int | None, Field(ge=0, description="New max lifetime in seconds.")] = None,
        allowed_ekus: Annotated[list[ExtendedKeyUsage] | None, Field(description="Replaces the EKUs.")] = None,
        required_san_patterns: Annotated[list[str] | None, Field(description="Replaces the SAN patterns.")] = None,
        spiffe_uri_pattern: Annotated[str | None, Field(max_length=512, description="New SPIFFE pattern.")] = None,
        allow_short_lived: Annotated[bool | None, Field(description="Allow short-lived certificates.")] = None,
        requires_approval: Annotated[bool | None, Field(description="Require approval.")] = None,
        enabled: Annotated[bool | None, Field(description="Enable or disable the profile.")] = None,
    ) -> ProfileOut:
        """Change a profile's rules; omitted fields stay. Applies to future issuance only."""
        actor = actor_for(ctx.session)
        changes = _given(
            name=name,
            description=description,
            allowed_key_algorithms=[r.model_dump() for r in allowed_key_algorithms]
            if allowed_key_algorithms is not None
            else None,
            max_ttl_seconds=max_ttl_seconds,
            allowed_ekus=allowed_ekus,
            required_san_patterns=required_san_patterns,
            spiffe_uri_pattern=spiffe_uri_pattern,
            allow_short_lived=allow_short_lived,
            requires_approval=requires_approval,
            enabled=enabled,
        )
        return ProfileOut.model_validate(await kit.run(engine.profiles.update, profile_id, actor=actor, **changes))

    async def _ask_delete_profile(ctx: Context, profile_id: str) -> Elicit[Confirmation] | None:
        return await ask(
            ctx, question("profile", engine.profiles.get, profile_id, "Certificates under it lose their profile.")
        )

    @kit.tool(DESTRUCTIVE)
    async def delete_profile(
        ctx: Context,
        profile_id: _id("The profile id."),
        confirmation: Annotated[ElicitationResult[Confirmation], Resolve(_ask_delete_profile)],
        confirm: Confirm = False,
    ) -> DeleteResult:
        """Delete a profile; certificates under it are unlinked (they keep their versions).

        Asks the person when the client supports elicitation; otherwise needs
        confirm=true and without it returns a dry run naming how many are unlinked.
        """

        def impact() -> str:
            return f"{count_certs(profile_id=profile_id)} certificate(s) would lose this profile"

        return await delete(
            ctx,
            resource_type="profile",
            resource_id=profile_id,
            confirmation=confirmation,
            confirm=confirm,
            get=engine.profiles.get,
            remove=engine.profiles.delete,
            impact=impact,
        )

    # ================================================================== teams
    @kit.tool(READ)
    async def list_teams(limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> TeamList:
        """List teams (who is responsible for certificates), sorted by name, paged."""
        items, nxt = await kit.run(lambda: page_of("teams", engine.ownership.list_teams(), limit, cursor))
        return TeamList(items=[TeamOut.model_validate(t) for t in items], next_cursor=nxt)

    @kit.tool(READ)
    async def get_team(team_id: _id("The team id (see list_teams).")) -> TeamOut:
        """Get one team: its name and description. Its owners come from list_owners with team_id."""
        return TeamOut.model_validate(await kit.run(engine.ownership.get_team, team_id))

    @kit.tool(CREATE)
    async def create_team(
        ctx: Context,
        name: Name,
        description: Annotated[str, Field(max_length=2000, description="What the team does.")] = "",
    ) -> TeamOut:
        """Add a team (a group responsible for certificates). Names are unique; owners join it via create_owner."""
        actor = actor_for(ctx.session)
        return TeamOut.model_validate(await kit.run(engine.ownership.create_team, name, description, actor=actor))

    @kit.tool(UPDATE)
    async def update_team(
        ctx: Context,
        team_id: _id("The team id."),
        name: NewName = None,
        description: Annotated[str | None, Field(max_length=2000, description="New description.")] = None,
    ) -> TeamOut:
        """Rename a team or change its description; omitted fields stay. Names are unique."""
        actor = actor_for(ctx.session)
        team = await kit.run(engine.ownership.update_team, team_id, actor=actor, name=name, description=description)
        return TeamOut.model_validate(team)

    async def _ask_delete_team(ctx: Context, team_id: str) -> Elicit[Confirmation] | None:
        return await ask(ctx, question("team", engine.ownership.get_team, team_id, "Its owners are removed too."))

    @kit.tool(DESTRUCTIVE)
    async def delete_team(
        ctx: Context,
        team_id: _id("The team id."),
        confirmation: Annotated[ElicitationResult[Confirmation], Resolve(_ask_delete_team)],
        confirm: Confirm = False,
    ) -> DeleteResult:
        """Delete a team and its owners. Refused while it (or its owners) still has certificates.

        Asks the person when the client supports elicitation; otherwise needs
        confirm=true and without it returns a dry run.
        """

        def impact() -> str:
            owners = engine.ownership.list_owners(team_id)
            used = count_certs(team_id=team_id) + sum(count_certs(owner_id=o.id) for o in owners)
            if used:
                return f"it would FAIL: {used} certificate(s) belong to the team or its owners"
            return f"its {len(owners)} owner(s) would be removed too"

        return await delete(
            ctx,
            resource_type="team",
            resource_id=team_id,
            confirmation=confirmation,
            confirm=confirm,
            get=engine.ownership.get_team,
            remove=engine.ownership.delete_team,
            impact=impact,
        )

    # ================================================================== owners
    @kit.tool(READ)
    async def list_owners(
        team_id: Annotated[str | None, Field(max_length=64, description="Only owners of this team.")] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> OwnerList:
        """List owners (people responsible for certificates), sorted by name, paged."""
        items, nxt = await kit.run(lambda: page_of("owners", engine.ownership.list_owners(team_id), limit, cursor))
        return OwnerList(items=[OwnerOut.model_validate(o) for o in items], next_cursor=nxt)

    @kit.tool(READ)
    async def get_owner(owner_id: _id("The owner id (see list_owners).")) -> OwnerOut:
        """Get one owner: name, email (where expiry warnings go) and team."""
        return OwnerOut.model_validate(await kit.run(engine.ownership.get_owner, owner_id))

    @kit.tool(CREATE)
    async def create_owner(
        ctx: Context,
        name: Annotated[str, Field(min_length=1, max_length=255, description="The person's name.")],
        email: Annotated[str, Field(max_length=320, description="Where notifications go.")] = "",
        team_id: Annotated[str | None, Field(max_length=64, description="Their team (see list_teams).")] = None,
    ) -> OwnerOut:
        """Add an owner (a person responsible for certificates), optionally in a team."""
        actor = actor_for(ctx.session)
        return OwnerOut.model_validate(await kit.run(engine.ownership.create_owner, name, email, team_id, actor=actor))

    @kit.tool(UPDATE)
    async def update_owner(
        ctx: Context,
        owner_id: _id("The owner id."),
        name: NewName = None,
        email: Annotated[str | None, Field(max_length=320, description="New email.")] = None,
        team_id: Annotated[
            str | None, Field(max_length=64, description="New team id; empty string removes the team.")
        ] = None,
    ) -> OwnerOut:
        """Change an owner's name, email or team; omitted fields stay."""
        actor = actor_for(ctx.session)
        changes = _given(name=name, email=email, team_id=team_id)
        return OwnerOut.model_validate(await kit.run(engine.ownership.update_owner, owner_id, actor=actor, **changes))

    async def _ask_delete_owner(ctx: Context, owner_id: str) -> Elicit[Confirmation] | None:
        return await ask(ctx, question("owner", engine.ownership.get_owner, owner_id, ""))

    @kit.tool(DESTRUCTIVE)
    async def delete_owner(
        ctx: Context,
        owner_id: _id("The owner id."),
        confirmation: Annotated[ElicitationResult[Confirmation], Resolve(_ask_delete_owner)],
        confirm: Confirm = False,
    ) -> DeleteResult:
        """Delete an owner. Refused while they still own certificates (reassign them first).

        Asks the person when the client supports elicitation; otherwise needs
        confirm=true and without it returns a dry run.
        """

        def impact() -> str:
            used = count_certs(owner_id=owner_id)
            return f"it would FAIL: they own {used} certificate(s)" if used else "they own no certificates"

        return await delete(
            ctx,
            resource_type="owner",
            resource_id=owner_id,
            confirmation=confirmation,
            confirm=confirm,
            get=engine.ownership.get_owner,
            remove=engine.ownership.delete_owner,
            impact=impact,
        )

    # ================================================================== renewal policies
    @kit.tool(READ)
    async def list_renewal_policies(limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> RenewalPolicyList:
        """List renewal policies (when to renew, retries, alert thresholds), sorted by name, paged."""
        items, nxt = await kit.run(lambda: page_of("renewal_policies", engine.renewal_policies.list(), limit, cursor))
        return RenewalPolicyList(items=[RenewalPolicyOut.model_validate(p) for p in items], next_cursor=nxt)

    @kit.tool(READ)
    async def get_renewal_policy(
        renewal_policy_id: _id("The renewal policy id (see list_renewal_policies)."),
    ) -> RenewalPolicyOut:
        """Get one renewal policy: window (days before expiry), auto-renew, retries, alert thresholds."""
        return RenewalPolicyOut.model_validate(await kit.run(engine.renewal_policies.get, renewal_policy_id))

    @kit.tool(CREATE)
    async def create_renewal_policy(
        ctx: Context,
        name: Name,
        renewal_window_days: Annotated[
            int, Field(ge=1, le=365, description="Renew this many days before expiry.")
        ] = 30,
        auto_renew: Annotated[bool, Field(description="Renew automatically.")] = True,
        max_retries: Annotated[int, Field(ge=0, le=100, description="Retries after a failed renewal.")] = 3,
        retry_interval_minutes: Annotated[int, Field(ge=0, le=10080, description="Minutes between retries.")] = 60,
        alert_thresholds_days: Annotated[
            list[int] | None, Field(description="Days before expiry to warn (each 0-365); default 30, 14, 7, 0.")
        ] = None,
        certificate_profile_id: Annotated[
            str | None, Field(max_length=64, description="Profile this policy is meant for.")
        ] = None,
    ) -> RenewalPolicyOut:
        """Add a renewal policy: how many days before expiry to renew, automatically or not, with retries and
        alert thresholds. Names are unique; certificates pick it with renewal_policy_id."""
        actor = actor_for(ctx.session)
        policy = await kit.run(
            engine.renewal_policies.create,
            name,
            actor=actor,
            renewal_window_days=renewal_window_days,
            auto_renew=auto_renew,
            max_retries=max_retries,
            retry_interval_minutes=retry_interval_minutes,
            alert_thresholds_days=alert_thresholds_days,
            certificate_profile_id=certificate_profile_id,
        )
        return RenewalPolicyOut.model_validate(policy)

    @kit.tool(UPDATE)
    async def update_renewal_policy(
        ctx: Context,
        renewal_policy_id: _id("The renewal policy id."),
        name: NewName = None,
        renewal_window_days: Annotated[int | None, Field(ge=1, le=365, description="New window in days.")] = None,
        auto_renew: Annotated[bool | None, Field(description="Renew automatically.")] = None,
        max_retries: Annotated[int | None, Field(ge=0, le=100, description="New retry count.")] = None,
        retry_interval_minutes: Annotated[int | None, Field(ge=0, le=10080, description="New interval.")] = None,
        alert_thresholds_days: Annotated[list[int] | None, Field(description="Replaces the thresholds.")] = None,
        certificate_profile_id: Annotated[
            str | None, Field(max_length=64, description="New profile id; empty string removes it.")
        ] = None,
    ) -> RenewalPolicyOut:
        """Change a renewal policy; omitted fields stay. Applies to every certificate using it."""
        actor = actor_for(ctx.session)
        changes = _given(
            name=name,
            renewal_window_days=renewal_window_days,
            auto_renew=auto_renew,
            max_retries=max_retries,
            retry_interval_minutes=retry_interval_minutes,
            alert_thresholds_days=alert_thresholds_days,
            certificate_profile_id=certificate_profile_id,
        )
        policy = await kit.run(engine.renewal_policies.update, renewal_policy_id, actor=actor, **changes)
        return RenewalPolicyOut.model_validate(policy)

    async def _ask_delete_renewal_policy(ctx: Context, renewal_policy_id: str) -> Elicit[Confirmation] | None:
        return await ask(ctx, question("renewal policy", engine.renewal_policies.get, renewal_policy_id, ""))

    @kit.tool(DESTRUCTIVE)
    async def delete_renewal_policy(
        ctx: Context,
        renewal_policy_id: _id("The renewal policy id."),
        confirmation: Annotated[ElicitationResult[Confirmation], Resolve(_ask_delete_renewal_policy)],
        confirm: Confirm = False,
    ) -> DeleteResult:
        """Delete a renewal policy. Refused while certificates use it (move them first).

        Asks the person when the client supports elicitation; otherwise needs
        confirm=true and without it returns a dry run.
        """
        return await delete(
            ctx,
            resource_type="renewal_policy",
            resource_id=renewal_policy_id,
            confirmation=confirmation,
            confirm=confirm,
            get=engine.renewal_policies.get,
            remove=engine.renewal_policies.delete,
            impact=lambda: "it fails if any certificate uses the policy",
        )

    # ================================================================== deployment targets
    @kit.tool(READ)
    async def list_targets(
        agent_id: Annotated[str | None, Field(max_length=64, description="Only targets of this agent.")] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> TargetList:
        """List deployment targets (the servers certificates are installed on), sorted by name, paged.
        Secret configuration fields are shown redacted."""
        items, nxt = await kit.run(lambda: page_of("targets", engine.targets.list(agent_id), limit, cursor))
        return TargetList(items=[TargetOut.model_validate(t) for t in items], next_cursor=nxt)

    @kit.tool(READ)
    async def get_target(target_id: _id("The target id (see list_targets).")) -> TargetOut:
        """Get one deployment target: its type, agent, configuration (secrets redacted) and state."""
        return TargetOut.model_validate(await kit.run(engine.targets.get, target_id))

    @kit.tool(PROBE)
    async def test_target(target_id: _id("The target id (see list_targets).")) -> TargetCheckOut:
        """Check that a deployment to a target can work now, writing nothing: its configuration, the
        server's own configuration test where its connector has one, and the certificate the host it
        names serves now. Targets of an agent are checked there at deployment; here only their
        configuration and their agent's state."""
        return TargetCheckOut.model_validate(await kit.run(engine.deployments.check_target, target_id))

    @kit.tool(CREATE)
    async def create_target(
        ctx: Context,
        name: Name,
        type: Annotated[TargetType, Field(description="The kind of server.")],
        config: Annotated[
            dict[str, Any] | None,
            Field(
                description="Type-specific settings, e.g. Files: directory, cert_file, key_file, chain_file, "
                "fullchain_file, post_deploy_command (argument list), host/port to verify what is served."
            ),
        ] = None,
        agent_id: Annotated[
            str | None, Field(max_length=64, description="The agent that deploys to it; omitted: the engine.")
        ] = None,
        enabled: Annotated[bool, Field(description="Whether deployments run.")] = True,
    ) -> TargetOut:
        """Add a deployment target. Names are unique per agent; secret fields are sealed at rest. Map it to
        certificates with update_certificate(target_ids=...); every new version then deploys to it."""
        actor = actor_for(ctx.session)
        target = await kit.run(
            engine.targets.create, name, type, config, actor=actor, agent_id=agent_id, enabled=enabled
        )
        return TargetOut.model_validate(target)

    @kit.tool(UPDATE)
    async def update_target(
        ctx: Context,
        target_id: _id("The target id."),
        name: NewName = None,
        config: Annotated[dict[str, Any] | None, Field(description="Replaces the configuration.")] = None,
        enabled: Annotated[bool | None, Field(description="Enable or disable deployments.")] = None,
    ) -> TargetOut:
        """Change a target's name, configuration or enabled flag; omitted fields stay."""
        actor = actor_for(ctx.session)
        changes = _given(name=name, config=config, enabled=enabled)
        return TargetOut.model_validate(await kit.run(engine.targets.update, target_id, actor=actor, **changes))

    async def _ask_delete_target(ctx: Context, target_id: str) -> Elicit[Confirmation] | None:
        note = "Its certificate mappings go; certificates stay."
        return await ask(ctx, question("target", engine.targets.get, target_id, note))

    @kit.tool(DESTRUCTIVE)
    async def delete_target(
        ctx: Context,
        target_id: _id("The target id."),
        confirmation: Annotated[ElicitationResult[Confirmation], Resolve(_ask_delete_target)],
        confirm: Confirm = False,
    ) -> DeleteResult:
        """Delete a deployment target and its certificate mappings; the certificates and files already
        deployed stay. Asks the person when the client supports elicitation; otherwise needs confirm=true
        and without it returns a dry run naming the certificates mapped to it."""

        def impact() -> str:
            mapped = engine.deployments.mapped_certificates(target_id)
            if not mapped:
                return "no certificate maps to it"
            shown = ", ".join(mapped[:10]) + (f" and {len(mapped) - 10} more" if len(mapped) > 10 else "")
            return f"{len(mapped)} certificate(s) map to it and would lose the mapping: {shown}"

        return await delete(
            ctx,
            resource_type="target",
            resource_id=target_id,
            confirmation=confirmation,
            confirm=confirm,
            get=engine.targets.get,
            remove=engine.targets.delete,
            impact=impact,
        )

    # ================================================================== agent groups
    Criterion = Annotated[str | None, Field(max_length=64, description="Empty string clears it; omitted: unchanged.")]

    @kit.tool(READ)
    async def list_agent_groups(limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> AgentGroupList:
        """List agent groups (agents chosen by OS, architecture, network and version), sorted by name, paged."""
        items, nxt = await kit.run(lambda: page_of("agent groups", engine.agent_groups.list(), limit, cursor))
        return AgentGroupList(items=[AgentGroupOut.model_validate(g) for g in items], next_cursor=nxt)

    @kit.tool(READ)
    async def get_agent_group(group_id: _id("The agent group id (see list_agent_groups).")) -> AgentGroupOut:
        """Get one agent group: its criteria (OS, architecture, network, version) and whether it is enabled."""
        return AgentGroupOut.model_validate(await kit.run(engine.agent_groups.get, group_id))

    @kit.tool(READ)
    async def list_agent_group_members(
        group_id: _id("The agent group id."), limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
    ) -> AgentGroupMembers:
        """The agents in a group now, by name: those whose latest heartbeat meets every criterion, plus
        manual includes, minus manual excludes; each with why it is in."""
        items, nxt = await kit.run(
            lambda: page_of("agent group members", engine.agent_groups.members(group_id), limit, cursor)
        )
        return AgentGroupMembers(
            group_id=group_id, items=[AgentGroupMemberOut.model_validate(m) for m in items], next_cursor=nxt
        )

    @kit.tool(CREATE)
    async def create_agent_group(
        ctx: Context,
        name: Name,
        description: Annotated[str, Field(max_length=2000, description="What the group is for.")] = "",
        match_os: Annotated[str, Field(max_length=64, description="OS, e.g. linux; empty: any.")] = "",
        match_architecture: Annotated[str, Field(max_length=64, description="e.g. amd64; empty: any.")] = "",
        match_ip_cidr: Annotated[str, Field(max_length=64, description="e.g. 10.0.1.0/24; empty: any.")] = "",
        match_version: Annotated[str, Field(max_length=64, description="e.g. 1.4.* ; empty: any.")] = "",
        enabled: Annotated[bool, Field(description="Whether the group is in use.")] = True,
    ) -> AgentGroupOut:
        """Add an agent group. Every non-empty criterion must match an agent's latest heartbeat; a group with
        no criterion has only the members added by hand (set_agent_group_membership)."""
        actor = actor_for(ctx.session)
        group = await kit.run(
            engine.agent_groups.create,
            name,
            actor=actor,
            description=description,
            match_os=match_os,
            match_architecture=match_architecture,
            match_ip_cidr=match_ip_cidr,
            match_version=match_version,
            enabled=enabled,
        )
        return AgentGroupOut.model_validate(group)

    @kit.tool(UPDATE)
    async def update_agent_group(
        ctx: Context,
        group_id: _id("The agent group id."),
        name: NewName = None,
        description: Annotated[str | None, Field(max_length=2000, description="New description.")] = None,
        match_os: Criterion = None,
        match_architecture: Criterion = None,
        match_ip_cidr: Criterion = None,
        match_version: Criterion = None,
        enabled: Annotated[bool | None, Field(description="Turn the group on or off.")] = None,
    ) -> AgentGroupOut:
        """Change an agent group's name, description, criteria or state; omitted fields stay."""
        actor = actor_for(ctx.session)
        changes = _given(
            name=name,
            description=description,
            match_os=match_os,
            match_architecture=match_architecture,
            match_ip_cidr=match_ip_cidr,
            match_version=match_version,
            enabled=enabled,
        )
        return AgentGroupOut.model_validate(await kit.run(engine.agent_groups.update, group_id, actor=actor, **changes))

    @kit.tool(UPDATE)
    async def set_agent_group_membership(
        ctx: Context,
        group_id: _id("The agent group id."),
        agent_id: _id("The agent id (see list_agents)."),
        membership: Annotated[
            MembershipType | None,
            Field(description="include: always in; exclude: always out; null: remove the manual choice."),
        ],
    ) -> AgentGroupMembers:
        """Add an agent to a group by hand, keep it out whatever the criteria say, or remove that manual
        choice; returns the members afterwards (first page)."""
        actor = actor_for(ctx.session)

        def run() -> list[Any]:
            engine.agent_groups.set_membership(group_id, agent_id, membership, actor=actor)
            return engine.agent_groups.members(group_id)

        members = await kit.run(run)
        return AgentGroupMembers(
            group_id=group_id,
            items=[AgentGroupMemberOut.model_validate(m) for m in members[:DEFAULT_LIMIT]],
            next_cursor=None,
        )

    async def _ask_delete_agent_group(ctx: Context, group_id: str) -> Elicit[Confirmation] | None:
        note = "Agents stay; renewal policies that name it no longer do."
        return await ask(ctx, question("agent group", engine.agent_groups.get, group_id, note))

    @kit.tool(DESTRUCTIVE)
    async def delete_agent_group(
        ctx: Context,
        group_id: _id("The agent group id."),
        confirmation: Annotated[ElicitationResult[Confirmation], Resolve(_ask_delete_agent_group)],
        confirm: Confirm = False,
    ) -> DeleteResult:
        """Delete an agent group and its manual memberships; agents stay, and renewal policies that named
        it no longer do. Asks the person when the client supports elicitation; otherwise needs
        confirm=true and without it returns a dry run."""

        def impact() -> str:
            members = len(engine.agent_groups.members(group_id))
            return f"it has {members} member(s) now; they stay registered"

        return await delete(
            ctx,
            resource_type="agent_group",
            resource_id=group_id,
            confirmation=confirmation,
            confirm=confirm,
            get=engine.agent_groups.get,
            remove=engine.agent_groups.delete,
            impact=impact,
        )

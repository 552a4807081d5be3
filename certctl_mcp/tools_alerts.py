"""Toolset ``alerts``: notifications, policy rules and violations, discovery and network scans."""

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp.types import ToolAnnotations
from pydantic import Field

from certctl_engine.domain import DiscoveryStatus, NotificationStatus, PolicySeverity, PolicyType
from certctl_mcp.models import (
    DiscoveryList,
    DiscoveryOut,
    NotificationList,
    NotificationOut,
    PolicyRuleList,
    PolicyRuleOut,
    PolicyViolationList,
    PolicyViolationOut,
    ScanResultOut,
    ScanTargetList,
    ScanTargetOut,
)
from certctl_mcp.paging import DEFAULT_LIMIT, MAX_LIMIT
from certctl_mcp.toolkit import CREATE, READ, UPDATE, ToolKit, actor_for

__all__ = ["SCAN", "register"]

SCAN = ToolAnnotations(readOnlyHint=False, destructiveHint=False, idempotentHint=False, openWorldHint=True)
"""Reaches out to other hosts (a network scan), and stores what it finds."""

Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT, description=f"Rows per page, 1-{MAX_LIMIT}.")]
Cursor = Annotated[str | None, Field(max_length=500, description="The next_cursor of the previous page.")]


def _id(what: str) -> Any:
    return Annotated[str, Field(min_length=1, max_length=64, description=what)]


def register(kit: ToolKit) -> None:
    engine = kit.engine

    # ================================================================== notifications
    @kit.tool(READ)
    async def list_notifications(
        status: Annotated[NotificationStatus | None, Field(description="Only this delivery state.")] = None,
        certificate_id: Annotated[str | None, Field(max_length=64, description="Only about this certificate.")] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> NotificationList:
        """Alerts certctl sent or tries to send (expiry thresholds, failed renewals and deployments,
        revocations, approvals, policy violations), newest first, paged; each with its channel,
        delivery state, attempts and last error."""
        page = await kit.run(
            engine.notifications.list, status=status, certificate_id=certificate_id, limit=limit, cursor=cursor
        )
        return NotificationList(
            items=[NotificationOut.model_validate(n) for n in page.items], next_cursor=page.next_cursor
        )

    @kit.tool(UPDATE)
    async def mark_notification_read(
        ctx: Context, notification_id: _id("The notification id (see list_notifications).")
    ) -> NotificationOut:
        """Mark one notification read; marking it again changes nothing."""
        actor = actor_for(ctx.session)
        return NotificationOut.model_validate(
            await kit.run(engine.notifications.mark_read, notification_id, actor=actor)
        )

    # ================================================================== policies
    @kit.tool(READ)
    async def list_policy_rules() -> PolicyRuleList:
        """The policy rules certificates are held to. Critical rules refuse registration, issuance and
        renewal; Warning and Error rules record violations (see list_policy_violations)."""
        rules = await kit.run(engine.policies.list_rules)
        return PolicyRuleList(items=[PolicyRuleOut.model_validate(r) for r in rules])

    @kit.tool(READ)
    async def get_policy_rule(rule_id: _id("The rule id (see list_policy_rules).")) -> PolicyRuleOut:
        """One policy rule with its configuration and severity."""
        return PolicyRuleOut.model_validate(await kit.run(engine.policies.get_rule, rule_id))

    @kit.tool(CREATE)
    async def create_policy_rule(
        ctx: Context,
        name: Annotated[str, Field(min_length=1, max_length=255, description="Unique display name.")],
        type: Annotated[PolicyType, Field(description="What the rule checks.")],
        config: Annotated[
            dict[str, Any],
            Field(
                description='By type: AllowedIssuers {"issuers": [ids]}, AllowedDomains {"domains": ["example.com", '
                '"*.corp.net"]}, AllowedEnvironments {"environments": [...]}, RequiredMetadata {"fields": ["owner", '
                '"team", "environment", "renewal_policy", "profile", "tags.<key>"]}, RenewalLeadTime {"min_days": N}.'
            ),
        ],
        severity: Annotated[PolicySeverity, Field(description="Critical refuses; the others record.")] = (
            PolicySeverity.WARNING
        ),
        enabled: Annotated[bool, Field(description="Whether the rule is checked.")] = True,
    ) -> PolicyRuleOut:
        """Add a policy rule; its configuration is checked now (the error names what is wrong). It applies
        to new registrations, issuance and renewal at once, and to the inventory at the next policy scan."""
        actor = actor_for(ctx.session)
        rule = await kit.run(
            engine.policies.create_rule, name, type, config, actor=actor, severity=severity, enabled=enabled
        )
        return PolicyRuleOut.model_validate(rule)

    @kit.tool(UPDATE)
    async def update_policy_rule(
        ctx: Context,
        rule_id: _id("The rule id."),
        config: Annotated[dict[str, Any] | None, Field(description="New configuration for the rule's type.")] = None,
        severity: Annotated[PolicySeverity | None, Field(description="New severity.")] = None,
        enabled: Annotated[bool | None, Field(description="Turn the rule on or off.")] = None,
    ) -> PolicyRuleOut:
        """Change a rule's configuration, severity or state; omitted fields stay."""
        actor = actor_for(ctx.session)
        rule = await kit.run(
            engine.policies.update_rule, rule_id, actor=actor, config=config, severity=severity, enabled=enabled
        )
        return PolicyRuleOut.model_validate(rule)

    @kit.tool(READ)
    async def list_policy_violations(
        rule_id: Annotated[str | None, Field(max_length=64, description="Only this rule's violations.")] = None,
        certificate_id: Annotated[str | None, Field(max_length=64, description="Only this certificate's.")] = None,
        include_resolved: Annotated[bool, Field(description="Also those already fixed.")] = False,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> PolicyViolationList:
        """Certificates breaking policy rules, newest first; open ones unless include_resolved."""
        page = await kit.run(
            engine.policies.list_violations,
            rule_id=rule_id,
            certificate_id=certificate_id,
            include_resolved=include_resolved,
            limit=limit,
            cursor=cursor,
        )
        return PolicyViolationList(
            items=[PolicyViolationOut.model_validate(v) for v in page.items], next_cursor=page.next_cursor
        )

    # ================================================================== discovery
    @kit.tool(READ)
    async def list_discoveries(
        status: Annotated[DiscoveryStatus | None, Field(description="Only this triage state.")] = None,
        agent_id: Annotated[str | None, Field(max_length=64, description="Only what this agent found.")] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> DiscoveryList:
        """Certificates found on hosts and listeners, most recently seen first: Unmanaged ones are not in the
        inventory yet (claim_discovery), Dismissed ones are kept quiet."""
        page = await kit.run(engine.discovery.list, status=status, agent_id=agent_id, limit=limit, cursor=cursor)
        return DiscoveryList(items=[DiscoveryOut.model_validate(d) for d in page.items], next_cursor=page.next_cursor)

    @kit.tool(UPDATE)
    async def claim_discovery(
        ctx: Context,
        discovery_id: _id("The discovery id (see list_discoveries)."),
        issuer_id: Annotated[
            str | None,
            Field(max_length=64, description="To import it as a new certificate: the issuer that renews it."),
        ] = None,
        certificate_id: Annotated[
            str | None, Field(max_length=64, description="Or link it to this existing managed certificate.")
        ] = None,
        name: Annotated[str | None, Field(max_length=255, description="Name of the new certificate.")] = None,
        owner_id: Annotated[str | None, Field(max_length=64, description="Owner of the new certificate.")] = None,
        team_id: Annotated[str | None, Field(max_length=64, description="Team of the new certificate.")] = None,
    ) -> DiscoveryOut:
        """Bring a discovered certificate under management: import it (issuer_id) or link it (certificate_id).
        Every other sighting of the same certificate becomes Managed too."""
        actor = actor_for(ctx.session)
        found = await kit.run(
            engine.discovery.claim,
            discovery_id,
            actor=actor,
            certificate_id=certificate_id,
            issuer_id=issuer_id,
            name=name,
            owner_id=owner_id,
            team_id=team_id,
        )
        return DiscoveryOut.model_validate(found)

    @kit.tool(UPDATE)
    async def dismiss_discovery(ctx: Context, discovery_id: _id("The discovery id.")) -> DiscoveryOut:
        """Keep a discovery but stop listing it as unmanaged; it stays dismissed when seen again."""
        actor = actor_for(ctx.session)
        return DiscoveryOut.model_validate(await kit.run(engine.discovery.dismiss, discovery_id, actor=actor))

    @kit.tool(READ)
    async def list_scan_targets() -> ScanTargetList:
        """Address ranges and ports certctl probes for TLS listeners, with their last scan."""
        targets = await kit.run(engine.discovery.list_targets)
        return ScanTargetList(items=[ScanTargetOut.model_validate(t) for t in targets])

    @kit.tool(CREATE)
    async def create_scan_target(
        ctx: Context,
        name: Annotated[str, Field(min_length=1, max_length=255, description="Unique display name.")],
        cidrs: Annotated[list[str], Field(min_length=1, max_length=64, description="IP addresses or CIDR ranges.")],
        ports: Annotated[list[int], Field(min_length=1, max_length=64, description="TCP ports to probe.")] = [443],  # noqa: B006
        sni_names: Annotated[list[str], Field(max_length=64, description="Server names to send (SNI).")] = [],  # noqa: B006
        allow_reserved: Annotated[
            bool, Field(description="Allow loopback, link-local, multicast and other reserved ranges.")
        ] = False,
        confirm_size: Annotated[bool, Field(description="Confirm ranges of more than 4,096 addresses.")] = False,
    ) -> ScanTargetOut:
        """Add a network scan target. Reserved ranges (loopback, link-local with its cloud metadata services,
        multicast) are refused unless allow_reserved; more than 4,096 addresses need confirm_size; a /16 is
        the most."""
        actor = actor_for(ctx.session)
        target = await kit.run(
            engine.discovery.create_target,
            name,
            cidrs,
            actor=actor,
            ports=ports,
            sni_names=sni_names,
            allow_reserved=allow_reserved,
            confirm_size=confirm_size,
        )
        return ScanTargetOut.model_validate(target)

    @kit.tool(SCAN)
    async def scan_network(
        ctx: Context, target_id: _id("The scan target id (see list_scan_targets).")
    ) -> ScanResultOut:
        """Probe a scan target's addresses and ports now and store every certificate the listeners serve
        (reaches other hosts). Returns what was found and what was new; list_discoveries shows them."""
        actor = actor_for(ctx.session)
        return ScanResultOut.model_validate(await kit.run(engine.discovery.scan_target, target_id, actor=actor))

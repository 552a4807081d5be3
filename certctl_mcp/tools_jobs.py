"""Toolset ``jobs``: issuance, renewal and deployment jobs, their approval, deployments on demand, agents.

A job moves through the inventory's states (Pending, AwaitingCSR, AwaitingApproval,
Running, Completed, Failed, Cancelled); the tools here only ask for the transitions a
person may make, and the engine refuses the ones its state machine forbids.
"""

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp.types import ToolAnnotations
from pydantic import Field

from certctl_engine.domain import JobStatus, JobType
from certctl_engine.errors import NotFound
from certctl_mcp.models_automation import AgentList, AgentOut, JobList, JobOut
from certctl_mcp.paging import DEFAULT_LIMIT, MAX_LIMIT, page_of
from certctl_mcp.toolkit import CREATE, READ, ToolKit, actor_for

__all__ = ["TRANSITION", "register"]

TRANSITION = ToolAnnotations(readOnlyHint=False, destructiveHint=False, idempotentHint=False, openWorldHint=False)
"""Moves a job to another state; a repeat is refused because the job is no longer where it was."""

Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT, description=f"Rows per page, 1-{MAX_LIMIT}.")]
Cursor = Annotated[str | None, Field(max_length=500, description="The next_cursor of the previous page.")]
CertRef = Annotated[
    str,
    Field(min_length=1, max_length=255, description="The certificate's id (cert-...) or its exact unique name."),
]


def _id(what: str) -> Any:
    return Annotated[str, Field(min_length=1, max_length=64, description=what)]


def register(kit: ToolKit) -> None:
    engine = kit.engine

    def resolve_certificate(ref: str) -> str:
        """A certificate's id from its id or exact name."""
        try:
            return engine.certificates.get(ref).id
        except NotFound:
            found = engine.certificates.find_by_name(ref)
            if found is None:
                raise
            return found.id

    # ================================================================== jobs
    @kit.tool(READ)
    async def list_jobs(
        status: Annotated[JobStatus | None, Field(description="Only jobs in this state.")] = None,
        type: Annotated[JobType | None, Field(description="Only jobs of this type.")] = None,
        certificate_id: Annotated[
            str | None, Field(max_length=255, description="Only jobs of this certificate (id or exact name).")
        ] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> JobList:
        """Issuance, renewal, deployment and validation jobs, newest first, paged. Use status=AwaitingApproval
        to see what waits for a person, status=Failed to see what broke (last_error is verbatim)."""

        def run() -> Any:
            cert = resolve_certificate(certificate_id) if certificate_id else None
            return engine.jobs.list(status=status, type=type, certificate_id=cert, limit=limit, cursor=cursor)

        page = await kit.run(run)
        return JobList(items=[JobOut.model_validate(j) for j in page.items], next_cursor=page.next_cursor)

    @kit.tool(READ)
    async def get_job(job_id: _id("The job id (see list_jobs).")) -> JobOut:
        """One job: its state, attempts, schedule, who asked for it, and its last error verbatim."""
        return JobOut.model_validate(await kit.run(engine.jobs.get, job_id))

    @kit.tool(TRANSITION)
    async def approve_job(ctx: Context, job_id: _id("The id of a job in AwaitingApproval.")) -> JobOut:
        """Approve a job that waits in AwaitingApproval (its profile or renewal policy asks for approval);
        it becomes Pending and runs at the next job tick. Whoever requested the job cannot approve it."""
        return JobOut.model_validate(await kit.run(engine.jobs.approve, job_id, actor=actor_for(ctx.session)))

    @kit.tool(TRANSITION)
    async def reject_job(
        ctx: Context,
        job_id: _id("The id of a job in AwaitingApproval."),
        reason: Annotated[str, Field(max_length=500, description="Why; kept as the job's last error.")] = "",
    ) -> JobOut:
        """Reject a job that waits for approval: it ends Cancelled with the reason kept. Whoever requested
        the job cannot reject it either."""
        actor = actor_for(ctx.session)
        return JobOut.model_validate(await kit.run(engine.jobs.reject, job_id, reason, actor=actor))

    @kit.tool(TRANSITION)
    async def cancel_job(ctx: Context, job_id: _id("The id of a waiting or running job.")) -> JobOut:
        """Cancel a job that has not finished (Pending, AwaitingCSR, AwaitingApproval or Running); it ends
        Cancelled. Finished jobs cannot be cancelled; create a new one instead."""
        return JobOut.model_validate(await kit.run(engine.jobs.cancel, job_id, actor=actor_for(ctx.session)))

    @kit.tool(TRANSITION)
    async def retry_job(ctx: Context, job_id: _id("The id of a Failed job.")) -> JobOut:
        """Give a Failed job one more attempt now (it becomes Pending and runs at the next job tick)."""
        return JobOut.model_validate(await kit.run(engine.jobs.retry, job_id, actor=actor_for(ctx.session)))

    @kit.tool(CREATE)
    async def trigger_deployment(
        ctx: Context,
        certificate_id: CertRef,
        target_ids: Annotated[
            list[Annotated[str, Field(min_length=1, max_length=64)]] | None,
            Field(max_length=100, description="Only these mapped targets; omitted: every target it is mapped to."),
        ] = None,
    ) -> JobList:
        """Deploy a certificate's current version now: one Deployment job per target. Targets without an
        agent are deployed by the engine, agent-owned ones when their agent polls. Refused when the
        certificate is not issued, maps to no target, or a deployment to that target is already queued."""
        actor = actor_for(ctx.session)

        def run() -> Any:
            return engine.deployments.trigger(resolve_certificate(certificate_id), actor=actor, target_ids=target_ids)

        jobs = await kit.run(run)
        return JobList(items=[JobOut.model_validate(j) for j in jobs], next_cursor=None)

    # ================================================================== agents
    @kit.tool(READ)
    async def list_agents(limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> AgentList:
        """Registered agents (the processes that deploy on their hosts and make keys there), with their
        state (Online, Offline after 5 minutes without a heartbeat) and what they reported, paged."""
        items, nxt = await kit.run(lambda: page_of("agents", engine.agents.list(), limit, cursor))
        return AgentList(items=[AgentOut.model_validate(a) for a in items], next_cursor=nxt)

    @kit.tool(READ)
    async def get_agent(agent_id: _id("The agent id (see list_agents).")) -> AgentOut:
        """One agent: state, last heartbeat, host name, OS, architecture, address and version."""
        return AgentOut.model_validate(await kit.run(engine.agents.get, agent_id))

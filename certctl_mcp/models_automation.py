"""Output models of the automation tools: jobs, agents, deployment targets and their checks.

Kept apart from ``models`` so the automation toolset reads as one unit; built from the
engine's domain records like every other output model.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from certctl_engine.domain import AgentStatus, JobStatus, JobType, TargetType, VerificationStatus
from certctl_mcp.models import Out

__all__ = [
    "AgentGroupList",
    "AgentGroupMemberOut",
    "AgentGroupMembers",
    "AgentGroupOut",
    "AgentList",
    "AgentOut",
    "JobList",
    "JobOut",
    "TargetCheckOut",
    "TargetList",
    "TargetOut",
]


class JobOut(Out):
    id: str
    type: JobType
    certificate_id: str
    target_id: str | None = Field(description="The target of a deployment job.")
    agent_id: str | None = Field(description="The agent that runs the job, when one does.")
    status: JobStatus
    attempts: int = Field(description="Attempts made so far.")
    max_attempts: int = Field(description="Attempts allowed before the job ends Failed.")
    last_error: str | None = Field(description="The last failure, verbatim (the CA's or server's own words).")
    scheduled_at: datetime = Field(description="When the job is due (UTC); later after a failed attempt (backoff).")
    started_at: datetime | None
    completed_at: datetime | None
    created_at: datetime
    requested_by: str = Field(description="Who asked for it; they cannot approve it themselves.")
    verification_status: VerificationStatus = Field(description="For deployments: did the server serve it?")
    details: dict[str, Any] = Field(description="Version id, approval and result details.")


class JobList(Out):
    items: list[JobOut]
    next_cursor: str | None


class AgentOut(Out):
    id: str
    name: str
    hostname: str
    status: AgentStatus
    last_heartbeat_at: datetime | None
    registered_at: datetime
    os: str
    architecture: str
    ip_address: str
    version: str


class AgentList(Out):
    items: list[AgentOut]
    next_cursor: str | None


class TargetOut(Out):
    id: str
    name: str
    type: TargetType
    agent_id: str | None = Field(description="The agent that deploys to it; none: the engine itself does.")
    config: dict[str, Any] = Field(description="Configuration; secret fields are shown redacted.")
    secret_fields: list[str]
    enabled: bool
    created_at: datetime
    updated_at: datetime


class TargetList(Out):
    items: list[TargetOut]
    next_cursor: str | None


class TargetCheckOut(Out):
    target_id: str
    ok: bool = Field(description="Whether a deployment to it can work now.")
    message: str = Field(description="What was checked and what it found, or precisely what is wrong.")


class AgentGroupOut(Out):
    id: str
    name: str
    description: str
    match_os: str = Field(description="OS the agents report (case-insensitive); empty matches any.")
    match_architecture: str = Field(description="Architecture (amd64, arm64...); empty matches any.")
    match_ip_cidr: str = Field(description="Network the agent's address lies in; empty matches any.")
    match_version: str = Field(description="Agent version, exact or a pattern like 1.4.*; empty matches any.")
    enabled: bool
    created_at: datetime
    updated_at: datetime


class AgentGroupList(Out):
    items: list[AgentGroupOut]
    next_cursor: str | None


class AgentGroupMemberOut(Out):
    agent: AgentOut
    reason: str = Field(description="'criteria' (it matches the group's criteria) or 'include' (added by hand).")


class AgentGroupMembers(Out):
    group_id: str
    items: list[AgentGroupMemberOut]
    next_cursor: str | None

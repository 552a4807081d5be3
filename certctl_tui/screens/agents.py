"""Agents and agent groups: who deploys where, whether they are alive, and which groups they fall in.

The agents list shows each agent's state as the engine keeps it (the scheduler turns an agent
silent for too long Offline) and how long ago it last called in, on the app's clock. An
agent's detail adds its targets and the jobs waiting or running for it. Agent groups are
edited here: criteria, enabled, and manual include / exclude of single agents; a group's
detail lists its members now and why each is in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from certctl_engine.domain import (
    ACTIVE_JOB_STATUSES,
    Agent,
    AgentGroup,
    AgentGroupMember,
    AgentStatus,
    Job,
    JobStatus,
    MembershipType,
    Target,
)
from certctl_engine.errors import InvalidInput
from certctl_engine.services.agent_groups import matches
from certctl_tui.format import ago, stamp
from certctl_tui.screens.base import CertctlScreen, PaletteCommand
from certctl_tui.screens.config import ResourceListScreen
from certctl_tui.widgets.facts import agent_status_text, facts, grid
from certctl_tui.widgets.form import Field, FormScreen
from certctl_tui.widgets.paged_table import highlighted_key

# The dashboard's screen registry: key -> (title, factory, command bar aliases).
SCREEN_ENTRIES: dict[str, tuple[str, Callable[[], Screen[Any]], tuple[str, ...]]] = {
    "agents": ("Agents", lambda: AgentsScreen(), ("agent",)),
    "groups": ("Agent groups", lambda: AgentGroupsScreen(), ("agent-groups", "agent-group", "group")),
}

JOB_PAGE = 500
"""The engine's largest page: active jobs are read a page at a time, per state."""
JOB_PAGES_PER_STATE = 20
"""At most this many pages per state (10,000 jobs): beyond that the detail says it stopped."""
ACTIVE_STATES: tuple[JobStatus, ...] = tuple(s for s in JobStatus if s in ACTIVE_JOB_STATUSES)


def os_arch(agent: Agent) -> str:
    parts = [p for p in (agent.os, agent.architecture) if p]
    return "/".join(parts) or "-"


def _dash(value: str) -> str:
    return value or "-"


# ---------------------------------------------------------------------- agents
class AgentsScreen(CertctlScreen):
    SCREEN_NAME = "Agents"
    HELP = """
## Agents
Every registered agent: its state, how long ago it last sent a heartbeat, what it reports
of itself (OS, architecture, address, version). An agent silent for longer than the
heartbeat timeout is turned Offline by the scheduler, and deployments to its targets wait.

| key | does |
|---|---|
| `enter` | the agent's detail: metadata, its targets, its waiting and running jobs |
"""

    BINDINGS = [
        Binding("q", "quit_list", "Quit", show=False, id="agents.quit", tooltip="Quit certctl"),
    ]

    COLUMNS: ClassVar[list[tuple[str, str]]] = [
        ("name", "Name"),
        ("hostname", "Hostname"),
        ("status", "Status"),
        ("heartbeat", "Last heartbeat"),
        ("os", "OS/arch"),
        ("ip", "IP address"),
        ("version", "Version"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.agents: dict[str, Agent] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="agents-info", classes="list-info", markup=False)
        yield DataTable(id="agents", cursor_type="row", zebra_stripes=True)
        yield Footer()

    DEFAULT_CSS = """
    AgentsScreen .list-info { height: 1; padding: 0 1; color: $text-muted; }
    AgentsScreen #agents { height: 1fr; }
    """

    def on_mount(self) -> None:
        super().on_mount()
        table = self.table
        for key, label in self.COLUMNS:
            table.add_column(label, key=key)
        table.focus()
        self.refresh_data()

    @property
    def table(self) -> DataTable[Any]:
        return self.query_one("#agents", DataTable)

    def cells(self, agent: Agent) -> list[Any]:
        return [
            agent.name,
            _dash(agent.hostname),
            agent_status_text(agent.status),
            ago(agent.last_heartbeat_at, self.capp.now()) if agent.last_heartbeat_at else Text("never", style="dim"),
            os_arch(agent),
            _dash(agent.ip_address),
            _dash(agent.version),
        ]

    def refresh_data(self, *, live: bool = False) -> None:
        self.engine_work(self.capp.engine.agents.list, self._show, title="Agents", group="load", exclusive=True)

    def _show(self, agents: Sequence[Agent]) -> None:
        table = self.table
        keep = self.highlighted()
        table.clear()
        self.agents = {a.id: a for a in agents}
        for agent in agents:
            table.add_row(*self.cells(agent), key=agent.id)
        if keep is not None and keep.id in self.agents:
            table.move_cursor(row=table.get_row_index(keep.id), scroll=False)
        online = sum(1 for a in agents if a.status is AgentStatus.ONLINE)
        self.query_one("#agents-info", Static).update(
            f"Agents: {len(agents)} · {online} online · {len(agents) - online} not online · enter details"
        )
        self.capp.mark_loaded()

    def highlighted(self) -> Agent | None:
        return self.agents.get(highlighted_key(self.table) or "")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        agent = self.agents.get(event.row_key.value or "")
        if agent is not None:
            self.app.push_screen(AgentDetailScreen(agent.id))


@dataclass(frozen=True)
class AgentView:
    """Everything the agent detail shows, loaded in one engine call."""

    agent: Agent
    targets: tuple[Target, ...]
    jobs: tuple[Job, ...]
    complete: bool
    """False when a state had more active jobs than the detail reads."""


def load_agent_view(engine: Any, agent_id: str) -> AgentView:
    """The agent, its targets and the active jobs that are its own or go to its targets.

    The job list filters by state but not by agent, so the active states are read whole
    (a page at a time) and filtered here by the job's agent and target.
    """
    agent = engine.agents.get(agent_id)
    targets = tuple(engine.targets.list(agent_id))
    target_ids = {t.id for t in targets}
    jobs: list[Job] = []
    complete = True
    for state in ACTIVE_STATES:
        cursor: str | None = None
        for _ in range(JOB_PAGES_PER_STATE):
            page = engine.jobs.list(status=state, limit=JOB_PAGE, cursor=cursor)
            jobs.extend(j for j in page.items if j.agent_id == agent_id or (j.target_id or "") in target_ids)
            cursor = page.next_cursor
            if cursor is None:
                break
        else:
            complete = False
    jobs.sort(key=lambda j: (j.created_at, j.id), reverse=True)
    return AgentView(agent, targets, tuple(jobs), complete)


class AgentDetailScreen(CertctlScreen):
    SCREEN_NAME = "Agent"
    HELP = """
## Agent
What the agent reports of itself, the targets it deploys to, and the jobs waiting or
running for it (its own, and deployments to its targets). `esc` goes back.
"""

    BINDINGS = [
        Binding("q", "back", "Back", show=False, id="agent.close", tooltip="Back to the list"),
    ]

    DEFAULT_CSS = """
    AgentDetailScreen #agent-body { height: 1fr; }
    AgentDetailScreen .box { height: auto; }
    """

    def __init__(self, agent_id: str) -> None:
        super().__init__()
        self.agent_id = agent_id
        self.view: AgentView | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="agent-body"):
            yield Static(Text("loading…", style="dim"), id="agent-meta", classes="box")
            yield Static("", id="agent-targets", classes="box")
            yield Static("", id="agent-jobs", classes="box")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#agent-meta", Static).border_title = f"Agent {self.agent_id}"
        self.query_one("#agent-targets", Static).border_title = "Targets"
        self.query_one("#agent-jobs", Static).border_title = "Waiting and running jobs"
        self.refresh_data()

    def refresh_data(self, *, live: bool = False) -> None:
        engine, agent_id = self.capp.engine, self.agent_id
        self.engine_work(lambda: load_agent_view(engine, agent_id), self._show, title="Agent", group="load")

    def _show(self, view: AgentView) -> None:
        self.view = view
        agent, now = view.agent, self.capp.now()
        self.title = f"certctl · Agent {agent.name}"
        heartbeat = (
            f"{ago(agent.last_heartbeat_at, now)} ({stamp(agent.last_heartbeat_at)} UTC)"
            if agent.last_heartbeat_at
            else "never"
        )
        meta = self.query_one("#agent-meta", Static)
        meta.border_title = f"Agent {agent.name}"
        meta.update(
            facts(
                [
                    ("Id", agent.id),
                    ("Status", agent_status_text(agent.status)),
                    ("Last heartbeat", heartbeat),
                    ("Hostname", _dash(agent.hostname)),
                    ("OS / architecture", os_arch(agent)),
                    ("IP address", _dash(agent.ip_address)),
                    ("Version", _dash(agent.version)),
                    ("Registered", f"{stamp(agent.registered_at)} UTC"),
                ]
            )
        )
        targets = self.query_one("#agent-targets", Static)
        targets.border_title = f"Targets ({len(view.targets)})"
        targets.update(
            grid(
                ["Name", "Id", "Type", "Enabled"],
                [(t.name, t.id, t.type.value, "yes" if t.enabled else "no") for t in view.targets],
                "no targets: this agent deploys nowhere yet",
            )
        )
        jobs = self.query_one("#agent-jobs", Static)
        jobs.border_title = f"Waiting and running jobs ({len(view.jobs)})"
        rows = [
            (
                j.id,
                j.type.value,
                Text(j.status.value, style="bold yellow" if j.status is JobStatus.AWAITING_APPROVAL else "cyan"),
                j.certificate_id,
                j.target_id or "-",
                f"{stamp(j.scheduled_at)} UTC",
            )
            for j in view.jobs
        ]
        body = grid(["Job", "Type", "State", "Certificate", "Target", "Scheduled"], rows, "no job waits for it")
        note = Text(
            "Jobs in state Pending, AwaitingCSR, AwaitingApproval or Running that name this agent or one of its "
            "targets." + ("" if view.complete else " Only the newest 10,000 of each state were read."),
            style="dim",
        )
        jobs.update(Group(body, Text(""), note))
        self.capp.mark_loaded()


# ---------------------------------------------------------------------- agent groups
def _group_changes(group: AgentGroup, values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if getattr(group, k) != v}


def criteria_text(group: AgentGroup) -> str:
    parts = [
        f"{label} {value}"
        for label, value in (
            ("os", group.match_os),
            ("arch", group.match_architecture),
            ("ip in", group.match_ip_cidr),
            ("version", group.match_version),
        )
        if value
    ]
    return " · ".join(parts) or "none (manual members only)"


class AgentGroupsScreen(ResourceListScreen):
    SCREEN_NAME = "Agent groups"
    RESOURCE = "agent group"
    COLUMNS: ClassVar[list[tuple[str, str]]] = [
        ("name", "Name"),
        ("id", "Id"),
        ("criteria", "Criteria"),
        ("enabled", "Enabled"),
        ("description", "Description"),
    ]

    @property
    def HELP(self) -> str:  # type: ignore[override]
        return (
            "## Agent groups\nAgents chosen by what they report: every criterion set must match (OS, "
            "architecture, an IP network, a version pattern such as `1.4.*`); agents can also be included "
            "or excluded by hand. `enter` shows the members and why each is in, `n` creates, `e` edits, "
            "`d` deletes (asks first). Forms show the engine's message under the field it concerns."
        )

    def load(self) -> Sequence[AgentGroup]:
        return self.engine.agent_groups.list()

    def cells(self, item: AgentGroup) -> list[Any]:
        return [
            item.name,
            item.id,
            criteria_text(item),
            "yes" if item.enabled else Text("no", style="dim"),
            (item.description[:40] + "…") if len(item.description) > 41 else (item.description or "-"),
        ]

    def fields(self, item: AgentGroup | None) -> list[Field]:
        return [
            Field("name", "Name", value=item.name if item else ""),
            Field("description", "Description", value=item.description if item else ""),
            Field(
                "match_os",
                "Match OS (as agents report it: linux, windows, darwin)",
                value=item.match_os if item else "",
            ),
            Field(
                "match_architecture",
                "Match architecture (amd64, arm64, ...)",
                value=item.match_architecture if item else "",
            ),
            Field(
                "match_ip_cidr",
                "Match IP network (CIDR, e.g. 10.0.1.0/24)",
                value=item.match_ip_cidr if item else "",
            ),
            Field(
                "match_version",
                "Match agent version (pattern, e.g. 1.4.*)",
                value=item.match_version if item else "",
            ),
            Field("enabled", "Enabled", "bool", item.enabled if item else True),
        ]

    def create(self, values: dict[str, Any]) -> AgentGroup:
        values = dict(values)
        return self.engine.agent_groups.create(values.pop("name"), actor=self.actor, **values)

    def update(self, item: AgentGroup, values: dict[str, Any]) -> AgentGroup:
        return self.engine.agent_groups.update(item.id, actor=self.actor, **_group_changes(item, values))

    def delete(self, item: AgentGroup) -> None:
        self.engine.agent_groups.delete(item.id, actor=self.actor)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        item = self.items.get(event.row_key.value or "")
        if item is not None:
            self.app.push_screen(AgentGroupDetailScreen(item.id))


@dataclass(frozen=True)
class GroupView:
    """A group, its members now, the agents its criteria catch but a manual exclude keeps out, all agents."""

    group: AgentGroup
    members: tuple[AgentGroupMember, ...]
    excluded: tuple[Agent, ...]
    agents: tuple[Agent, ...]


def load_group_view(engine: Any, group_id: str) -> GroupView:
    group = engine.agent_groups.get(group_id)
    members = tuple(engine.agent_groups.members(group_id))
    agents = tuple(engine.agents.list())
    inside = {m.agent.id for m in members}
    # A criteria match that is not a member can only be kept out by a manual exclude.
    excluded = tuple(a for a in agents if a.id not in inside and matches(group, a))
    return GroupView(group, members, excluded, agents)


REASON_TEXT = {
    "criteria": Text("criteria", style="green"),
    MembershipType.INCLUDE.value: Text("included by hand", style="cyan"),
    MembershipType.EXCLUDE.value: Text("excluded by hand", style="magenta"),
}


class AgentGroupDetailScreen(CertctlScreen):
    SCREEN_NAME = "Agent group"
    MUTATING_ACTIONS = frozenset({"include", "exclude", "reset"})
    HELP = """
## Agent group
The group's criteria and its members now: agents its criteria match (`criteria`) and agents
included by hand; agents the criteria match but an exclude keeps out are listed too.

| key | does |
|---|---|
| `i` | include an agent by hand (pick it from a list) |
| `x` | exclude the highlighted agent by hand |
| `u` | drop the manual include / exclude of the highlighted agent: the criteria decide again |
"""

    BINDINGS = [
        Binding("i", "include", "Include", id="group.include", tooltip="Include an agent in this group by hand"),
        Binding("x", "exclude", "Exclude", id="group.exclude", tooltip="Exclude the highlighted agent by hand"),
        Binding(
            "u", "reset", "Undo manual", id="group.reset", tooltip="Let the criteria decide for the highlighted agent"
        ),
        Binding("q", "back", "Back", show=False, id="group.close", tooltip="Back to the list"),
    ]

    DEFAULT_CSS = """
    AgentGroupDetailScreen #group-meta { height: auto; }
    AgentGroupDetailScreen #group-members-box { height: 1fr; }
    AgentGroupDetailScreen #group-members { height: 1fr; }
    """

    def __init__(self, group_id: str) -> None:
        super().__init__()
        self.group_id = group_id
        self.view: GroupView | None = None
        self.rows: dict[str, tuple[Agent, str]] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Text("loading…", style="dim"), id="group-meta", classes="box")
        with VerticalScroll(id="group-members-box", classes="box"):
            yield DataTable(id="group-members", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        table = self.table
        for key, label in (
            ("name", "Agent"),
            ("hostname", "Hostname"),
            ("status", "Status"),
            ("os", "OS/arch"),
            ("ip", "IP address"),
            ("version", "Version"),
            ("reason", "Why"),
        ):
            table.add_column(label, key=key)
        table.focus()
        self.query_one("#group-members-box").border_title = "Members"
        self.refresh_data()

    @property
    def table(self) -> DataTable[Any]:
        return self.query_one("#group-members", DataTable)

    def refresh_data(self, *, live: bool = False) -> None:
        engine, group_id = self.capp.engine, self.group_id
        self.engine_work(lambda: load_group_view(engine, group_id), self._show, title="Agent group", group="load")

    def _show(self, view: GroupView) -> None:
        self.view = view
        group = view.group
        self.title = f"certctl · Agent group {group.name}"
        meta = self.query_one("#group-meta", Static)
        meta.border_title = f"Agent group {group.name}"
        meta.update(
            facts(
                [
                    ("Id", group.id),
                    ("Description", _dash(group.description)),
                    ("Match OS", _dash(group.match_os)),
                    ("Match architecture", _dash(group.match_architecture)),
                    ("Match IP network", _dash(group.match_ip_cidr)),
                    ("Match version", _dash(group.match_version)),
                    ("Enabled", "yes" if group.enabled else Text("no", style="dim")),
                    ("Updated", f"{stamp(group.updated_at)} UTC"),
                ]
            )
        )
        table = self.table
        keep = self.highlighted()
        table.clear()
        self.rows = {}
        entries = [(m.agent, m.reason) for m in view.members] + [
            (a, MembershipType.EXCLUDE.value) for a in view.excluded
        ]
        for agent, reason in entries:
            self.rows[agent.id] = (agent, reason)
            table.add_row(
                agent.name,
                _dash(agent.hostname),
                agent_status_text(agent.status),
                os_arch(agent),
                _dash(agent.ip_address),
                _dash(agent.version),
                REASON_TEXT.get(reason, Text(reason)),
                key=agent.id,
            )
        if keep is not None and keep[0].id in self.rows:
            table.move_cursor(row=table.get_row_index(keep[0].id), scroll=False)
        box = self.query_one("#group-members-box")
        box.border_title = f"Members ({len(view.members)})" + (
            f" · {len(view.excluded)} excluded by hand" if view.excluded else ""
        )
        self.capp.mark_loaded()

    def highlighted(self) -> tuple[Agent, str] | None:
        return self.rows.get(highlighted_key(self.table) or "")

    # ------------------------------------------------------------------ membership
    def _set(self, agent: Agent, membership: MembershipType | None, said: str) -> None:
        engine, actor, group_id = self.capp.engine, self.capp.actor, self.group_id

        def done(_result: None) -> None:
            self.capp.toast("Agent group", f"agent '{agent.name}' {said}")
            self.refresh_data()

        self.engine_work(
            lambda: engine.agent_groups.set_membership(group_id, agent.id, membership, actor=actor),
            done,
            title="Agent group",
        )

    def action_include(self) -> None:
        view = self.view
        if view is None:
            return
        inside = {m.agent.id for m in view.members}
        choices = [
            (a.id, f"{a.name} ({_dash(a.hostname)}, {a.status.value})") for a in view.agents if a.id not in inside
        ]
        if not choices:
            self.app.notify("every agent is already a member", title="Include", severity="warning", markup=False)
            return
        by_id = {a.id: a for a in view.agents}
        fields = [Field("agent_id", "Agent to include", "select", choices[0][0], choices, allow_blank=False)]

        def picked(values: dict[str, Any]) -> Agent:
            agent = by_id.get(values.get("agent_id") or "")
            if agent is None:
                raise InvalidInput("pick an agent", field="agent_id")
            return agent

        def chosen(agent: Agent | None) -> None:
            if agent is not None:
                self._set(agent, MembershipType.INCLUDE, f"included in '{view.group.name}' by hand")

        self.app.push_screen(FormScreen(f"Include an agent in '{view.group.name}'", fields, picked), chosen)

    def action_exclude(self) -> None:
        row = self.highlighted()
        if row is None or self.view is None:
            return
        agent, reason = row
        if reason == MembershipType.EXCLUDE.value:
            self.app.notify(
                f"agent '{agent.name}' is already excluded", title="Exclude", severity="warning", markup=False
            )
            return
        self._set(agent, MembershipType.EXCLUDE, f"excluded from '{self.view.group.name}' by hand")

    def action_reset(self) -> None:
        row = self.highlighted()
        if row is None or self.view is None:
            return
        agent, reason = row
        if reason == "criteria":
            self.app.notify(
                f"agent '{agent.name}' is in by the criteria; there is no manual choice to undo",
                title="Undo manual",
                severity="warning",
                markup=False,
            )
            return
        self._set(agent, None, f"back to the criteria of '{self.view.group.name}'")

    def palette_commands(self) -> list[PaletteCommand]:
        return [
            PaletteCommand("Include agent", "Include an agent in this group by hand (i)", self.action_include, True),
            PaletteCommand("Exclude agent", "Exclude the highlighted agent by hand (x)", self.action_exclude, True),
            PaletteCommand(
                "Undo manual membership",
                "Let the criteria decide for the highlighted agent (u)",
                self.action_reset,
                True,
            ),
        ]

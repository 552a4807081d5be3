"""Label/value grids and small tables for the detail screens of agents, groups and targets."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rich.table import Table
from rich.text import Text

from certctl_engine.domain import AgentStatus

AGENT_STATUS_STYLE: dict[str, str] = {
    AgentStatus.ONLINE.value: "green",
    AgentStatus.OFFLINE.value: "bold red",
    AgentStatus.DEGRADED.value: "yellow",
}


def agent_status_text(status: AgentStatus | str) -> Text:
    """An agent's status in its colour: online green, degraded yellow, offline red."""
    value = str(status)
    return Text(value, style=AGENT_STATUS_STYLE.get(value, ""))


def facts(rows: Sequence[tuple[str, Text | str]]) -> Table:
    """Bold labels on the left, values on the right; plain strings are never read as markup."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for key, value in rows:
        table.add_row(key, value if isinstance(value, Text) else Text(value))
    return table


def config_value(value: Any) -> str:
    """One configuration value as the engine keeps it: lists of arguments joined, objects as JSON."""
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def grid(headers: Sequence[str], rows: Sequence[Sequence[Text | str]], empty: str) -> Table | Text:
    """A small table with a header row, or a dim sentence when there is nothing to list."""
    if not rows:
        return Text(empty, style="dim")
    table = Table(expand=True, show_edge=False, box=None, header_style="bold", pad_edge=False)
    for header in headers:
        table.add_column(header, no_wrap=True, overflow="ellipsis")
    for row in rows:
        table.add_row(*(cell if isinstance(cell, Text) else Text(cell) for cell in row))
    return table

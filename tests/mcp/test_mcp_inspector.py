"""An independent client: the MCP Inspector CLI (npm) lists the stdio server's tools.

Runs ``npx --yes @modelcontextprotocol/inspector@0.15.0 --cli <certctl> --db X mcp --method
tools/list``. If node/npx is missing or npm cannot fetch the package, the test FAILS and says
why: an unusable npm is a broken CI, not a reason to pass.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from test_mcp_stdio import certctl_command
from test_mcp_tools import EXPECTED_TOOLS

INSPECTOR = "@modelcontextprotocol/inspector@0.15.0"


def test_inspector_cli_lists_every_tool(demo_home: Path) -> None:
    npx = shutil.which("npx")
    if npx is None:
        pytest.fail("npx is not on PATH: install Node.js 20 with npm to run the MCP Inspector CLI", pytrace=False)
    command, args = certctl_command("--db", str(demo_home / "certctl.db"), "mcp")
    argv = [npx, "--yes", INSPECTOR, "--cli", "-e", f"CERTCTL_HOME={demo_home}", command, *args]
    try:
        done = subprocess.run(
            [*argv, "--method", "tools/list"], capture_output=True, text=True, timeout=300, cwd=demo_home
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"the MCP Inspector CLI did not finish in 300 s (is the npm registry reachable?): {argv}")
    if done.returncode != 0:
        stderr = done.stderr.strip()
        if "npm ERR" in stderr or "ENOTFOUND" in stderr or "EAI_AGAIN" in stderr or "E404" in stderr:
            reason = f"npm could not fetch {INSPECTOR}"
        else:
            reason = "the MCP Inspector CLI failed against certctl mcp"
        pytest.fail(f"{reason} (exit {done.returncode}): {stderr[-1500:]}", pytrace=False)
    listing = json.loads(done.stdout)
    tools = {t["name"]: t for t in listing["tools"]}
    assert set(tools) == EXPECTED_TOOLS
    for name, tool in tools.items():
        assert tool["description"] and tool["inputSchema"]["type"] == "object", name
        assert tool["outputSchema"]["type"] == "object", name
        assert set(tool["annotations"]) >= {"readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"}

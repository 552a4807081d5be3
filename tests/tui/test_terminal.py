"""The real app in a real terminal: tmux runs ``certctl --demo``, the test types and reads the screen.

Skipped only when tmux is missing outside CI; under CI (``$CI`` set) a missing tmux fails.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

TMUX = shutil.which("tmux")


def _certctl() -> list[str]:
    script = Path(sys.executable).parent / "certctl"
    if script.exists():
        return [str(script)]
    found = shutil.which("certctl")
    return [found] if found else [sys.executable, "-m", "certctl_engine.cli"]


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Callable[..., str]]:
    if TMUX is None:
        if os.environ.get("CI"):
            pytest.fail("tmux is needed for the terminal test (apt-get install tmux)", pytrace=False)
        pytest.skip("tmux is not installed (apt-get install tmux); required under CI")
    socket = f"certctl-test-{os.getpid()}"

    # The tmux server passes its environment on; COLUMNS/LINES (pytest's terminal) would override the pane size.
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "TMUX")}

    def run(*args: str) -> str:
        done = subprocess.run([TMUX, "-L", socket, *args], capture_output=True, text=True, timeout=20, env=env)
        return done.stdout

    try:
        yield run
    finally:
        subprocess.run([TMUX, "-L", socket, "kill-server"], capture_output=True, timeout=20)


def test_certctl_demo_in_a_real_terminal(tmux: Callable[..., str], tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    exit_file = tmp_path / "exit-code"
    command = " ".join(shlex.quote(p) for p in [*_certctl(), "--db", str(db), "--demo"])
    shell = f"{command}; echo $? > {shlex.quote(str(exit_file))}"
    env = {"CERTCTL_HOME": str(tmp_path), "TERM": "xterm-256color", "CERTCTL_ACTOR": "tmux-test"}
    env_args = [a for k, v in env.items() for a in ("-e", f"{k}={v}")]
    tmux("-f", "/dev/null", "new-session", "-d", "-s", "tui", "-x", "120", "-y", "40", *env_args, "sh", "-c", shell)
    # With no client attached the window would follow default-size (80x24): pin it to 120x40.
    tmux("set-option", "-t", "tui", "window-size", "manual")
    tmux("resize-window", "-t", "tui", "-x", "120", "-y", "40")

    def screen() -> str:
        return tmux("capture-pane", "-p", "-t", "tui")

    def wait_for(text: str, timeout: float = 20.0, absent: str | None = None) -> str:
        deadline = time.monotonic() + timeout
        while True:
            shown = screen()
            if text in shown and (absent is None or absent not in shown):
                return shown
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never appeared; the screen was:\n{shown}")
            time.sleep(0.1)

    def keys(*names: str) -> None:
        tmux("send-keys", "-t", "tui", *names)

    shown = wait_for("Expiring 0-7 days")  # the dashboard's figures have loaded
    assert "Certificates by status" in shown
    keys(":")
    wait_for(":certs")
    keys("-l", "certs")
    keys("Enter")
    shown = wait_for("mail.example.com")  # the first page has loaded
    assert "Common name" in shown and "vpn.example.com" in shown
    keys("/")
    wait_for("filter: CN, SAN")  # the filter box has the focus
    keys("-l", "vpn")
    shown = wait_for("filter 'vpn'", absent="mail.example.com")
    assert "vpn.example.com" in shown
    keys("Enter")  # back to the table
    # Open the highlighted certificate. Two Enters sent together can both reach the filter box
    # (the second arrives before the first has moved the focus), so press again until it opens.
    for _ in range(5):
        keys("Enter")
        try:
            shown = wait_for("rateLimited", timeout=6)  # the detail has loaded, with the last error verbatim
            break
        except AssertionError:
            continue
    else:
        shown = wait_for("rateLimited")
    assert "Last error" in shown and "mc-vpn-prod" in shown
    keys("Escape")
    wait_for("filter 'vpn'")
    keys("q")
    deadline = time.monotonic() + 20
    while not exit_file.exists() or not exit_file.read_text().strip():
        assert time.monotonic() < deadline, f"certctl did not exit; the screen was:\n{screen()}"
        time.sleep(0.1)
    assert exit_file.read_text().strip() == "0"


def test_without_a_terminal_certctl_says_so(tmp_path: Path) -> None:
    done = subprocess.run(
        [*_certctl(), "--db", str(tmp_path / "x.db"), "--demo"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "CERTCTL_HOME": str(tmp_path)},
        timeout=60,
    )
    assert done.returncode == 2
    assert "needs a terminal" in done.stderr

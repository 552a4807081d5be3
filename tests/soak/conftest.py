"""The soak runs once per session and its tests assert on what it saw; its figures are printed as it goes."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tls_servers import LeafIssuer, NginxServer, require_program

from .simulation import MONTH_HEADER, Soak, SoakReport, SoakScale

OPERATOR_INTERVALS = (
    ("CERTCTL_SCHEDULER_RENEWAL_CHECK_INTERVAL", "6h"),
    ("CERTCTL_SCHEDULER_POLICY_SCAN_INTERVAL", "24h"),
    ("CERTCTL_SCHEDULER_CRL_REFRESH_INTERVAL", "6h"),
)
"""Loop intervals set as an operator of 47-day certificates could; the other loops keep their defaults."""

CI_SCALE = SoakScale(
    certificates=int(os.environ.get("CERTCTL_SOAK_CERTIFICATES", "150")),
    days=float(os.environ.get("CERTCTL_SOAK_DAYS", "730")),
    intervals=OPERATOR_INTERVALS,
)
"""150 certificates for two simulated years; the two variables shrink or grow it for a local run."""


def pytest_report_header(config: pytest.Config) -> str:
    return f"soak scale: {CI_SCALE.describe()}; intervals {dict(OPERATOR_INTERVALS)}"


@pytest.fixture(scope="session")
def say(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Print now, past pytest's capture: the soak's figures are its output."""
    capture = request.config.pluginmanager.getplugin("capturemanager")

    def write(line: str) -> None:
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            print(line, flush=True)

    return write


@pytest.fixture(scope="session")
def nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NginxServer]:
    server = NginxServer(tmp_path_factory.mktemp("soak-nginx"), binary=require_program("nginx", "nginx"))
    server.start(LeafIssuer().issue())
    try:
        yield server
    finally:
        server.stop()


def run_soak(scale: SoakScale, workdir: Path, say: Callable[[str], None], **peers: object) -> tuple[Soak, SoakReport]:
    """Build and run one world, printing its scale and per-month figures."""
    say(f"\nsoak: {scale.describe()}")
    soak = Soak(scale, workdir, **peers)  # type: ignore[arg-type]
    say(MONTH_HEADER)
    report = soak.run(progress=lambda month: say(month.row()))
    say(f"soak: {report.ticks} ticks, {sum(report.loop_runs.values())} loop runs in {report.wall_seconds:.1f} s")
    return soak, report


@pytest.fixture(scope="module")
def two_years(
    tmp_path_factory: pytest.TempPathFactory, nginx: NginxServer, say: Callable[[str], None]
) -> Iterator[tuple[Soak, SoakReport]]:
    soak, report = run_soak(CI_SCALE, tmp_path_factory.mktemp("soak"), say, nginx=nginx)
    try:
        yield soak, report
    finally:
        soak.close()

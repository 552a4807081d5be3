"""A handful of certificates from a real ACME server (pebble on loopback) through simulated months.

pebble stamps real validity (years), so on the simulated clock its certificates would never
come due; the soak queues each renewal when a 47-day lifetime, counted in simulated time
from the version's creation, has two thirds gone, and the scheduler's job loop runs it
against pebble for real (new order, HTTP-01 on loopback, new key), then deploys it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from acme_server import Pebble, free_port, missing_binaries

from .conftest import OPERATOR_INTERVALS, run_soak
from .simulation import Soak, SoakReport, SoakScale, deployment_gaps, versions_by_certificate

pytestmark = pytest.mark.slow
PEBBLE_SCALE = SoakScale(
    certificates=3, pebble_certificates=5, days=100, nginx=False, agent=False, faults=(), intervals=OPERATOR_INTERVALS
)


@pytest.fixture(scope="module")
def with_pebble(
    tmp_path_factory: pytest.TempPathFactory, say: Callable[[str], None]
) -> Iterator[tuple[Soak, SoakReport]]:
    if missing_binaries():
        pytest.fail(f"pebble is required here: apt-get install -y pebble (missing {', '.join(missing_binaries())})")
    pebble = Pebble(tmp_path_factory.mktemp("soak-pebble"), http_port=free_port()).start()
    try:
        soak, report = run_soak(PEBBLE_SCALE, Path(tmp_path_factory.mktemp("soak-acme")), say, pebble=pebble)
        try:
            yield soak, report
        finally:
            soak.close()
    finally:
        pebble.stop()


def test_pebble_certificates_renew_on_the_simulated_schedule_and_are_deployed(
    with_pebble: tuple[Soak, SoakReport],
) -> None:
    soak, report = with_pebble
    lifetime = timedelta(days=PEBBLE_SCALE.validity_days - PEBBLE_SCALE.window_days)
    assert len(soak.pebble_certs) == PEBBLE_SCALE.pebble_certificates
    for cert_id, versions in versions_by_certificate(soak.engine, soak.pebble_certs).items():
        assert len(versions) == 1 + int(PEBBLE_SCALE.days / lifetime.days), cert_id
        assert all("Pebble" in v.issuer_dn for v in versions), {v.issuer_dn for v in versions}
        assert len({v.fingerprint_sha256 for v in versions}) == len(versions)
        for older, newer in itertools.pairwise(versions):
            # Renewed when due on the simulated clock (within the job loop's reach), never early.
            assert lifetime <= newer.created_at - older.created_at <= lifetime + timedelta(hours=1), cert_id
    assert deployment_gaps(soak.engine, soak.pebble_certs) == []
    assert report.deployment_mismatches == []
    assert report.expired_unrenewed == [] and report.loop_errors == []
    assert soak.engine.audit.verify().ok

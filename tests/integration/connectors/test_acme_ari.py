"""ACME Renewal Information (RFC 9773) against pebble on loopback, with ARI served in front of it.

The renewal window is the earlier of the policy's and the CA's: a certificate far from its
policy window is renewed when its CA asks, and without ARI the policy window alone decides.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from acme_server import Pebble, missing_binaries
from ari_server import RenewalInfoServer, certificate_id
from cryptography import x509
from frozen_clock import Clock

from certctl_engine.domain import Actor, CertificateStatus, JobStatus, JobType
from certctl_engine.engine import Engine
from certctl_engine.store.models import RenewalInfoModel

pytestmark = pytest.mark.skipif(
    bool(missing_binaries()) and not os.environ.get("CI"),
    reason=f"needs {', '.join(missing_binaries())} (Debian packages pebble, openssl)",
)
ACTOR = Actor("alice")


@pytest.fixture
def ari(pebble: Pebble) -> Iterator[RenewalInfoServer]:
    server = RenewalInfoServer(pebble).start()
    yield server
    server.stop()


def _engine(tmp_path: Path, clock: Clock, pebble: Pebble, directory_url: str) -> Engine:
    engine = Engine.open(str(tmp_path / "c.db"), env={"CERTCTL_HOME": str(tmp_path)}, clock=clock)
    engine.issuers.create(
        "pebble",
        "ACME",
        {
            "directory_url": directory_url,
            "ca_bundle": pebble.ca_bundle,
            "http_address": f"127.0.0.1:{pebble.http_port}",
        },
        actor=ACTOR,
        id="iss-acme",
    )
    return engine


def _leaf(pem_chain: str) -> x509.Certificate:
    return x509.load_pem_x509_certificates(pem_chain.encode())[0]


def test_the_cas_renewal_window_renews_early_and_is_asked_again_for_the_new_version(
    pebble: Pebble, ari: RenewalInfoServer, tmp_path: Path
) -> None:
    clock = Clock(datetime.now(UTC))
    with _engine(tmp_path, clock, pebble, ari.directory_url) as engine:
        cert_id = engine.certificates.create(
            name="web", common_name="ari.example.com", issuer_id="iss-acme", actor=ACTOR
        ).id
        first = engine.issuance.issue(cert_id, actor=ACTOR)
        first_id = certificate_id(_leaf(first.pem_chain))
        assert _leaf(first.pem_chain).not_valid_after_utc > clock() + timedelta(days=60)  # far from the policy window

        # The CA's window is in two months: it is recorded, nothing is renewed.
        check = engine.renewal.check(actor=ACTOR)
        assert ari.asked == [first_id]
        assert check.jobs_created == 0 and engine.jobs.active_for(cert_id, JobType.RENEWAL) is None
        info = RenewalInfoModel.get_by_id(cert_id)
        assert info.version_id == first.id and ari.default_window[0] <= info.renew_at <= ari.default_window[1]
        assert info.explanation_url == "https://ca.example/incident/42"
        assert info.next_check_at == clock() + timedelta(hours=6)  # no Retry-After: RFC 9773's default

        # Until then it is not asked again.
        engine.renewal.check(actor=ACTOR)
        assert ari.asked == [first_id]

        # The CA now wants it renewed at once (say, a mis-issuance on its side); at the next check after
        # its Retry-After the renewal is queued although the policy window is months away.
        ari.windows[first_id] = (clock() - timedelta(hours=2), clock() + timedelta(hours=1))
        ari.retry_after = "3600"
        clock.advance(hours=6, minutes=1)
        check = engine.renewal.check(actor=ACTOR)
        assert ari.asked == [first_id, first_id] and check.jobs_created == 1
        job = engine.jobs.active_for(cert_id, JobType.RENEWAL)
        assert job is not None and job.details["reason"] == "the ACME CA's renewal information"
        assert engine.certificates.get(cert_id).status is CertificateStatus.RENEWAL_IN_PROGRESS
        assert RenewalInfoModel.get_by_id(cert_id).next_check_at == clock() + timedelta(hours=1)

        assert engine.renewal.process_due(actor=ACTOR).completed == 1
        assert engine.jobs.get(job.id).status is JobStatus.COMPLETED
        second = engine.certificates.current_version(cert_id)
        assert second is not None and second.id != first.id
        assert engine.certificates.get(cert_id).status is CertificateStatus.ACTIVE

        # The answer was about the old version: the new one is asked about at the next check, and its
        # window is in the future again, so nothing more is renewed.
        assert engine.renewal.check(actor=ACTOR).jobs_created == 0
        assert ari.asked[-1] == certificate_id(_leaf(second.pem_chain)) != first_id
        assert RenewalInfoModel.get_by_id(cert_id).version_id == second.id


def test_without_renewal_information_the_policy_window_alone_decides(pebble: Pebble, tmp_path: Path) -> None:
    clock = Clock(datetime.now(UTC))
    with _engine(tmp_path, clock, pebble, pebble.directory_url) as engine:
        cert_id = engine.certificates.create(
            name="plain", common_name="plain.example.com", issuer_id="iss-acme", actor=ACTOR
        ).id
        version = engine.issuance.issue(cert_id, actor=ACTOR)
        assert engine.renewal.check(actor=ACTOR).jobs_created == 0
        assert RenewalInfoModel.select().count() == 0
        # Inside the policy's 30-day window it renews as usual.
        clock.now = version.not_after - timedelta(days=29)
        assert engine.renewal.check(actor=ACTOR).jobs_created == 1
        assert engine.certificates.get(cert_id).status is CertificateStatus.RENEWAL_IN_PROGRESS


def test_an_unreachable_renewal_information_resource_never_stops_the_check(
    pebble: Pebble, ari: RenewalInfoServer, tmp_path: Path
) -> None:
    clock = Clock(datetime.now(UTC))
    with _engine(tmp_path, clock, pebble, ari.directory_url) as engine:
        cert_id = engine.certificates.create(
            name="down", common_name="down.example.com", issuer_id="iss-acme", actor=ACTOR
        ).id
        version = engine.issuance.issue(cert_id, actor=ACTOR)
        ari.stop()  # the CA's ARI endpoint is gone
        clock.now = version.not_after - timedelta(days=29)
        check = engine.renewal.check(actor=ACTOR)
        assert check.jobs_created == 1  # the policy window still renews it
        assert RenewalInfoModel.select().count() == 0

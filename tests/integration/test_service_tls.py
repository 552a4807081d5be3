"""The engine service's own certificate: issued once, kept, renewed with a third of its life left."""

from __future__ import annotations

import socket
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from frozen_clock import Clock

from certctl_engine.domain import CertificateFilter, CertificateStatus
from certctl_engine.engine import Engine
from certctl_engine.errors import InvalidInput
from certctl_engine.pki import load_certificates
from certctl_engine.service_tls import (
    SERVICE_CERTIFICATE_NAME,
    ensure_service_certificate,
    provided_tls,
    service_names,
)


def test_names_cover_loopback_this_host_and_the_listen_address() -> None:
    names = service_names("10.1.2.3", ["api.example.com", " ", "LOCALHOST"])
    assert names[:3] == ["localhost", "127.0.0.1", "::1"]
    assert socket.gethostname().lower() in names
    assert "10.1.2.3" in names and "api.example.com" in names
    assert names.count("localhost") == 1
    assert "0.0.0.0" not in service_names("0.0.0.0")


def test_issued_kept_then_renewed_and_openssl_verifies_it(tmp_path: Path) -> None:
    clock = Clock()
    tls_dir = tmp_path / "tls"
    names = ["localhost", "127.0.0.1"]
    with Engine.open(str(tmp_path / "c.db"), env={"CERTCTL_HOME": str(tmp_path)}, clock=clock) as engine:
        first = ensure_service_certificate(engine, tls_dir, names)
        assert first.action == "issued"
        assert first.key_file.stat().st_mode & 0o777 == 0o600
        leaf = load_certificates(first.cert_file.read_bytes())[0]
        done = subprocess.run(
            [
                "openssl",
                "verify",
                "-attime",
                str(int(clock.now.timestamp())),
                "-CAfile",
                str(first.ca_file),
                "-purpose",
                "sslserver",
                str(first.cert_file),
            ],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        mtime = first.cert_file.stat().st_mtime_ns

        again = ensure_service_certificate(engine, tls_dir, names)
        assert again.action == "kept" and again.fingerprint_sha256 == first.fingerprint_sha256
        assert first.cert_file.stat().st_mtime_ns == mtime  # identical files are not rewritten

        clock.now += timedelta(days=61)  # 90-day certificate: 29 days left, under a third
        renewed = ensure_service_certificate(engine, tls_dir, names)
        assert renewed.action == "renewed" and renewed.fingerprint_sha256 != first.fingerprint_sha256
        assert load_certificates(renewed.cert_file.read_bytes())[0].not_valid_after_utc > leaf.not_valid_after_utc

        # A different set of names retires the old certificate and issues a new one.
        moved = ensure_service_certificate(engine, tls_dir, [*names, "engine.example.com"])
        assert moved.action == "issued"
        live = engine.certificates.list(CertificateFilter(issuer_id="iss-certctl-service")).items
        assert len(live) == 1 and "engine.example.com" in live[0].sans
        assert live[0].name.startswith(f"{SERVICE_CERTIFICATE_NAME}-")
        old = engine.certificates.find_by_name(SERVICE_CERTIFICATE_NAME)
        assert old is not None and old.status is CertificateStatus.ARCHIVED


def test_provided_files_are_checked_up_front(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        provided_tls(str(tmp_path / "missing.crt"), str(tmp_path / "missing.key"))
    (tmp_path / "bad.crt").write_text("not a certificate")
    (tmp_path / "k.key").write_text("x")
    with pytest.raises(InvalidInput, match=r"bad\.crt"):
        provided_tls(str(tmp_path / "bad.crt"), str(tmp_path / "k.key"))

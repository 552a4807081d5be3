"""Filesystem discovery: the certificates lying in the agent's configured directories.

The walk follows symlinks but visits each real directory once (so a link loop ends), never
reads a file larger than the bound, and turns every unreadable, oversized or corrupt file
into one line of the report's ``errors`` instead of an exception: one bad file never hides
the others. Private keys are never read (``.key`` files are skipped by name, and only
certificates are taken from PKCS#12 files).

PEM (``.pem .crt .cer .cert``: every CERTIFICATE block), DER (``.der``, and ``.crt``/``.cer``
files that hold no PEM) and PKCS#12 (``.p12 .pfx``, without a password) are read; files
with other extensions count only when they hold a PEM certificate.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12

from certctl_engine.errors import InvalidInput
from certctl_engine.pki import certificate_to_pem, inspect_certificate

DEFAULT_MAX_FILE_BYTES = 1024 * 1024
MAX_ENTRIES = 10_000  # the engine takes at most this many certificates in one report
MAX_ERRORS = 1_000

_PEM_SUFFIXES = {".pem", ".crt", ".cer", ".cert"}
_DER_SUFFIXES = {".der"}
_PKCS12_SUFFIXES = {".p12", ".pfx"}
_SKIPPED_SUFFIXES = {".key", ".csr", ".srl", ".old", ".bak", ".swp"}
_PEM_MARKER = b"-----BEGIN CERTIFICATE-----"


@dataclass(slots=True)
class ScanReport:
    """What one scan found, in the shape of the engine's discovery report."""

    directories: list[str]
    certificates: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    files_seen: int = 0
    duration_ms: int = 0

    def error(self, message: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(message)


def entry_for(cert: x509.Certificate, source_path: str, source_format: str) -> dict[str, Any]:
    """One discovered certificate (the inventory's DiscoveredCertEntry), JSON-ready."""
    info = inspect_certificate(cert)
    return {
        "fingerprint_sha256": info.fingerprint_sha256,
        "common_name": info.subject_cn,
        "sans": list(info.sans),
        "serial_number": info.serial_hex,
        "issuer_dn": info.issuer_dn,
        "subject_dn": info.subject_dn,
        "not_before": info.not_before.isoformat(),
        "not_after": info.not_after.isoformat(),
        "key_algorithm": info.key_algorithm.value,
        "key_size": info.key_size,
        "is_ca": info.is_ca,
        "pem_data": certificate_to_pem(cert),
        "source_path": source_path,
        "source_format": source_format,
    }


def _kind(path: Path) -> str | None:
    """How to read a file by its name: 'pem', 'der', 'pkcs12', 'sniff' (PEM if it holds one) or None."""
    suffix = path.suffix.lower()
    if suffix in _PEM_SUFFIXES:
        return "pem"
    if suffix in _DER_SUFFIXES:
        return "der"
    if suffix in _PKCS12_SUFFIXES:
        return "pkcs12"
    if not suffix or suffix in _SKIPPED_SUFFIXES:
        return None
    return "sniff"


def parse_certificates(data: bytes, kind: str) -> tuple[list[x509.Certificate], str]:
    """The certificates in ``data`` and the format they were read as; InvalidInput when there are none."""
    if kind == "pkcs12":
        try:
            _key, cert, others = pkcs12.load_key_and_certificates(data, None)
        except (ValueError, TypeError):
            raise InvalidInput("not a PKCS#12 file, or one protected by a password") from None
        found = ([cert] if cert else []) + list(others)
        if not found:
            raise InvalidInput("the PKCS#12 file holds no certificate")
        return found, "PKCS12"
    if _PEM_MARKER in data:
        try:
            return x509.load_pem_x509_certificates(data), "PEM"
        except ValueError as exc:
            raise InvalidInput(f"damaged PEM certificate: {exc}") from None
    if kind in ("der", "pem"):
        try:
            return [x509.load_der_x509_certificate(data)], "DER"
        except ValueError:
            raise InvalidInput("neither a PEM nor a DER certificate") from None
    return [], ""


def _read_bounded(path: Path, limit: int) -> bytes:
    """The file's bytes; more than ``limit`` raises (the size is checked again while reading)."""
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise InvalidInput(f"larger than {limit} bytes, not read")
    return data


def _scan_file(path: Path, info: os.stat_result, report: ScanReport, limit: int) -> None:
    kind = _kind(path)
    if kind is None:
        return
    report.files_seen += 1
    if info.st_size > limit:
        if kind != "sniff":
            report.error(f"{path}: larger than {limit} bytes, not read")
        return
    try:
        data = _read_bounded(path, limit)
        certs, source_format = parse_certificates(data, kind)
        for cert in certs:
            if len(report.certificates) >= MAX_ENTRIES:
                report.error(f"{path}: more than {MAX_ENTRIES} certificates found; the rest are left out")
                return
            report.certificates.append(entry_for(cert, str(path), source_format))
    except PermissionError:
        report.error(f"{path}: permission denied")
    except OSError as exc:
        report.error(f"{path}: {exc.strerror or exc}")
    except InvalidInput as exc:
        report.error(f"{path}: {exc.message}")


def scan_directories(directories: Sequence[Path], *, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> ScanReport:
    """Walk ``directories`` (absolute) and collect every certificate file; never raises for a bad file."""
    started = time.monotonic()
    report = ScanReport([str(d) for d in directories])
    visited: set[tuple[int, int]] = set()
    for root in directories:
        stack = [Path(root)]
        while stack:
            directory = stack.pop()
            try:
                info = directory.stat()
            except FileNotFoundError:
                report.error(f"{directory}: does not exist")
                continue
            except OSError as exc:
                report.error(f"{directory}: {exc.strerror or exc}")
                continue
            identity = (info.st_dev, info.st_ino)
            if identity in visited:
                if directory.is_symlink():
                    report.error(f"{directory}: symlink to a directory already scanned (loop or duplicate), skipped")
                continue
            visited.add(identity)
            try:
                children = sorted(os.scandir(directory), key=lambda e: e.name)
            except PermissionError:
                report.error(f"{directory}: permission denied")
                continue
            except NotADirectoryError:
                report.error(f"{directory}: not a directory")
                continue
            except OSError as exc:
                report.error(f"{directory}: {exc.strerror or exc}")
                continue
            subdirectories: list[Path] = []
            for child in children:
                path = Path(child.path)
                try:
                    child_info = path.stat()  # follows symlinks
                except FileNotFoundError:
                    continue  # a dangling symlink points at nothing to scan
                except OSError as exc:
                    report.error(f"{path}: {exc.strerror or exc}")
                    continue
                if stat.S_ISDIR(child_info.st_mode):
                    subdirectories.append(path)
                elif stat.S_ISREG(child_info.st_mode):
                    _scan_file(path, child_info, report, max_file_bytes)
            stack.extend(reversed(subdirectories))
    report.duration_ms = int((time.monotonic() - started) * 1000)
    return report


def _main() -> None:
    """``python -m certctl_engine.agent.fs_scan DIR...``: print the report as JSON (for checks by hand)."""
    import json
    import sys

    found = scan_directories([Path(a).resolve() for a in sys.argv[1:]])
    print(json.dumps({"certificates": found.certificates, "errors": found.errors, "files_seen": found.files_seen}))


if __name__ == "__main__":
    _main()

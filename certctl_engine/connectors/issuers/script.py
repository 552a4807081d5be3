"""The script adapter ("OpenSSL / custom script"): any CA that a program on this host can drive.

``sign_script`` is an argument list, run without a shell: the CSR in PEM arrives on its
standard input, the leaf and its chain (nearest issuer first) are read as PEM from its standard
output. What the request asks for is in its environment: ``CERTCTL_COMMON_NAME``,
``CERTCTL_SANS`` (comma-separated), ``CERTCTL_EKUS``, ``CERTCTL_NOT_BEFORE`` and
``CERTCTL_NOT_AFTER`` (RFC 3339, UTC), ``CERTCTL_VALIDITY_DAYS`` and ``CERTCTL_VALIDITY_SECONDS``.
``revoke_script``, when set, is run with the serial (hex) and the RFC 5280 reason appended to
its arguments, the certificate in PEM on standard input, and ``CERTCTL_SERIAL``,
``CERTCTL_REVOCATION_REASON`` and ``CERTCTL_REASON_CODE`` in its environment. A program that
exits non-zero, outlives ``timeout_seconds`` (it is killed with everything it started) or
prints no certificate is a failure whose exit code and standard error are kept. The programs
inherit the host environment except certctl's own ``CERTCTL_*`` settings (the secret key, the
database URL), which never reach them.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from certctl_engine.connectors.issuers.base import IssuedCertificate, IssueRequest
from certctl_engine.connectors.issuers.remote import Fields, checked_answer
from certctl_engine.domain import RevocationReason
from certctl_engine.errors import InvalidInput, IssuerError
from certctl_engine.pki import load_certificates

DEFAULT_TIMEOUT_SECONDS = 30.0
_STDERR_KEPT = 2000
_CA = "the sign_script"


@dataclass(frozen=True, slots=True)
class ScriptSettings:
    """A script issuer's configuration, checked; every refusal names the field."""

    sign_script: tuple[str, ...]
    revoke_script: tuple[str, ...]
    timeout_seconds: float
    validity_days: int | None

    @classmethod
    def from_config(cls, config: dict[str, Any], *, complete: bool = True) -> ScriptSettings:
        fields = Fields(config, "script (OpenSSL)", complete=complete)
        return cls(
            sign_script=fields.command(
                "sign_script",
                "the program that signs: CSR PEM on stdin, certificate chain PEM on stdout",
                required=True,
            ),
            revoke_script=fields.command("revoke_script", "the program that revokes a serial", required=False),
            timeout_seconds=fields.seconds("timeout_seconds", DEFAULT_TIMEOUT_SECONDS),
            validity_days=fields.days("validity_days"),
        )


@dataclass(frozen=True, slots=True)
class _Outcome:
    returncode: int
    stdout: bytes
    stderr: str


def _program(command: tuple[str, ...], field: str) -> str:
    """Where the program is, or IssuerError saying it is missing or not executable."""
    program = command[0]
    if os.sep in program:
        if not os.path.isfile(program):
            raise IssuerError(f"{field}: program '{program}' not found")
        if not os.access(program, os.X_OK):
            raise IssuerError(f"{field}: program '{program}' is not executable")
        return program
    found = shutil.which(program)
    if found is None:
        raise IssuerError(f"{field}: program '{program}' not found on PATH")
    return found


def _run(command: tuple[str, ...], stdin: bytes, env: Mapping[str, str], timeout: float, field: str) -> _Outcome:
    """Run without a shell in a session of its own, so a timeout kills the program and its children."""
    _program(command, field)
    try:
        process = subprocess.Popen(
            list(command),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**_inherited(), **env},
            start_new_session=True,
        )
    except (FileNotFoundError, PermissionError, OSError) as exc:
        raise IssuerError(f"{field}: cannot start '{command[0]}': {exc.strerror or exc}") from None
    try:
        stdout, stderr = process.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(process)
        with contextlib.suppress(subprocess.TimeoutExpired):  # a child that left the session keeps its pipes
            process.communicate(timeout=5)
        raise IssuerError(f"{field} '{command[0]}' did not finish within {timeout:g}s and was killed") from None
    return _Outcome(process.returncode, stdout, stderr.decode(errors="replace"))


def _inherited() -> dict[str, str]:
    """The host environment without certctl's own settings: the secret key and the database URL stay here."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CERTCTL_")}


def _kill(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone, with all it started
        os.killpg(process.pid, signal.SIGKILL)


def _failure(outcome: _Outcome, command: tuple[str, ...], field: str) -> IssuerError:
    text = outcome.stderr.strip()
    if len(text) > _STDERR_KEPT:
        text = "…" + text[-_STDERR_KEPT:]
    code = outcome.returncode
    how = f"was killed by signal {-code}" if code < 0 else f"exited with {code}"
    return IssuerError(f"{field} '{command[0]}' {how}: {text or 'no output on stderr'}")


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ScriptConnector:
    """Signs by running ``sign_script``; revokes by running ``revoke_script``."""

    def __init__(self, settings: ScriptSettings) -> None:
        self._settings = settings

    def issue(self, request: IssueRequest) -> IssuedCertificate:
        csr = request.signing_request()
        seconds = max(1, int((request.not_after - datetime.now(UTC)).total_seconds()))
        env = {
            "CERTCTL_COMMON_NAME": request.common_name,
            "CERTCTL_SANS": ",".join(request.sans),
            "CERTCTL_EKUS": ",".join(e.value for e in request.ekus),
            "CERTCTL_NOT_BEFORE": _rfc3339(request.not_before),
            "CERTCTL_NOT_AFTER": _rfc3339(request.not_after),
            "CERTCTL_VALIDITY_SECONDS": str(seconds),
            "CERTCTL_VALIDITY_DAYS": str(max(1, math.ceil(seconds / 86_400))),
        }
        command = self._settings.sign_script
        outcome = _run(command, csr.public_bytes(Encoding.PEM), env, self._settings.timeout_seconds, "sign_script")
        if outcome.returncode != 0:
            raise _failure(outcome, command, "sign_script")
        shown = outcome.stdout.decode(errors="replace").strip()[:200]
        if b"-----BEGIN CERTIFICATE-----" not in outcome.stdout:
            raise IssuerError(
                f"sign_script '{command[0]}' exited 0 but printed no PEM certificate on stdout; "
                f"it printed: {shown!r}"
                + (f"; stderr: {outcome.stderr.strip()[:500]}" if outcome.stderr.strip() else "")
            )
        try:
            certificates = load_certificates(outcome.stdout)
        except InvalidInput as exc:
            raise IssuerError(
                f"sign_script '{command[0]}' printed a PEM certificate that cannot be read: {exc.message}"
            ) from None
        return checked_answer(request.public_key, certificates, f"sign_script '{command[0]}'")

    def revoke(self, certificate: x509.Certificate, reason: RevocationReason) -> None:
        command = self._settings.revoke_script
        if not command:
            raise IssuerError(
                "this script issuer has no revoke_script, so the CA cannot be told; set revoke_script "
                "(it receives the serial and the reason) to revoke through it"
            )
        serial = format(certificate.serial_number, "x")
        env = {
            "CERTCTL_SERIAL": serial,
            "CERTCTL_REVOCATION_REASON": reason.value,
            "CERTCTL_REASON_CODE": str(reason.code),
        }
        argv = (*command, serial, reason.value)
        outcome = _run(
            argv, certificate.public_bytes(Encoding.PEM), env, self._settings.timeout_seconds, "revoke_script"
        )
        if outcome.returncode != 0:
            raise _failure(outcome, argv, "revoke_script")

    def check(self) -> str:
        """The programs exist and may be run; nothing is signed."""
        sign = _program(self._settings.sign_script, "sign_script")
        parts = [f"sign_script {sign} is executable"]
        if self._settings.revoke_script:
            parts.append(f"revoke_script {_program(self._settings.revoke_script, 'revoke_script')} is executable")
        else:
            parts.append("no revoke_script: revocations cannot be sent to this CA")
        return "; ".join(parts) + f"; timeout {self._settings.timeout_seconds:g}s"

"""The agent's private keys: made here, kept here (0600), never sent anywhere.

A key is made for a job when the engine asks for a CSR, stored under the certificate's id
as ``<id>.pending.key`` and promoted to ``<id>.key`` once the signed certificate that
matches it has been deployed, so a crash between CSR and certificate never loses the key
that the coming certificate will need, and an old key stays in place until then.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from certctl_engine.errors import InvalidInput
from certctl_engine.files import write_atomic
from certctl_engine.pki import (
    KeySpec,
    PrivateKey,
    build_csr,
    generate_private_key,
    load_private_key_pem,
    private_key_to_pem,
)

_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True, slots=True)
class PreparedCSR:
    """A CSR for a certificate, and where its key waits until the certificate arrives."""

    certificate_id: str
    csr_pem: str
    key_path: Path


class KeyStore:
    """Private keys in one directory (0700), one file per certificate (0600)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(directory, 0o700)

    def _path(self, certificate_id: str, suffix: str) -> Path:
        if not _SAFE_ID.match(certificate_id):
            raise InvalidInput(f"certificate id '{certificate_id}' cannot name a key file", field="certificate_id")
        return self.directory / f"{certificate_id}{suffix}"

    def pending_path(self, certificate_id: str) -> Path:
        return self._path(certificate_id, ".pending.key")

    def current_path(self, certificate_id: str) -> Path:
        return self._path(certificate_id, ".key")

    def prepare_csr(
        self, certificate_id: str, common_name: str, sans: tuple[str, ...], spec: KeySpec | None = None
    ) -> PreparedCSR:
        """A CSR for the certificate; its key is reused if one is already waiting (a retried job)."""
        path = self.pending_path(certificate_id)
        key: PrivateKey
        if path.exists():
            key = load_private_key_pem(path.read_bytes())
        else:
            key = generate_private_key(spec) if spec else generate_private_key()
            write_atomic(path, private_key_to_pem(key), mode=0o600)
        csr = build_csr(key, common_name, sans)
        return PreparedCSR(certificate_id, csr.public_bytes(Encoding.PEM).decode(), path)

    def key_for(self, certificate_id: str, certificate_pem: str) -> bytes:
        """The key that belongs to ``certificate_pem``: the waiting one or the current one."""
        leaf = x509.load_pem_x509_certificate(certificate_pem.encode())
        wanted = leaf.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        for path in (self.pending_path(certificate_id), self.current_path(certificate_id)):
            if path.exists():
                data = path.read_bytes()
                key = load_private_key_pem(data)
                if key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo) == wanted:
                    return data
        raise InvalidInput(
            f"no key in {self.directory} matches the certificate of '{certificate_id}'; "
            "the key was lost or the certificate was made for another machine",
            field="certificate",
        )

    def promote(self, certificate_id: str, certificate_pem: str) -> None:
        """After a successful deployment: the waiting key becomes the current one."""
        pending = self.pending_path(certificate_id)
        if not pending.exists():
            return
        data = self.key_for(certificate_id, certificate_pem)
        if data == pending.read_bytes():
            os.replace(pending, self.current_path(certificate_id))

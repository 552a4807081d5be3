"""Reading stored certificate versions closely: every field of the leaf and its chain, and diffs.

The inventory keeps the indexed facts of a version (serial, validity, key); the detail
views need the rest (key usage, EKUs, constraints, key identifiers, the chain), which is
parsed from the stored PEM on demand rather than stored twice.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from certctl_engine.domain import CertificateVersion
from certctl_engine.pki import CertificateInfo, inspect_certificate, load_certificates
from certctl_engine.services.certificates import CertificateService


@dataclass(frozen=True, slots=True)
class VersionInspection:
    """A stored version, parsed: the leaf, then each certificate above it, nearest first."""

    version: CertificateVersion
    leaf: CertificateInfo
    chain: tuple[CertificateInfo, ...]


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field that differs between two versions, as text for people."""

    field: str
    before: str
    after: str


# Fields that differ between any two versions and say nothing by themselves.
_ALWAYS_DIFFERENT = {"serial_hex", "fingerprint_sha256", "subject_key_id"}


def _text(value: object) -> str:
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value) or "—"
    if value is None:
        return "—"
    if hasattr(value, "isoformat"):
        return value.isoformat()  # type: ignore[no-any-return]
    return str(value.value if hasattr(value, "value") else value)


class InspectionService:
    def __init__(self, certificates: CertificateService) -> None:
        self._certificates = certificates

    def inspect_version(self, version_id: str) -> VersionInspection:
        """Every field of a version's leaf and chain (the private key is never part of it)."""
        version = self._certificates.get_version(version_id)
        certs = load_certificates(version.pem_chain.encode())
        return VersionInspection(
            version=version,
            leaf=inspect_certificate(certs[0]),
            chain=tuple(inspect_certificate(c) for c in certs[1:]),
        )

    def diff_versions(self, before_id: str, after_id: str, *, include_identity: bool = False) -> list[FieldChange]:
        """What changed from one version to another: names, key, usages, issuer, validity, chain.

        Serial, fingerprint and key identifier differ between any two versions; they are
        left out unless ``include_identity``.
        """
        before = self.inspect_version(before_id)
        after = self.inspect_version(after_id)
        changes: list[FieldChange] = []
        for item in fields(CertificateInfo):
            if item.name in _ALWAYS_DIFFERENT and not include_identity:
                continue
            old, new = getattr(before.leaf, item.name), getattr(after.leaf, item.name)
            if old != new:
                changes.append(FieldChange(item.name, _text(old), _text(new)))
        old_chain = tuple(c.subject_dn for c in before.chain)
        new_chain = tuple(c.subject_dn for c in after.chain)
        if old_chain != new_chain:
            changes.append(FieldChange("chain", _text(old_chain), _text(new_chain)))
        return changes

"""PKI primitives of certctl: keys, certificate inspection and certificate/CSR building.

Pure functions over the ``cryptography`` library; storage and issuers build on these.
"""

from __future__ import annotations

from certctl_engine.pki.build import (
    build_csr,
    build_leaf,
    build_self_signed_ca,
    classify_san,
    is_valid_dns_name,
    load_csr,
    random_serial,
)
from certctl_engine.pki.inspect import (
    CertificateInfo,
    certificate_to_pem,
    certificates_to_pem,
    fingerprint_sha256,
    inspect_certificate,
    is_self_signed,
    load_certificates,
    order_chain,
)
from certctl_engine.pki.keys import (
    DEFAULT_KEY_SPEC,
    SUPPORTED_KEY_SPECS,
    KeySpec,
    PrivateKey,
    PublicKey,
    generate_private_key,
    key_spec_of,
    load_private_key_pem,
    private_key_to_pem,
)

__all__ = [
    "DEFAULT_KEY_SPEC",
    "SUPPORTED_KEY_SPECS",
    "CertificateInfo",
    "KeySpec",
    "PrivateKey",
    "PublicKey",
    "build_csr",
    "build_leaf",
    "build_self_signed_ca",
    "certificate_to_pem",
    "certificates_to_pem",
    "classify_san",
    "fingerprint_sha256",
    "generate_private_key",
    "inspect_certificate",
    "is_self_signed",
    "is_valid_dns_name",
    "key_spec_of",
    "load_certificates",
    "load_csr",
    "load_private_key_pem",
    "order_chain",
    "private_key_to_pem",
    "random_serial",
]

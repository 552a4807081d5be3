"""PKI primitives of certctl: keys, CSRs, certificates, the local CA, chains, CRLs, OCSP, export.

Pure functions over the ``cryptography`` library; storage and issuers build on these.
"""

from __future__ import annotations

from certctl_engine.pki.build import (
    LeafSigner,
    build_csr,
    build_leaf,
    build_self_signed_ca,
    classify_san,
    is_ip_literal,
    is_valid_dns_name,
    load_csr,
    random_serial,
)
from certctl_engine.pki.ca import CAMaterial, check_can_sign, create_root_ca, load_ca
from certctl_engine.pki.chain import verify_chain, verify_chain_loosely
from certctl_engine.pki.crl import RevokedEntry, build_crl, crl_to_der, crl_to_pem, load_crl
from certctl_engine.pki.export import PemBundle, export_pem, export_pkcs12, load_pkcs12
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
from certctl_engine.pki.ocsp import (
    OCSPRequestInfo,
    OCSPStatus,
    build_ocsp_error,
    build_ocsp_responder_certificate,
    build_ocsp_response,
    issuer_matches,
    parse_ocsp_request,
)

__all__ = [
    "DEFAULT_KEY_SPEC",
    "SUPPORTED_KEY_SPECS",
    "CAMaterial",
    "CertificateInfo",
    "KeySpec",
    "LeafSigner",
    "OCSPRequestInfo",
    "OCSPStatus",
    "PemBundle",
    "PrivateKey",
    "PublicKey",
    "RevokedEntry",
    "build_crl",
    "build_csr",
    "build_leaf",
    "build_ocsp_error",
    "build_ocsp_responder_certificate",
    "build_ocsp_response",
    "build_self_signed_ca",
    "certificate_to_pem",
    "certificates_to_pem",
    "check_can_sign",
    "classify_san",
    "create_root_ca",
    "crl_to_der",
    "crl_to_pem",
    "export_pem",
    "export_pkcs12",
    "fingerprint_sha256",
    "generate_private_key",
    "inspect_certificate",
    "is_ip_literal",
    "is_self_signed",
    "is_valid_dns_name",
    "issuer_matches",
    "key_spec_of",
    "load_ca",
    "load_certificates",
    "load_crl",
    "load_csr",
    "load_pkcs12",
    "load_private_key_pem",
    "order_chain",
    "parse_ocsp_request",
    "private_key_to_pem",
    "random_serial",
    "verify_chain",
    "verify_chain_loosely",
]

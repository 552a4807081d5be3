"""PEM, DER and CSR bytes from anywhere: every loader answers InvalidInput or a parsed value, never crashes.

Random bytes and mutations of valid PEM and DER (bit flips, truncations, spliced blocks)
go to the PKI loaders and to the import of the exchange service. A loader either returns
what it parsed or raises ``InvalidInput``; an import that fails stores nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cryptography import x509
from fuzz_samples import bundles, pki_bytes
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from certctl_engine.domain import Actor
from certctl_engine.engine import Engine
from certctl_engine.errors import CertctlError, InvalidInput
from certctl_engine.pki import (
    load_certificates,
    load_crl,
    load_csr,
    load_private_key_pem,
    parse_ocsp_request,
)
from certctl_engine.store.models import CertificateModel, CertificateVersionModel

FUZZER = Actor("fuzzer")
FUZZER_SETTINGS = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _only_invalid_input(call: Callable[[bytes], Any], data: bytes) -> Any:
    try:
        return call(data)
    except InvalidInput as exc:
        assert exc.message.strip()
        return None


@FUZZER_SETTINGS
@given(pki_bytes)
@example(b"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
@example(b"\x30\x80")
def test_certificate_loader(data: bytes) -> None:
    certs = _only_invalid_input(load_certificates, data)
    assert certs is None or (isinstance(certs, list) and all(isinstance(c, x509.Certificate) for c in certs))


@FUZZER_SETTINGS
@given(pki_bytes)
@example(b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n")
def test_csr_loader(data: bytes) -> None:
    csr = _only_invalid_input(load_csr, data)
    assert csr is None or csr.is_signature_valid


@FUZZER_SETTINGS
@given(pki_bytes)
def test_crl_loader(data: bytes) -> None:
    _only_invalid_input(load_crl, data)


@FUZZER_SETTINGS
@given(pki_bytes, st.one_of(st.none(), st.binary(max_size=16)))
def test_private_key_loader(data: bytes, passphrase: bytes | None) -> None:
    _only_invalid_input(lambda d: load_private_key_pem(d, passphrase), data)


@FUZZER_SETTINGS
@given(pki_bytes)
def test_ocsp_request_parser(data: bytes) -> None:
    _only_invalid_input(parse_ocsp_request, data)


def _stored(engine: Engine) -> tuple[int, int, int]:
    return CertificateModel.select().count(), CertificateVersionModel.select().count(), engine.audit.latest_sequence()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(pki_bytes, bundles), key=st.one_of(st.none(), pki_bytes, bundles))
def test_import_refuses_bad_bytes_and_stores_nothing(fuzz_engine: Engine, data: bytes, key: bytes | None) -> None:
    before = _stored(fuzz_engine)
    try:
        items = fuzz_engine.exchange.import_pem(data, key_pem=key, actor=FUZZER, issuer_id="iss-local")
    except CertctlError as exc:
        event(f"refused: {type(exc).__name__}")
        assert exc.message.strip()
        assert _stored(fuzz_engine) == before  # nothing half-written
        return
    event("imported")
    # A mutation may leave a valid leaf (a flipped bit in the signature): then it is managed, whole.
    for item in items:
        assert fuzz_engine.certificates.current_version(item.certificate.id) is not None

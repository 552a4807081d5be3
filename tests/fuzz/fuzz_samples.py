"""Valid PKI samples and hypothesis strategies that mutate them, shared by the fuzz tests."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from functools import cache

from cryptography.hazmat.primitives import serialization
from hypothesis import strategies as st

from certctl_engine.pki import build_crl, build_csr, build_leaf, create_root_ca, generate_private_key

__all__ = ["SAMPLE_NAMES", "bundles", "certificate_pems", "mutated", "pki_bytes", "samples"]


@cache
def samples() -> dict[str, bytes]:
    """Valid inputs to mutate: a leaf with its key, a CA certificate (PEM, DER), a CSR (PEM, DER), a CRL."""
    ca = create_root_ca(common_name="Fuzz Root")
    key = generate_private_key()
    now = datetime.now(UTC)
    leaf = build_leaf(
        issuer_cert=ca.certificate,
        issuer_key=ca.key,
        public_key=key.public_key(),
        common_name="fuzz.example.com",
        sans=["fuzz.example.com"],
        not_before=now - timedelta(minutes=5),
        not_after=now + timedelta(days=30),
    )
    csr = build_csr(key, "fuzz.example.com", ["fuzz.example.com"])
    crl = build_crl(
        issuer_cert=ca.certificate,
        issuer_key=ca.key,
        entries=[],
        crl_number=1,
        this_update=now,
        next_update=now + timedelta(days=1),
    )
    pem, der = serialization.Encoding.PEM, serialization.Encoding.DER
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return {
        "bundle_pem": leaf.public_bytes(pem) + ca.certificate.public_bytes(pem) + key_pem,
        "leaf_der": leaf.public_bytes(der),
        "ca_pem": ca.certificate.public_bytes(pem),
        "csr_pem": csr.public_bytes(pem),
        "csr_der": csr.public_bytes(der),
        "crl_der": crl.public_bytes(der),
        "other_key_pem": generate_private_key().private_bytes(
            pem, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        ),
    }


SAMPLE_NAMES = ("bundle_pem", "leaf_der", "ca_pem", "csr_pem", "csr_der", "crl_der", "other_key_pem")


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid sample with a few bytes flipped, cut short, grown, or its base64 body garbled."""
    data = bytearray(samples()[draw(st.sampled_from(sorted(SAMPLE_NAMES)))])
    for _ in range(draw(st.integers(1, 4))):
        how = draw(st.sampled_from(["flip", "truncate", "insert", "splice", "rebase64"]))
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        if how == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif how == "truncate":
            del data[at:]
        elif how == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif how == "splice":
            data[at:at] = b"\n-----BEGIN CERTIFICATE-----\n" + draw(st.binary(max_size=40)) + b"\n-----END"
        else:
            chunk = base64.b64encode(draw(st.binary(min_size=1, max_size=48)))
            data[at : at + len(chunk)] = chunk
    return bytes(data)


pki_bytes = st.one_of(st.binary(max_size=2048), mutated())
# Whole samples and mutations glued together: a leaf with a foreign key, CA certificates only, a CSR in a chain...
bundles = st.lists(
    st.one_of(st.sampled_from(sorted(SAMPLE_NAMES)).map(lambda k: samples()[k]), mutated()), min_size=1, max_size=3
).map(b"".join)


@st.composite
def certificate_pems(draw: st.DrawFn) -> str:
    """A PEM certificate block whose DER inside is the sample leaf with a few bytes changed (or none).

    The armour stays intact, so the parser gets past the PEM layer to the ASN.1, the
    extensions and the names, where malformed certificates differ.
    """
    der = bytearray(samples()["leaf_der"])
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(der) - 1))
        der[at] = draw(st.integers(0, 255))
    body = base64.encodebytes(bytes(der)).decode("ascii")
    return f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n"

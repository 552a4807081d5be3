"""The local CA's material: fresh roots, and existing CAs made with the openssl CLI loaded as sub-CAs."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from certctl_engine.domain import KeyAlgorithm
from certctl_engine.errors import InvalidInput
from certctl_engine.pki import (
    KeySpec,
    build_leaf,
    certificate_to_pem,
    generate_private_key,
    key_spec_of,
    load_certificates,
    load_private_key_pem,
)
from certctl_engine.pki.ca import CAMaterial, check_can_sign, create_root_ca, load_ca
from certctl_engine.pki.chain import verify_chain

NOW = datetime.now(UTC).replace(microsecond=0)
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
PASSPHRASE = b"hunter2"

requires_openssl = pytest.mark.skipif(not Path(OPENSSL).exists(), reason="openssl binary not available")

# A self-contained config so the tests do not depend on the distribution's openssl.cnf.
_OPENSSL_CNF = """\
[req]
distinguished_name = dn
x509_extensions = v3_self

[dn]

[v3_self]
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[v3_bare]
subjectKeyIdentifier = hash
"""

_SUB_CA_EXT = """\
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""

# Key file name -> (openssl pkey options used to write it, whether it is encrypted).
_KEY_FORMATS: dict[str, tuple[tuple[str, ...], bool]] = {
    "traditional": (("-traditional",), False),  # PKCS#1 RSA / SEC1 EC
    "pkcs8": ((), False),
    "pkcs8-encrypted": (("-aes256", "-passout", "pass:hunter2"), True),
    "traditional-encrypted": (("-traditional", "-aes256", "-passout", "pass:hunter2"), True),
}


def _openssl(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OPENSSL, *(str(a) for a in args)], capture_output=True, text=True, check=True, cwd=cwd, timeout=60
    )


def _newkey(alg: str) -> list[str]:
    if alg == "rsa":
        return ["-newkey", "rsa:2048"]
    return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]


def _genpkey(alg: str, out: Path) -> None:
    if alg == "rsa":
        _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", out, cwd=out.parent)
    else:
        _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out", out, cwd=out.parent)


def _self_signed(
    directory: Path, name: str, alg: str, *addext: str, extensions: str = "v3_self", days: int = 30
) -> tuple[Path, Path]:
    """An openssl ``req -x509`` certificate; returns (cert path, key path)."""
    cnf = directory / "openssl.cnf"
    if not cnf.exists():
        cnf.write_text(_OPENSSL_CNF)
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    args: list[str] = ["req", "-x509", "-config", str(cnf), "-extensions", extensions, *_newkey(alg), "-nodes"]
    args += ["-keyout", str(key), "-out", str(cert), "-days", str(days), "-subj", f"/CN={name}"]
    for ext in addext:
        args += ["-addext", ext]
    _openssl(*args, cwd=directory)
    return cert, key


@dataclass(frozen=True)
class OpensslPKI:
    """A root CA and a sub-CA signed by it, made by the openssl CLI."""

    directory: Path
    alg: str
    root_pem: Path
    root_key: Path
    sub_pem: Path

    def sub_key(self, fmt: str) -> Path:
        return self.directory / f"sub.{fmt}.key"


@pytest.fixture(scope="module", params=["rsa", "ec"])
def openssl_pki(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> OpensslPKI:
    if not Path(OPENSSL).exists():
        pytest.skip("openssl binary not available")
    alg: str = request.param
    d = tmp_path_factory.mktemp(f"openssl-{alg}")
    root_pem, root_key = _self_signed(
        d,
        "Test Root",
        alg,
        "basicConstraints=critical,CA:TRUE",
        "keyUsage=critical,keyCertSign,cRLSign",
    )
    plain = d / "sub.plain.key"
    _genpkey(alg, plain)
    _openssl(
        "req", "-new", "-config", d / "openssl.cnf", "-key", plain, "-subj", "/CN=Test Sub CA", "-out", "sub.csr", cwd=d
    )
    (d / "sub.ext").write_text(_SUB_CA_EXT)
    x509_req = ["x509", "-req", "-in", "sub.csr", "-CA", str(root_pem), "-CAkey", str(root_key)]
    _openssl(*x509_req, "-days", "20", "-extfile", "sub.ext", "-out", "sub.pem", cwd=d)
    for fmt, (options, _) in _KEY_FORMATS.items():
        _openssl("pkey", "-in", plain, *options, "-out", f"sub.{fmt}.key", cwd=d)
    return OpensslPKI(directory=d, alg=alg, root_pem=root_pem, root_key=root_key, sub_pem=d / "sub.pem")


def _issue_leaf(material: CAMaterial, name: str = "svc.example.com") -> x509.Certificate:
    return build_leaf(
        issuer_cert=material.certificate,
        issuer_key=material.key,
        public_key=generate_private_key().public_key(),
        common_name=name,
        sans=[name],
        not_before=NOW - timedelta(minutes=1),
        not_after=NOW + timedelta(days=7),
    )


def _write(path: Path, *certs: x509.Certificate) -> Path:
    path.write_text("".join(certificate_to_pem(c) for c in certs))
    return path


# --------------------------------------------------------------------------- create_root_ca


def test_create_root_ca_defaults() -> None:
    material = create_root_ca(now=NOW)
    cert = material.certificate

    assert material.is_self_signed
    assert material.chain == ()
    assert material.root is cert
    assert material.subject == "CN=certctl Local CA"
    assert key_spec_of(material.key) == KeySpec(KeyAlgorithm.ECDSA, 384)
    assert key_spec_of(cert.public_key()) == KeySpec(KeyAlgorithm.ECDSA, 384)
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA384)

    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca and basic.value.path_length is None
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign

    assert cert.not_valid_before_utc == NOW - timedelta(minutes=5)
    assert cert.not_valid_after_utc == NOW + timedelta(days=3650)
    assert material.fingerprint_sha256 == cert.fingerprint(hashes.SHA256()).hex()
    assert material.certificate_pem == certificate_to_pem(cert)
    assert material.chain_pem == material.certificate_pem
    check_can_sign(material, now=NOW)


def test_create_root_ca_options() -> None:
    naive_now = datetime(2030, 1, 2, 3, 4, 5, 678)
    material = create_root_ca(
        common_name="Ops Root",
        key_spec=KeySpec(KeyAlgorithm.ED25519, 256),
        validity_days=1,
        organization="Example Ltd",
        now=naive_now,
    )
    cert = material.certificate
    assert material.subject == "O=Example Ltd,CN=Ops Root"
    assert key_spec_of(material.key).algorithm is KeyAlgorithm.ED25519
    assert cert.not_valid_before_utc == datetime(2030, 1, 2, 2, 59, 5, tzinfo=UTC)
    assert cert.not_valid_after_utc == datetime(2030, 1, 3, 3, 4, 5, tzinfo=UTC)
    assert create_root_ca(validity_days=36500, now=NOW).certificate.not_valid_after_utc.year >= 2100


@pytest.mark.parametrize("days", [0, -1, 36501, True, 1.5])
def test_create_root_ca_rejects_validity(days: int) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        create_root_ca(validity_days=days)
    assert excinfo.value.field == "validity_days"


def test_create_root_ca_rejects_bad_input() -> None:
    with pytest.raises(InvalidInput):
        create_root_ca(key_spec=KeySpec(KeyAlgorithm.RSA, 1024))
    with pytest.raises(InvalidInput):
        create_root_ca(common_name="  ")


@requires_openssl
def test_root_ca_leaf_verifies_with_cryptography_and_openssl(tmp_path: Path) -> None:
    material = create_root_ca()
    leaf = _issue_leaf(material)

    assert verify_chain(leaf, [], [material.certificate]) == [leaf, material.certificate]
    assert verify_chain(leaf, [], [material.certificate], server_name="svc.example.com") == [
        leaf,
        material.certificate,
    ]

    root_pem = _write(tmp_path / "root.pem", material.certificate)
    leaf_pem = _write(tmp_path / "leaf.pem", leaf)
    out = _openssl("verify", "-x509_strict", "-purpose", "sslserver", "-CAfile", root_pem, leaf_pem, cwd=tmp_path)
    assert out.stdout.strip() == f"{leaf_pem}: OK"


def test_key_pem_is_encrypted_pkcs8_and_round_trips() -> None:
    material = create_root_ca()
    pem = material.key_pem(b"s3cret")
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    public = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    loaded = load_private_key_pem(pem, b"s3cret")
    assert loaded.public_key().public_bytes(*public) == material.key.public_key().public_bytes(*public)
    with pytest.raises(InvalidInput):
        load_private_key_pem(pem, b"wrong")
    with pytest.raises(InvalidInput):
        material.key_pem(b"")

    again = load_ca(material.certificate_pem.encode(), pem, b"s3cret")
    assert again.certificate == material.certificate
    assert again.chain == ()
    assert again.root == material.certificate


def test_ca_material_checks_key_and_hides_it() -> None:
    material = create_root_ca()
    with pytest.raises(InvalidInput, match="does not belong"):
        CAMaterial(certificate=material.certificate, key=generate_private_key())
    assert "key" not in repr(material)
    as_list = CAMaterial(material.certificate, material.key, [material.certificate])  # type: ignore[arg-type]
    assert as_list.chain == (material.certificate,)


def test_check_can_sign_refuses_expired_and_not_yet_valid() -> None:
    material = create_root_ca(validity_days=10, now=NOW)
    check_can_sign(material, now=NOW + timedelta(days=9))
    with pytest.raises(InvalidInput, match="expired"):
        check_can_sign(material, now=NOW + timedelta(days=11))
    with pytest.raises(InvalidInput, match="not yet valid"):
        check_can_sign(material, now=NOW - timedelta(hours=1))


# --------------------------------------------------------------------------- load_ca with openssl-made CAs


@pytest.mark.parametrize("fmt", list(_KEY_FORMATS))
def test_load_openssl_sub_ca_and_issue(openssl_pki: OpensslPKI, fmt: str, tmp_path: Path) -> None:
    pki = openssl_pki
    key_pem = pki.sub_key(fmt).read_bytes()
    encrypted = _KEY_FORMATS[fmt][1]
    if fmt.startswith("traditional"):
        expected = b"RSA PRIVATE KEY" if pki.alg == "rsa" else b"EC PRIVATE KEY"
        assert expected in key_pem.splitlines()[0]
    assert (b"ENCRYPTED" in key_pem) is encrypted

    material = load_ca(pki.sub_pem.read_bytes() + pki.root_pem.read_bytes(), key_pem, PASSPHRASE)

    [sub] = load_certificates(pki.sub_pem.read_bytes())
    [root] = load_certificates(pki.root_pem.read_bytes())
    assert material.certificate == sub
    assert material.subject == "CN=Test Sub CA"
    assert not material.is_self_signed
    assert material.chain == (root,)
    assert material.root == root
    assert material.chain_pem == certificate_to_pem(sub) + certificate_to_pem(root)
    # path length 0 is fine for a CA that only issues leaves
    assert sub.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0

    leaf = _issue_leaf(material)
    leaf_pem = _write(tmp_path / "leaf.pem", leaf)
    out = _openssl("verify", "-CAfile", pki.root_pem, "-untrusted", pki.sub_pem, leaf_pem, cwd=tmp_path)
    assert out.stdout.strip() == f"{leaf_pem}: OK"

    assert verify_chain(leaf, [sub], [root]) == [leaf, sub, root]
    bundle = [*material.chain, material.certificate]  # intermediates in any order
    assert verify_chain(leaf, bundle, [root], server_name="svc.example.com") == [leaf, sub, root]


def test_load_ca_any_order_extra_and_duplicate_certificates(openssl_pki: OpensslPKI) -> None:
    pki = openssl_pki
    unrelated = create_root_ca(common_name="Unrelated").certificate_pem.encode()
    root, sub = pki.root_pem.read_bytes(), pki.sub_pem.read_bytes()
    bundle = root + unrelated + sub + root
    material = load_ca(bundle, pki.sub_key("pkcs8").read_bytes())
    assert material.subject == "CN=Test Sub CA"
    assert material.chain == tuple(load_certificates(root))


def test_load_ca_incomplete_chain_is_allowed(openssl_pki: OpensslPKI) -> None:
    pki = openssl_pki
    material = load_ca(pki.sub_pem.read_bytes(), pki.sub_key("traditional").read_bytes())
    assert material.chain == ()
    assert material.root is None
    assert not material.is_self_signed
    assert material.chain_pem == material.certificate_pem
    check_can_sign(material, now=datetime.now(UTC))


def test_load_ca_root_itself(openssl_pki: OpensslPKI) -> None:
    pki = openssl_pki
    material = load_ca(pki.root_pem.read_bytes() + pki.sub_pem.read_bytes(), pki.root_key.read_bytes())
    assert material.subject == "CN=Test Root"
    assert material.is_self_signed
    assert material.chain == ()
    assert material.root == material.certificate


# --------------------------------------------------------------------------- load_ca refusals


def test_load_ca_refuses_wrong_or_missing_passphrase(openssl_pki: OpensslPKI) -> None:
    pki = openssl_pki
    for fmt in ("pkcs8-encrypted", "traditional-encrypted"):
        key_pem = pki.sub_key(fmt).read_bytes()
        with pytest.raises(InvalidInput, match="wrong passphrase") as excinfo:
            load_ca(pki.sub_pem.read_bytes(), key_pem, b"hunter3")
        assert excinfo.value.field == "passphrase"
        with pytest.raises(InvalidInput, match="passphrase is required"):
            load_ca(pki.sub_pem.read_bytes(), key_pem)


def test_load_ca_refuses_key_of_no_certificate(openssl_pki: OpensslPKI) -> None:
    pki = openssl_pki
    stranger = create_root_ca().key_pem(b"x")
    with pytest.raises(InvalidInput) as excinfo:
        load_ca(pki.sub_pem.read_bytes() + pki.root_pem.read_bytes(), stranger, b"x")
    assert excinfo.value.message == "the key does not belong to any certificate in the file"
    assert "CN=Test Sub CA" in str(excinfo.value)


def test_load_ca_refuses_expired_and_not_yet_valid(openssl_pki: OpensslPKI) -> None:
    pki = openssl_pki
    cert_pem, key_pem = pki.sub_pem.read_bytes(), pki.sub_key("pkcs8").read_bytes()
    with pytest.raises(InvalidInput, match=r"'CN=Test Sub CA' expired on"):
        load_ca(cert_pem, key_pem, now=NOW + timedelta(days=365 * 100))
    with pytest.raises(InvalidInput, match=r"'CN=Test Sub CA' is not yet valid"):
        load_ca(cert_pem, key_pem, now=datetime(2000, 1, 1))


@requires_openssl
@pytest.mark.parametrize("alg", ["rsa", "ec"])
def test_load_ca_refuses_non_ca(tmp_path: Path, alg: str) -> None:
    cert, key = _self_signed(tmp_path, "web.example.com", alg, "basicConstraints=critical,CA:FALSE")
    with pytest.raises(InvalidInput, match="not a CA") as excinfo:
        load_ca(cert.read_bytes(), key.read_bytes())
    assert "CN=web.example.com" in excinfo.value.message
    assert "CA:FALSE" in excinfo.value.message


@requires_openssl
def test_load_ca_refuses_certificate_without_basic_constraints(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path, "Bare", "ec", extensions="v3_bare")
    [parsed] = load_certificates(cert.read_bytes())
    with pytest.raises(x509.ExtensionNotFound):
        parsed.extensions.get_extension_for_class(x509.BasicConstraints)
    with pytest.raises(InvalidInput, match="'CN=Bare' is not a CA: it has no basicConstraints"):
        load_ca(cert.read_bytes(), key.read_bytes())


@requires_openssl
def test_load_ca_refuses_ca_without_key_cert_sign(tmp_path: Path) -> None:
    cert, key = _self_signed(
        tmp_path, "Signless CA", "ec", "basicConstraints=critical,CA:TRUE", "keyUsage=critical,digitalSignature"
    )
    with pytest.raises(InvalidInput, match="keyCertSign") as excinfo:
        load_ca(cert.read_bytes(), key.read_bytes())
    assert "CN=Signless CA" in excinfo.value.message


@requires_openssl
def test_load_ca_accepts_ca_without_key_usage(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path, "Old CA", "ec", "basicConstraints=critical,CA:TRUE")
    assert load_ca(cert.read_bytes(), key.read_bytes()).subject == "CN=Old CA"


def test_load_ca_prefers_the_certificate_that_can_sign() -> None:
    material = create_root_ca()
    # A leaf certificate for the CA's own key, listed before the CA certificate.
    twin = build_leaf(
        issuer_cert=material.certificate,
        issuer_key=material.key,
        public_key=material.key.public_key(),
        common_name="twin.example.com",
        sans=[],
        not_before=NOW - timedelta(minutes=1),
        not_after=NOW + timedelta(days=1),
    )
    key_pem = material.key_pem(b"pw")
    bundle = certificate_to_pem(twin).encode() + material.certificate_pem.encode()
    loaded = load_ca(bundle, key_pem, b"pw")
    assert loaded.certificate == material.certificate
    assert loaded.chain == ()
    with pytest.raises(InvalidInput, match="not a CA"):
        load_ca(certificate_to_pem(twin).encode(), key_pem, b"pw")


@pytest.mark.parametrize(
    ("cert_pem", "key_pem"),
    [
        (b"", b""),
        (b"garbage", b"garbage"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", b""),
    ],
)
def test_load_ca_refuses_garbage(cert_pem: bytes, key_pem: bytes) -> None:
    with pytest.raises(InvalidInput):
        load_ca(cert_pem, key_pem)


def test_load_ca_refuses_garbage_key_with_good_certificate() -> None:
    material = create_root_ca()
    with pytest.raises(InvalidInput, match="not a PEM private key"):
        load_ca(material.certificate_pem.encode(), b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")

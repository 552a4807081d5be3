"""Sub-CA mode under a root the test makes with the openssl CLI itself, judged by openssl again.

The root and the sub-CA are made by ``openssl`` from a small configuration written here
(``OPENSSL_CONF`` points at it too), so the system's openssl.cnf plays no part. The sub-CA
key is encrypted with AES-256 under ``hunter2``, as an enterprise PKI would hand it over.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from certctl_engine.domain import Actor, CertificateStatus, RevocationReason
from certctl_engine.engine import Engine
from certctl_engine.errors import Conflict, InvalidInput, NotFound
from certctl_engine.pki import load_certificates
from certctl_engine.store.models import AuditEventModel, CertificateAuthorityModel, IssuerModel

PASSPHRASE = "hunter2"
SUB_SUBJECT = "/O=Example Corp/CN=Example Issuing CA 1"

OPENSSL_CNF = """\
# Everything openssl needs for this test; the system openssl.cnf is never read.
[req]
distinguished_name = req_dn
prompt = no
utf8 = yes

[req_dn]
CN = placeholder

[v3_root]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[v3_sub]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign, digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[v3_leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash

[v3_no_certsign]
basicConstraints = critical, CA:TRUE
keyUsage = critical, cRLSign, digitalSignature
subjectKeyIdentifier = hash
"""


def openssl(*args: str, cwd: Path, input: bytes | None = None) -> str:
    env = dict(os.environ, OPENSSL_CONF=str(cwd / "openssl.cnf"))
    result = subprocess.run(["openssl", *args], cwd=cwd, env=env, capture_output=True, input=input, check=False)
    out = result.stdout.decode(errors="replace") + result.stderr.decode(errors="replace")
    assert result.returncode == 0, f"openssl {' '.join(args)} failed:\n{out}"
    return out


def _ec_key(cwd: Path, name: str, *, encrypted: bool = False) -> None:
    args = ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", name]
    if encrypted:
        args += ["-aes256", "-pass", f"pass:{PASSPHRASE}"]
    openssl(*args, cwd=cwd)


def _self_signed(cwd: Path, stem: str, subject: str, extensions: str) -> None:
    _ec_key(cwd, f"{stem}.key")
    openssl(
        "req",
        "-config",
        "openssl.cnf",
        "-new",
        "-x509",
        "-key",
        f"{stem}.key",
        "-subj",
        subject,
        "-days",
        "3650",
        "-extensions",
        extensions,
        "-out",
        f"{stem}.pem",
        cwd=cwd,
    )


@dataclass(frozen=True)
class OpensslPKI:
    dir: Path

    def path(self, name: str) -> Path:
        return self.dir / name

    def read(self, name: str) -> bytes:
        return (self.dir / name).read_bytes()


@pytest.fixture(scope="module")
def openssl_pki(tmp_path_factory: pytest.TempPathFactory) -> OpensslPKI:
    """root.pem/root.key, sub.pem/sub.key (encrypted), noca.pem/noca.key, nosign.pem/nosign.key."""
    cwd = tmp_path_factory.mktemp("openssl-pki")
    (cwd / "openssl.cnf").write_text(OPENSSL_CNF)
    _self_signed(cwd, "root", "/O=Example Corp/CN=Example Test Root CA", "v3_root")
    _ec_key(cwd, "sub.key", encrypted=True)
    openssl(
        "req",
        "-config",
        "openssl.cnf",
        "-new",
        "-key",
        "sub.key",
        "-passin",
        f"pass:{PASSPHRASE}",
        "-subj",
        SUB_SUBJECT,
        "-out",
        "sub.csr",
        cwd=cwd,
    )
    openssl(
        "x509",
        "-req",
        "-in",
        "sub.csr",
        "-CA",
        "root.pem",
        "-CAkey",
        "root.key",
        "-set_serial",
        "0x1001",
        "-days",
        "1825",
        "-extfile",
        "openssl.cnf",
        "-extensions",
        "v3_sub",
        "-out",
        "sub.pem",
        cwd=cwd,
    )
    _self_signed(cwd, "noca", "/CN=not-a-ca.example.com", "v3_leaf")
    _self_signed(cwd, "nosign", "/CN=CA Without CertSign", "v3_no_certsign")
    # The material is what the acceptance asks for, before certctl sees any of it.
    sub_text = openssl("x509", "-in", "sub.pem", "-noout", "-text", cwd=cwd)
    assert "CA:TRUE" in sub_text and "Certificate Sign, CRL Sign" in sub_text
    assert "X509v3 Subject Key Identifier" in sub_text and "X509v3 Authority Key Identifier" in sub_text
    assert b"ENCRYPTED PRIVATE KEY" in (cwd / "sub.key").read_bytes()
    assert "sub.pem: OK" in openssl("verify", "-CAfile", "root.pem", "sub.pem", cwd=cwd)
    return OpensslPKI(cwd)


@pytest.fixture
def sub_issuer(engine: Engine, actor: Actor) -> str:
    """A GenericCA issuer with no CA yet."""
    return engine.issuers.create("Issuing CA", "GenericCA", {"validity_days": 30}, actor=actor, id="iss-sub").id


def _split_pem(text: str) -> list[str]:
    return re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?", text, re.DOTALL)


def _crl_serials(text: str) -> set[int]:
    return {int(s, 16) for s in re.findall(r"Serial Number: ([0-9A-Fa-f]+)", text)}


def _audit_count() -> int:
    return AuditEventModel.select().count()


def _subject_of(pki: OpensslPKI, name: str) -> str:
    return load_certificates(pki.read(name))[0].subject.rfc4514_string()


# --------------------------------------------------------------------------- happy path


def test_sub_ca_issues_leaves_and_crls_that_openssl_accepts(
    engine: Engine, actor: Actor, openssl_pki: OpensslPKI, sub_issuer: str, tmp_path: Path
) -> None:
    (tmp_path / "openssl.cnf").write_text(OPENSSL_CNF)
    (tmp_path / "root.pem").write_bytes(openssl_pki.read("root.pem"))
    (tmp_path / "sub.pem").write_bytes(openssl_pki.read("sub.pem"))

    info = engine.ca.init(
        sub_issuer,
        cert_pem=openssl_pki.read("sub.pem") + openssl_pki.read("root.pem"),
        key_pem=openssl_pki.read("sub.key"),
        passphrase=PASSPHRASE.encode(),
        actor=actor,
    )
    assert info.mode == "sub-ca"
    assert info.chain_length == 1
    assert info.subject == _subject_of(openssl_pki, "sub.pem")
    assert load_certificates(info.chain_pem.encode())[0] == load_certificates(openssl_pki.read("root.pem"))[0]
    assert engine.audit.list(resource_id=sub_issuer).items[0].action == "ca_imported"

    cert_id = engine.certificates.create(
        name="api",
        common_name="api.example.com",
        sans=("api.example.com", "www.example.com", "10.0.0.7"),
        issuer_id=sub_issuer,
        actor=actor,
    ).id
    version = engine.issuance.issue(cert_id, actor=actor)
    pems = _split_pem(version.pem_chain)
    assert len(pems) == 3  # leaf, sub-CA, root
    leaf, sub, root = (load_certificates(p.encode())[0] for p in pems)
    assert sub == load_certificates(openssl_pki.read("sub.pem"))[0]
    assert root == load_certificates(openssl_pki.read("root.pem"))[0]
    assert leaf.issuer == sub.subject
    assert version.issuer_dn == sub.subject.rfc4514_string()

    (tmp_path / "leaf.pem").write_text(pems[0])
    (tmp_path / "chain.pem").write_text(pems[1])
    assert "leaf.pem: OK" in openssl(
        "verify", "-CAfile", "root.pem", "-untrusted", "chain.pem", "leaf.pem", cwd=tmp_path
    )
    # Without the sub-CA in between, the root alone does not vouch for the leaf.
    lone = subprocess.run(
        ["openssl", "verify", "-CAfile", "root.pem", "leaf.pem"],
        cwd=tmp_path,
        env=dict(os.environ, OPENSSL_CONF=str(tmp_path / "openssl.cnf")),
        capture_output=True,
        check=False,
    )
    assert lone.returncode != 0
    text = openssl("x509", "-in", "leaf.pem", "-noout", "-text", cwd=tmp_path)
    for expected in ("DNS:api.example.com", "DNS:www.example.com", "IP Address:10.0.0.7", "CA:FALSE"):
        assert expected in text
    assert "Issuer: O = Example Corp, CN = Example Issuing CA 1" in text

    revoked = engine.revocation.revoke(cert_id, RevocationReason.KEY_COMPROMISE, actor=actor)
    assert revoked.status is CertificateStatus.REVOKED
    (tmp_path / "crl.der").write_bytes(engine.revocation.crl(sub_issuer, actor=actor))
    out = openssl("crl", "-inform", "DER", "-in", "crl.der", "-CAfile", "sub.pem", "-noout", "-verify", cwd=tmp_path)
    assert "verify OK" in out
    crl_text = openssl("crl", "-inform", "DER", "-in", "crl.der", "-noout", "-text", cwd=tmp_path)
    assert "Issuer: O = Example Corp, CN = Example Issuing CA 1" in crl_text
    assert _crl_serials(crl_text) == {int(version.serial_number, 16)}
    assert "Key Compromise" in crl_text
    # Signed by the sub-CA, not by the root: verification against the root alone fails.
    wrong = subprocess.run(
        ["openssl", "crl", "-inform", "DER", "-in", "crl.der", "-CAfile", "root.pem", "-noout", "-verify"],
        cwd=tmp_path,
        env=dict(os.environ, OPENSSL_CONF=str(tmp_path / "openssl.cnf")),
        capture_output=True,
        check=False,
    )
    assert b"verify OK" not in wrong.stdout + wrong.stderr
    assert engine.revocation.check(sub_issuer, version.serial_number).status == "revoked"
    assert engine.ca.info(sub_issuer).crl_number == 1


def test_init_twice_is_a_conflict(engine: Engine, actor: Actor, openssl_pki: OpensslPKI, sub_issuer: str) -> None:
    kwargs = {
        "cert_pem": openssl_pki.read("sub.pem") + openssl_pki.read("root.pem"),
        "key_pem": openssl_pki.read("sub.key"),
        "passphrase": PASSPHRASE.encode(),
        "actor": actor,
    }
    first = engine.ca.init(sub_issuer, **kwargs)
    events = _audit_count()
    with pytest.raises(Conflict, match="already has a CA"):
        engine.ca.init(sub_issuer, **kwargs)
    # Nor may a fresh root replace the imported sub-CA.
    with pytest.raises(Conflict, match="already has a CA"):
        engine.ca.init(sub_issuer, actor=actor)
    assert CertificateAuthorityModel.select().count() == 1
    assert engine.ca.info(sub_issuer).fingerprint_sha256 == first.fingerprint_sha256
    assert engine.ca.info(sub_issuer).mode == "sub-ca"
    assert _audit_count() == events


# --------------------------------------------------------------------------- refusals at init


@pytest.mark.parametrize(
    ("cert", "key", "passphrase", "words"),
    [
        ("sub.pem", "sub.key", b"hunter3", "wrong passphrase"),
        ("sub.pem", "sub.key", None, "passphrase is required"),
        ("noca.pem", "noca.key", None, "not a CA"),
        ("nosign.pem", "nosign.key", None, "keyCertSign"),
        ("sub.pem", "noca.key", None, "does not belong"),
    ],
    ids=["wrong-passphrase", "no-passphrase", "not-a-ca", "no-keycertsign", "foreign-key"],
)
def test_init_refusals_store_nothing(
    engine: Engine,
    actor: Actor,
    openssl_pki: OpensslPKI,
    sub_issuer: str,
    cert: str,
    key: str,
    passphrase: bytes | None,
    words: str,
) -> None:
    events = _audit_count()
    with pytest.raises(InvalidInput) as info:
        engine.ca.init(
            sub_issuer,
            cert_pem=openssl_pki.read(cert) + openssl_pki.read("root.pem"),
            key_pem=openssl_pki.read(key),
            passphrase=passphrase,
            actor=actor,
        )
    assert words in str(info.value)
    assert CertificateAuthorityModel.select().count() == 0
    assert _audit_count() == events
    # Nothing half-made either: the issuer has no CA to show.
    with pytest.raises(NotFound, match="no CA for issuer"):
        engine.ca.info(sub_issuer)


def test_not_a_ca_names_the_certificate(engine: Engine, actor: Actor, openssl_pki: OpensslPKI, sub_issuer: str) -> None:
    with pytest.raises(InvalidInput, match=r"certificate 'CN=not-a-ca\.example\.com' is not a CA"):
        engine.ca.init(
            sub_issuer, cert_pem=openssl_pki.read("noca.pem"), key_pem=openssl_pki.read("noca.key"), actor=actor
        )


# --------------------------------------------------------------------------- configured by file paths


def test_configuration_with_a_non_ca_is_refused_when_given(
    engine: Engine, actor: Actor, openssl_pki: OpensslPKI
) -> None:
    events = _audit_count()
    with pytest.raises(InvalidInput, match="not a CA"):
        engine.issuers.create(
            "Sub",
            "GenericCA",
            {"ca_cert_path": str(openssl_pki.path("noca.pem")), "ca_key_path": str(openssl_pki.path("noca.key"))},
            actor=actor,
        )
    assert IssuerModel.select().count() == 0
    assert CertificateAuthorityModel.select().count() == 0
    assert _audit_count() == events


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"ca_cert_path": "sub.pem", "ca_key_path": "sub.key"}, "passphrase is required"),
        ({"ca_cert_path": "sub.pem", "ca_key_path": "sub.key", "ca_key_passphrase": "nope"}, "wrong passphrase"),
        ({"ca_cert_path": "nosign.pem", "ca_key_path": "nosign.key"}, "keyCertSign"),
        ({"ca_cert_path": "sub.pem"}, "needs both"),
        ({"ca_cert_path": "missing.pem", "ca_key_path": "sub.key"}, "cannot read ca_cert_path"),
    ],
    ids=["no-passphrase", "wrong-passphrase", "no-keycertsign", "no-key-path", "missing-file"],
)
def test_other_unusable_configurations_are_refused_when_given(
    engine: Engine, actor: Actor, openssl_pki: OpensslPKI, config: dict[str, str], words: str
) -> None:
    resolved = {k: str(openssl_pki.path(v)) if k.endswith("_path") else v for k, v in config.items()}
    events = _audit_count()
    with pytest.raises(InvalidInput, match=words):
        engine.issuers.create("Sub", "GenericCA", resolved, actor=actor)
    assert IssuerModel.select().count() == 0
    assert _audit_count() == events


def test_configured_sub_ca_is_used_on_first_issuance_and_hides_its_passphrase(
    engine: Engine, actor: Actor, openssl_pki: OpensslPKI, tmp_path: Path
) -> None:
    bundle = tmp_path / "sub-bundle.pem"
    bundle.write_bytes(openssl_pki.read("sub.pem") + openssl_pki.read("root.pem"))
    issuer = engine.issuers.create(
        "Sub",
        "GenericCA",
        {
            "ca_cert_path": str(bundle),
            "ca_key_path": str(openssl_pki.path("sub.key")),
            "ca_key_passphrase": PASSPHRASE,
            "validity_days": 30,
        },
        actor=actor,
    )
    # Validated, but nothing is made until it is needed.
    assert CertificateAuthorityModel.select().count() == 0

    shown = engine.issuers.get(issuer.id)
    assert shown.config["ca_key_passphrase"] == "********"
    assert shown.config["ca_cert_path"] == str(bundle)
    assert "ca_key_passphrase" in shown.secret_fields
    assert PASSPHRASE not in json.dumps(shown.config)
    assert all(PASSPHRASE not in json.dumps(i.config) for i in engine.issuers.list())
    row = IssuerModel.get(IssuerModel.id == issuer.id)
    assert PASSPHRASE not in json.dumps(row.config) and PASSPHRASE not in (row.secrets_encrypted or "")

    cert_id = engine.certificates.create(
        name="svc", common_name="svc.example.com", sans=("svc.example.com",), issuer_id=issuer.id, actor=actor
    ).id
    version = engine.issuance.issue(cert_id, actor=actor)
    leaf = load_certificates(version.pem_chain.encode())[0]
    assert leaf.issuer.rfc4514_string() == _subject_of(openssl_pki, "sub.pem")
    assert 29 <= (version.not_after - version.not_before).days <= 30

    info = engine.ca.info(issuer.id)
    assert info.mode == "sub-ca" and info.chain_length == 1
    assert info.subject == _subject_of(openssl_pki, "sub.pem")
    actions = [e.action for e in engine.audit.list(resource_id=issuer.id).items]
    assert "ca_imported" in actions and "ca_created" not in actions
    # The stored audit trail does not carry the passphrase either.
    assert all(PASSPHRASE not in json.dumps(e.details) for e in engine.audit.list(limit=200).items)

    (tmp_path / "openssl.cnf").write_text(OPENSSL_CNF)
    (tmp_path / "root.pem").write_bytes(openssl_pki.read("root.pem"))
    pems = _split_pem(version.pem_chain)
    (tmp_path / "leaf.pem").write_text(pems[0])
    (tmp_path / "chain.pem").write_text(pems[1])
    assert "leaf.pem: OK" in openssl(
        "verify", "-CAfile", "root.pem", "-untrusted", "chain.pem", "leaf.pem", cwd=tmp_path
    )

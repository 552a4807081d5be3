"""Filesystem discovery on a tree with good, corrupt, oversized and unreadable files and symlink loops:
the good certificates are found, every bad file is reported by path, and nothing raises."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, Encoding, pkcs12

from certctl_engine.agent.fs_scan import parse_certificates, scan_directories
from certctl_engine.errors import InvalidInput
from certctl_engine.pki import build_leaf, certificate_to_pem, create_root_ca, fingerprint_sha256, generate_private_key

LIMIT = 8192


def _leaf(ca: Any, name: str) -> tuple[x509.Certificate, Any]:
    key = generate_private_key()
    now = datetime.now(UTC)
    cert = build_leaf(
        issuer_cert=ca.certificate,
        issuer_key=ca.key,
        public_key=key.public_key(),
        common_name=name,
        sans=[name],
        not_before=now,
        not_after=now + timedelta(days=30),
    )
    return cert, key


@pytest.fixture
def tree() -> Iterator[tuple[Path, dict[str, str]]]:
    """A world-traversable tree (so an unprivileged child can walk it) and the fingerprints expected in it."""
    root = Path(tempfile.mkdtemp(prefix="certctl-fs-scan-"))
    os.chmod(root, 0o755)
    ca = create_root_ca()
    web, web_key = _leaf(ca, "web.example.com")
    api, _ = _leaf(ca, "api.example.com")
    mail, mail_key = _leaf(ca, "mail.example.com")
    der_only, _ = _leaf(ca, "der.example.com")
    note, _ = _leaf(ca, "note.example.com")
    expected = {
        "web.pem": fingerprint_sha256(web),
        "chain.crt#leaf": fingerprint_sha256(api),
        "chain.crt#ca": fingerprint_sha256(ca.certificate),
        "legacy/der.der": fingerprint_sha256(der_only),
        "legacy/binary.cer": fingerprint_sha256(der_only),
        "bundle.p12": fingerprint_sha256(mail),
        "notes/readme.txt": fingerprint_sha256(note),
    }
    (root / "legacy").mkdir()
    (root / "notes").mkdir()
    (root / "locked").mkdir()
    (root / "web.pem").write_text(certificate_to_pem(web))
    (root / "chain.crt").write_text(certificate_to_pem(api) + certificate_to_pem(ca.certificate))
    (root / "legacy" / "der.der").write_bytes(der_only.public_bytes(Encoding.DER))
    (root / "legacy" / "binary.cer").write_bytes(der_only.public_bytes(Encoding.DER))
    (root / "bundle.p12").write_bytes(pkcs12.serialize_key_and_certificates(b"m", mail_key, mail, None,
                                                                            _no_password()))  # fmt: skip
    (root / "notes" / "readme.txt").write_text("the note cert:\n" + certificate_to_pem(note))
    (root / "notes" / "plain.txt").write_text("no certificate here")  # other extensions: silently not one
    (root / "web.key").write_bytes(b"-----BEGIN PRIVATE KEY-----\nnever read\n-----END PRIVATE KEY-----\n")
    (root / "corrupt.pem").write_text("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n")
    (root / "corrupt.der").write_bytes(os.urandom(300))
    (root / "locked.p12").write_bytes(
        pkcs12.serialize_key_and_certificates(b"w", web_key, web, None, BestAvailableEncryption(b"secret"))
    )
    (root / "big.pem").write_text(certificate_to_pem(web) + "#" * (LIMIT + 10))
    (root / "unreadable.pem").write_text(certificate_to_pem(web))
    os.chmod(root / "unreadable.pem", 0o000)
    (root / "locked" / "inside.pem").write_text(certificate_to_pem(web))
    os.chmod(root / "locked", 0o000)
    (root / "legacy" / "loop").symlink_to(root)  # back up to the top: a loop
    (root / "self").symlink_to(".")
    (root / "dangling.pem").symlink_to(root / "nowhere.pem")
    for path in root.rglob("*"):
        if not path.is_symlink() and path.name not in ("unreadable.pem", "locked") and path.parent.name != "locked":
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
    try:
        yield root, expected
    finally:
        os.chmod(root / "locked", 0o755)
        shutil.rmtree(root, ignore_errors=True)


def _no_password() -> Any:
    from cryptography.hazmat.primitives.serialization import NoEncryption

    return NoEncryption()


def _scan_unprivileged(directories: list[Path]) -> dict[str, Any]:
    """Scan as an unprivileged user, so file permissions apply (root reads everything).

    A forked child drops to ``nobody`` and sends the report back through a pipe.
    """
    if os.geteuid() != 0:
        found = scan_directories(directories, max_file_bytes=LIMIT)
        return {"certificates": found.certificates, "errors": found.errors}
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        code = 0
        try:
            os.close(read_end)
            os.setgid(65534)
            os.setuid(65534)
            found = scan_directories(directories, max_file_bytes=LIMIT)
            body = json.dumps({"certificates": found.certificates, "errors": found.errors}).encode()
            with os.fdopen(write_end, "wb") as out:
                out.write(body)
        except BaseException:
            code = 1
        os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as incoming:
        data = incoming.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the scan raised in the unprivileged child"
    return dict(json.loads(data))


def test_good_files_are_found_and_every_bad_one_is_reported(tree: tuple[Path, dict[str, str]]) -> None:
    root, expected = tree
    report = _scan_unprivileged([root, root / "missing"])
    found: dict[tuple[str, str], dict[str, Any]] = {
        (Path(e["source_path"]).relative_to(root).as_posix(), e["fingerprint_sha256"]): e
        for e in report["certificates"]
    }
    wanted = {(name.split("#")[0], fp) for name, fp in expected.items()}
    assert set(found) == wanted  # nothing from the loop twice, nothing from bad files, no key files
    formats = {path: e["source_format"] for (path, _), e in found.items()}
    assert formats == {
        "web.pem": "PEM", "chain.crt": "PEM", "legacy/der.der": "DER", "legacy/binary.cer": "DER",
        "bundle.p12": "PKCS12", "notes/readme.txt": "PEM",
    }  # fmt: skip
    web = found[("web.pem", expected["web.pem"])]
    assert web["common_name"] == "web.example.com" and web["sans"] == ["web.example.com"]
    assert web["key_algorithm"] == "ECDSA" and web["key_size"] == 256 and web["is_ca"] is False
    assert found[("chain.crt", expected["chain.crt#ca"])]["is_ca"] is True
    assert all("PRIVATE KEY" not in e["pem_data"] for e in report["certificates"])

    errors = report["errors"]

    def reported(name: str, words: str) -> bool:
        return any(e.startswith(str(root / name)) and words in e for e in errors)

    assert reported("corrupt.pem", "damaged PEM")
    assert reported("corrupt.der", "neither a PEM nor a DER")
    assert reported("locked.p12", "password")
    assert reported("big.pem", f"larger than {LIMIT} bytes")
    assert reported("missing", "does not exist")
    if os.geteuid() == 0 or not os.access(root / "unreadable.pem", os.R_OK):
        assert reported("unreadable.pem", "permission denied")
        assert reported("locked", "permission denied")
    assert any("symlink" in e and ("legacy/loop" in e or e.startswith(str(root / "self"))) for e in errors)
    assert not any("dangling" in e or "web.key" in e or "plain.txt" in e for e in errors)


def test_a_file_growing_past_the_bound_between_stat_and_read_is_refused(tmp_path: Path) -> None:
    from certctl_engine.agent.fs_scan import _read_bounded

    path = tmp_path / "grows.pem"
    path.write_bytes(b"x" * 100)
    with pytest.raises(InvalidInput, match="larger than 50 bytes"):
        _read_bounded(path, 50)


def test_parse_certificates_tells_formats_apart() -> None:
    ca = create_root_ca()
    pem = certificate_to_pem(ca.certificate).encode()
    assert parse_certificates(pem, "sniff")[1] == "PEM"
    assert parse_certificates(ca.certificate.public_bytes(Encoding.DER), "pem")[1] == "DER"
    assert parse_certificates(b"just text", "sniff") == ([], "")
    with pytest.raises(InvalidInput, match="neither a PEM nor a DER"):
        parse_certificates(b"junk", "der")

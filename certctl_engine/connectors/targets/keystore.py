"""Keystores: one PKCS#12 file (key, leaf and chain under one passphrase), and a Java KeyStore
made from such a file by ``keytool -importkeystore``.

A keystore is one file, so it goes through the same installer sequence as the server
targets (snapshot, atomic write, optional test, reload and post-deploy commands, rollback).
What differs is idempotency: PKCS#12 encryption draws a new salt every time, so two
files with the same content never have the same bytes. The file on disk is therefore
opened with the configured passphrase and compared by what it holds (alias, leaf, chain,
key); when it already holds this version, the plan is the file as it is, and nothing is
written or run.

The passphrase never appears on a command line: keytool reads it from an environment
variable of its own process (``-srcstorepass:env``/``-deststorepass:env``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    pkcs12,
)

from certctl_engine.connectors.targets.base import DeploymentBundle
from certctl_engine.connectors.targets.common import base_directory, key_on_disk, timeout_seconds
from certctl_engine.connectors.targets.server import PlannedFile, ServerConnector, file_in, optional_text
from certctl_engine.errors import DeployError, InvalidInput
from certctl_engine.pki.export import export_pkcs12
from certctl_engine.pki.keys import load_private_key_pem

DEFAULT_ALIAS = "certctl"
JAVA_STORE_TYPES = ("JKS", "PKCS12")
JAVA_PACKAGE = "openjdk-17-jre-headless"
_PASS_ENV = "CERTCTL_KEYSTORE_PASSPHRASE"
_JAVA_MIN_PASSPHRASE = 6  # keytool refuses shorter store passwords


class _Material:
    """What a keystore should hold: the alias, the leaf, its chain and the private key."""

    def __init__(self, alias: str, bundle: DeploymentBundle, key_pem: bytes) -> None:
        self.alias = alias
        self.leaf = x509.load_pem_x509_certificate(bundle.certificate_pem.encode())
        self.chain = x509.load_pem_x509_certificates(bundle.chain_pem.encode()) if bundle.chain_pem.strip() else []
        self.key = load_private_key_pem(key_pem)

    def pkcs12(self, passphrase: bytes) -> bytes:
        return export_pkcs12(name=self.alias, leaf=self.leaf, chain=self.chain, key=self.key, passphrase=passphrase)

    def held_by(self, data: bytes, passphrase: bytes) -> bool:
        """True when the PKCS#12 ``data`` opens with ``passphrase`` and holds exactly this material."""
        try:
            loaded = pkcs12.load_pkcs12(data, passphrase)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            return False  # another passphrase, another format or a damaged file: it gets replaced
        if loaded.key is None or loaded.cert is None:
            return False
        der = Encoding.DER
        same_key = loaded.key.private_bytes(der, PrivateFormat.PKCS8, NoEncryption()) == self.key.private_bytes(
            der, PrivateFormat.PKCS8, NoEncryption()
        )
        held_chain = sorted(c.certificate.public_bytes(der) for c in loaded.additional_certs)
        return (
            same_key
            and loaded.cert.friendly_name == self.alias.encode()
            and loaded.cert.certificate == self.leaf
            and held_chain == sorted(c.public_bytes(der) for c in self.chain)
        )


class _KeystoreConnector(ServerConnector):
    """A single keystore file; subclasses say how the file is made and read."""

    java = False
    default_file = "keystore.p12"

    def validate_server_config(self, config: Mapping[str, Any], directory: Path) -> None:
        file_in(directory, config, "keystore_file", self.default_file)
        file_in(directory, config, "key_file", None)
        self.passphrase(config)
        self.alias(config)

    def passphrase(self, config: Mapping[str, Any]) -> bytes:
        value = config.get("passphrase")
        if not isinstance(value, str) or not value:
            raise InvalidInput("a keystore needs passphrase, a non-empty text", field="passphrase")
        if "\x00" in value:
            raise InvalidInput("passphrase contains a NUL byte", field="passphrase")
        if self.java:
            if not all(" " <= c <= "~" for c in value):
                raise InvalidInput(
                    "a Java keystore passphrase must be printable ASCII: Java cannot open PBES2 keys otherwise",
                    field="passphrase",
                )
            if len(value) < _JAVA_MIN_PASSPHRASE:
                raise InvalidInput(
                    f"a Java keystore passphrase needs at least {_JAVA_MIN_PASSPHRASE} characters (keytool's minimum)",
                    field="passphrase",
                )
        return value.encode()

    def alias(self, config: Mapping[str, Any]) -> str:
        value = optional_text(config, "alias") or DEFAULT_ALIAS
        if not value.strip() or not value.isprintable() or len(value) > 128:
            raise InvalidInput("alias must be printable text of at most 128 characters", field="alias")
        return value.lower() if self.java else value  # Java keystores keep aliases in lower case

    def keystore_path(self, config: Mapping[str, Any]) -> Path:
        path = file_in(base_directory(config), config, "keystore_file", self.default_file)
        assert path is not None  # the default is never empty
        return path

    def plan(self, bundle: DeploymentBundle, config: Mapping[str, Any], directory: Path) -> list[PlannedFile]:
        path = self.keystore_path(config)
        if bundle.key_pem is not None:
            key = bundle.key_pem.encode()
        else:
            key_path = file_in(directory, config, "key_file", None)
            if key_path is None:
                raise DeployError("this version's key stays on the machine: name it in key_file")
            key = key_on_disk(bundle.certificate_pem, key_path)
        material = _Material(self.alias(config), bundle, key)
        passphrase = self.passphrase(config)
        try:
            current = path.read_bytes()
        except FileNotFoundError:
            current = None
        if current is not None and self.holds(current, material, passphrase, config):
            return [PlannedFile("keystore_file", path, current, secret=True)]  # unchanged: nothing is written
        return [PlannedFile("keystore_file", path, self.build(material, passphrase, config), secret=True)]

    def holds(self, data: bytes, material: _Material, passphrase: bytes, config: Mapping[str, Any]) -> bool:
        try:
            return material.held_by(self.as_pkcs12(data, passphrase, config), passphrase)
        except DeployError:
            return False  # unreadable with this passphrase: it gets replaced

    def check(self, config: Mapping[str, Any]) -> str:
        """Whether the keystore on disk opens with the configured passphrase (``certctl targets test``)."""
        self.validate_config(config)
        path = self.keystore_path(config)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return f"{path} does not exist yet: the first deployment makes it"
        passphrase = self.passphrase(config)
        try:
            loaded = pkcs12.load_pkcs12(self.as_pkcs12(data, passphrase, config), passphrase)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise DeployError(f"{path} does not open with the configured passphrase, or is not a keystore") from None
        entry = loaded.cert.friendly_name.decode(errors="replace") if loaded.cert and loaded.cert.friendly_name else ""
        return f"{self.server} {path} opens with the passphrase" + (f" and holds '{entry}'" if entry else "")

    def as_pkcs12(self, data: bytes, passphrase: bytes, config: Mapping[str, Any]) -> bytes:
        """The keystore ``data`` as a PKCS#12 file under ``passphrase``; DeployError when it cannot be read."""
        raise NotImplementedError

    def build(self, material: _Material, passphrase: bytes, config: Mapping[str, Any]) -> bytes:
        raise NotImplementedError


class PKCS12Connector(_KeystoreConnector):
    """Config (beyond the common server fields): keystore_file (keystore.p12), passphrase (secret, required),
    alias (the friendly name, certctl), key_file (only to read an agent-made key that stays on the machine).
    Encrypted with PBES2 (PBKDF2-SHA256, AES-256-CBC) and an HMAC-SHA256 MAC; written 0600 unless key_mode
    says otherwise; reload_command / post_deploy_command tell the program that reads it."""

    server = "pkcs12"

    def as_pkcs12(self, data: bytes, passphrase: bytes, config: Mapping[str, Any]) -> bytes:
        return data

    def build(self, material: _Material, passphrase: bytes, config: Mapping[str, Any]) -> bytes:
        return material.pkcs12(passphrase)


class JavaKeystoreConnector(_KeystoreConnector):
    """Config (beyond the common server fields): keystore_file (keystore.jks), store_type JKS|PKCS12 (JKS),
    passphrase (secret, required; printable ASCII, at least 6 characters; also the key's password),
    alias (lower-cased, as Java keeps it; certctl), keytool_binary (keytool), key_file (only to read an
    agent-made key). The keystore is made whole by ``keytool -importkeystore`` from a temporary PKCS#12
    and replaces the old file atomically; it holds this one entry."""

    server = "java keystore"
    java = True
    default_file = "keystore.jks"

    def validate_server_config(self, config: Mapping[str, Any], directory: Path) -> None:
        super().validate_server_config(config, directory)
        self.store_type(config)
        optional_text(config, "keytool_binary")

    def store_type(self, config: Mapping[str, Any]) -> str:
        value = str(config.get("store_type") or "JKS").upper()
        if value not in JAVA_STORE_TYPES:
            raise InvalidInput("store_type must be JKS or PKCS12", field="store_type")
        return value

    def keytool(self, config: Mapping[str, Any]) -> str:
        program = optional_text(config, "keytool_binary") or "keytool"
        found = shutil.which(program) if os.sep not in program else (program if os.access(program, os.X_OK) else None)
        if found is None:
            raise DeployError(
                f"java keystore: program '{program}' not found (install the Debian package {JAVA_PACKAGE}, "
                "or name keytool_binary); nothing was written"
            )
        return program

    def plan(self, bundle: DeploymentBundle, config: Mapping[str, Any], directory: Path) -> list[PlannedFile]:
        self.keytool(config)  # before reading or writing anything
        return super().plan(bundle, config, directory)

    def as_pkcs12(self, data: bytes, passphrase: bytes, config: Mapping[str, Any]) -> bytes:
        kind = self.store_type(config)
        if kind == "PKCS12":
            with contextlib.suppress(ValueError, TypeError, UnsupportedAlgorithm):
                pkcs12.load_pkcs12(data, passphrase)
                return data  # Java's own PKCS#12 opens directly: no JVM needed
        with tempfile.TemporaryDirectory(prefix="certctl-keystore-") as work:
            source, converted = Path(work) / "current", Path(work) / "current.p12"
            source.write_bytes(data)
            self._import(config, passphrase, source, kind, converted, "PKCS12", alias=None)
            return converted.read_bytes()

    def build(self, material: _Material, passphrase: bytes, config: Mapping[str, Any]) -> bytes:
        with tempfile.TemporaryDirectory(prefix="certctl-keystore-") as work:
            source, made = Path(work) / "source.p12", Path(work) / "keystore"
            source.write_bytes(material.pkcs12(passphrase))
            self._import(config, passphrase, source, "PKCS12", made, self.store_type(config), alias=material.alias)
            return made.read_bytes()

    def _import(
        self,
        config: Mapping[str, Any],
        passphrase: bytes,
        source: Path,
        source_type: str,
        destination: Path,
        destination_type: str,
        *,
        alias: str | None,
    ) -> None:
        argv = [
            self.keytool(config),
            "-importkeystore",
            "-noprompt",
            "-srckeystore", str(source),
            "-srcstoretype", source_type,
            "-srcstorepass:env", _PASS_ENV,
            "-destkeystore", str(destination),
            "-deststoretype", destination_type,
            "-deststorepass:env", _PASS_ENV,
        ]  # fmt: skip
        if alias is not None:
            argv += ["-srcalias", alias, "-destalias", alias]
        _run_keytool(argv, passphrase, timeout_seconds(config))


def _run_keytool(argv: Sequence[str], passphrase: bytes, timeout: float) -> None:
    """keytool with the passphrase in its environment only; DeployError with keytool's own error."""
    env = {**os.environ, _PASS_ENV: passphrase.decode()}
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL, check=False
        )
    except FileNotFoundError:
        raise DeployError(
            f"keytool: program '{argv[0]}' not found (install the Debian package {JAVA_PACKAGE})"
        ) from None
    except subprocess.TimeoutExpired:
        raise DeployError(f"keytool -importkeystore did not finish within {timeout:g}s") from None
    if done.returncode != 0:
        lines = [line.strip() for line in (done.stdout + "\n" + done.stderr).splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("keytool error")] or lines[-5:]
        raise DeployError(
            f"keytool -importkeystore exited with {done.returncode}: " + (" | ".join(errors) or "no output")
        )

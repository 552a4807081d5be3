"""The keystore targets, judged by the programs that read keystores: ``openssl pkcs12`` for the
PKCS#12 file and ``keytool -list`` for the Java KeyStore (JKS and PKCS12 store types). Deploy,
renew, an identical redeploy that writes and runs nothing, rollback when the post-deploy
command fails, and bad input (passphrases, paths, metacharacters, a missing keytool) that is
refused before anything is written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from tls_servers import LeafIssuer, recording, require_program, runs

from certctl_engine.connectors.targets.base import DeploymentBundle
from certctl_engine.connectors.targets.keystore import JavaKeystoreConnector, PKCS12Connector
from certctl_engine.errors import DeployError, InvalidInput

PASSPHRASE = "correct horse battery"


@pytest.fixture
def ca() -> LeafIssuer:
    return LeafIssuer()


@pytest.fixture
def out(tmp_path: Path) -> Path:
    directory = tmp_path / "keystores"
    directory.mkdir()
    return directory


def _state(path: Path) -> tuple[int, int, bytes]:
    info = path.stat()
    return info.st_ino, info.st_mtime_ns, path.read_bytes()


def _openssl_pkcs12(path: Path, *args: str, passphrase: str = PASSPHRASE) -> str:
    done = subprocess.run(
        ["openssl", "pkcs12", "-in", str(path), "-passin", "env:P12PASS", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "P12PASS": passphrase},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def _keytool_list(path: Path, store_type: str, passphrase: str = PASSPHRASE) -> tuple[str, str]:
    """(alias, SHA-256 fingerprint as lower-case hex) of the one entry ``keytool -list`` reads."""
    done = subprocess.run(
        [require_program("keytool", "openjdk-17-jre-headless"), "-list", "-keystore", str(path),
         "-storetype", store_type, "-storepass", passphrase],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Your keystore contains 1 entry" in done.stdout, done.stdout
    entry = re.search(r"^(.*), [^,]+, \d{4}, PrivateKeyEntry,", done.stdout, re.MULTILINE)
    fingerprint = re.search(r"Certificate fingerprint \(SHA-256\): ([0-9A-F:]+)", done.stdout)
    assert entry and fingerprint, done.stdout
    return entry.group(1), fingerprint.group(1).replace(":", "").lower()


# --------------------------------------------------------------------------- PKCS#12


def test_pkcs12_deploy_renew_and_an_identical_redeploy_that_does_nothing(out: Path, ca: LeafIssuer) -> None:
    log = out.parent / "post.log"
    config = {
        "directory": str(out),
        "keystore_file": "site.p12",
        "passphrase": PASSPHRASE,
        "alias": "Web Site",
        "post_deploy_command": recording(["true"], log),
    }
    store = out / "site.p12"
    first = ca.issue()
    result = PKCS12Connector().deploy(first, config)
    assert result.changed and result.files == (str(store),) and runs(log) == 1
    assert store.stat().st_mode & 0o777 == 0o600
    info = _openssl_pkcs12(store, "-info", "-noout")
    assert "PBES2, PBKDF2, AES-256-CBC" in info and "MAC: sha256" in info, info
    leaf = _openssl_pkcs12(store, "-nokeys", "-clcerts")
    assert "friendlyName: Web Site" in leaf and first.certificate_pem.strip() in leaf, leaf
    everything = _openssl_pkcs12(store, "-nodes")
    assert first.chain_pem.strip() in everything and "PRIVATE KEY" in everything
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp file left

    before = _state(store)
    again = PKCS12Connector().deploy(first, config)
    assert not again.changed and _state(store) == before and runs(log) == 1  # salt differs, content does not

    renewal = ca.issue()
    assert PKCS12Connector().deploy(renewal, config).changed and runs(log) == 2
    assert renewal.certificate_pem.strip() in _openssl_pkcs12(store, "-nokeys", "-clcerts")
    assert PKCS12Connector().deploy(replace(renewal), {**config, "alias": "Renamed"}).changed  # a new alias rewrites


def test_pkcs12_a_failing_post_deploy_command_rolls_back_with_its_error(out: Path, ca: LeafIssuer) -> None:
    config = {"directory": str(out), "passphrase": PASSPHRASE}
    current = ca.issue()
    PKCS12Connector().deploy(current, config)
    store = out / "keystore.p12"
    previous = store.read_bytes()
    failing = [sys.executable, "-c", "import sys; sys.exit('the application refused the keystore')"]
    with pytest.raises(DeployError) as caught:
        PKCS12Connector().deploy(ca.issue(), {**config, "post_deploy_command": failing})
    message = caught.value.message
    assert "the application refused the keystore" in message and "rolled back" in message, message
    assert store.read_bytes() == previous
    assert current.certificate_pem.strip() in _openssl_pkcs12(store, "-nokeys", "-clcerts")


def test_a_new_passphrase_rewrites_the_keystore(out: Path, ca: LeafIssuer) -> None:
    bundle = ca.issue()
    PKCS12Connector().deploy(bundle, {"directory": str(out), "passphrase": PASSPHRASE})
    result = PKCS12Connector().deploy(bundle, {"directory": str(out), "passphrase": "rotated passphrase"})
    assert result.changed
    assert bundle.certificate_pem.strip() in _openssl_pkcs12(
        out / "keystore.p12", "-nokeys", "-clcerts", passphrase="rotated passphrase"
    )


def test_pkcs12_an_agent_made_key_is_read_from_key_file(out: Path, ca: LeafIssuer) -> None:
    bundle = ca.issue()
    (out / "privkey.pem").write_text(bundle.key_pem or "")
    agent_bundle: DeploymentBundle = replace(bundle, key_pem=None)
    config = {"directory": str(out), "passphrase": PASSPHRASE}
    with pytest.raises(DeployError, match="name it in key_file"):
        PKCS12Connector().deploy(agent_bundle, config)
    assert PKCS12Connector().deploy(agent_bundle, {**config, "key_file": "privkey.pem"}).changed
    assert "PRIVATE KEY" in _openssl_pkcs12(out / "keystore.p12", "-nodes")


# --------------------------------------------------------------------------- Java KeyStore


@pytest.mark.parametrize("store_type", ["JKS", "PKCS12"])
def test_java_keystore_is_read_by_keytool_and_an_identical_redeploy_does_nothing(
    out: Path, ca: LeafIssuer, store_type: str
) -> None:
    log = out.parent / "post.log"
    config = {
        "directory": str(out),
        "keystore_file": "tomcat.jks",
        "store_type": store_type,
        "passphrase": PASSPHRASE,
        "alias": "Tomcat",
        "keytool_binary": require_program("keytool", "openjdk-17-jre-headless"),
        "post_deploy_command": recording(["true"], log),
    }
    store = out / "tomcat.jks"
    first = ca.issue()
    assert JavaKeystoreConnector().deploy(first, config).changed and runs(log) == 1
    assert _keytool_list(store, store_type) == ("tomcat", first.fingerprint_sha256)
    assert store.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in out.iterdir()) == ["tomcat.jks"]

    before = _state(store)
    assert not JavaKeystoreConnector().deploy(first, config).changed
    assert _state(store) == before and runs(log) == 1

    renewal = ca.issue()
    assert JavaKeystoreConnector().deploy(renewal, config).changed and runs(log) == 2
    assert _keytool_list(store, store_type) == ("tomcat", renewal.fingerprint_sha256)


def test_java_keystore_alias_with_shell_metacharacters_is_only_data(
    out: Path, ca: LeafIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(out.parent)  # a shell would have made ./pwned here
    pwned = out.parent / "pwned"
    alias = "site; touch pwned $(touch pwned) `touch pwned` | touch pwned"
    bundle = ca.issue()
    config = {"directory": str(out), "passphrase": PASSPHRASE, "alias": alias}
    JavaKeystoreConnector().deploy(bundle, config)
    assert _keytool_list(out / "keystore.jks", "JKS") == (alias.lower(), bundle.fingerprint_sha256)
    assert not pwned.exists()


def test_java_keystore_a_failing_post_deploy_command_rolls_back(out: Path, ca: LeafIssuer) -> None:
    config = {"directory": str(out), "passphrase": PASSPHRASE}
    current = ca.issue()
    JavaKeystoreConnector().deploy(current, config)
    previous = (out / "keystore.jks").read_bytes()
    with pytest.raises(DeployError, match="rolled back"):
        JavaKeystoreConnector().deploy(ca.issue(), {**config, "post_deploy_command": ["false"]})
    assert (out / "keystore.jks").read_bytes() == previous
    assert _keytool_list(out / "keystore.jks", "JKS") == ("certctl", current.fingerprint_sha256)


@pytest.mark.parametrize("store_type", ["JKS", "PKCS12"])
def test_the_target_test_opens_the_deployed_keystore_and_refuses_a_wrong_passphrase(
    out: Path, ca: LeafIssuer, store_type: str
) -> None:
    config = {"directory": str(out), "passphrase": PASSPHRASE, "alias": "tomcat", "store_type": store_type}
    assert "does not exist yet" in JavaKeystoreConnector().check(config)
    JavaKeystoreConnector().deploy(ca.issue(), config)
    assert "opens with the passphrase and holds 'tomcat'" in JavaKeystoreConnector().check(config)
    with pytest.raises(DeployError) as caught:
        JavaKeystoreConnector().check({**config, "passphrase": "not the passphrase"})
    assert "password was incorrect" in caught.value.message or "does not open" in caught.value.message
    p12 = {"directory": str(out), "passphrase": PASSPHRASE, "alias": "Web"}
    PKCS12Connector().deploy(ca.issue(), p12)
    assert "opens with the passphrase and holds 'Web'" in PKCS12Connector().check(p12)
    with pytest.raises(DeployError, match="does not open with the configured passphrase"):
        PKCS12Connector().check({**p12, "passphrase": "not the passphrase"})


# --------------------------------------------------------------------------- bad input

_CONNECTORS = {"PKCS12": PKCS12Connector, "JavaKeystore": JavaKeystoreConnector}


@pytest.mark.parametrize("kind", list(_CONNECTORS))
@pytest.mark.parametrize("passphrase", [None, "", 42])
def test_a_missing_passphrase_is_refused_and_nothing_is_written(
    out: Path, ca: LeafIssuer, kind: str, passphrase: object
) -> None:
    config: dict[str, object] = {"directory": str(out)}
    if passphrase is not None:
        config["passphrase"] = passphrase
    with pytest.raises(InvalidInput, match="needs passphrase") as caught:
        _CONNECTORS[kind]().deploy(ca.issue(), config)
    assert caught.value.field == "passphrase"
    assert not any(out.iterdir())


@pytest.mark.parametrize(("passphrase", "why"), [("short", "at least 6 characters"), ("pässwörter", "printable ASCII")])
def test_a_passphrase_java_cannot_use_is_refused_and_nothing_is_written(
    out: Path, ca: LeafIssuer, passphrase: str, why: str
) -> None:
    with pytest.raises(InvalidInput, match=why) as caught:
        JavaKeystoreConnector().deploy(ca.issue(), {"directory": str(out), "passphrase": passphrase})
    assert caught.value.field == "passphrase"
    assert not any(out.iterdir())


def test_a_missing_keytool_names_the_package_and_nothing_is_written(out: Path, ca: LeafIssuer) -> None:
    config = {"directory": str(out), "passphrase": PASSPHRASE, "keytool_binary": "/nonexistent/bin/keytool"}
    with pytest.raises(DeployError) as caught:
        JavaKeystoreConnector().deploy(ca.issue(), config)
    message = caught.value.message
    assert "'/nonexistent/bin/keytool' not found" in message and "openjdk-17-jre-headless" in message, message
    assert "nothing was written" in message
    assert not any(out.iterdir())


@pytest.mark.parametrize("kind", list(_CONNECTORS))
@pytest.mark.parametrize("name", ["../escape.p12", "/etc/certctl-escape.p12", "a/../../escape.p12"])
def test_a_keystore_outside_the_base_directory_is_refused(out: Path, ca: LeafIssuer, kind: str, name: str) -> None:
    config = {"directory": str(out), "passphrase": PASSPHRASE, "keystore_file": name}
    with pytest.raises(InvalidInput) as caught:
        _CONNECTORS[kind]().deploy(ca.issue(), config)
    assert caught.value.field == "keystore_file" and str(out) in caught.value.message
    assert not any(out.iterdir()) and not any(out.parent.glob("escape*"))
    assert not Path("/etc/certctl-escape.p12").exists()


def test_a_reload_command_given_as_a_shell_string_is_refused(out: Path, ca: LeafIssuer) -> None:
    pwned = out.parent / "pwned"
    config = {"directory": str(out), "passphrase": PASSPHRASE, "reload_command": f"true; touch {pwned}"}
    with pytest.raises(InvalidInput, match="never a shell string"):
        PKCS12Connector().deploy(ca.issue(), config)
    assert not any(out.iterdir()) and not pwned.exists()

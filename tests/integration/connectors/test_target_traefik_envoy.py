"""Traefik and Envoy targets, checked against the formats the two servers document.

Neither server is packaged here, so the written files are read back the way each server reads
them and compared field by field with the documented shapes: Traefik's file-provider dynamic
configuration (``[[tls.certificates]]`` with ``certFile``/``keyFile``/``stores``,
``[tls.stores.default.defaultCertificate]``), parsed with a real TOML parser; Envoy's path-based
SDS file (``resources`` holding one ``envoy.extensions.transport_sockets.tls.v3.Secret`` with
``tls_certificate.certificate_chain``/``private_key`` DataSources), parsed as JSON. The PEMs
they name or carry must be the deployed chain and key, and the key must belong to the
certificate. Both servers learn of a change from inotify, so the events a deployment causes
are watched too: each file must arrive by a rename (``IN_MOVED_TO``, what Envoy's watcher
listens for) and never be written in place.
"""

from __future__ import annotations

import base64
import ctypes
import ctypes.util
import json
import os
import stat
import struct
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_private_key
from tls_servers import LeafIssuer

from certctl_engine.connectors.targets.base import DeploymentBundle
from certctl_engine.connectors.targets.envoy import SECRET_TYPE, EnvoyConnector
from certctl_engine.connectors.targets.traefik import TraefikConnector, toml_string
from certctl_engine.errors import DeployError, InvalidInput

FAIL = [sys.executable, "-c", "import sys; sys.exit('verification failed: still the old certificate')"]


@pytest.fixture
def ca() -> LeafIssuer:
    return LeafIssuer()


@pytest.fixture
def out(tmp_path: Path) -> Path:
    directory = tmp_path / "certs"
    directory.mkdir()
    (tmp_path / "outside").mkdir()
    (directory / "link").symlink_to(tmp_path / "outside")
    return directory


def _state(path: Path) -> tuple[int, int, bytes]:
    info = path.stat()
    return info.st_ino, info.st_mtime_ns, path.read_bytes()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def _assert_pair(bundle: DeploymentBundle, chain: bytes, key: bytes) -> None:
    """``chain`` is the deployed full chain, ``key`` the deployed key, and the key is the certificate's."""
    assert chain == bundle.fullchain_pem.encode()
    assert bundle.key_pem is not None and key == bundle.key_pem.encode()
    leaf = x509.load_pem_x509_certificate(chain)
    spki = PublicFormat.SubjectPublicKeyInfo
    public = load_pem_private_key(key, password=None).public_key().public_bytes(Encoding.DER, spki)
    assert public == leaf.public_key().public_bytes(Encoding.DER, spki)
    assert len(x509.load_pem_x509_certificates(chain)) == 2


def _nothing_written(out: Path) -> bool:
    return _names(out) == ["link"] and not any((out.parent / "outside").iterdir())


# --------------------------------------------------------------------------- inotify, as the servers see it

_IN_MODIFY, _IN_CLOSE_WRITE, _IN_MOVED_TO, _IN_CREATE = 0x2, 0x8, 0x80, 0x100
_EVENT = struct.Struct("iIII")


class Inotify:
    """The kernel's file events for one directory (what Envoy's watcher and Traefik's fsnotify read)."""

    def __init__(self, directory: Path) -> None:
        self._libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self._fd = self._libc.inotify_init1(os.O_NONBLOCK)
        if self._fd < 0:
            pytest.fail(f"inotify_init1 failed: {os.strerror(ctypes.get_errno())}")
        mask = _IN_MODIFY | _IN_CLOSE_WRITE | _IN_MOVED_TO | _IN_CREATE
        if self._libc.inotify_add_watch(self._fd, os.fsencode(directory), mask) < 0:
            pytest.fail(f"inotify_add_watch failed: {os.strerror(ctypes.get_errno())}")

    def events(self) -> list[tuple[int, str]]:
        found: list[tuple[int, str]] = []
        try:
            data = os.read(self._fd, 65536)
        except BlockingIOError:
            return found
        offset = 0
        while offset < len(data):
            _, mask, _, length = _EVENT.unpack_from(data, offset)
            start = offset + _EVENT.size
            found.append((mask, data[start : start + length].rstrip(b"\0").decode()))
            offset = start + length
        return found

    def close(self) -> None:
        os.close(self._fd)


@pytest.fixture
def watch(out: Path) -> Iterator[Inotify]:
    watcher = Inotify(out)
    yield watcher
    watcher.close()


def _arrived_by_rename(events: list[tuple[int, str]], name: str) -> bool:
    """``name`` appeared through a rename and was never written under its own name."""
    moved = any(mask & _IN_MOVED_TO and n == name for mask, n in events)
    written = any(mask & (_IN_MODIFY | _IN_CLOSE_WRITE | _IN_CREATE) and n == name for mask, n in events)
    return moved and not written


# --------------------------------------------------------------------------- Traefik


def _traefik(out: Path, **extra: Any) -> dict[str, Any]:
    return {"directory": str(out), "name": "shop"} | extra


def test_traefik_writes_the_documented_dynamic_configuration(out: Path, ca: LeafIssuer, watch: Inotify) -> None:
    bundle = ca.issue()
    result = TraefikConnector().deploy(bundle, _traefik(out, stores=["default"], default_certificate=True))
    assert result.changed and result.message == "wrote 3 file(s); its file provider watch picks them up"
    assert result.files == tuple(str(out / n) for n in ("shop.crt", "shop.key", "shop.toml"))
    assert _names(out) == ["link", "shop.crt", "shop.key", "shop.toml"]
    document = tomllib.loads((out / "shop.toml").read_text())
    assert list(document) == ["tls"] and sorted(document["tls"]) == ["certificates", "stores"]
    certificates = document["tls"]["certificates"]
    assert isinstance(certificates, list) and len(certificates) == 1
    entry = certificates[0]
    assert sorted(entry) == ["certFile", "keyFile", "stores"] and entry["stores"] == ["default"]
    for field in ("certFile", "keyFile"):
        assert Path(entry[field]).is_absolute() and Path(entry[field]).is_file()
    assert entry == {"certFile": str(out / "shop.crt"), "keyFile": str(out / "shop.key"), "stores": ["default"]}
    _assert_pair(bundle, Path(entry["certFile"]).read_bytes(), Path(entry["keyFile"]).read_bytes())
    assert document["tls"]["stores"] == {
        "default": {"defaultCertificate": {"certFile": entry["certFile"], "keyFile": entry["keyFile"]}}
    }
    assert _mode(out / "shop.key") == 0o600 and _mode(out / "shop.crt") == 0o644 and _mode(out / "shop.toml") == 0o644
    events = watch.events()
    for name in ("shop.crt", "shop.key", "shop.toml"):
        assert _arrived_by_rename(events, name), events
    # the configuration file is renamed into place last, after the pair it names
    moves = [n for mask, n in events if mask & _IN_MOVED_TO]
    assert moves[-1] == "shop.toml", moves


def test_traefik_plain_entry_without_stores(out: Path, ca: LeafIssuer) -> None:
    TraefikConnector().deploy(ca.issue(), _traefik(out))
    document = tomllib.loads((out / "shop.toml").read_text())
    entry = {"certFile": str(out / "shop.crt"), "keyFile": str(out / "shop.key")}
    assert document == {"tls": {"certificates": [entry]}}


def test_traefik_identical_version_writes_nothing_and_a_renewal_replaces_every_file(
    out: Path, ca: LeafIssuer, watch: Inotify
) -> None:
    connector, config, first = TraefikConnector(), _traefik(out), ca.issue()
    connector.deploy(first, config)
    before = {name: _state(out / name) for name in ("shop.crt", "shop.key", "shop.toml")}
    watch.events()
    again = connector.deploy(first, config)
    assert not again.changed and "nothing reloaded" in again.message
    assert {name: _state(out / name) for name in before} == before
    assert watch.events() == []
    renewal = ca.issue()
    assert connector.deploy(renewal, config).changed
    for name, (inode, _, data) in before.items():
        assert (out / name).stat().st_ino != inode and (out / name).read_bytes() != data, name
    fingerprint = renewal.fingerprint_sha256
    assert f"# certificate sha256 {fingerprint}" in (out / "shop.toml").read_text()
    _assert_pair(renewal, (out / "shop.crt").read_bytes(), (out / "shop.key").read_bytes())
    assert _names(out) == ["link", "shop.crt", "shop.key", "shop.toml"]  # no temporary files left


def test_traefik_targets_sharing_a_directory_keep_their_own_files(out: Path, ca: LeafIssuer) -> None:
    connector = TraefikConnector()
    shop, blog = ca.issue("shop.example.test"), ca.issue("blog.example.test")
    connector.deploy(shop, _traefik(out, name="shop"))
    shop_state = {name: _state(out / name) for name in ("shop.crt", "shop.key", "shop.toml")}
    connector.deploy(blog, _traefik(out, name="blog"))
    assert {name: _state(out / name) for name in shop_state} == shop_state
    for name, bundle in (("shop", shop), ("blog", blog)):
        (entry,) = tomllib.loads((out / f"{name}.toml").read_text())["tls"]["certificates"]
        _assert_pair(bundle, Path(entry["certFile"]).read_bytes(), Path(entry["keyFile"]).read_bytes())


def test_traefik_configuration_in_its_own_watched_directory(out: Path, tmp_path: Path, ca: LeafIssuer) -> None:
    dynamic = tmp_path / "dynamic"
    dynamic.mkdir()
    config = _traefik(out, config_directory=str(dynamic), config_file="certctl-shop.toml")
    bundle = ca.issue()
    TraefikConnector().deploy(bundle, config)
    assert _names(dynamic) == ["certctl-shop.toml"] and _names(out) == ["link", "shop.crt", "shop.key"]
    (entry,) = tomllib.loads((dynamic / "certctl-shop.toml").read_text())["tls"]["certificates"]
    _assert_pair(bundle, Path(entry["certFile"]).read_bytes(), Path(entry["keyFile"]).read_bytes())
    snippet = TraefikConnector().snippet(config)
    assert tomllib.loads(snippet) == {"providers": {"file": {"directory": str(dynamic), "watch": True}}}


def test_traefik_post_deploy_failure_restores_every_file(out: Path, ca: LeafIssuer) -> None:
    connector, first = TraefikConnector(), ca.issue()
    with pytest.raises(DeployError, match="verification failed") as caught:
        connector.deploy(first, _traefik(out, post_deploy_command=FAIL))
    assert "rolled back" in caught.value.message
    assert _nothing_written(out)  # a first deployment that fails leaves nothing behind
    connector.deploy(first, _traefik(out))
    before = {name: (_mode(out / name), (out / name).read_bytes()) for name in ("shop.crt", "shop.key", "shop.toml")}
    with pytest.raises(DeployError, match="verification failed"):
        connector.deploy(ca.issue(), _traefik(out, post_deploy_command=FAIL))
    assert {name: (_mode(out / name), (out / name).read_bytes()) for name in before} == before
    assert _names(out) == ["link", "shop.crt", "shop.key", "shop.toml"]


def test_traefik_uses_the_key_that_stayed_on_this_machine(out: Path, ca: LeafIssuer) -> None:
    bundle = ca.issue()
    (out / "shop.key").write_bytes((bundle.key_pem or "").encode())
    (out / "shop.key").chmod(0o600)
    keyless = DeploymentBundle(
        bundle.certificate_id, bundle.version_id, bundle.fingerprint_sha256, bundle.certificate_pem, bundle.chain_pem
    )
    TraefikConnector().deploy(keyless, _traefik(out))
    _assert_pair(bundle, (out / "shop.crt").read_bytes(), (out / "shop.key").read_bytes())
    other = ca.issue()
    stranger = DeploymentBundle("c", "v", other.fingerprint_sha256, other.certificate_pem, other.chain_pem)
    before = {name: _state(out / name) for name in ("shop.crt", "shop.key", "shop.toml")}
    with pytest.raises(DeployError, match="does not belong to the certificate"):
        TraefikConnector().deploy(stranger, _traefik(out))
    assert {name: _state(out / name) for name in before} == before


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"name": None}, "name"),
        ({"name": "../shop"}, "name"),
        ({"name": "shop toml"}, "name"),
        ({"fullchain_file": "../escape.crt"}, "fullchain_file"),
        ({"key_file": "/etc/certctl-escape.key"}, "key_file"),
        ({"config_file": "link/escape.toml"}, "config_file"),
        ({"config_file": "shop.yaml"}, "config_file"),
        ({"config_directory": "relative/dir"}, "config_directory"),
        ({"stores": "default"}, "stores"),
        ({"stores": ["de fault"]}, "stores"),
        ({"default_certificate": "yes"}, "default_certificate"),
        ({"post_deploy_command": "systemctl reload traefik; touch /tmp/pwned"}, "post_deploy_command"),
    ],
)
def test_traefik_bad_input_is_refused_before_writing(
    extra: dict[str, Any], field: str, out: Path, ca: LeafIssuer
) -> None:
    config = {k: v for k, v in (_traefik(out) | extra).items() if v is not None}
    with pytest.raises(InvalidInput) as caught:
        TraefikConnector().deploy(ca.issue(), config)
    assert caught.value.field == field, caught.value.message
    assert _nothing_written(out)


def test_traefik_missing_config_directory_writes_nothing(out: Path, tmp_path: Path, ca: LeafIssuer) -> None:
    with pytest.raises(DeployError, match="does not exist"):
        TraefikConnector().deploy(ca.issue(), _traefik(out, config_directory=str(tmp_path / "missing")))
    assert _nothing_written(out)


def test_toml_strings_survive_quotes_backslashes_and_control_characters(tmp_path: Path, ca: LeafIssuer) -> None:
    for text in ['a "quoted" \\ path', "tab\tnew\nline\x7f", "ünïcødé ☃"]:
        assert tomllib.loads(f"v = {toml_string(text)}") == {"v": text}
    odd = tmp_path / 'odd "dir" \\ ☃'
    odd.mkdir()
    TraefikConnector().deploy(ca.issue(), {"directory": str(odd), "name": "shop"})
    (entry,) = tomllib.loads((odd / "shop.toml").read_text())["tls"]["certificates"]
    assert entry["certFile"] == str(odd / "shop.crt") and Path(entry["certFile"]).is_file()


# --------------------------------------------------------------------------- Envoy


def _envoy(out: Path, **extra: Any) -> dict[str, Any]:
    return {"directory": str(out), "secret_name": "server_cert"} | extra


def _secret(path: Path) -> dict[str, Any]:
    """The one Secret in an SDS file, after checking the file's documented outer shape."""
    document = json.loads(path.read_text())
    assert list(document) == ["resources"] and isinstance(document["resources"], list)
    assert len(document["resources"]) == 1
    (secret,) = document["resources"]
    assert sorted(secret) == ["@type", "name", "tls_certificate"]
    assert secret["@type"] == SECRET_TYPE == "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
    assert sorted(secret["tls_certificate"]) == ["certificate_chain", "private_key"]
    return dict(secret)


def test_envoy_sds_file_references_the_deployed_files(out: Path, ca: LeafIssuer, watch: Inotify) -> None:
    bundle = ca.issue()
    assert EnvoyConnector().deploy(bundle, _envoy(out)).changed
    assert _names(out) == ["link", "server_cert.crt", "server_cert.json", "server_cert.key"]
    secret = _secret(out / "server_cert.json")
    assert secret["name"] == "server_cert"
    chain, key = secret["tls_certificate"]["certificate_chain"], secret["tls_certificate"]["private_key"]
    assert list(chain) == ["filename"] and list(key) == ["filename"]
    assert chain["filename"] == str(out / "server_cert.crt") and key["filename"] == str(out / "server_cert.key")
    for source in (chain, key):
        assert Path(source["filename"]).is_absolute() and Path(source["filename"]).is_file()
    _assert_pair(bundle, Path(chain["filename"]).read_bytes(), Path(key["filename"]).read_bytes())
    assert _mode(out / "server_cert.key") == 0o600 and _mode(out / "server_cert.json") == 0o644
    events = watch.events()
    for name in ("server_cert.crt", "server_cert.key", "server_cert.json"):
        assert _arrived_by_rename(events, name), events


@pytest.mark.parametrize("source", ["inline_string", "inline_bytes"])
def test_envoy_inline_secret_carries_the_pems_in_one_0600_file(
    source: str, out: Path, ca: LeafIssuer, watch: Inotify
) -> None:
    bundle = ca.issue()
    EnvoyConnector().deploy(bundle, _envoy(out, data_source=source, sds_file="sds.json"))
    assert _names(out) == ["link", "sds.json"]  # no separate certificate or key file
    assert _mode(out / "sds.json") == 0o600
    tls = _secret(out / "sds.json")["tls_certificate"]
    assert list(tls["certificate_chain"]) == [source] and list(tls["private_key"]) == [source]
    raw = (tls["certificate_chain"][source], tls["private_key"][source])
    if source == "inline_bytes":
        chain, key = (base64.b64decode(v, validate=True) for v in raw)
    else:
        chain, key = (v.encode() for v in raw)
    _assert_pair(bundle, chain, key)
    assert _arrived_by_rename(watch.events(), "sds.json")


@pytest.mark.parametrize("source", ["filename", "inline_string"])
def test_envoy_identical_version_writes_nothing_and_a_renewal_moves_new_files_in(
    source: str, out: Path, ca: LeafIssuer, watch: Inotify
) -> None:
    connector, config, first = EnvoyConnector(), _envoy(out, data_source=source), ca.issue()
    connector.deploy(first, config)
    names = [n for n in _names(out) if n != "link"]
    before = {name: _state(out / name) for name in names}
    watch.events()
    assert not connector.deploy(first, config).changed
    assert {name: _state(out / name) for name in names} == before
    assert watch.events() == []
    renewal = ca.issue()
    assert connector.deploy(renewal, config).changed
    events = watch.events()
    changed = ["server_cert.json"] if source != "filename" else ["server_cert.crt", "server_cert.key"]
    for name in changed:
        assert (out / name).stat().st_ino != before[name][0] and _arrived_by_rename(events, name), events
    if source == "filename":  # the SDS file names the same paths: untouched, Envoy reloads on the pair's moves
        assert _state(out / "server_cert.json") == before["server_cert.json"]
        _assert_pair(renewal, (out / "server_cert.crt").read_bytes(), (out / "server_cert.key").read_bytes())
    else:
        tls = _secret(out / "server_cert.json")["tls_certificate"]
        _assert_pair(renewal, tls["certificate_chain"][source].encode(), tls["private_key"][source].encode())
    assert [n for n in _names(out) if n != "link"] == names


@pytest.mark.parametrize("source", ["filename", "inline_bytes"])
def test_envoy_post_deploy_failure_restores_the_previous_secret(source: str, out: Path, ca: LeafIssuer) -> None:
    connector = EnvoyConnector()
    connector.deploy(ca.issue(), _envoy(out, data_source=source))
    names = [n for n in _names(out) if n != "link"]
    before = {name: (_mode(out / name), (out / name).read_bytes()) for name in names}
    with pytest.raises(DeployError, match="verification failed") as caught:
        connector.deploy(ca.issue(), _envoy(out, data_source=source, post_deploy_command=FAIL))
    assert "rolled back" in caught.value.message and "previous files are back" in caught.value.message
    assert {name: (_mode(out / name), (out / name).read_bytes()) for name in names} == before
    assert [n for n in _names(out) if n != "link"] == names


def test_envoy_secret_name_that_is_no_file_name_needs_explicit_files(out: Path, ca: LeafIssuer) -> None:
    spiffe = "spiffe://example.test/ns/web/sa/frontend"
    with pytest.raises(InvalidInput, match="give sds_file explicitly") as caught:
        EnvoyConnector().deploy(ca.issue(), _envoy(out, secret_name=spiffe))
    assert caught.value.field == "sds_file" and _nothing_written(out)
    bundle = ca.issue()
    config = _envoy(out, secret_name=spiffe, sds_file="web.json", fullchain_file="web.crt", key_file="web.key")
    EnvoyConnector().deploy(bundle, config)
    assert _secret(out / "web.json")["name"] == spiffe
    snippet = EnvoyConnector().snippet(config)
    assert f"- name: {json.dumps(spiffe)}\n" in snippet
    assert f"path: {json.dumps(str(out / 'web.json'))}\n" in snippet and "path_config_source:" in snippet


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"secret_name": None}, "secret_name"),
        ({"secret_name": ""}, "secret_name"),
        ({"secret_name": "server\ncert"}, "secret_name"),
        ({"secret_name": " server_cert"}, "secret_name"),
        ({"secret_name": 7}, "secret_name"),
        ({"sds_file": "sds.yaml"}, "sds_file"),
        ({"sds_file": "../sds.json"}, "sds_file"),
        ({"sds_file": "link/sds.json"}, "sds_file"),
        ({"key_file": "/etc/certctl-escape.key"}, "key_file"),
        ({"data_source": "environment_variable"}, "data_source"),
        ({"post_deploy_command": "curl -X POST localhost:9901/reload && touch /tmp/pwned"}, "post_deploy_command"),
    ],
)
def test_envoy_bad_input_is_refused_before_writing(
    extra: dict[str, Any], field: str, out: Path, ca: LeafIssuer
) -> None:
    config = {k: v for k, v in (_envoy(out) | extra).items() if v is not None}
    with pytest.raises(InvalidInput) as caught:
        EnvoyConnector().deploy(ca.issue(), config)
    assert caught.value.field == field, caught.value.message
    assert _nothing_written(out)

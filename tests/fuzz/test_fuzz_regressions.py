"""The inputs the fuzz tests found crashing, kept as plain tests: each is now a clear refusal."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import pytest
from fuzz_samples import samples
from starlette.applications import Starlette
from starlette.testclient import TestClient

from certctl_engine.connectors.discovery.tls_probe import probe
from certctl_engine.connectors.targets.common import base_directory, path_inside
from certctl_engine.domain import Actor
from certctl_engine.engine import Engine
from certctl_engine.errors import InvalidInput
from certctl_engine.http.agent_api import agent_routes
from certctl_engine.pki import load_crl
from certctl_engine.services.discovery import plan_endpoints

ALICE = Actor("alice")
TOKEN = "bootstrap-s3cret"


def test_a_file_name_no_file_system_can_hold_is_refused_not_a_crash(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="NUL") as refused:
        path_inside(tmp_path, "a\x00b", "cert_file")
    assert refused.value.field == "cert_file"
    with pytest.raises(InvalidInput, match="NUL") as refused:
        base_directory({"directory": "/tmp/\x00x"})
    assert refused.value.field == "directory"
    with pytest.raises(InvalidInput, match="no file name can have") as refused:
        path_inside(tmp_path, "\ud800", "key_file")
    assert refused.value.field == "key_file"


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"name": "\ud800"}, "name"),
        ({"common_name": "web\udcff.example.com"}, "common_name"),
        ({"sans": ["\udcff.example.com"]}, "sans"),
    ],
)
def test_text_no_store_can_hold_is_refused_naming_the_field(engine: Engine, fields: dict[str, Any], named: str) -> None:
    engine.issuers.create("Local", "GenericCA", {}, actor=ALICE, id="iss-local")
    values = {"name": "web", "common_name": "web.example.com", **fields}
    with pytest.raises(InvalidInput) as refused:
        engine.certificates.create(issuer_id="iss-local", actor=ALICE, **values)
    assert refused.value.field == named
    assert engine.certificates.list().items == ()


@pytest.mark.parametrize("body", [{"directories": 5}, {"scan_duration_ms": "x"}, {"scan_duration_ms": [1]}])
def test_a_discovery_report_with_mistyped_fields_is_a_400(store_env: dict[str, str], body: dict[str, Any]) -> None:
    env = {**store_env, "CERTCTL_AGENT_BOOTSTRAP_TOKEN": TOKEN}
    with Engine.open(str(Path(store_env["CERTCTL_HOME"]) / "certctl.db"), env=env) as engine:
        app = Starlette(routes=agent_routes(engine))
        with TestClient(app, raise_server_exceptions=False) as client:
            registered = client.post(
                "/api/v1/agents", json={"name": "a1"}, headers={"X-Certctl-Bootstrap-Token": TOKEN}
            ).json()
            response = client.post(
                f"/api/v1/agents/{registered['agent']['id']}/discoveries",
                json=body,
                headers={"Authorization": f"Bearer {registered['api_key']}"},
            )
    assert response.status_code == 400
    assert "must be" in response.json()["error"]


@pytest.mark.parametrize("name", [".bad", "a..b", "x" * 300, "\ud800", "a\x00b"])
def test_a_scan_target_with_an_sni_name_no_handshake_can_send_is_refused(engine: Engine, name: str) -> None:
    with pytest.raises(InvalidInput, match="SNI name") as refused:
        engine.discovery.create_target("lan", ["192.0.2.0/28"], sni_names=[name], actor=ALICE)
    assert refused.value.field == "sni_names"
    assert engine.discovery.list_targets() == []


def test_an_accepted_sni_name_reaches_a_loopback_listener_without_crashing_the_probe() -> None:
    async def main() -> str | None:
        server = await asyncio.start_server(lambda _r, w: w.close(), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            (endpoint,) = plan_endpoints(
                ["127.0.0.1"], [port], ["Web.Example.com"], allow_reserved=True, confirm_size=False
            )
            return (await probe(endpoint, timeout=5)).error
        finally:
            server.close()

    assert asyncio.run(main())  # the listener hangs up: an error in the result, not an exception


def _with_version(der: bytes, marker: bytes, replacement: bytes) -> bytes:
    assert der.count(marker) >= 1
    return der.replace(marker, replacement, 1)


def test_a_crl_with_an_unknown_version_is_invalid_input() -> None:
    crl_der = samples()["crl_der"]
    bad = _with_version(crl_der, b"\x02\x01\x01", b"\x02\x01\x00")  # version v2 (1) -> 0, not a CRL version
    with pytest.raises(InvalidInput, match="neither a PEM nor a DER CRL"):
        load_crl(bad)


@pytest.mark.parametrize("entry", ["null", "certificate-with-version-6"])
def test_a_discovery_report_with_a_malformed_entry_is_a_400(store_env: dict[str, str], entry: str) -> None:
    if entry == "null":
        reported: object = None
    else:
        der = _with_version(samples()["leaf_der"], b"\xa0\x03\x02\x01\x02", b"\xa0\x03\x02\x01\x05")
        pem = "-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(der).decode() + "-----END CERTIFICATE-----\n"
        reported = {"pem_data": pem, "source_path": "/etc/ssl/a.pem"}
    env = {**store_env, "CERTCTL_AGENT_BOOTSTRAP_TOKEN": TOKEN}
    with Engine.open(str(Path(store_env["CERTCTL_HOME"]) / "certctl.db"), env=env) as engine:
        app = Starlette(routes=agent_routes(engine))
        with TestClient(app, raise_server_exceptions=False) as client:
            registered = client.post(
                "/api/v1/agents", json={"name": "a1"}, headers={"X-Certctl-Bootstrap-Token": TOKEN}
            ).json()
            response = client.post(
                f"/api/v1/agents/{registered['agent']['id']}/discoveries",
                json={"certificates": [reported]},
                headers={"Authorization": f"Bearer {registered['api_key']}"},
            )
        assert engine.discovery.list().items == ()
    assert response.status_code == 400, response.text
    assert response.json()["error"].startswith("certificate 0:")

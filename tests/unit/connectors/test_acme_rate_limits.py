"""A rate-limited ACME CA's Retry-After reaches the job: its next attempt waits at least that long."""

from __future__ import annotations

import json
import types

import josepy as jose
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec

from certctl_engine.connectors.issuers.acme import (
    RATE_LIMIT_DEFAULT_SECONDS,
    ACMEConnector,
    ACMESettings,
    _Network,
)
from certctl_engine.errors import IssuerError


def _problem(status: int, code: str, headers: dict[str, str]) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.headers.update({"Content-Type": "application/problem+json", **headers})
    body = {"type": f"urn:ietf:params:acme:error:{code}", "detail": "too many certificates already issued"}
    response._content = json.dumps(body).encode()
    return response


def _connector() -> tuple[ACMEConnector, _Network]:
    net = _Network(jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1())), alg=jose.ES256)
    connector = ACMEConnector(ACMESettings.from_config({"directory_url": "https://acme.test/dir"}), account=None)  # type: ignore[arg-type]
    connector._client = types.SimpleNamespace(net=net)  # type: ignore[assignment]
    return connector, net


@pytest.mark.parametrize(
    ("code", "headers", "wait"),
    [
        ("rateLimited", {"Retry-After": "7200"}, 7200),
        ("rateLimited", {}, RATE_LIMIT_DEFAULT_SECONDS),
        ("serverInternal", {"Retry-After": "120"}, 120),
        ("malformed", {}, None),
    ],
)
def test_the_cas_wait_is_kept_on_the_error(code: str, headers: dict[str, str], wait: int | None) -> None:
    connector, net = _connector()
    with pytest.raises(IssuerError) as caught, connector._acme_errors("creating the order"):
        net._check_response(_problem(429 if code == "rateLimited" else 400, code, headers))
    assert caught.value.retry_after_seconds == wait
    assert "too many certificates already issued" in caught.value.message  # the CA's words, verbatim

"""A throwaway ACME CA for tests: Debian's pebble and pebble-challtestsrv on loopback.

pebble serves the ACME API over TLS with a certificate made here; it resolves names
through challtestsrv's DNS server (every name answers 127.0.0.1, TXT records are set
through its management API) and validates HTTP-01 on the port the test gives it, where
certctl's responder listens. A new root is generated on every start; ``root_pem`` fetches
it from pebble's management interface.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

EAB_KEYS = {
    "kid-1": "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W",
    "kid-2": "b10lLJs8l1GPIzsLP0s6pMt8O0XVGnfTaCeROxQM0BIt2XrJMDHJZBM5NuQmQJQH",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def missing_binaries() -> list[str]:
    return [name for name in ("pebble", "pebble-challtestsrv", "openssl") if shutil.which(name) is None]


@dataclass
class Pebble:
    """A running pebble; ``directory_url`` and ``ca_bundle`` go into an ACME issuer's configuration."""

    workdir: Path
    http_port: int
    eab: bool = False
    # pebble rejects 5 % of nonces by default (clients must retry); None keeps that default.
    nonce_reject_percent: int | None = None
    acme_port: int = field(default_factory=free_port)
    management_port: int = field(default_factory=free_port)
    dns_port: int = field(default_factory=free_port)
    challtest_port: int = field(default_factory=free_port)
    _processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def directory_url(self) -> str:
        return f"https://127.0.0.1:{self.acme_port}/dir"

    @property
    def ca_bundle(self) -> str:
        return str(self.workdir / "pebble-tls.pem")

    def start(self) -> Pebble:
        self.workdir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", str(self.workdir / "pebble-tls.key"), "-out", self.ca_bundle, "-days", "2",
                "-subj", "/CN=pebble test TLS", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
        config: dict[str, Any] = {
            "listenAddress": f"127.0.0.1:{self.acme_port}",
            "managementListenAddress": f"127.0.0.1:{self.management_port}",
            "certificate": self.ca_bundle,
            "privateKey": str(self.workdir / "pebble-tls.key"),
            "httpPort": self.http_port,
            "tlsPort": free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": self.eab,
        }
        if self.eab:
            config["externalAccountMACKeys"] = EAB_KEYS
        (self.workdir / "pebble.json").write_text(json.dumps({"pebble": config}))
        log = (self.workdir / "challtestsrv.log").open("wb")
        self._processes.append(
            subprocess.Popen(
                [
                    "pebble-challtestsrv",
                    "-dns01", f"127.0.0.1:{self.dns_port}",
                    "-http01", "", "-https01", "", "-tlsalpn01", "",
                    "-management", f"127.0.0.1:{self.challtest_port}",
                    "-defaultIPv6", "",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )  # fmt: skip
        env = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_VA_ALWAYS_VALID": "0"}
        if self.nonce_reject_percent is not None:
            env["PEBBLE_WFE_NONCEREJECT"] = str(self.nonce_reject_percent)
        log = (self.workdir / "pebble.log").open("wb")
        self._processes.append(
            subprocess.Popen(
                ["pebble", "-config", str(self.workdir / "pebble.json"), "-dnsserver", f"127.0.0.1:{self.dns_port}"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.workdir,
            )
        )
        self._wait()
        return self

    def _wait(self) -> None:
        deadline = time.monotonic() + 30
        context = ssl.create_default_context(cafile=self.ca_bundle)
        while time.monotonic() < deadline:
            for process in self._processes:
                if process.poll() is not None:
                    raise RuntimeError(f"pebble exited early; see {self.workdir}/pebble.log:\n{self.logs()}")
            try:
                if httpx.get(self.directory_url, verify=context, timeout=2).status_code == 200:
                    httpx.get(f"http://127.0.0.1:{self.challtest_port}/", timeout=2)
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError(f"pebble did not answer within 30 s:\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join(
            (self.workdir / name).read_text(errors="replace")[-3000:]
            for name in ("pebble.log", "challtestsrv.log")
            if (self.workdir / name).exists()
        )

    def root_pem(self) -> str:
        context = ssl.create_default_context(cafile=self.ca_bundle)
        return httpx.get(f"https://127.0.0.1:{self.management_port}/roots/0", verify=context, timeout=5).text

    def certificate_status(self, serial_hex: str) -> dict[str, Any]:
        """pebble's view of a certificate ("Valid" or "Revoked"), from its management interface."""
        context = ssl.create_default_context(cafile=self.ca_bundle)
        response = httpx.get(
            f"https://127.0.0.1:{self.management_port}/cert-status-by-serial/{serial_hex}", verify=context, timeout=5
        )
        response.raise_for_status()
        return dict(response.json())

    def set_txt_command(self) -> list[str]:
        """A DNS-01 present hook (argument list) that sets the TXT record through challtestsrv."""
        return [*_python_hook(self.challtest_port, "set-txt")]

    def clear_txt_command(self) -> list[str]:
        return [*_python_hook(self.challtest_port, "clear-txt")]

    def stop(self) -> None:
        for process in self._processes:
            process.terminate()
        for process in self._processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        self._processes.clear()


def _python_hook(port: int, action: str) -> list[str]:
    import sys

    body = (
        "import json, os, urllib.request\n"
        "fqdn = os.environ['CERTCTL_DNS_FQDN'].rstrip('.') + '.'\n"
        "data = {'host': fqdn}\n"
        f"if '{action}' == 'set-txt': data['value'] = os.environ['CERTCTL_DNS_VALUE']\n"
        f"req = urllib.request.Request('http://127.0.0.1:{port}/{action}', json.dumps(data).encode(), "
        "{'Content-Type': 'application/json'})\n"
        "urllib.request.urlopen(req, timeout=5).read()\n"
    )
    return [sys.executable, "-c", body]

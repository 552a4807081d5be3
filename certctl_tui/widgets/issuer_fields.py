"""The configuration fields of each issuer type, and turning what was typed into a configuration.

The names are the ones the engine's connectors read (``ACMESettings``, ``StepCASettings``,
``VaultSettings``, ``ScriptSettings`` and the local CA's ``read_ca_files``), so the engine's
``InvalidInput.field`` names a field shown here. Secret fields are typed blind and, on an
edited issuer, left out of the change unless something is typed: the engine keeps the stored
value for a field sent as its redaction marker. Argument lists are typed as words separated by
spaces and split like a POSIX shell does (``shlex``); no shell ever runs them.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from certctl_engine.domain import IssuerType
from certctl_engine.errors import InvalidInput

TEXT, WHOLE, SECONDS, SECRET, ARGS, CHOICE = "text", "whole", "seconds", "secret", "args", "choice"

ARGS_HINT = "argument list: space-separated words, split with shlex ('a b' is one); no shell runs it"
UNCHANGED = "(unchanged)"


@dataclass(frozen=True, slots=True)
class ConfigField:
    """One configuration field of one issuer type. ``kind`` is one of the module's kind names."""

    name: str
    label: str
    kind: str = TEXT
    placeholder: str = ""
    help: str = ""
    choices: tuple[str, ...] = ()


ISSUER_FIELDS: dict[IssuerType, tuple[ConfigField, ...]] = {
    IssuerType.GENERIC_CA: (
        ConfigField("validity_days", "Validity (days)", WHOLE, "90"),
        ConfigField("crl_url", "CRL URL", placeholder="http://pki.example.com/crl/iss-local.crl"),
        ConfigField("ocsp_url", "OCSP URL", placeholder="http://pki.example.com/ocsp/iss-local"),
        ConfigField(
            "ca_cert_path",
            "Sub-CA certificate",
            placeholder="/etc/certctl/sub-ca.pem",
            help="sub-CA mode: give both files; leave both empty for a self-signed root",
        ),
        ConfigField("ca_key_path", "Sub-CA key", placeholder="/etc/certctl/sub-ca.key"),
        ConfigField("ca_key_passphrase", "Key passphrase", SECRET),
    ),
    IssuerType.ACME: (
        ConfigField("directory_url", "Directory URL", placeholder="https://acme-v02.api.letsencrypt.org/directory"),
        ConfigField("email", "Account email", placeholder="pki@example.com"),
        ConfigField("challenge_type", "Challenge", CHOICE, choices=("http-01", "dns-01")),
        ConfigField("http_address", "HTTP-01 address", placeholder="0.0.0.0:80"),
        ConfigField("webroot", "HTTP-01 webroot", placeholder="/var/www/html (instead of the built-in responder)"),
        ConfigField("dns_present_command", "DNS-01 present", ARGS, "/usr/local/bin/dns-hook present"),
        ConfigField("dns_cleanup_command", "DNS-01 cleanup", ARGS, "/usr/local/bin/dns-hook cleanup"),
        ConfigField("eab_kid", "EAB key id"),
        ConfigField("eab_hmac_key", "EAB HMAC key", SECRET),
    ),
    IssuerType.STEP_CA: (
        ConfigField("ca_url", "CA URL", placeholder="https://ca.example.com:9000"),
        ConfigField("root_cert_path", "Root certificate", placeholder="/etc/step/certs/root_ca.crt"),
        ConfigField("provisioner_name", "Provisioner", placeholder="certctl"),
        ConfigField(
            "provisioner_private_key",
            "Provisioner key",
            SECRET,
            help="the JWK provisioner's key, JWK or JWE on one line; or a key file below",
        ),
        ConfigField("provisioner_key_path", "Provisioner key file", placeholder="/etc/certctl/provisioner.jwe"),
        ConfigField("provisioner_password", "Key password", SECRET),
    ),
    IssuerType.VAULT_PKI: (
        ConfigField("address", "Vault address", placeholder="https://vault.example.com:8200"),
        ConfigField("mount", "PKI mount", placeholder="pki"),
        ConfigField("role", "Role", placeholder="web"),
        ConfigField("token", "Token", SECRET),
        ConfigField("namespace", "Namespace", placeholder="(Vault Enterprise only)"),
        ConfigField("ca_bundle", "CA bundle", placeholder="/etc/ssl/vault-ca.pem (PEM roots for Vault's TLS)"),
    ),
    IssuerType.OPENSSL: (
        ConfigField(
            "sign_script",
            "Sign command",
            ARGS,
            "/usr/local/bin/sign-csr --days 90",
            help="reads the CSR PEM on stdin, prints the chain PEM",
        ),
        ConfigField("revoke_script", "Revoke command", ARGS, "/usr/local/bin/revoke-serial"),
        ConfigField("timeout_seconds", "Timeout (seconds)", SECONDS, "30"),
    ),
}


def fields_of(issuer_type: IssuerType) -> tuple[ConfigField, ...]:
    return ISSUER_FIELDS.get(issuer_type, ())


def shown_text(spec: ConfigField, config: Mapping[str, Any]) -> str:
    """What an input shows for a stored value: never a secret, argument lists quoted back."""
    value = config.get(spec.name)
    if spec.kind == SECRET or value is None:
        return ""
    if spec.kind == ARGS and isinstance(value, list | tuple):
        return shlex.join(str(v) for v in value)
    return str(value)


def parse_value(spec: ConfigField, text: str) -> Any:
    """The configuration value typed as ``text``; None when nothing was typed."""
    if spec.kind == SECRET:
        return text or None  # a secret is taken as typed, spaces and all
    text = text.strip()
    if not text:
        return None
    if spec.kind == WHOLE:
        try:
            return int(text)
        except ValueError:
            raise InvalidInput(f"{spec.name} must be a whole number, got '{text}'", field=spec.name) from None
    if spec.kind == SECONDS:
        try:
            return float(text) if any(c in text for c in ".eE") else int(text)
        except ValueError:
            raise InvalidInput(f"{spec.name} must be a number of seconds, got '{text}'", field=spec.name) from None
    if spec.kind == ARGS:
        try:
            return shlex.split(text)
        except ValueError as exc:
            raise InvalidInput(f"{spec.name} cannot be split into words: {exc}", field=spec.name) from None
    return text


def build_config(issuer_type: IssuerType, texts: Mapping[str, str], base: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` (the stored configuration, secrets redacted) with the fields of ``issuer_type`` as typed.

    A plain field left empty is removed; a secret left empty keeps what ``base`` has (on an
    edited issuer, the redaction marker, which the engine reads as "keep the stored secret").
    Keys the form does not show (an ACME account, the demo's marker) are kept as they are.
    """
    config = dict(base)
    for spec in fields_of(issuer_type):
        value = parse_value(spec, texts.get(spec.name, ""))
        if value is not None:
            config[spec.name] = value
        elif spec.kind != SECRET:
            config.pop(spec.name, None)
    return config


def field_for_message(issuer_type: IssuerType, field: str | None, message: str) -> str | None:
    """The form field an engine refusal concerns.

    Most refusals name their field; a few name the whole configuration (``config``) and start
    with the field's name instead (``validity_days must be ...``).
    """
    names = [spec.name for spec in fields_of(issuer_type)]
    if field in names:
        return field
    if field in (None, "config"):
        for name in names:
            if message.startswith(f"{name} ") or message.startswith(f"{name}:"):
                return name
    return None

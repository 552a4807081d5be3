"""What the connectors of external CAs share: reading their settings, TLS, transport failures, the answer.

Each connector turns its CA's words into an ``IssuerError`` itself (the error shapes differ);
what is common is said here once: a setting that is missing or malformed is refused naming the
field, a CA that cannot be reached or whose TLS certificate does not verify is reported as
such, and a certificate that comes back is only accepted when it certifies the key asked for.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from certctl_engine.connectors.issuers.base import IssuedCertificate
from certctl_engine.errors import InvalidInput, IssuerError
from certctl_engine.pki import PublicKey, load_certificates

DEFAULT_TIMEOUT_SECONDS = 30.0


class Fields:
    """Reads one issuer configuration; ``complete=False`` checks the fields given and lets missing ones pass.

    The partial mode is what creating an issuer uses, so a draft can be saved and completed
    later; issuing and testing always read the configuration complete.
    """

    def __init__(self, config: Mapping[str, Any], kind: str, *, complete: bool = True) -> None:
        self._config = config
        self._kind = kind
        self.complete = complete

    def missing(self, name: str, what: str) -> None:
        if self.complete:
            raise InvalidInput(f"a {self._kind} issuer needs {name} ({what})", field=name)

    def text(self, name: str, what: str, *, required: bool = True, default: str | None = None) -> str | None:
        value = self._config.get(name)
        if value is None or value == "":
            if required:
                self.missing(name, what)
            return default
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput(f"{name} must be text ({what}), got {value!r}", field=name)
        return value.strip()

    def url(self, name: str, what: str, *, schemes: Sequence[str] = ("https",)) -> str | None:
        value = self.text(name, what)
        if value is None:
            return None
        try:
            parsed = httpx.URL(value) if "://" in value else None
        except (httpx.InvalidURL, ValueError):
            parsed = None
        if parsed is None or parsed.scheme not in schemes or not parsed.host:
            wanted = " or ".join(f"{s}://" for s in schemes)
            raise InvalidInput(f"{name} '{value}' is not a {wanted} URL ({what})", field=name)
        return value.rstrip("/")

    def file(self, name: str, what: str, *, required: bool = False) -> str | None:
        value = self.text(name, what, required=required)
        if value is None:
            return None
        path = Path(value)
        if not path.is_file():
            raise InvalidInput(f"{name}: no file at {value} ({what})", field=name)
        return str(path)

    def bundle(self, name: str) -> str | None:
        """A PEM file of CA certificates to trust for TLS, checked to hold at least one certificate."""
        path = self.file(name, "a PEM file of the CA certificates that sign the server's TLS certificate")
        if path is None:
            return None
        try:
            load_certificates(Path(path).read_bytes())
        except (OSError, InvalidInput) as exc:
            reason = exc.message if isinstance(exc, InvalidInput) else str(exc)
            raise InvalidInput(f"{name}: {path} holds no usable PEM certificate: {reason}", field=name) from None
        return path

    def seconds(self, name: str, default: float, *, minimum: float = 0.1) -> float:
        value = self._config.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
            raise InvalidInput(f"{name} must be a number of seconds, at least {minimum:g}, got {value!r}", field=name)
        return float(value)

    def days(self, name: str) -> int | None:
        value = self._config.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 36_500:
            raise InvalidInput(f"{name} must be a whole number of days from 1 to 36500, got {value!r}", field=name)
        return value

    def command(self, name: str, what: str, *, required: bool) -> tuple[str, ...]:
        value = self._config.get(name)
        if value in (None, "", []):
            if required:
                self.missing(name, what)
            return ()
        if isinstance(value, str) or not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise InvalidInput(
                f"{name} must be a list of arguments (the program, then its arguments), not a shell string",
                field=name,
            )
        if not value[0].strip():
            raise InvalidInput(f"{name} names no program", field=name)
        return tuple(value)


def tls_verify(bundle: str | None) -> ssl.SSLContext | bool:
    """Verification for httpx: the configured roots only, or the system's when none are configured."""
    if bundle is None:
        return True
    return ssl.create_default_context(cafile=bundle)


def transport_error(exc: httpx.HTTPError, ca: str, url: str, doing: str, bundle_field: str) -> IssuerError:
    """Say which of unreachable, TLS failure or timeout stopped ``doing``."""
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, ssl.SSLError):
        cause = cause.__cause__ or cause.__context__
    if isinstance(cause, ssl.SSLError):
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = f"certificate verify failed: {cause.verify_message}"
        else:
            reason = str(getattr(cause, "reason", None) or cause)
        return IssuerError(
            f"TLS to {ca} at {url} failed while {doing}: {reason}; "
            f"set {bundle_field} to the PEM of the root that signs the server's certificate"
        )
    if isinstance(exc, httpx.TimeoutException):
        return IssuerError(f"{ca} at {url} did not answer in time while {doing}: {exc or type(exc).__name__}")
    return IssuerError(f"cannot reach {ca} at {url} while {doing}: {exc or type(exc).__name__}")


def _spki(key: Any) -> bytes:
    return bytes(key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))


def checked_answer(public_key: PublicKey, certificates: Sequence[x509.Certificate], ca: str) -> IssuedCertificate:
    """The CA's leaf and chain, refused unless the leaf certifies the requested public key."""
    if not certificates:
        raise IssuerError(f"{ca} answered without a certificate")
    leaf, chain = certificates[0], tuple(certificates[1:])
    if _spki(leaf.public_key()) != _spki(public_key):
        raise IssuerError(
            f"{ca} returned a certificate for another key (subject {leaf.subject.rfc4514_string()}); it was not stored"
        )
    return IssuedCertificate(leaf, tuple(c for c in chain if c != leaf))


def parse_pem_chain(pems: Sequence[str], ca: str, doing: str) -> list[x509.Certificate]:
    """Certificates from the PEM texts a CA answered with, in order, each parsed or refused."""
    certificates: list[x509.Certificate] = []
    for pem in pems:
        if not pem or not pem.strip():
            continue
        try:
            for cert in load_certificates(pem.encode()):
                if cert not in certificates:
                    certificates.append(cert)
        except InvalidInput as exc:
            raise IssuerError(f"{ca} answered {doing} with a certificate that cannot be read: {exc.message}") from None
    return certificates


def subject_alt_names(csr: x509.CertificateSigningRequest) -> tuple[list[str], list[str], list[str], list[str]]:
    """(DNS names, IP addresses, emails, URIs) the CSR asks for, in its order."""
    try:
        names = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], [], [], []
    return (
        [str(n) for n in names.get_values_for_type(x509.DNSName)],
        [str(n) for n in names.get_values_for_type(x509.IPAddress)],
        [str(n) for n in names.get_values_for_type(x509.RFC822Name)],
        [str(n) for n in names.get_values_for_type(x509.UniformResourceIdentifier)],
    )


def common_name(csr: x509.CertificateSigningRequest, fallback: str) -> str:
    """The CSR's CN when it has one (a caller's CSR rules), else ``fallback`` (the inventory's)."""
    attributes = csr.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    value = attributes[0].value if attributes else fallback
    return value if isinstance(value, str) else value.decode()

"""ACME (RFC 8555) issuance on certbot's ``acme`` library: accounts, orders, HTTP-01, DNS-01, revocation.

The JWS, nonces and resource shapes are the library's; this module decides what to ask
for, answers challenges (a standalone HTTP-01 responder on a configured address, files in a
webroot, or DNS-01 hook commands given as argument lists), and keeps the CA's error
documents verbatim so a failed job shows exactly what the CA said. The account key is
made once, on first use, and handed to the caller to keep (sealed in the issuer's
configuration); it is never logged.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import josepy as jose
import requests
from acme import challenges, client, errors, messages, standalone
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certctl_engine.connectors.issuers.base import IssuedCertificate, IssueRequest
from certctl_engine.domain import RevocationReason
from certctl_engine.errors import InvalidInput, IssuerError
from certctl_engine.pki import load_certificates, load_private_key_pem

log = logging.getLogger(__name__)

CHALLENGE_TYPES = ("http-01", "dns-01")
DEFAULT_TIMEOUT_SECONDS = 90
DEFAULT_HOOK_TIMEOUT_SECONDS = 120
DEFAULT_DNS_PROPAGATION_SECONDS = 30
_USER_AGENT = "certctl-acme"
_REASON_CODES = {
    RevocationReason.UNSPECIFIED: 0,
    RevocationReason.KEY_COMPROMISE: 1,
    RevocationReason.CA_COMPROMISE: 2,
    RevocationReason.AFFILIATION_CHANGED: 3,
    RevocationReason.SUPERSEDED: 4,
    RevocationReason.CESSATION_OF_OPERATION: 5,
    RevocationReason.CERTIFICATE_HOLD: 6,
    RevocationReason.PRIVILEGE_WITHDRAWN: 9,
}
# One standalone responder per address at a time, whatever the number of issuers using it.
_RESPONDER_LOCKS: dict[tuple[str, int], threading.Lock] = {}
_RESPONDER_LOCKS_GUARD = threading.Lock()


_T = TypeVar("_T")
_NONCE_ATTEMPTS = 4


class _BadNonce(Exception):
    """The CA rejected the request's nonce; the request may be sent again."""


class AccountStore(Protocol):
    """Where the connector's ACME account (key and URL) is kept between runs."""

    def load(self) -> tuple[bytes, str] | None: ...

    def save(self, key_pem: bytes, account_url: str) -> None: ...


@dataclass(frozen=True, slots=True)
class ACMESettings:
    """An ACME issuer's configuration, checked; every refusal names the field."""

    directory_url: str
    email: str | None
    eab_kid: str | None
    eab_hmac_key: str | None
    challenge_type: str
    http_address: tuple[str, int]
    webroot: Path | None
    dns_present_command: tuple[str, ...]
    dns_cleanup_command: tuple[str, ...]
    dns_propagation_seconds: float
    hook_timeout_seconds: float
    ca_bundle: str | None
    preferred_chain: str | None
    timeout_seconds: float

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ACMESettings:
        url = str(config.get("directory_url") or "").strip()
        if not url.startswith(("https://", "http://")):
            raise InvalidInput(
                "an ACME issuer needs directory_url, the https URL of the CA's directory", field="directory_url"
            )
        challenge = str(config.get("challenge_type") or "http-01").lower()
        if challenge not in CHALLENGE_TYPES:
            raise InvalidInput(
                f"challenge_type '{challenge}' is not supported; use one of {', '.join(CHALLENGE_TYPES)}",
                field="challenge_type",
            )
        eab_kid, eab_hmac = config.get("eab_kid") or None, config.get("eab_hmac") or config.get("eab_hmac_key") or None
        if bool(eab_kid) != bool(eab_hmac):
            raise InvalidInput("external account binding needs both eab_kid and eab_hmac", field="eab_kid")
        host, port = _address(config.get("http_address") or f"0.0.0.0:{config.get('http_port') or 80}")
        present = _command(config.get("dns_present_command"), "dns_present_command")
        cleanup = _command(config.get("dns_cleanup_command"), "dns_cleanup_command")
        if challenge == "dns-01" and not present:
            raise InvalidInput("dns-01 needs dns_present_command (an argument list)", field="dns_present_command")
        webroot = Path(str(config["webroot"])) if config.get("webroot") else None
        return cls(
            directory_url=url,
            email=str(config["email"]) if config.get("email") else None,
            eab_kid=str(eab_kid) if eab_kid else None,
            eab_hmac_key=str(eab_hmac) if eab_hmac else None,
            challenge_type=challenge,
            http_address=(host, port),
            webroot=webroot,
            dns_present_command=present,
            dns_cleanup_command=cleanup,
            dns_propagation_seconds=_number(config, "dns_propagation_seconds", DEFAULT_DNS_PROPAGATION_SECONDS),
            hook_timeout_seconds=_number(config, "hook_timeout_seconds", DEFAULT_HOOK_TIMEOUT_SECONDS),
            ca_bundle=str(config["ca_bundle"]) if config.get("ca_bundle") else None,
            preferred_chain=str(config["preferred_chain"]) if config.get("preferred_chain") else None,
            timeout_seconds=_number(config, "timeout_seconds", DEFAULT_TIMEOUT_SECONDS),
        )


@dataclass(frozen=True, slots=True)
class RenewalWindow:
    """When the CA would like a certificate renewed, and when to ask it again."""

    start: dt.datetime
    end: dt.datetime
    retry_after_seconds: int
    explanation_url: str = ""


ARI_DEFAULT_RETRY_SECONDS = 6 * 3600
_ARI_RETRY_BOUNDS = (60, 24 * 3600)


def ari_certificate_id(certificate: x509.Certificate) -> str:
    """RFC 9773's certificate identifier: base64url(AKI keyIdentifier) "." base64url(serial DER bytes)."""
    try:
        aki = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    except x509.ExtensionNotFound:
        aki = None
    if not aki:
        raise IssuerError("the certificate has no authority key identifier, so the CA cannot be asked about it (ARI)")
    serial = certificate.serial_number
    serial_bytes = serial.to_bytes((serial.bit_length() + 8) // 8, "big")  # DER INTEGER content: sign bit clear
    return f"{jose.b64encode(aki).decode()}.{jose.b64encode(serial_bytes).decode()}"


def _retry_after_seconds(header: str | None) -> int:
    low, high = _ARI_RETRY_BOUNDS
    if not header:
        return ARI_DEFAULT_RETRY_SECONDS
    try:
        seconds = int(header.strip())
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return ARI_DEFAULT_RETRY_SECONDS
        seconds = int((_utc(when) - dt.datetime.now(dt.UTC)).total_seconds())
    return max(low, min(high, seconds))


RATE_LIMIT_DEFAULT_SECONDS = 3600
"""How long to wait after a rateLimited error that names no Retry-After."""


class _Network(client.ClientNetwork):
    """The library's network client, remembering the last answer's ``Retry-After`` (per thread):
    a rate-limited CA says there how long to wait, and the library's errors drop the headers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._seen = threading.local()

    @property
    def last_retry_after(self) -> str | None:
        return getattr(self._seen, "retry_after", None)

    def _check_response(self, response: requests.Response, content_type: str | None = None) -> requests.Response:  # type: ignore[override]
        self._seen.retry_after = response.headers.get("Retry-After")
        return super()._check_response(response, content_type=content_type)


class ACMEConnector:
    """Issues through one ACME CA with one account."""

    def __init__(self, settings: ACMESettings, account: AccountStore, *, sleep: Callable[[float], None] = time.sleep):
        self._settings = settings
        self._account = account
        self._sleep = sleep
        self._client: client.ClientV2 | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ account and client
    def _connect(self) -> client.ClientV2:
        if self._client is not None:
            return self._client
        stored = self._account.load()
        if stored is not None:
            key = jose.JWKEC(key=load_private_key_pem(stored[0]))
        else:
            key = jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
        net = _Network(
            key,
            alg=jose.ES256,
            verify_ssl=self._settings.ca_bundle or True,
            user_agent=_USER_AGENT,
            timeout=int(self._settings.timeout_seconds),
        )
        directory = self._call(
            "reading the ACME directory", client.ClientV2.get_directory, self._settings.directory_url, net
        )
        acme_client = client.ClientV2(directory, net)
        if stored is not None:
            net.account = messages.RegistrationResource(uri=stored[1], body=messages.Registration())
        else:
            self._register(acme_client, key, directory)
        self._client = acme_client
        return acme_client

    def _register(self, acme_client: client.ClientV2, key: jose.JWKEC, directory: messages.Directory) -> None:
        eab = None
        if self._settings.eab_kid and self._settings.eab_hmac_key:
            eab = messages.ExternalAccountBinding.from_data(
                account_public_key=key.public_key(),
                kid=self._settings.eab_kid,
                hmac_key=self._settings.eab_hmac_key,
                directory=directory,
            )
        elif acme_client.external_account_required():
            raise IssuerError("the ACME CA requires external account binding: set eab_kid and eab_hmac on the issuer")
        registration = messages.NewRegistration.from_data(
            email=self._settings.email, terms_of_service_agreed=True, external_account_binding=eab
        )
        account = self._call("registering the ACME account", acme_client.new_account, registration)
        pem = key.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        self._account.save(pem, account.uri)

    # ------------------------------------------------------------------ the contract
    def check(self) -> str:
        """Reach the CA and make sure the account works; says precisely what is wrong otherwise."""
        acme_client = self._connect()
        meta = acme_client.directory.meta
        terms = getattr(meta, "terms_of_service", None)
        return f"ACME directory {self._settings.directory_url} reachable; account ready" + (
            f"; terms of service {terms}" if terms else ""
        )

    def issue(self, request: IssueRequest) -> IssuedCertificate:
        """Order, solve each authorization's challenge, finalize with the request's CSR, download."""
        outcome = self.issue_many([request])[0]
        if isinstance(outcome, IssuerError):
            raise outcome
        return outcome

    def issue_many(self, requests: Sequence[IssueRequest]) -> list[IssuedCertificate | IssuerError]:
        """Several orders side by side: every challenge answered at once (one responder, or all DNS
        records set before one propagation wait), then each order polled and finalized. The CA
        validates them in parallel, so a batch costs about what one order costs. A refused
        order is reported in its place and never stops the others."""
        results: list[IssuedCertificate | IssuerError | None] = [None] * len(requests)
        with self._lock:
            try:
                acme_client = self._connect()
            except IssuerError as exc:
                return [exc] * len(requests)
            deadline = dt.datetime.now() + dt.timedelta(seconds=self._settings.timeout_seconds)
            orders: dict[int, messages.OrderResource] = {}
            for index, request in enumerate(requests):
                try:
                    csr_pem = request.signing_request().public_bytes(serialization.Encoding.PEM)
                    order = self._call("creating the order", acme_client.new_order, csr_pem)
                    if self._settings.challenge_type == "http-01":
                        _refuse_wildcards(order)
                    orders[index] = order
                except IssuerError as exc:
                    results[index] = exc
            authorizations = {a.uri: a for order in orders.values() for a in order.authorizations}
            try:
                with self._challenges(acme_client, list(authorizations.values())) as answered:
                    for challb, response in answered:
                        self._call(
                            f"answering the {challb.chall.typ} challenge",
                            acme_client.answer_challenge,
                            challb,
                            response,
                        )
                    for index, problem in self._await_validation(acme_client, orders, deadline).items():
                        results[index] = problem
                        del orders[index]
            except IssuerError as exc:  # the responder or a DNS hook failed: every open order fails with it
                for index in orders:
                    results[index] = exc
                orders.clear()
            for index, order in list(orders.items()):
                try:
                    orders[index] = self._call("finalizing the order", acme_client.begin_finalization, order)
                except IssuerError as exc:
                    results[index] = exc
                    del orders[index]
            for index, outcome in self._collect(acme_client, orders, deadline).items():
                results[index] = outcome
        return [r if r is not None else IssuerError("the ACME order was not completed") for r in results]

    def _await_validation(
        self, acme_client: client.ClientV2, orders: dict[int, messages.OrderResource], deadline: dt.datetime
    ) -> dict[int, IssuerError]:
        """Poll the orders' authorizations until none is pending; the orders that failed, with the CA's words."""
        states: dict[str, messages.AuthorizationResource] = {
            a.uri: a for order in orders.values() for a in order.authorizations
        }
        waiting = {uri for uri, a in states.items() if a.body.status == messages.STATUS_PENDING}
        pause = 0.1
        while waiting:
            if dt.datetime.now() >= deadline:
                break
            for uri in list(waiting):
                updated, _ = self._call("validating the challenges", acme_client.poll, states[uri])
                states[uri] = updated
                if updated.body.status != messages.STATUS_PENDING:
                    waiting.discard(uri)
            if waiting:
                self._sleep(pause)
                pause = min(pause * 2, 1.0)
        problems: dict[int, IssuerError] = {}
        for index, order in orders.items():
            lines = []
            for authz in order.authorizations:
                state = states[authz.uri]
                if state.body.status == messages.STATUS_VALID:
                    continue
                errors_seen = [_problem(c.error) for c in state.body.challenges if c.error is not None]
                lines.append(f"{state.body.identifier.value}: {'; '.join(errors_seen) or state.body.status}")
            if lines:
                timed_out = any(states[a.uri].body.status == messages.STATUS_PENDING for a in order.authorizations)
                problems[index] = IssuerError(
                    f"the ACME CA did not validate the challenges within {self._settings.timeout_seconds:g}s: "
                    + " | ".join(lines)
                    if timed_out
                    else "ACME validation failed: " + " | ".join(lines)
                )
        return problems

    def _collect(
        self, acme_client: client.ClientV2, orders: dict[int, messages.OrderResource], deadline: dt.datetime
    ) -> dict[int, IssuedCertificate | IssuerError]:
        """Poll every finalized order in turn until each is valid or invalid, then download.

        The library's poller sleeps a second before its first look at each order; here a round
        looks at all of them and sleeps only when none moved, so a batch waits once, not per order.
        """
        outcomes: dict[int, IssuedCertificate | IssuerError] = {}
        pending = dict(orders)
        pause = 0.1
        while pending:
            if dt.datetime.now() >= deadline:
                for index in pending:
                    outcomes[index] = IssuerError(
                        f"the ACME CA did not finish the order within {self._settings.timeout_seconds:g}s"
                    )
                break
            moved = False
            for index, order in list(pending.items()):
                try:
                    response = self._call("finalizing the order", acme_client._post_as_get, order.uri)
                    body = messages.Order.from_json(response.json())
                    if body.status == messages.STATUS_INVALID:
                        problem = _problem(body.error) if body.error is not None else "no reason given"
                        raise IssuerError(f"the ACME CA refused finalizing the order: {problem}")
                    if body.status == messages.STATUS_READY:  # an earlier finalize came too soon: send it again
                        self._call("finalizing the order", acme_client.begin_finalization, order)
                        continue
                    if body.status != messages.STATUS_VALID or body.certificate is None:
                        continue
                    download = self._call("downloading the certificate", acme_client._post_as_get, body.certificate)
                    chains = [download.text]
                    if self._settings.preferred_chain:
                        for url in acme_client._get_links(download, "alternate"):
                            chains.append(self._call("downloading a chain", acme_client._post_as_get, url).text)
                    certs = load_certificates(self._pick_chain(chains).encode())
                    outcomes[index] = IssuedCertificate(certs[0], tuple(certs[1:]))
                except IssuerError as exc:
                    outcomes[index] = exc
                del pending[index]
                moved = True
            if pending and not moved:
                self._sleep(pause)
                pause = min(pause * 2, 1.0)
        return outcomes

    def revoke(self, certificate: x509.Certificate, reason: RevocationReason) -> None:
        """Revoke through the CA with the account that ordered it; the CA's refusal is kept verbatim."""
        with self._lock:
            acme_client = self._connect()
            self._call("revoking the certificate", acme_client.revoke, certificate, _REASON_CODES.get(reason, 0))

    def renewal_window(self, certificate_pem: str) -> RenewalWindow | None:
        """The CA's suggested renewal window for a certificate it issued (ARI, RFC 9773).

        None when the CA's directory offers no ``renewalInfo``: then the renewal policy's
        window alone decides. The CA's ``Retry-After`` says when to ask again (six hours
        when it says nothing, as RFC 9773 suggests; kept between a minute and a day).
        """
        with self._lock:
            acme_client = self._connect()
        try:
            base = str(acme_client.directory["renewalInfo"])
        except KeyError:  # the directory has no such resource (its lookups raise KeyError, it has no "in")
            return None
        cert = x509.load_pem_x509_certificate(certificate_pem.encode())
        url = base.rstrip("/") + "/" + ari_certificate_id(cert)
        response = self._call("fetching renewal information", acme_client.net.get, url, content_type="application/json")
        try:
            body = response.json()
            window = messages.RenewalInfo.from_json(body).suggested_window
        except (ValueError, jose.DeserializationError) as exc:
            raise IssuerError(f"the ACME CA's renewal information at {url} is not valid: {exc}") from None
        start, end = _utc(window.start), _utc(window.end)
        if end < start:
            raise IssuerError(f"the ACME CA's suggested renewal window at {url} ends before it starts")
        return RenewalWindow(
            start=start,
            end=end,
            retry_after_seconds=_retry_after_seconds(response.headers.get("Retry-After")),
            explanation_url=str(body.get("explanationURL") or "") if isinstance(body, dict) else "",
        )

    # ------------------------------------------------------------------ challenges
    @contextlib.contextmanager
    def _challenges(
        self, acme_client: client.ClientV2, authorizations: Sequence[messages.AuthorizationResource]
    ) -> Iterator[list[tuple[messages.ChallengeBody, challenges.ChallengeResponse]]]:
        pending = [a for a in authorizations if a.body.status != messages.STATUS_VALID]
        key = acme_client.net.key
        if self._settings.challenge_type == "dns-01":
            answered: list[tuple[messages.ChallengeBody, challenges.ChallengeResponse]] = []
            records: list[dict[str, str]] = []
            try:
                for authz in pending:
                    challb = _find(authz, challenges.DNS01)
                    domain = authz.body.identifier.value
                    env = {
                        "CERTCTL_DNS_DOMAIN": domain,
                        "CERTCTL_DNS_FQDN": challb.chall.validation_domain_name(domain),
                        "CERTCTL_DNS_VALUE": challb.chall.validation(key),
                        "CERTCTL_DNS_TOKEN": challb.chall.encode("token"),
                    }
                    self._hook(self._settings.dns_present_command, env, "dns_present_command")
                    records.append(env)
                    answered.append((challb, challb.chall.response(key)))
                if records and self._settings.dns_propagation_seconds > 0:
                    self._sleep(self._settings.dns_propagation_seconds)
                yield answered
            finally:
                for env in records:
                    if self._settings.dns_cleanup_command:
                        try:
                            self._hook(self._settings.dns_cleanup_command, env, "dns_cleanup_command")
                        except IssuerError as exc:  # cleanup never hides the outcome of the order
                            log.warning("DNS cleanup for %s failed: %s", env["CERTCTL_DNS_FQDN"], exc.message)
            return
        resources = set()
        answered = []
        for authz in pending:
            challb = _find(authz, challenges.HTTP01)
            response, validation = challb.response_and_validation(key)
            resources.add(standalone.HTTP01RequestHandler.HTTP01Resource(challb.chall, response, validation))
            answered.append((challb, response))
        if self._settings.webroot is not None:
            with self._webroot(resources):
                yield answered
            return
        with self._responder(resources):
            yield answered

    @contextlib.contextmanager
    def _responder(self, resources: set[Any]) -> Iterator[None]:
        address = self._settings.http_address
        with _RESPONDER_LOCKS_GUARD:
            lock = _RESPONDER_LOCKS.setdefault(address, threading.Lock())
        with lock:
            try:
                servers = standalone.HTTP01DualNetworkedServers(address, resources)
            except OSError as exc:
                raise IssuerError(
                    f"cannot listen on {address[0]}:{address[1]} for HTTP-01: {exc.strerror or exc}; "
                    "free the port or set http_address (or webroot) on the issuer"
                ) from None
            servers.serve_forever()
            try:
                yield
            finally:
                servers.shutdown_and_server_close()

    @contextlib.contextmanager
    def _webroot(self, resources: set[Any]) -> Iterator[None]:
        assert self._settings.webroot is not None
        directory = self._settings.webroot / ".well-known" / "acme-challenge"
        written: list[Path] = []
        try:
            directory.mkdir(parents=True, exist_ok=True)
            for resource in resources:
                path = directory / resource.chall.encode("token")
                path.write_text(resource.validation)
                os.chmod(path, 0o644)
                written.append(path)
            yield
        except OSError as exc:
            raise IssuerError(f"cannot write the HTTP-01 token under {directory}: {exc.strerror or exc}") from None
        finally:
            for path in written:
                with contextlib.suppress(OSError):
                    path.unlink()

    def _hook(self, command: tuple[str, ...], env: Mapping[str, str], field: str) -> None:
        try:
            done = subprocess.run(
                list(command),
                env={**os.environ, **env},
                capture_output=True,
                text=True,
                timeout=self._settings.hook_timeout_seconds,
                check=False,
            )
        except FileNotFoundError:
            raise IssuerError(f"{field}: program '{command[0]}' not found") from None
        except subprocess.TimeoutExpired:
            raise IssuerError(f"{field} did not finish within {self._settings.hook_timeout_seconds:g}s") from None
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
            raise IssuerError(f"{field} exited with {done.returncode}: {' | '.join(tail) or 'no output'}")

    # ------------------------------------------------------------------ helpers
    def _pick_chain(self, chains: Sequence[str]) -> str:
        wanted = self._settings.preferred_chain
        if wanted:
            for chain in chains:
                top = load_certificates(chain.encode())[-1]
                if any(a.value == wanted for a in top.issuer) or any(a.value == wanted for a in top.subject):
                    return chain
        return chains[0]

    def _call(self, doing: str, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """One ACME operation. A badNonce is retried a few times: CAs may reject any nonce (pebble
        rejects 5 % on purpose) and the library retries only once; the server processed nothing."""
        for attempt in range(_NONCE_ATTEMPTS):
            try:
                with self._acme_errors(doing):
                    return fn(*args, **kwargs)
            except _BadNonce:
                if attempt == _NONCE_ATTEMPTS - 1:
                    raise IssuerError(f"the ACME CA rejected every nonce while {doing}; try again later") from None
        raise AssertionError("unreachable")

    @contextlib.contextmanager
    def _acme_errors(self, doing: str) -> Iterator[None]:
        """Turn the library's and the network's errors into IssuerError, keeping the CA's words."""
        try:
            yield
        except messages.Error as exc:
            if exc.code == "badNonce":
                raise _BadNonce from None
            header = getattr(self._client.net, "last_retry_after", None) if self._client is not None else None
            wait: float | None = None
            if header or exc.code == "rateLimited":
                wait = _retry_after_seconds(header) if header else RATE_LIMIT_DEFAULT_SECONDS
            raise IssuerError(f"the ACME CA refused {doing}: {_problem(exc)}", retry_after_seconds=wait) from None
        except errors.ValidationError as exc:
            details = "; ".join(
                f"{a.body.identifier.value}: {_problem(c.error) if c.error else c.status}"
                for a in exc.failed_authzrs
                for c in a.body.challenges
                if c.error is not None
            )
            raise IssuerError(f"ACME validation failed ({doing}): {details or exc}") from None
        except errors.TimeoutError:
            raise IssuerError(
                f"the ACME CA did not finish {doing} within {self._settings.timeout_seconds:g}s"
            ) from None
        except errors.Error as exc:
            raise IssuerError(f"ACME error while {doing}: {exc}") from None
        except requests.exceptions.SSLError as exc:
            raise IssuerError(
                f"TLS to {self._settings.directory_url} failed while {doing}: {exc}; "
                "set ca_bundle on the issuer if the CA uses a private root"
            ) from None
        except requests.exceptions.RequestException as exc:
            raise IssuerError(f"cannot reach {self._settings.directory_url} while {doing}: {exc}") from None


def _refuse_wildcards(order: messages.OrderResource) -> None:
    for authz in order.authorizations:
        if authz.body.wildcard:
            raise IssuerError(
                f"'*.{authz.body.identifier.value}' is a wildcard: ACME validates wildcards only with dns-01; "
                "set challenge_type to dns-01 on the issuer"
            )


def _problem(error: messages.Error) -> str:
    """The CA's problem document as it sent it: type, detail and sub-problems."""
    parts = [error.typ or "error"]
    if error.detail:
        parts.append(error.detail)
    for sub in getattr(error, "subproblems", None) or ():
        parts.append(f"[{getattr(sub, 'identifier', '')}: {sub.detail}]")
    return " — ".join(parts)


def _find(authz: messages.AuthorizationResource, kind: type[challenges.Challenge]) -> messages.ChallengeBody:
    for challb in authz.body.challenges:
        if isinstance(challb.chall, kind):
            return challb
    offered = ", ".join(c.chall.typ for c in authz.body.challenges)
    raise IssuerError(
        f"the ACME CA offers no {kind.typ} challenge for '{authz.body.identifier.value}' (offered: {offered})"
    )


def _address(text: Any) -> tuple[str, int]:
    host, _, port = str(text).rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidInput(f"http_address '{text}' is not HOST:PORT", field="http_address")
    return host.strip("[]") or "0.0.0.0", int(port)


def _command(value: Any, field: str) -> tuple[str, ...]:
    if value in (None, "", []):
        return ()
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(
            f"{field} must be a list of arguments (a program and its arguments), not a shell string", field=field
        )
    if not value or not value[0]:
        raise InvalidInput(f"{field} names no program", field=field)
    return tuple(value)


def _number(config: Mapping[str, Any], name: str, default: float) -> float:
    value = config.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise InvalidInput(f"{name} must be a number of seconds, 0 or more", field=name)
    return float(value)


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)

"""The engine service's public address, written into local CA issuers as their CRL and OCSP URLs.

Certificates carry the URLs of their issuer's configuration (``crl_url``, ``ocsp_url``).
When the service is given a public base URL (``CERTCTL_PUBLIC_URL``), every local CA issuer
without its own URLs gets this service's: ``<base>/crl/<issuer>.crl`` and
``<base>/ocsp/<issuer>``. They are written into the issuer's configuration (audited), so the
inventory shows what new certificates will carry. URLs an operator set by hand are kept; URLs
filled from an earlier base URL follow it when it changes.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from certctl_engine.domain import Actor, IssuerType
from certctl_engine.errors import InvalidInput
from certctl_engine.services.context import ServiceContext
from certctl_engine.services.issuers import IssuerService
from certctl_engine.store.models import StoreMetaModel

_META_KEY = "public_base_url"


def normalize_base_url(value: str) -> str:
    """``value`` without a trailing slash; refused unless an http(s) URL with a host and nothing after the path."""
    text = value.strip()
    parts = urlsplit(text)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise InvalidInput(f"public URL '{value}' must be an http:// or https:// URL with a host", field="public_url")
    if parts.query or parts.fragment:
        raise InvalidInput(f"public URL '{value}' must not have a query or a fragment", field="public_url")
    return text.rstrip("/")


def crl_url(base: str, issuer_id: str) -> str:
    return f"{base}/crl/{quote(issuer_id, safe='')}.crl"


def ocsp_url(base: str, issuer_id: str) -> str:
    return f"{base}/ocsp/{quote(issuer_id, safe='')}"


class PublicURLService:
    def __init__(self, ctx: ServiceContext, issuers: IssuerService) -> None:
        self._ctx = ctx
        self._issuers = issuers

    def apply(self, base_url: str, *, actor: Actor) -> dict[str, dict[str, str]]:
        """Fill (or move) the local CA issuers' CRL and OCSP URLs; returns what changed per issuer."""
        base = normalize_base_url(base_url)
        previous_row = StoreMetaModel.get_or_none(StoreMetaModel.key == _META_KEY)
        previous = previous_row.value if previous_row is not None else None
        changed: dict[str, dict[str, str]] = {}
        for issuer in self._issuers.list():
            if issuer.type is not IssuerType.GENERIC_CA:
                continue
            config = self._issuers.connector_config(issuer.id)
            values: dict[str, str] = {}
            for field, make in (("crl_url", crl_url), ("ocsp_url", ocsp_url)):
                current = str(config.get(field) or "")
                ours = make(base, issuer.id)
                if current == ours:
                    continue
                if not current or (previous is not None and current == make(previous, issuer.id)):
                    values[field] = ours
            if values:
                self._issuers.save_connector_state(issuer.id, values, actor=actor, action="issuer_public_urls_set")
                changed[issuer.id] = values
        if base != previous:
            with self._ctx.store.write():
                StoreMetaModel.insert(key=_META_KEY, value=base).on_conflict(
                    conflict_target=[StoreMetaModel.key], update={StoreMetaModel.value: base}
                ).execute()
        return changed

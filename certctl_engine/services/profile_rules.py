"""How a certificate profile constrains issuance; every refusal names the rule it broke."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence

from certctl_engine.domain import ExtendedKeyUsage, KeyAlgorithmRule, Profile
from certctl_engine.errors import PolicyViolation
from certctl_engine.pki.keys import DEFAULT_KEY_SPEC, KeySpec
from certctl_engine.services.profiles import DEFAULT_EKUS, DEFAULT_KEY_ALGORITHMS


def _rules(profile: Profile | None) -> tuple[KeyAlgorithmRule, ...]:
    return profile.allowed_key_algorithms if profile else DEFAULT_KEY_ALGORITHMS


def _describe(rules: Sequence[KeyAlgorithmRule]) -> str:
    return ", ".join(f"{r.algorithm.value} ≥{r.min_size}" if r.min_size else r.algorithm.value for r in rules)


def _name(profile: Profile | None) -> str:
    return f"profile '{profile.name}'" if profile else "the default rules"


def check_enabled(profile: Profile | None) -> None:
    if profile is not None and not profile.enabled:
        raise PolicyViolation(f"profile '{profile.name}' is disabled; enable it or pick another", rule="enabled")


def default_key_spec(profile: Profile | None) -> KeySpec:
    """The key to generate when none is asked for: the profile's first algorithm at its minimum size."""
    if profile is None:
        return DEFAULT_KEY_SPEC
    rule = profile.allowed_key_algorithms[0]
    size = {"ECDSA": max(rule.min_size, 256), "RSA": max(rule.min_size, 2048), "Ed25519": 256}[rule.algorithm.value]
    return KeySpec.checked(rule.algorithm, size)


def check_key(profile: Profile | None, spec: KeySpec) -> None:
    rules = _rules(profile)
    if not any(r.algorithm == spec.algorithm and spec.size >= r.min_size for r in rules):
        raise PolicyViolation(
            f"key type {spec} is not allowed by {_name(profile)} (allowed: {_describe(rules)})",
            rule="allowed_key_algorithms",
        )


def ttl_seconds(profile: Profile | None, requested: int | None, issuer_default: int) -> int:
    """The lifetime to issue with: the request, else the issuer's default capped by the profile."""
    limit = profile.max_ttl_seconds if profile else 0
    if requested is not None:
        if requested <= 0:
            raise PolicyViolation(f"the requested lifetime must be positive, got {requested}s", rule="ttl")
        if limit and requested > limit:
            raise PolicyViolation(
                f"a lifetime of {requested}s exceeds the {limit}s maximum of {_name(profile)}", rule="max_ttl_seconds"
            )
        return requested
    return min(issuer_default, limit) if limit else issuer_default


def ekus(profile: Profile | None) -> tuple[ExtendedKeyUsage, ...]:
    return profile.allowed_ekus if profile and profile.allowed_ekus else DEFAULT_EKUS


def check_names(profile: Profile | None, common_name: str, sans: Sequence[str]) -> None:
    """Email SANs need emailProtection; DNS names must match the profile's patterns; URIs its SPIFFE pattern."""
    usages = ekus(profile)
    emails = [s for s in sans if "@" in s and "://" not in s]
    if emails and ExtendedKeyUsage.EMAIL_PROTECTION not in usages:
        raise PolicyViolation(
            f"email SAN {', '.join(emails)} needs the emailProtection extended key usage, which {_name(profile)} "
            "does not grant (use an S/MIME profile)",
            rule="allowed_ekus",
        )
    if profile is None:
        return
    dns = [s for s in sans if "@" not in s and "://" not in s and not _is_ip(s)]
    for name in dns:
        if profile.required_san_patterns and not any(re.search(p, name) for p in profile.required_san_patterns):
            raise PolicyViolation(
                f"SAN '{name}' does not match the name patterns of {_name(profile)}: "
                f"{', '.join(profile.required_san_patterns)}",
                rule="required_san_patterns",
            )
    uris = [s for s in sans if "://" in s]
    for uri in uris:
        if profile.spiffe_uri_pattern and not fnmatch.fnmatchcase(uri, profile.spiffe_uri_pattern):
            raise PolicyViolation(
                f"URI SAN '{uri}' does not match {profile.spiffe_uri_pattern} required by {_name(profile)}",
                rule="spiffe_uri_pattern",
            )


def _is_ip(value: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True

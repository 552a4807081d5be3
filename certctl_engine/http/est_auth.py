"""EST client credentials: HTTP basic users whose passwords are kept only as PBKDF2 hashes.

``CERTCTL_EST_USERS`` lists ``user:hash`` pairs separated by commas; a hash reads
``pbkdf2_sha256$<iterations>$<salt, base64>$<digest, base64>`` and is made with
``python -m certctl_engine.http.est_auth`` (the password is read from standard input). A
password is checked by recomputing its digest and comparing in constant time; an unknown
user costs the same work, so timing does not tell which user names exist.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from certctl_engine.errors import InvalidInput

SCHEME = "pbkdf2_sha256"
DEFAULT_ITERATIONS = 200_000
_MIN_ITERATIONS = 10_000
_DUMMY = f"{SCHEME}$100000${base64.b64encode(b'certctl-est-none').decode()}${base64.b64encode(bytes(32)).decode()}"


def hash_password(password: str, *, iterations: int = DEFAULT_ITERATIONS) -> str:
    salt = os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"{SCHEME}${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


@dataclass(frozen=True, slots=True)
class _Hash:
    iterations: int
    salt: bytes
    digest: bytes


def _parse_hash(user: str, text: str) -> _Hash:
    parts = text.split("$")
    if len(parts) != 4 or parts[0] != SCHEME or not parts[1].isdigit():
        raise InvalidInput(
            f"EST user '{user}': the password hash must read {SCHEME}$<iterations>$<salt>$<digest>",
            field="CERTCTL_EST_USERS",
            hint="make one with 'python -m certctl_engine.http.est_auth'",
        )
    iterations = int(parts[1])
    if iterations < _MIN_ITERATIONS:
        raise InvalidInput(
            f"EST user '{user}': {iterations} PBKDF2 iterations are too few (at least {_MIN_ITERATIONS})",
            field="CERTCTL_EST_USERS",
        )
    try:
        salt, digest = base64.b64decode(parts[2], validate=True), base64.b64decode(parts[3], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"EST user '{user}': salt or digest is not base64", field="CERTCTL_EST_USERS") from None
    if len(digest) != 32 or not salt:
        raise InvalidInput(f"EST user '{user}': the digest must be 32 bytes of SHA-256", field="CERTCTL_EST_USERS")
    return _Hash(iterations, salt, digest)


class ESTUsers:
    """The users allowed to enroll, by name, with their password hashes."""

    def __init__(self, hashes: Mapping[str, str]) -> None:
        self._hashes = {user: _parse_hash(user, text) for user, text in hashes.items()}
        self._dummy = _parse_hash("-", _DUMMY)

    @classmethod
    def parse(cls, text: str) -> ESTUsers:
        """Read ``user:hash,user:hash``; a malformed entry is refused naming the user (never the hash)."""
        hashes: dict[str, str] = {}
        for entry in filter(None, (e.strip() for e in text.split(","))):
            user, sep, value = entry.partition(":")
            user = user.strip()
            if not sep or not user or not value.strip():
                raise InvalidInput("each CERTCTL_EST_USERS entry must read user:hash", field="CERTCTL_EST_USERS")
            if user in hashes:
                raise InvalidInput(f"EST user '{user}' is listed twice", field="CERTCTL_EST_USERS")
            hashes[user] = value.strip()
        return cls(hashes)

    def __len__(self) -> int:
        return len(self._hashes)

    def verify(self, user: str, password: str) -> bool:
        """Whether ``password`` is ``user``'s; slow on purpose (PBKDF2), so call it in a worker thread."""
        known = self._hashes.get(user)
        target = known or self._dummy
        digest = hashlib.pbkdf2_hmac("sha256", password.encode(), target.salt, target.iterations)
        return hmac.compare_digest(digest, target.digest) and known is not None


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """(user, password) of an ``Authorization: Basic`` header, or None when absent or unreadable."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def main() -> int:
    """Print the hash of the password on standard input, for CERTCTL_EST_USERS."""
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        print("give the password on standard input", file=sys.stderr)
        return 2
    print(hash_password(password))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

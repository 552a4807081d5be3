"""The one error hierarchy of certctl.

Every failure a face can show a person is a ``CertctlError``; its message is written to
be read, not parsed, and says what to do next where that is known. Faces catch
``CertctlError`` and print the message (CLI), toast it (TUI) or return it as an
``isError`` result (MCP); anything else is a bug.

    CertctlError
     ├── NotFound            a referenced object does not exist
     ├── Conflict            the change clashes with existing state (duplicate, in use,
     │                       illegal state transition)
     ├── InvalidInput        input from outside is malformed or out of range
     │    └── PolicyViolation  well-formed, but a profile or policy rule forbids it
     ├── StoreError          the store cannot be opened, read or upgraded
     ├── IssuerError         a certificate authority refused or failed
     ├── DeployError         a deployment target refused or failed
     ├── Unauthorized        the caller is not allowed to do this
     └── IntegrityError      stored data fails a check (broken audit chain, bad ciphertext)
"""

from __future__ import annotations

__all__ = [
    "CertctlError",
    "Conflict",
    "DeployError",
    "IntegrityError",
    "InvalidInput",
    "IssuerError",
    "NotFound",
    "PolicyViolation",
    "StoreError",
    "Unauthorized",
]


class CertctlError(Exception):
    """Root of every error certctl raises on purpose."""

    #: Short machine-friendly kind, used by faces (e.g. MCP error hints, CLI exit codes).
    kind: str = "error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


class NotFound(CertctlError):
    """A referenced object does not exist."""

    kind = "not_found"

    def __init__(self, resource: str, identifier: str, *, hint: str | None = None) -> None:
        super().__init__(f"no {resource} '{identifier}'", hint=hint)
        self.resource = resource
        self.identifier = identifier


class Conflict(CertctlError):
    """The change clashes with existing state."""

    kind = "conflict"


class InvalidInput(CertctlError):
    """Input from outside is malformed or out of range."""

    kind = "invalid_input"

    def __init__(self, message: str, *, field: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.field = field


class PolicyViolation(InvalidInput):
    """Input is well-formed but a profile or policy rule forbids it."""

    kind = "policy_violation"

    def __init__(
        self, message: str, *, rule: str | None = None, field: str | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, field=field, hint=hint)
        self.rule = rule


class StoreError(CertctlError):
    """The store cannot be opened, read or upgraded."""

    kind = "store_error"


class IssuerError(CertctlError):
    """A certificate authority refused or failed.

    ``retry_after_seconds`` is set when the CA said how long to wait (a rate limit, its
    ``Retry-After``): a job does not try again before that.
    """

    kind = "issuer_error"

    def __init__(self, message: str, *, hint: str | None = None, retry_after_seconds: float | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after_seconds = retry_after_seconds


class DeployError(CertctlError):
    """A deployment target refused or failed."""

    kind = "deploy_error"


class NotifyError(CertctlError):
    """A notification channel refused or could not be reached."""

    kind = "notify_error"


class Unauthorized(CertctlError):
    """The caller is not allowed to do this."""

    kind = "unauthorized"


class IntegrityError(CertctlError):
    """Stored data fails an integrity check."""

    kind = "integrity_error"

"""Small text helpers shared by the screens: spans, dates, urgency colours."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text

from certctl_engine.domain import Certificate, CertificateStatus

STATUS_STYLE: dict[str, str] = {
    CertificateStatus.ACTIVE.value: "green",
    CertificateStatus.EXPIRING.value: "yellow",
    CertificateStatus.EXPIRED.value: "bold red",
    CertificateStatus.FAILED.value: "bold red",
    CertificateStatus.REVOKED.value: "magenta",
    CertificateStatus.ARCHIVED.value: "dim",
    CertificateStatus.PENDING.value: "cyan",
    CertificateStatus.RENEWAL_IN_PROGRESS.value: "blue",
}

_NOT_LIVE = {CertificateStatus.REVOKED, CertificateStatus.ARCHIVED}


def span(seconds: float) -> str:
    """A short human span: 45s, 12m, 5h, 12d."""
    seconds = abs(seconds)
    if seconds < 60:
        return f"{int(seconds)}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h"
    return f"{int(seconds // 86400)}d"


def ago(then: datetime | None, now: datetime) -> str:
    if then is None:
        return "-"
    seconds = (now - then).total_seconds()
    if seconds < 1:
        return "just now"
    return f"{span(seconds)} ago"


def day(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d") if value else "-"


def stamp(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def urgency_style(cert: Certificate, now: datetime) -> str:
    """Colour of a certificate's row cells by how soon it needs attention."""
    if cert.status in _NOT_LIVE:
        return STATUS_STYLE[cert.status.value]
    if cert.status in (CertificateStatus.FAILED, CertificateStatus.EXPIRED):
        return "bold red"
    if cert.expires_at is None or cert.current_version_id is None:
        return "cyan"
    days = (cert.expires_at - now).total_seconds() / 86400
    if days < 0:
        return "bold red"
    if days <= 7:
        return "red"
    if days <= 30:
        return "yellow"
    return "green"


def expires_in(cert: Certificate, now: datetime) -> Text:
    if cert.expires_at is None or cert.current_version_id is None:
        return Text("not issued", style="cyan")
    left = (cert.expires_at - now).total_seconds()
    label = f"{span(left)} ago" if left < 0 else f"in {span(left)}"
    return Text(label, style=urgency_style(cert, now))


def status_text(status: CertificateStatus | str) -> Text:
    value = str(status)
    return Text(value, style=STATUS_STYLE.get(value, ""))


def life_used(not_before: datetime, not_after: datetime, now: datetime) -> float:
    """Fraction (0..1) of a validity period already used."""
    total = (not_after - not_before).total_seconds()
    if total <= 0:
        return 1.0
    return min(1.0, max(0.0, (now - not_before).total_seconds() / total))

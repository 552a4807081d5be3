"""E-mail over SMTP: STARTTLS (default), implicit TLS or plain, with optional authentication."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from certctl_engine.connectors.notifiers.base import Alert, require
from certctl_engine.errors import InvalidInput, NotifyError

TLS_MODES = ("starttls", "ssl", "none")


class EmailNotifier:
    """Config: smtp_host, smtp_port (587), tls (starttls | ssl | none), username, password,
    from_address, to (default recipients when an alert has none), ca_bundle, timeout_seconds."""

    def check_config(self, config: Mapping[str, Any]) -> None:
        require(config, "smtp_host", what="an e-mail channel")
        require(config, "from_address", what="an e-mail channel")
        if str(config.get("tls", "starttls")) not in TLS_MODES:
            raise InvalidInput(f"tls must be one of {', '.join(TLS_MODES)}", field="tls")
        port = config.get("smtp_port", 587)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise InvalidInput("smtp_port must be a TCP port number", field="smtp_port")
        if bool(config.get("username")) != bool(config.get("password")):
            raise InvalidInput("give both username and password, or neither", field="username")

    def send(self, alert: Alert, config: Mapping[str, Any]) -> None:
        self.check_config(config)
        recipients = [r.strip() for r in (alert.recipient or str(config.get("to") or "")).split(",") if r.strip()]
        if not recipients:
            raise NotifyError("no recipient: the certificate has no owner e-mail and the channel has no 'to'")
        message = EmailMessage()
        message["From"] = str(config["from_address"])
        message["To"] = ", ".join(recipients)
        message["Subject"] = alert.subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain="certctl")
        message["X-Certctl-Event"] = alert.event
        if alert.certificate_id:
            message["X-Certctl-Certificate"] = alert.certificate_id
        message.set_content(alert.body)
        host, port = str(config["smtp_host"]), int(config.get("smtp_port", 587))
        mode = str(config.get("tls", "starttls"))
        timeout = float(config.get("timeout_seconds", 30))
        context = ssl.create_default_context(cafile=str(config["ca_bundle"]) if config.get("ca_bundle") else None)
        try:
            smtp: smtplib.SMTP
            if mode == "ssl":
                smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
            else:
                smtp = smtplib.SMTP(host, port, timeout=timeout)
            with smtp:
                if mode == "starttls":
                    smtp.starttls(context=context)
                if config.get("username"):
                    smtp.login(str(config["username"]), str(config["password"]))
                refused = smtp.send_message(message)
        except smtplib.SMTPNotSupportedError:
            raise NotifyError(f"{host}:{port} does not offer STARTTLS; set tls to 'ssl' or 'none'") from None
        except smtplib.SMTPAuthenticationError as exc:
            raise NotifyError(f"{host}:{port} refused the login: {exc.smtp_code} {_text(exc.smtp_error)}") from None
        except smtplib.SMTPResponseException as exc:
            raise NotifyError(f"{host}:{port} answered {exc.smtp_code} {_text(exc.smtp_error)}") from None
        except smtplib.SMTPRecipientsRefused as exc:
            detail = "; ".join(f"{r}: {c} {_text(m)}" for r, (c, m) in exc.recipients.items())
            raise NotifyError(f"{host}:{port} refused every recipient: {detail}") from None
        except ssl.SSLError as exc:
            raise NotifyError(f"TLS with {host}:{port} failed: {exc}; set ca_bundle if it uses a private CA") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise NotifyError(f"cannot send through {host}:{port}: {exc}") from None
        if refused:
            detail = "; ".join(f"{r}: {c} {_text(m)}" for r, (c, m) in refused.items())
            raise NotifyError(f"{host}:{port} refused some recipients: {detail}")


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)

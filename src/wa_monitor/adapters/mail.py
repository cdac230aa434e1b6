"""E-mail through an SMTP relay (the host's own MTA by default), with the standard library."""

from __future__ import annotations

import smtplib
from collections.abc import Sequence
from email.message import EmailMessage

TIMEOUT_SECONDS = 10.0


class MailError(Exception):
    """The relay could not be reached or did not take the message."""


def send_mail(
    *,
    host: str,
    port: int,
    sender: str,
    recipients: Sequence[str],
    subject: str,
    text: str,
) -> None:
    """Hand one plain-text message to the relay; MailError (one line) when it did not take it."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message.set_content(text)
    try:
        with smtplib.SMTP(host, port, timeout=TIMEOUT_SECONDS) as relay:
            refused = relay.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"SMTP {host}:{port}: {type(exc).__name__}: {exc}") from None
    if refused:
        raise MailError(f"SMTP {host}:{port} refused {', '.join(sorted(refused))}")

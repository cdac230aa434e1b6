"""E-mail through an SMTP relay (the host's own MTA by default), with the standard library.

A message handed to the relay comes to one `Delivery`, like a post through the bridge: DOWN when
no connection was made (nothing sent), REFUSED when the relay answered no (nothing accepted),
UNKNOWN when the connection broke after the message began to go out (it may be delivered)."""

from __future__ import annotations

import smtplib
from collections.abc import Sequence
from email.message import EmailMessage

from wa_monitor.core.records import Delivery
from wa_monitor.core.replies import speakable

TIMEOUT_SECONDS = 10.0


def post_mail(
    *,
    host: str,
    port: int,
    sender: str,
    recipients: Sequence[str],
    subject: str,
    text: str,
) -> tuple[Delivery, str]:
    """Hand one plain-text message to the relay, once; its Delivery and a one-line detail."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = speakable(subject).replace("\n", " ")
    message.set_content(speakable(text))
    where = f"SMTP {host}:{port}"
    try:
        relay = smtplib.SMTP(host, port, timeout=TIMEOUT_SECONDS)
    except (OSError, smtplib.SMTPException) as exc:
        return Delivery.DOWN, f"{where}: {type(exc).__name__}: {exc}"
    try:
        with relay:
            refused = relay.send_message(message)
    except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
        return Delivery.REFUSED, f"{where} refused: {type(exc).__name__}"
    except smtplib.SMTPResponseException as exc:
        # The relay answered with an error code: it did not take the message.
        return Delivery.REFUSED, f"{where} answered {exc.smtp_code}"
    except (OSError, smtplib.SMTPException) as exc:
        return Delivery.UNKNOWN, f"{where}: {type(exc).__name__}: {exc}; it may have been sent"
    if refused:
        return Delivery.SENT, f"{where} refused {', '.join(sorted(refused))}; sent to the rest"
    return Delivery.SENT, f"{where} took it"

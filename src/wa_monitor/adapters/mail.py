"""E-mail through an SMTP relay (the host's own MTA by default), with the standard library.

A message handed to the relay comes to one `Delivery`, like a post through the bridge: DOWN when
no connection was made (nothing sent), REFUSED when the relay answered no (nothing accepted),
UNKNOWN when the connection broke after the message began to go out (it may be delivered)."""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from email.message import EmailMessage

from wa_monitor.core.records import Delivery, SendResult
from wa_monitor.core.replies import speakable

TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class Mail:
    """The relay as a `Poster` (core/ports.py), for messages with this subject."""

    host: str
    port: int
    sender: str
    subject: str

    def send(self, recipient: str, text: str) -> SendResult:
        """Hand one plain-text message to the relay for `recipient` (addresses, comma
        separated), once: its Delivery and a one-line detail."""
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = recipient
        message["Subject"] = speakable(self.subject).replace("\n", " ")
        message.set_content(speakable(text))
        where = f"SMTP {self.host}:{self.port}"
        try:
            relay = smtplib.SMTP(self.host, self.port, timeout=TIMEOUT_SECONDS)
        except (OSError, smtplib.SMTPException) as exc:
            return SendResult(Delivery.DOWN, f"{where}: {type(exc).__name__}: {exc}")
        try:
            with relay:
                refused = relay.send_message(message)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
            return SendResult(Delivery.REFUSED, f"{where} refused: {type(exc).__name__}")
        except smtplib.SMTPResponseException as exc:
            # The relay answered with an error code: it did not take the message.
            return SendResult(Delivery.REFUSED, f"{where} answered {exc.smtp_code}", exc.smtp_code)
        except (OSError, smtplib.SMTPException) as exc:
            return SendResult(
                Delivery.UNKNOWN, f"{where}: {type(exc).__name__}: {exc}; it may have been sent"
            )
        if refused:
            return SendResult(
                Delivery.SENT, f"{where} refused {', '.join(sorted(refused))}; sent to the rest"
            )
        return SendResult(Delivery.SENT, f"{where} took it")

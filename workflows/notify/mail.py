"""E-mail through SMTP: settings from the environment, and sending a batch on one connection.

Nothing here touches the database: `workflows.notify.notifications` keeps the outbox and calls
`send_all` outside any transaction.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from typing import TypeVar

N = TypeVar("N", int, float)
TRUE_TEXT = {"1", "true", "yes", "on"}
FALSE_TEXT = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class MailSettings:
    """Where and how to send e-mail.

    Attributes:
        host: the SMTP server.
        port: its port.
        sender: the From address.
        username: login (none: no authentication).
        password: password for `username`.
        starttls: upgrade the connection with STARTTLS before logging in.
        timeout: seconds to wait for the server.
        base_url: the app's address, put in front of links (e.g. ``https://baton.example``).
    """

    host: str
    port: int = 25
    sender: str = "baton@localhost"
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 10.0
    base_url: str = ""

    @staticmethod
    def from_env(env: Mapping[str, str]) -> MailSettings | None:
        """Settings from ``BATON_SMTP_HOST``, ``_PORT``, ``_USER``, ``_PASSWORD``, ``_FROM``,
        ``_STARTTLS``, ``_TIMEOUT`` and ``BATON_BASE_URL``; None when no host is set (in-app only).

        Raises:
            ValueError: a value cannot be read (the message names the variable).
        """
        host = env.get("BATON_SMTP_HOST", "").strip()
        if not host:
            return None
        starttls = _flag(env, "BATON_SMTP_STARTTLS")
        return MailSettings(
            host=host,
            port=_number(env, "BATON_SMTP_PORT", int, 587 if starttls else 25),
            sender=env.get("BATON_SMTP_FROM", "").strip() or "baton@localhost",
            username=env.get("BATON_SMTP_USER", "").strip() or None,
            password=env.get("BATON_SMTP_PASSWORD") or None,
            starttls=starttls,
            timeout=_number(env, "BATON_SMTP_TIMEOUT", float, 10.0),
            base_url=env.get("BATON_BASE_URL", "").strip().rstrip("/"),
        )


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value in TRUE_TEXT:
        return True
    if value in FALSE_TEXT:
        return False
    raise ValueError(f"{name} must be true or false, not '{value}'")


def _number(env: Mapping[str, str], name: str, kind: Callable[[str], N], default: N) -> N:
    value = env.get(name, "").strip()
    if not value:
        return default
    try:
        number = kind(value)
    except ValueError:
        raise ValueError(f"{name} must be a number, not '{value}'") from None
    if number <= 0:
        raise ValueError(f"{name} must be positive, not '{value}'")
    return number


@dataclass(frozen=True)
class Letter:
    """One e-mail to write: recipient, subject, text and the app link it points to."""

    to_address: str
    to_name: str
    subject: str
    body: str
    link: str | None
    at: datetime


@dataclass(frozen=True)
class Outcome:
    """What became of one letter: sent, or the error and whether trying again may help."""

    error: str | None = None
    permanent: bool = False

    @property
    def sent(self) -> bool:
        """True when the server accepted the letter."""
        return self.error is None


def compose(settings: MailSettings, letter: Letter) -> EmailMessage:
    """The e-mail message of a letter (plain text; the link is made absolute with `base_url`)."""
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = formataddr((letter.to_name, letter.to_address))
    message["Subject"] = letter.subject
    message["Date"] = format_datetime(letter.at)
    message["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2] or None)
    body = letter.body
    if letter.link:
        body += f"\n\nOpen it in Baton: {settings.base_url}{letter.link}"
    message.set_content(body + "\n")
    return message


def send_all(settings: MailSettings, letters: Sequence[Letter]) -> list[Outcome]:
    """Send letters over one SMTP connection; never raises for mail trouble.

    Returns:
        One outcome per letter, in order. When the server cannot be reached (or drops the
        connection), the letters not yet sent get a temporary failure.
    """
    if not letters:
        return []
    outcomes: list[Outcome] = []
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as smtp:
            if settings.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.username:
                smtp.login(settings.username, settings.password or "")
            for letter in letters:
                outcomes.append(_send_one(smtp, compose(settings, letter)))
    except (OSError, smtplib.SMTPException) as exc:
        # the connection failed or broke: what was not sent yet waits for the next try
        reason = f"SMTP server {settings.host}:{settings.port}: {exc or type(exc).__name__}"
        outcomes += [Outcome(reason)] * (len(letters) - len(outcomes))
    return outcomes


def _send_one(smtp: smtplib.SMTP, message: EmailMessage) -> Outcome:
    try:
        smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        # 5xx: the address will never work; 4xx (a full mailbox, greylisting): try again later
        codes = [code for code, _text in exc.recipients.values()]
        return Outcome(f"recipient refused: {exc.recipients}", permanent=all(c >= 500 for c in codes))
    except smtplib.SMTPSenderRefused:
        raise  # the From setting is wrong: every letter waits until it is fixed
    except smtplib.SMTPResponseException as exc:
        text = (
            exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        )
        return Outcome(f"refused by the server: {exc.smtp_code} {text}", permanent=exc.smtp_code >= 500)
    return Outcome()

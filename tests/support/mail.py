"""Build test messages as bytes, the way a mail client would send them."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

_counter = itertools.count(1)


def make_message(
    *,
    subject: str = "Hello",
    sender: str = "bob@acme.example",
    to: str = "me@example.com",
    cc: str = "",
    date: datetime | None = None,
    message_id: str | None = None,
    body: str = "Hi there.\n",
    in_reply_to: str = "",
    attachment: tuple[str, bytes] | None = None,
    html: str | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = sender
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Date"] = format_datetime(date or datetime.now(UTC))
    msg["Message-ID"] = message_id or f"<test-{next(_counter)}-{id(msg)}@test.example>"
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    if attachment:
        name, data = attachment
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return msg.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")

"""Mail provider presets for "Add new account": the IMAP and SMTP endpoints each one
publishes. Data only; the form fills its fields from these and the user may change them.

Ports: IMAP 993 is TLS from the first byte ("ssl"); SMTP 465 is the same, 587 starts in
plain text and upgrades with STARTTLS. Most big providers refuse the normal account
password for IMAP once two-step verification is on and want an app password instead.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Preset:
    key: str
    name: str
    imap_host: str
    imap_port: int
    imap_security: str
    smtp_host: str
    smtp_port: int
    smtp_security: str
    note: str = ""


PRESETS: tuple[Preset, ...] = (
    Preset("gmail", "Gmail / Google Workspace", "imap.gmail.com", 993, "ssl",
           "smtp.gmail.com", 587, "starttls",
           "Turn on IMAP in Gmail's settings and sign in with an app password "
           "(Google account > Security > App passwords)."),
    Preset("outlook", "Outlook / Microsoft 365", "outlook.office365.com", 993, "ssl",
           "smtp.office365.com", 587, "starttls",
           "Microsoft 365 may require modern sign-in (OAuth); if the password is refused, "
           "ask your administrator whether IMAP with a password is allowed."),
    Preset("yahoo", "Yahoo Mail", "imap.mail.yahoo.com", 993, "ssl",
           "smtp.mail.yahoo.com", 465, "ssl",
           "Yahoo needs an app password (Account security > Generate app password)."),
    Preset("icloud", "iCloud Mail", "imap.mail.me.com", 993, "ssl",
           "smtp.mail.me.com", 587, "starttls",
           "iCloud needs an app-specific password (appleid.apple.com > Sign-in and security)."),
    Preset("fastmail", "Fastmail", "imap.fastmail.com", 993, "ssl",
           "smtp.fastmail.com", 465, "ssl",
           "Fastmail needs an app password (Settings > Privacy & Security > App passwords)."),
    Preset("zoho", "Zoho Mail", "imap.zoho.com", 993, "ssl",
           "smtp.zoho.com", 465, "ssl",
           "Enable IMAP access in Zoho Mail's settings; with two-factor sign-in use an "
           "application-specific password."),
    Preset("custom", "Other (enter the server details)", "", 993, "ssl", "", 587, "starttls",
           "Your provider's help pages list the IMAP and SMTP server names and ports."),
)  # fmt: skip

BY_KEY = {p.key: p for p in PRESETS}

"""Connecting a mailbox: test the login, save the account, preview what a choice brings.

Shared by the CLI and the web app so both refuse the same bad settings with the same
sentences. The connection is tested before anything is saved: an account that cannot
log in is never stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from emailsync.config import Settings
from emailsync.domain.addresses import normalize_email
from emailsync.domain.conditions import (
    SyncConditions,
    folder_window_start,
    folders_to_sync,
    selected_folders,
)
from emailsync.domain.model import ServerFolder
from emailsync.domain.states import AccountState, Security
from emailsync.errors import UsageError
from emailsync.imap.connection import connect
from emailsync.smtp import connection as smtp_connection
from emailsync.store import accounts as account_store
from emailsync.store.accounts import Account, Endpoint
from emailsync.store.crypto import SecretBox

SECURITIES = tuple(Security)


@dataclass(frozen=True, slots=True)
class ConnectRequest:
    user_id: int
    email: str
    imap: Endpoint
    smtp: Endpoint | None
    username: str
    password: str


def _check(request: ConnectRequest) -> str:
    email = normalize_email(request.email)
    if not email:
        raise UsageError(f"{request.email!r} is not an email address")
    for endpoint, label in ((request.imap, "IMAP"), (request.smtp, "SMTP")):
        if endpoint is None:
            continue
        if endpoint.security not in SECURITIES:
            raise UsageError(f"{label} security must be one of {', '.join(SECURITIES)}")
        if not endpoint.host or not 0 < endpoint.port < 65536:
            raise UsageError(f"{label} needs a host and a port between 1 and 65535")
    if not request.password:
        raise UsageError(f"Enter the password (or app password) of {email}")
    return email


def check_login(settings: Settings, request: ConnectRequest) -> list[ServerFolder]:
    """Log in to IMAP and list the folders, then, when an SMTP server is given, log in
    there too (EHLO, STARTTLS where chosen, AUTH) with the same username and password.
    Raises ConnectionSetupError with the fix in words; the CLI and the web wizard both
    come through here, so neither saves an account whose IMAP or SMTP login fails."""
    email = _check(request)
    session = connect(
        request.imap.host,
        request.imap.port,
        request.imap.security,
        request.username or email,
        request.password,
        email=email,
        cafile=settings.ca_file,
    )
    try:
        folders = session.list_folders()
    finally:
        session.close()
    if request.smtp is not None:
        smtp_connection.check_login(
            request.smtp.host,
            request.smtp.port,
            request.smtp.security,
            request.username or email,
            request.password,
            email=email,
            cafile=settings.ca_file,
        )
    return folders


def add_account(
    settings: Settings,
    engine: sa.Engine,
    request: ConnectRequest,
    conditions: SyncConditions | None = None,
) -> tuple[Account, list[ServerFolder]]:
    """Test the login, then save the account with its password encrypted at rest."""
    folders = check_login(settings, request)
    email = _check(request)
    box = SecretBox.from_settings(settings)
    with engine.begin() as conn:
        account_id = account_store.create_account(
            conn,
            user_id=request.user_id,
            email=email,
            imap=request.imap,
            smtp=request.smtp,
            username=request.username or email,
            conditions=conditions or SyncConditions(),
        )
        account = account_store.find_account(conn, str(account_id))
        account_store.set_password_secret(
            conn, account_id, box.encrypt(request.password, context=account.password_context())
        )
        account_store.record_server_folders(conn, account_id, folders)
        return account_store.find_account(conn, str(account_id)), folders


def reconnect(settings: Settings, engine: sa.Engine, account: Account, password: str) -> None:
    """A new password for an account: tested first; synced mail and cursors are kept."""
    check_login(
        settings,
        ConnectRequest(
            account.user_id, account.email, account.imap, account.smtp, account.username, password
        ),
    )
    box = SecretBox.from_settings(settings)
    with engine.begin() as conn:
        account_store.set_password_secret(
            conn, account.id, box.encrypt(password, context=account.password_context())
        )
        account_store.set_state(conn, account.id, AccountState.ACTIVE, error=None)


@dataclass(frozen=True, slots=True)
class FolderPreview:
    name: str
    role: str
    messages: int  # in the folder, on the server
    in_window: int  # of those, inside the past window (before the contacts filter)


def preview(
    settings: Settings, account: Account, conditions: SyncConditions
) -> list[FolderPreview]:
    """How many messages in which folders a choice of conditions would bring in, from the
    server's own SEARCH counts (RFC 3501 §6.4.4), before the user presses Sync."""
    from emailsync.sync.account_sync import open_session

    now = datetime.now(UTC).replace(microsecond=0)
    session = open_session(settings, account)
    try:
        server = session.list_folders()
        chosen = set(selected_folders(conditions, server))
        result = []
        for name in folders_to_sync(conditions, server):
            start = folder_window_start(conditions, now, selected=name in chosen)
            session.select(name)
            in_window = len(session.search_uids(1, start.date())) if start < now else 0
            role = next(f.role.value for f in server if f.name == name)
            result.append(FolderPreview(name, role, session.folder_message_count(name), in_window))
        return result
    finally:
        session.close()

"""A folder's last sync time says when a pass last looked at it, new mail or not: the
normal pass and the quick check (sync/quick_check.py) both move it."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from emailsync.config import Settings
from emailsync.store import accounts as account_store
from emailsync.store.db import open_database, reading
from emailsync.sync import quick_check
from emailsync.sync.quick_check import Declined
from support.dovecot import DovecotServer
from support.harness import Harness
from support.mail import make_message


def _last_syncs(account: str) -> dict[str, datetime | None]:
    engine = open_database(Settings.from_environment())
    try:
        with reading(engine) as conn:
            found = account_store.find_account(conn, account)
            return {
                f.name: f.last_sync_at
                for f in account_store.list_folders(conn, found.id)
                if f.uidvalidity is not None
            }
    finally:
        engine.dispose()


@pytest.mark.parametrize("path", ["quick", "normal"])
def test_a_pass_that_finds_nothing_new_moves_each_folders_last_sync(
    harness: Harness, dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    user = dovecot.add_user(f"u{uuid.uuid4().hex[:12]}")
    dovecot.append(
        user, "INBOX", make_message(subject="hello"),
        internaldate=datetime.now(UTC) - timedelta(days=2),
    )  # fmt: skip
    account = harness.connect(dovecot, user)
    harness.ok("accounts", "configure", account, "--sync-from", "3m", "--past-scope", "all")
    harness.ok("sync", account, "--once")
    first = _last_syncs(account)
    assert "INBOX" in first and all(first.values())
    if path == "normal":

        def decline(ref: str, settings: object = None) -> None:
            raise Declined("this test wants the normal pass")

        monkeypatch.setattr(quick_check, "quick_pass", decline)
    time.sleep(0.01)
    harness.ok("sync", account, "--once")  # nothing new on the server
    second = _last_syncs(account)
    assert second.keys() == first.keys()
    for name, when in second.items():
        before = first[name]
        assert when is not None and before is not None and when > before, name

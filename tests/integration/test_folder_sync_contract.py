"""The folder-sync state machine against the in-memory fake and the real Dovecot alike.

Each case seeds a mailbox, runs the real account pass (`sync_account`, hence
`sync_folder`) over an `ImapSession` of the backend, and reads the store back. The
backends are tests/support/fake_imap.py and Dovecot, each with CONDSTORE/QRESYNC and
without (RFC 7162): a case that passes on the fake but not on Dovecot means the fake
lies, and the contract tests at the bottom say where.

The account itself is connected through the CLI to a Dovecot user (adding an account
logs in); for the fake backends only the session the pass uses comes from the fake.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import pytest

from emailsync.config import Settings
from emailsync.domain.model import FetchedMessage
from emailsync.domain.states import Security
from emailsync.errors import EmailsyncError
from emailsync.imap.connection import SessionSpec
from emailsync.imap.protocol import ImapSession
from emailsync.imap.session import FolderNotFoundError
from emailsync.store import accounts as account_store
from emailsync.store.accounts import Folder
from emailsync.store.db import open_database, reading
from emailsync.sync.account_sync import PassResult, sync_account
from support.dovecot import DovecotServer
from support.fake_imap import FakeMailbox
from support.harness import Harness
from support.mail import make_message

NOW = datetime.now(UTC).replace(microsecond=0)
DAYS = timedelta(days=1)
BACKENDS = ["fake", "fake-basic", "dovecot", "dovecot-basic"]


class Mailbox(Protocol):
    """A test's hands on one server mailbox: change it as another client would, and
    open sessions on it as the sync does."""

    def append(
        self,
        folder: str,
        raw: bytes,
        flags: Iterable[str] = (),
        internaldate: datetime | None = None,
    ) -> int: ...
    def set_flags(self, folder: str, uid: int, flags: Sequence[str]) -> None: ...
    def expunge(self, folder: str, uid: int) -> None: ...
    def change_uidvalidity(self, folder: str) -> int: ...
    def delete_folder(self, folder: str) -> None: ...
    def session(self) -> ImapSession: ...


@dataclass
class DovecotMailbox:
    server: DovecotServer
    user: str

    def append(
        self,
        folder: str,
        raw: bytes,
        flags: Iterable[str] = (),
        internaldate: datetime | None = None,
    ) -> int:
        return self.server.append(self.user, folder, raw, flags, internaldate)

    def set_flags(self, folder: str, uid: int, flags: Sequence[str]) -> None:
        self.server.set_flags(self.user, folder, uid, flags)

    def expunge(self, folder: str, uid: int) -> None:
        self.server.expunge(self.user, folder, uid)

    def change_uidvalidity(self, folder: str) -> int:
        return self.server.change_uidvalidity(self.user, folder)

    def delete_folder(self, folder: str) -> None:
        with self.server.client(self.user) as client:
            client.delete_folder(folder)

    def session(self) -> ImapSession:
        spec = SessionSpec(
            self.server.host, self.server.port, Security.PLAIN, self.user, "secret",
            "me@example.com", None,
        )  # fmt: skip
        return spec.connect()


@dataclass
class FakeHandle:
    fake: FakeMailbox

    def append(
        self,
        folder: str,
        raw: bytes,
        flags: Iterable[str] = (),
        internaldate: datetime | None = None,
    ) -> int:
        return self.fake.append(folder, raw, flags, internaldate)

    def set_flags(self, folder: str, uid: int, flags: Sequence[str]) -> None:
        self.fake.set_flags(folder, uid, flags)

    def expunge(self, folder: str, uid: int) -> None:
        self.fake.expunge(folder, uid)

    def change_uidvalidity(self, folder: str) -> int:
        return self.fake.change_uidvalidity(folder)

    def delete_folder(self, folder: str) -> None:
        self.fake.delete_folder(folder)

    def session(self) -> ImapSession:
        return self.fake.session()


def _mailbox(kind: str, request: pytest.FixtureRequest) -> tuple[Mailbox, DovecotServer, str]:
    """The backend `kind`, and the Dovecot user the CLI connects the account to."""
    basic = kind.endswith("-basic")
    server: DovecotServer = request.getfixturevalue("dovecot_basic" if basic else "dovecot")
    user = server.add_user(f"u{uuid.uuid4().hex[:12]}")
    if kind.startswith("fake"):
        return FakeHandle(FakeMailbox(condstore=not basic, qresync=not basic)), server, user
    return DovecotMailbox(server, user), server, user


@dataclass
class Account:
    """One connected account whose passes run over the backend's sessions."""

    harness: Harness
    mailbox: Mailbox
    ref: str

    def sync(self) -> PassResult:
        settings = Settings.from_environment()
        engine = open_database(settings)
        session = self.mailbox.session()
        try:
            with reading(engine) as conn:
                account = account_store.find_account(conn, self.ref)
            return sync_account(settings, engine, account, session=session)
        finally:
            session.close()
            engine.dispose()

    def messages(self) -> list[dict[str, Any]]:
        return self.harness.messages(self.ref)

    def subjects(self) -> list[str]:
        return sorted(m["subject"] for m in self.messages())

    def folder(self, name: str) -> Folder | None:
        engine = open_database(Settings.from_environment())
        try:
            with reading(engine) as conn:
                account = account_store.find_account(conn, self.ref)
                folders = account_store.list_folders(conn, account.id)
        finally:
            engine.dispose()
        return next((f for f in folders if f.name == name), None)


@pytest.fixture(params=BACKENDS)
def account(request: pytest.FixtureRequest, sqlite_harness: Harness) -> Account:
    mailbox, server, user = _mailbox(request.param, request)
    ref = sqlite_harness.connect(server, user)
    sqlite_harness.ok("accounts", "configure", ref, "--sync-from", "3m", "--past-scope", "all")
    return Account(sqlite_harness, mailbox, ref)


# --- the state machine, case by case ---------------------------------------------------------


def test_new_mail_is_taken_once_and_later_mail_on_the_next_pass(account: Account) -> None:
    account.mailbox.append("INBOX", make_message(subject="one"), internaldate=NOW - 2 * DAYS)
    account.mailbox.append("INBOX", make_message(subject="two"), internaldate=NOW - DAYS)
    assert account.sync().new_messages == 2
    account.mailbox.append("INBOX", make_message(subject="three"), internaldate=NOW)
    result = account.sync()
    assert result.new_messages == 1
    assert account.subjects() == ["one", "three", "two"]
    assert account.sync().new_messages == 0  # nothing twice


def test_flag_changes_on_the_server_reach_the_store(account: Account) -> None:
    uid = account.mailbox.append("INBOX", make_message(subject="read me"), internaldate=NOW)
    account.sync()
    assert account.messages()[0]["flags"] == []
    account.mailbox.set_flags("INBOX", uid, ["\\Seen", "\\Flagged"])
    result = account.sync()
    assert result.folders["INBOX"].flag_updates == 1
    assert account.messages()[0]["flags"] == ["\\Flagged", "\\Seen"]


def test_an_expunged_message_leaves_the_store(account: Account) -> None:
    account.mailbox.append("INBOX", make_message(subject="keep"), internaldate=NOW)
    gone = account.mailbox.append("INBOX", make_message(subject="gone"), internaldate=NOW)
    account.sync()
    account.mailbox.expunge("INBOX", gone)
    result = account.sync()
    assert result.folders["INBOX"].removed == 1
    assert account.subjects() == ["keep"]


def test_a_uidvalidity_change_remaps_without_losing_or_doubling(account: Account) -> None:
    """RFC 3501 §2.3.1.1: UIDs of the old UIDVALIDITY mean nothing; the messages are
    found again by their keys and nothing is stored twice."""
    account.mailbox.append("INBOX", make_message(subject="a"), internaldate=NOW - DAYS)
    account.mailbox.append("INBOX", make_message(subject="b"), internaldate=NOW)
    account.sync()
    before = account.folder("INBOX")
    assert before is not None
    new_validity = account.mailbox.change_uidvalidity("INBOX")
    result = account.sync()
    after = account.folder("INBOX")
    assert after is not None and after.uidvalidity == new_validity != before.uidvalidity
    assert not after.remapping
    assert result.new_messages == 0 and result.folders["INBOX"].new_locations == 2
    assert account.subjects() == ["a", "b"]
    assert all(m["folders"] == ["INBOX"] for m in account.messages())


def test_an_empty_folder_completes_and_takes_its_first_mail_later(account: Account) -> None:
    result = account.sync()
    assert result.folders["INBOX"].completed
    inbox = account.folder("INBOX")
    assert inbox is not None and inbox.uidvalidity is not None
    assert account.messages() == []
    account.mailbox.append("INBOX", make_message(subject="first"), internaldate=NOW)
    assert account.sync().new_messages == 1
    assert account.subjects() == ["first"]


def test_a_folder_removed_on_the_server_takes_its_mail_along(account: Account) -> None:
    account.mailbox.append("Projects", make_message(subject="project"), internaldate=NOW)
    account.mailbox.append("INBOX", make_message(subject="inbox"), internaldate=NOW)
    account.harness.ok("accounts", "configure", account.ref, "--folders", "INBOX,Projects")
    account.sync()
    assert account.subjects() == ["inbox", "project"]
    account.mailbox.delete_folder("Projects")
    result = account.sync()
    assert "Projects" not in result.folder_errors
    assert account.subjects() == ["inbox"]


def test_the_window_takes_mail_since_its_start_and_nothing_older(account: Account) -> None:
    """ "Sync from 3m": SEARCH SINCE a day early (RFC 3501 §6.4.4), then INTERNALDATE
    exactly."""
    account.mailbox.append("INBOX", make_message(subject="recent"), internaldate=NOW - 10 * DAYS)
    account.mailbox.append("INBOX", make_message(subject="edge in"), internaldate=NOW - 85 * DAYS)
    account.mailbox.append("INBOX", make_message(subject="edge out"), internaldate=NOW - 95 * DAYS)
    account.mailbox.append("INBOX", make_message(subject="old"), internaldate=NOW - 200 * DAYS)
    account.sync()
    assert account.subjects() == ["edge in", "recent"]


# --- the contract: the fake answers as Dovecot does ------------------------------------------


@pytest.fixture(params=["condstore", "basic"])
def pair(request: pytest.FixtureRequest) -> Iterator[tuple[Mailbox, Mailbox]]:
    """A Dovecot mailbox and a fake one offering the same extensions."""
    basic = request.param == "basic"
    server: DovecotServer = request.getfixturevalue("dovecot_basic" if basic else "dovecot")
    real = DovecotMailbox(server, server.add_user(f"u{uuid.uuid4().hex[:12]}"))
    fake = FakeHandle(FakeMailbox(condstore=not basic, qresync=not basic))
    yield real, fake


FOLDED = (
    b"Message-ID: <folded@test.example>\r\nSubject: folded\r\n"
    b"From: Bob\r\n <bob@acme.example>\r\nTo: me@example.com,\r\n\tann@acme.example\r\n"
    b"X-Other: not asked for\r\nCc: carol@acme.example\r\n"
    b"Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n\r\nBody.\r\n"
)
LF_ONLY = make_message(subject="lf line ends").replace(b"\r\n", b"\n")
# The same bytes for both servers (make_message numbers its Message-IDs).
SEED = [
    ("INBOX", FOLDED, ("\\Seen",), NOW - 40 * DAYS),
    ("INBOX", make_message(subject="two", cc="ann@acme.example"), (), NOW - 3 * DAYS),
    ("INBOX", LF_ONLY, ("\\Flagged", "$Label1"), NOW - DAYS),
    ("INBOX", make_message(subject="four"), ("\\Answered",), NOW),
    ("Sent", make_message(subject="sent", sender="me@example.com"), (), NOW),
]
LATER = make_message(subject="five")


def _seed(mailbox: Mailbox) -> None:
    """The same mail in both, in the same order: UIDs come out alike."""
    for folder, raw, flags, moment in SEED:
        mailbox.append(folder, raw, flags, moment)


def _answers(session: ImapSession) -> dict[str, Any]:
    """What a session says to the calls the sync makes, in comparable form (UIDVALIDITY
    and MODSEQ values are the server's own choice: only their presence is compared)."""
    out: dict[str, Any] = {}
    out["folders"] = sorted((f.name, f.role) for f in session.list_folders())
    out["survey"] = sorted((f.name, f.role) for f in session.survey(["INBOX", "Sent"]))
    out["count"] = session.folder_message_count("INBOX")
    status = session.status("Sent")
    out["status"] = (status.uidnext, status.exists, status.highestmodseq is not None)
    selected = session.select("INBOX")
    out["select"] = (selected.uidnext, selected.exists, selected.highestmodseq is not None)
    out["selected"] = session.selected
    out["search"] = session.search_uids(1)
    out["search from 3"] = session.search_uids(3)
    out["search past the end"] = session.search_uids(99)
    out["search since"] = session.search_uids(1, (NOW - 5 * DAYS).date())
    out["all"] = session.all_uids()
    out["search by id"] = session.search(["HEADER", "Message-ID", "<folded@test.example>"])
    out["search by address"] = session.search(
        ["OR", "OR", "FROM", "ann@acme.example", "TO", "ann@acme.example", "CC", "ANN@acme"]
    )
    out["search grouped"] = session.search(
        ["OR", "HEADER", "Message-ID", "no-such-id", ["FROM", "bob@acme.example"]]
    )
    out["new from 2"] = session.new_messages_from(2)
    out["new past the end"] = session.new_messages_from(99)
    out["sizes"] = session.sizes_ahead([1, 2, 3, 4, 77]).result()
    out["headers"] = [
        _fetched(m) for m in session.fetch_messages([4, 1, 2, 3, 77], headers_only=True)
    ]
    out["bodies"] = [_fetched(m) for m in session.fetch_messages([1, 2, 3, 4], headers_only=False)]
    out["flags"] = [
        (c.uid, set(c.flags), c.modseq is not None) for c in session.fetch_flags([1, 3, 77])
    ]
    return out


def _fetched(m: FetchedMessage) -> tuple[object, ...]:
    return (
        m.uid,
        m.internaldate,
        set(m.flags),
        m.size,
        m.modseq is not None,
        m.raw,
        m.header_bytes,
    )


def test_the_fake_answers_the_sync_s_calls_as_dovecot_does(pair: tuple[Mailbox, Mailbox]) -> None:
    answers = []
    for mailbox in pair:
        _seed(mailbox)
        session = mailbox.session()
        try:
            answers.append(_answers(session))
        finally:
            session.close()
    real, fake = answers
    for key in real:
        assert fake[key] == real[key], key


def test_the_fake_reports_changes_since_a_modseq_as_dovecot_does(
    pair: tuple[Mailbox, Mailbox],
) -> None:
    """CHANGEDSINCE (RFC 7162 §3.1.4) names changed and appended messages; with QRESYNC,
    VANISHED (§3.2.10) names the expunged ones. Without CONDSTORE the call is refused."""
    answers: list[object] = []
    for mailbox in pair:
        _seed(mailbox)
        session = mailbox.session()
        try:
            before = session.select("INBOX").highestmodseq
            if before is None:
                with pytest.raises(EmailsyncError, match="does not support CONDSTORE"):
                    session.changes_since(1)
                answers.append(None)
                continue
            mailbox.set_flags("INBOX", 2, ["\\Seen"])
            mailbox.set_flags("INBOX", 3, ["\\Flagged", "$Label1"])  # unchanged: no change
            mailbox.expunge("INBOX", 4)
            mailbox.append("INBOX", LATER)
            after = session.select("INBOX").highestmodseq
            assert after is not None and after > before
            changes, vanished = session.changes_since(before)
            unchanged, none_vanished = session.changes_since(after)
            answers.append(
                ([(c.uid, set(c.flags)) for c in changes], vanished, unchanged, none_vanished)
            )
        finally:
            session.close()
    real, fake = answers
    assert fake == real


def test_a_missing_folder_is_reported_alike(pair: tuple[Mailbox, Mailbox]) -> None:
    """SELECT says the folder is gone (`FolderNotFoundError`: the pass records it and
    goes on); STATUS is refused plainly (the sync then SELECTs to find out)."""
    raised = []
    for mailbox in pair:
        session = mailbox.session()
        try:
            with pytest.raises(FolderNotFoundError):
                session.select("No such folder")
            assert session.selected is None
            with pytest.raises(EmailsyncError) as refused:
                session.status("No such folder")
            raised.append(type(refused.value))
        finally:
            session.close()
    assert raised[0] is raised[1]


def test_idle_wakes_on_new_mail_and_times_out_without(pair: tuple[Mailbox, Mailbox]) -> None:
    """RFC 2177: IDLE reports EXISTS when mail arrives in the selected folder."""
    for mailbox in pair:
        session = mailbox.session()
        try:
            session.select("INBOX")
            started = time.monotonic()
            assert session.idle_wait(timeout=0.5) is False
            assert time.monotonic() - started >= 0.4
            later = threading.Timer(0.3, mailbox.append, ("INBOX", LATER))
            later.start()
            try:
                assert session.idle_wait(timeout=10) is True
            finally:
                later.join()
        finally:
            session.close()


# --- what only the fake can show ---------------------------------------------------------


def test_a_line_lost_mid_folder_keeps_what_committed_and_the_next_pass_ends_it(
    sqlite_harness: Harness, dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection dies at the second body FETCH: the first batch stays committed
    with the cursor, the account says it will retry, and the next pass takes exactly
    the rest (support/fake_imap.py's drop_on; Dovecot can only be cut by the proxy)."""
    from emailsync.errors import TransientError
    from emailsync.sync import folder_sync

    monkeypatch.setattr(folder_sync, "DIRECT_BATCH", 1)
    monkeypatch.setattr(folder_sync, "COMMIT_MESSAGES", 1)
    fake = FakeMailbox()
    ref = sqlite_harness.connect(dovecot, dovecot.add_user(f"u{uuid.uuid4().hex[:12]}"))
    sqlite_harness.ok("accounts", "configure", ref, "--past-scope", "all")
    account = Account(sqlite_harness, FakeHandle(fake), ref)
    for n in range(3):
        fake.append("INBOX", make_message(subject=f"m{n}"), internaldate=NOW - n * DAYS)
    fake.drop_on("fetch_messages", 2)
    with pytest.raises(TransientError):
        account.sync()
    assert account.subjects() == ["m0"]
    status = sqlite_harness.ok("accounts", "status", ref, "--json").json()
    assert status["state"] == "retrying"  # a lost line heals by itself (retry.py)
    assert status["last_error"].startswith(f"Cannot reach {dovecot.host} since ")
    result = account.sync()
    assert result.new_messages == 2
    assert account.subjects() == ["m0", "m1", "m2"]

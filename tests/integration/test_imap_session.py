"""The IMAP edge (`emailsync.imap`) against a real Dovecot.

Each test checks one behaviour the sync relies on, citing the RFC it comes from:
RFC 3501 (IMAP4rev1), RFC 6154 (SPECIAL-USE), RFC 6851 (MOVE), RFC 7162
(CONDSTORE/QRESYNC), RFC 2177 (IDLE).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from emailsync.config import Settings
from emailsync.domain.model import FolderRole
from emailsync.errors import (
    AuthenticationError,
    EmailsyncError,
    HostUnreachableError,
    TlsError,
    TransientError,
    UsageError,
)
from emailsync.imap import FolderNotFoundError, ImapSession, connect, parse_vanished
from emailsync.store.accounts import Folder
from emailsync.sync.folder_sync import _candidates, _few_candidates
from support.dovecot import DovecotServer, free_port

EMAIL = "alice@example.com"


def message(n: int, *, subject: str = "Hello") -> bytes:
    return (
        f"Message-ID: <m{n}@example.com>\r\n"
        f"From: Bob <bob@example.com>\r\n"
        f"To: alice@example.com\r\n"
        f"Cc: carol@example.com\r\n"
        f"Subject: {subject} {n}\r\n"
        f"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
        f"\r\n"
        f"Body of message {n}.\r\n"
    ).encode()


@pytest.fixture(autouse=True)
def _no_ca_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests choose their trust explicitly."""
    monkeypatch.delenv("EMAILSYNC_CA_FILE", raising=False)


def open_session(server: DovecotServer, user: str, **kwargs: object) -> ImapSession:
    return connect(
        server.host,
        server.port,
        "plain",
        user,
        "secret",
        email=EMAIL,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
def session(dovecot: DovecotServer, imap_user: str) -> Iterator[ImapSession]:
    with open_session(dovecot, imap_user) as s:
        yield s


# -- connecting -----------------------------------------------------------------------


def test_plain_login_on_loopback(dovecot: DovecotServer, imap_user: str) -> None:
    with connect(dovecot.host, dovecot.port, "plain", imap_user, "secret", email=EMAIL) as s:
        assert s.select("INBOX").exists == 0


def test_starttls_upgrades_and_verifies_the_certificate(
    dovecot: DovecotServer, imap_user: str
) -> None:
    """RFC 3501 §6.2.1: STARTTLS, then log in over the encrypted connection."""
    with connect(
        "localhost", dovecot.port, "starttls", imap_user, "secret",
        email=EMAIL, cafile=dovecot.cafile,
    ) as s:  # fmt: skip
        assert s.select("INBOX").exists == 0


def test_implicit_tls(dovecot: DovecotServer, imap_user: str) -> None:
    with connect(
        dovecot.host, dovecot.tls_port, "ssl", imap_user, "secret",
        email=EMAIL, cafile=dovecot.cafile,
    ) as s:  # fmt: skip
        assert s.select("INBOX").exists == 0


def test_ca_file_from_settings_is_trusted(
    dovecot: DovecotServer, imap_user: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EMAILSYNC_CA_FILE reaches TLS through Settings, the one reader of the environment."""
    monkeypatch.setenv("EMAILSYNC_CA_FILE", dovecot.cafile)
    cafile = Settings.from_environment().ca_file
    with connect(
        dovecot.host, dovecot.tls_port, "ssl", imap_user, "secret", email=EMAIL, cafile=cafile
    ) as s:
        assert s.capabilities.idle


def test_plain_is_refused_for_a_remote_host() -> None:
    with pytest.raises(UsageError, match=f"unencrypted.*{EMAIL}|{EMAIL}.*unencrypted"):
        connect("imap.example.com", 143, "plain", "alice", "secret", email=EMAIL)


def test_unknown_security_mode_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="ssl, starttls or plain"):
        connect("127.0.0.1", 143, "tls", "alice", "secret", email=EMAIL)


def test_wrong_password_is_an_authentication_error(dovecot: DovecotServer, imap_user: str) -> None:
    with pytest.raises(AuthenticationError) as caught:
        connect(dovecot.host, dovecot.port, "plain", imap_user, "wrong", email=EMAIL)
    assert str(caught.value).startswith(
        f"IMAP login failed for {EMAIL}: wrong password, or the provider needs an app password"
    )


def test_closed_port_is_host_unreachable() -> None:
    port = free_port()
    with pytest.raises(HostUnreachableError) as caught:
        connect("127.0.0.1", port, "plain", "alice", "secret", email=EMAIL, timeout=5)
    assert str(caught.value) == (
        f"Cannot reach 127.0.0.1:{port} for {EMAIL}: connection refused — check the host and port"
    )


def test_untrusted_certificate_is_a_tls_error(dovecot: DovecotServer, imap_user: str) -> None:
    """Without the test CA the self-signed certificate must not be accepted."""
    with pytest.raises(
        TlsError, match=f"TLS certificate of 127.0.0.1 could not be verified for {EMAIL}"
    ):
        connect(dovecot.host, dovecot.tls_port, "ssl", imap_user, "secret", email=EMAIL)


def test_untrusted_certificate_after_starttls_is_a_tls_error(
    dovecot: DovecotServer, imap_user: str
) -> None:
    with pytest.raises(TlsError, match="could not be verified"):
        connect(dovecot.host, dovecot.port, "starttls", imap_user, "secret", email=EMAIL)


def test_ssl_against_the_plain_port_is_a_tls_error(dovecot: DovecotServer, imap_user: str) -> None:
    with pytest.raises(TlsError, match="choose STARTTLS"):
        connect(
            dovecot.host, dovecot.port, "ssl", imap_user, "secret",
            email=EMAIL, cafile=dovecot.cafile, timeout=5,
        )  # fmt: skip


# -- capabilities ---------------------------------------------------------------------


def test_condstore_and_qresync_are_enabled_when_offered(session: ImapSession) -> None:
    """RFC 7162 §3.2.3: QRESYNC must be ENABLEd before use."""
    caps = session.capabilities
    assert (caps.condstore, caps.qresync, caps.idle, caps.special_use) == (True,) * 4
    assert caps.move and caps.uidplus  # RFC 6851, RFC 4315
    assert "IMAP4REV1" in caps.raw


def test_server_without_condstore_says_so(dovecot_basic: DovecotServer) -> None:
    user = dovecot_basic.add_user("basic-caps")
    with open_session(dovecot_basic, user) as s:
        assert not s.capabilities.condstore
        assert not s.capabilities.qresync
        assert {"CONDSTORE", "QRESYNC"}.isdisjoint(s.capabilities.raw)


def test_select_without_condstore_has_no_highestmodseq(dovecot_basic: DovecotServer) -> None:
    user = dovecot_basic.add_user("basic-select")
    dovecot_basic.append(user, "INBOX", message(1))
    with open_session(dovecot_basic, user) as s:
        status = s.select("INBOX")
    assert status.highestmodseq is None
    assert status.exists == 1


def test_changes_since_needs_condstore(dovecot_basic: DovecotServer) -> None:
    user = dovecot_basic.add_user("basic-changes")
    with open_session(dovecot_basic, user) as s:
        s.select("INBOX")
        with pytest.raises(EmailsyncError, match="does not support CONDSTORE"):
            s.changes_since(1)


# -- folders --------------------------------------------------------------------------


def test_roles_come_from_special_use(session: ImapSession) -> None:
    """RFC 6154 §2: Dovecot marks its configured folders with SPECIAL-USE attributes."""
    roles = {f.name: f.role for f in session.list_folders()}
    assert roles == {
        "INBOX": FolderRole.INBOX,
        "Sent": FolderRole.SENT,
        "Drafts": FolderRole.DRAFTS,
        "Trash": FolderRole.TRASH,
        "Junk": FolderRole.JUNK,
        "Archive": FolderRole.ARCHIVE,
    }


def test_user_folders_and_numeric_names_are_listed(
    dovecot: DovecotServer, imap_user: str, session: ImapSession
) -> None:
    dovecot.append(imap_user, "Customers/ACME", message(1))
    dovecot.append(imap_user, "2024", message(2))
    folders = {f.name: f for f in session.list_folders()}
    assert folders["Customers/ACME"].role is FolderRole.NONE
    assert "2024" in folders


def test_noselect_folders_are_skipped(
    dovecot: DovecotServer, imap_user: str, session: ImapSession
) -> None:
    """RFC 3501 §7.2.2: a \\Noselect parent (Maildir++ makes one for "Parent/Child")
    cannot be opened, so it is not offered for sync."""
    dovecot.append(imap_user, "Parent/Child", message(1))
    with dovecot.client(imap_user) as c:
        raw = {name: flags for flags, _, name in c.list_folders()}
    assert b"\\Noselect" in raw["Parent"]
    names = {f.name for f in session.list_folders()}
    assert "Parent/Child" in names
    assert "Parent" not in names


def test_folder_message_count(dovecot: DovecotServer, imap_user: str, session: ImapSession) -> None:
    for n in range(3):
        dovecot.append(imap_user, "Sent", message(n))
    assert session.folder_message_count("Sent") == 3


def test_select_reports_uidvalidity_uidnext_exists_and_modseq(
    dovecot: DovecotServer, imap_user: str, session: ImapSession
) -> None:
    """RFC 3501 §6.3.1, RFC 7162 §3.1.2.1."""
    uids = [dovecot.append(imap_user, "INBOX", message(n)) for n in range(2)]
    status = session.select("INBOX")
    assert status.exists == 2
    assert status.uidnext == uids[-1] + 1
    assert status.uidvalidity > 0
    assert status.highestmodseq is not None and status.highestmodseq > 0


@pytest.mark.parametrize("server_name", ["dovecot", "dovecot_basic"])
def test_selecting_the_open_folder_again_sees_what_arrived_meanwhile(
    request: pytest.FixtureRequest, server_name: str
) -> None:
    """The worker's pass re-opens the Inbox it IDLEd on by STATUS + NOOP, not SELECT:
    the values must be those a SELECT would report, and the new mail visible."""
    server: DovecotServer = request.getfixturevalue(server_name)
    user = server.add_user(f"refresh{server_name}")
    server.append(user, "INBOX", message(1))
    with open_session(server, user) as session:
        session.select("INBOX")
        session.fetch_flags([1])
        new_uid = server.append(user, "INBOX", message(2))
        refreshed = session.select("INBOX")
        assert session.search_uids(1) == [1, new_uid]
        assert [m.uid for m in session.fetch_messages([new_uid], headers_only=True)] == [new_uid]
        session.select("Sent")
        reopened = session.select("INBOX")  # a real SELECT again
    assert refreshed == reopened
    assert refreshed.exists == 2 and refreshed.uidnext == new_uid + 1


def test_selecting_a_missing_folder_is_folder_not_found(session: ImapSession) -> None:
    with pytest.raises(FolderNotFoundError, match=EMAIL):
        session.select("Nope")


def test_changed_uidvalidity_is_visible_on_select(
    dovecot: DovecotServer, imap_user: str, session: ImapSession
) -> None:
    """RFC 3501 §2.3.1.1: a new UIDVALIDITY means every cached UID is void."""
    dovecot.append(imap_user, "INBOX", message(1))
    before = session.select("INBOX").uidvalidity
    new = dovecot.change_uidvalidity(imap_user, "INBOX")
    session.select("Sent")
    after = session.select("INBOX").uidvalidity
    assert after == new != before


# -- searching --------------------------------------------------------------------------


def test_search_uids_from_a_minimum(
    dovecot: DovecotServer, imap_user: str, session: ImapSession
) -> None:
    uids = [dovecot.append(imap_user, "INBOX", message(n)) for n in range(4)]
    session.select("INBOX")
    assert session.search_uids(uids[2]) == uids[2:]
    assert session.search_uids(0) == uids


def test_search_above_the_highest_uid_is_empty(
    dovecot: DovecotServer, imap_user: str, session: ImapSession
) -> None:
    """RFC 3501 §6.4.8: "n:*" still matches the highest UID when it is below n."""
    uid = dovecot.append(imap_user, "INBOX", message(1))
    session.select("INBOX")
    assert session.search_uids(uid + 1) == []


def test_search_since_uses_the_internal_date(
    dovecot: DovecotServer, imap_user: str, session: ImapSession
) -> None:
    """RFC 3501 §6.4.4: SINCE compares the INTERNALDATE, whatever the Date header says."""
    now = datetime.now(UTC)
    dovecot.append(imap_user, "INBOX", message(1), internaldate=now - timedelta(days=400))
    recent = dovecot.append(imap_user, "INBOX", message(2), internaldate=now)
    session.select("INBOX")
    assert session.search_uids(1, since=date.today() - timedelta(days=30)) == [recent]


def test_all_uids(dovecot: DovecotServer, imap_user: str, session: ImapSession) -> None:
    uids = [dovecot.append(imap_user, "INBOX", message(n)) for n in range(3)]
    dovecot.expunge(imap_user, "INBOX", uids[1])
    session.select("INBOX")
    assert session.all_uids() == [uids[0], uids[2]]


# -- fetching ---------------------------------------------------------------------------


def test_fetch_full_message_returns_the_exact_bytes(
    dovecot: DovecotServer, imap_user: str, session: ImapSession
) -> None:
    raw = message(1)
    uid = dovecot.append(imap_user, "INBOX", raw, flags=["\\Flagged"])
    session.select("INBOX")
    [fetched] = session.fetch_messages([uid], headers_only=False)
    assert fetched.uid == uid
    assert fetched.raw == raw
    assert fetched.header_bytes is None
    assert fetched.size == len(raw)
    assert fetched.flags == ("\\Flagged",)
    assert fetched.modseq is not None


def test_fetch_headers_only_returns_just_the_address_headers(
    dovecot: DovecotServer, imap_user: str, session: ImapSession
) -> None:
    uid = dovecot.append(imap_user, "INBOX", message(1))
    session.select("INBOX")
    [fetched] = session.fetch_messages([uid], headers_only=True)
    assert fetched.raw is None
    assert fetched.header_bytes is not None
    assert b"Message-ID: <m1@example.com>" in fetched.header_bytes
    assert b"Cc: carol@example.com" in fetched.header_bytes
    assert b"Subject:" in fetched.header_bytes  # with Date: a fingerprint's head
    assert b"Body" not in fetched.header_bytes


def test_fetching_does_not_mark_messages_read(
    dovecot: DovecotServer, imap_user: str, session: ImapSession
) -> None:
    """RFC 3501 §6.4.5: BODY.PEEK[] does not set \\Seen (and EXAMINE forbids it anyway)."""
    uid = dovecot.append(imap_user, "INBOX", message(1))
    session.select("INBOX")
    session.fetch_messages([uid], headers_only=False)
    with dovecot.client(imap_user) as c:
        c.select_folder("INBOX")
        assert b"\\Seen" not in c.get_flags([uid])[uid]


def test_internaldate_is_aware_utc(
    dovecot: DovecotServer, imap_user: str, session: ImapSession
) -> None:
    when = datetime(2024, 3, 5, 14, 30, 0, tzinfo=UTC)
    uid = dovecot.append(imap_user, "INBOX", message(1), internaldate=when)
    session.select("INBOX")
    [fetched] = session.fetch_messages([uid], headers_only=True)
    assert fetched.internaldate == when
    assert fetched.internaldate.utcoffset() == timedelta(0)


def test_fetch_skips_uids_the_server_no_longer_has_and_sorts(
    dovecot: DovecotServer, imap_user: str, session: ImapSession
) -> None:
    uids = [dovecot.append(imap_user, "INBOX", message(n)) for n in range(3)]
    dovecot.expunge(imap_user, "INBOX", uids[1])
    session.select("INBOX")
    fetched = session.fetch_messages([uids[2], uids[1], uids[0], 999], headers_only=True)
    assert [m.uid for m in fetched] == [uids[0], uids[2]]


def test_fetch_flags(dovecot: DovecotServer, imap_user: str, session: ImapSession) -> None:
    a = dovecot.append(imap_user, "INBOX", message(1), flags=["\\Seen"])
    b = dovecot.append(imap_user, "INBOX", message(2))
    session.select("INBOX")
    changes = session.fetch_flags([b, a])
    assert [(c.uid, c.flags) for c in changes] == [(a, ("\\Seen",)), (b, ())]
    assert all(c.modseq for c in changes)


def test_recent_flag_is_not_reported(
    dovecot: DovecotServer, imap_user: str, session: ImapSession
) -> None:
    """\\Recent is per-session (RFC 3501 §2.3.2) and gone in IMAP4rev2: not a real flag."""
    uid = dovecot.append(imap_user, "INBOX", message(1))
    session.select("INBOX")
    assert session.fetch_flags([uid])[0].flags == ()


def test_bytes_received_counts_what_the_server_sent(
    dovecot: DovecotServer, imap_user: str, session: ImapSession
) -> None:
    uid = dovecot.append(imap_user, "INBOX", message(1) + b"x" * 5000)
    session.select("INBOX")
    before = session.bytes_received
    session.fetch_messages([uid], headers_only=False)
    assert session.bytes_received - before > 5000


def test_fetch_uses_the_fast_parser_and_agrees_with_imapclient(
    dovecot: DovecotServer,
    imap_user: str,
    session: ImapSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Dovecot's real FETCH responses take the fast path, and the messages are the same
    as with imapclient's parser."""
    from imapclient.response_parser import parse_fetch_response

    import emailsync.imap.session as session_module
    from emailsync.imap import fetch_parser

    when = datetime(2023, 11, 5, 23, 59, 59, tzinfo=UTC)
    flag_sets = [["\\Seen", "$Forwarded", "NonJunk"], [], ["\\Flagged", "\\Answered"]]
    uids = [
        dovecot.append(
            imap_user, "INBOX", message(n) + b"x" * (n * 3000), flags=f, internaldate=when
        )
        for n, f in enumerate(flag_sets)
    ]
    uids.append(dovecot.append(imap_user, "INBOX", b"Subject: no addresses\r\n\r\n"))
    session.select("INBOX")
    fast_batches: list[bool] = []

    def checked(data: list[object]) -> object:
        fast = fetch_parser.parse_fetch_fast(data)
        fast_batches.append(fast is not None)
        assert fast == dict(parse_fetch_response(data, False, True))
        return fetch_parser.parse_fetch(data)

    monkeypatch.setattr(session_module, "parse_fetch", checked)
    results = {h: session.fetch_messages(uids, headers_only=h) for h in (True, False)}
    assert fast_batches == [True, True]
    monkeypatch.setattr(session_module, "parse_fetch", fetch_parser.parse_fetch)
    monkeypatch.setattr(fetch_parser, "parse_fetch_fast", lambda data: None)  # imapclient only
    for headers_only, fetched in results.items():
        assert session.fetch_messages(uids, headers_only=headers_only) == fetched
    full = results[False]
    assert [m.uid for m in full] == uids
    assert full[0].flags == ("\\Seen", "$Forwarded", "NonJunk")
    assert full[2].raw == message(2) + b"x" * 6000
    assert full[0].internaldate == when
    assert full[3].raw == b"Subject: no addresses\r\n\r\n"
    assert results[True][3].header_bytes == b"Subject: no addresses\r\n\r\n"


def test_fetch_after_another_client_expunged_keeps_the_session_usable(
    dovecot: DovecotServer, imap_user: str, session: ImapSession
) -> None:
    """Untagged EXPUNGE arriving with the FETCH is left to imaplib as before."""
    uids = [dovecot.append(imap_user, "INBOX", message(n)) for n in range(3)]
    session.select("INBOX")
    dovecot.expunge(imap_user, "INBOX", uids[1])
    fetched = session.fetch_messages(uids, headers_only=False)
    assert [m.uid for m in fetched] in ([uids[0], uids[2]], uids)
    assert session.search_uids(1) == [uids[0], uids[2]]
    assert [m.uid for m in session.fetch_messages(uids, headers_only=True)] == [
        uids[0],
        uids[2],
    ]


# -- changes ----------------------------------------------------------------------------


def test_changes_since_reports_flag_changes_and_vanished_uids(
    dovecot: DovecotServer, imap_user: str, session: ImapSession
) -> None:
    """RFC 7162 §3.2.6: CHANGEDSINCE with VANISHED returns changed flags and, as
    VANISHED (EARLIER), the UIDs expunged since that mod-sequence."""
    uids = [dovecot.append(imap_user, "INBOX", message(n)) for n in range(4)]
    modseq = session.select("INBOX").highestmodseq
    assert modseq is not None
    dovecot.set_flags(imap_user, "INBOX", uids[0], ["\\Seen", "\\Flagged"])
    dovecot.expunge(imap_user, "INBOX", uids[1])
    dovecot.expunge(imap_user, "INBOX", uids[2])

    session.select("Sent")  # reopen, as a later sync run would
    session.select("INBOX")
    changes, vanished = session.changes_since(modseq)

    assert [(c.uid, set(c.flags)) for c in changes] == [(uids[0], {"\\Seen", "\\Flagged"})]
    assert changes[0].modseq is not None and changes[0].modseq > modseq
    assert vanished == [uids[1], uids[2]]


def test_changes_since_the_current_modseq_is_empty(
    dovecot: DovecotServer, imap_user: str, session: ImapSession
) -> None:
    dovecot.append(imap_user, "INBOX", message(1))
    modseq = session.select("INBOX").highestmodseq
    assert modseq is not None
    assert session.changes_since(modseq) == ([], [])


def test_changes_since_on_an_empty_folder(session: ImapSession) -> None:
    session.select("Trash")
    assert session.changes_since(1) == ([], [])


def test_changes_since_with_condstore_only_leaves_vanished_unknown(
    dovecot: DovecotServer, imap_user: str
) -> None:
    """RFC 7162 §3.1: CONDSTORE alone reports flag changes but not expunges (as Gmail)."""
    uids = [dovecot.append(imap_user, "INBOX", message(n)) for n in range(2)]
    with open_session(dovecot, imap_user, use_qresync=False) as s:
        assert s.capabilities.condstore and not s.capabilities.qresync
        modseq = s.select("INBOX").highestmodseq
        assert modseq is not None
        dovecot.set_flags(imap_user, "INBOX", uids[1], ["\\Answered"])
        dovecot.expunge(imap_user, "INBOX", uids[0])
        changes, vanished = s.changes_since(modseq)
    assert [(c.uid, c.flags) for c in changes] == [(uids[1], ("\\Answered",))]
    assert vanished is None


def test_parse_vanished_expands_ranges() -> None:
    """RFC 7162 §3.2.10: VANISHED (EARLIER) carries a UID set."""
    assert parse_vanished(b"(EARLIER) 1:3,7") == [1, 2, 3, 7]
    assert parse_vanished(b"9:8,2") == [2, 8, 9]


# -- IDLE and failures ------------------------------------------------------------------


def test_idle_wait_times_out_without_changes(session: ImapSession) -> None:
    session.select("INBOX")
    assert session.idle_wait(0.3) is False


def test_idle_wait_wakes_on_new_mail(
    dovecot: DovecotServer, imap_user: str, session: ImapSession
) -> None:
    """RFC 2177 §3: the server reports EXISTS while the client idles."""
    session.select("INBOX")
    timer = threading.Timer(0.3, dovecot.append, (imap_user, "INBOX", message(1)))
    timer.start()
    try:
        assert session.idle_wait(10) is True
    finally:
        timer.join()
    assert session.all_uids() != []  # the session is usable after IDLE


def test_dropped_connection_is_transient(session: ImapSession) -> None:
    session.select("INBOX")
    session._client._imap.sock.shutdown(socket.SHUT_RDWR)
    with pytest.raises(TransientError, match=f"Lost the IMAP connection to .* for {EMAIL}"):
        session.all_uids()
    with pytest.raises(TransientError, match="reconnect"):
        session.select("INBOX")


def test_sizes_asked_ahead_are_read_when_needed_and_never_mix_with_other_answers(
    dovecot: DovecotServer, imap_user: str, session: ImapSession
) -> None:
    raws = [message(n) + b"x" * n for n in range(1, 6)]
    uids = [dovecot.append(imap_user, "INBOX", raw) for raw in raws]
    session.select("INBOX")
    first = session.sizes_ahead(uids[:3])
    # another command before the answer was read: it reads that answer first
    fetched = session.fetch_messages(uids[3:], headers_only=False)
    assert [m.raw for m in fetched] == raws[3:]
    assert first.result() == {uid: len(raw) for uid, raw in zip(uids[:3], raws, strict=False)}
    second = session.sizes_ahead([*uids[3:], 999])  # 999: no such UID, left out
    assert second.result() == {uids[3]: len(raws[3]), uids[4]: len(raws[4])}
    assert second.result() is second.result()  # read once
    session.select("INBOX")  # the session is in step: the next command works


def test_a_connection_lost_before_sizes_asked_ahead_arrive_is_transient(
    dovecot: DovecotServer, imap_user: str, session: ImapSession
) -> None:
    uid = dovecot.append(imap_user, "INBOX", message(1))
    session.select("INBOX")
    ahead = session.sizes_ahead([uid])

    class Reset:
        def readline(self, limit: int = -1) -> bytes:
            raise ConnectionResetError("connection reset by peer")

        read = readline

    assert session._reader is not None
    session._reader.inner = Reset()  # type: ignore[assignment]  # the socket drops here
    with pytest.raises(TransientError, match=r"alice@example\.com"):
        ahead.result()
    with pytest.raises(TransientError):
        session.fetch_messages([uid], headers_only=False)


# -- survey: LIST and STATUS in one flight ----------------------------------------------


def _status_elsewhere(server: DovecotServer, user: str, name: str) -> object:
    with open_session(server, user) as other:
        return other.status(name)


def test_survey_lists_folders_and_keeps_each_status_for_the_pass(
    dovecot: DovecotServer, imap_user: str, session: ImapSession
) -> None:
    """RFC 3501 §5.5: the commands go out together; the answers are those the one-by-one
    commands give, and a status asked for right after costs no command."""
    dovecot.append(imap_user, "Sent", message(1))
    dovecot.append(imap_user, "Kundenbriefe/Grüße", message(2))  # modified UTF-7 name
    names = ["INBOX", "Sent", "Kundenbriefe/Grüße"]
    folders = session.survey(names)
    assert folders == session.list_folders()
    received = session.bytes_received
    statuses = {name: session.status(name) for name in names}
    assert session.bytes_received == received  # answered from the survey
    assert statuses == {name: _status_elsewhere(dovecot, imap_user, name) for name in names}
    session.status("Sent")  # used once: asked again now
    assert session.bytes_received > received


def test_a_surveyed_status_older_than_the_limit_is_asked_again(
    dovecot: DovecotServer,
    imap_user: str,
    session: ImapSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    session.survey(["Sent"])
    uid = dovecot.append(imap_user, "Sent", message(1))
    monkeypatch.setattr("emailsync.imap.session.STATUS_FRESH_SECONDS", 0.0)
    assert session.status("Sent").uidnext == uid + 1


def test_a_surveyed_folder_that_is_gone_reports_it_when_asked(session: ImapSession) -> None:
    folders = session.survey(["INBOX", "Gone"])
    assert "INBOX" in {f.name for f in folders}
    with pytest.raises(EmailsyncError, match="Gone"):
        session.status("Gone")


def test_survey_leaves_the_open_folder_to_select(
    dovecot: DovecotServer, imap_user: str, session: ImapSession
) -> None:
    """The worker's folder (open for IDLE) is refreshed by NOOP, then STATUS, one after
    the other: Dovecot runs pipelined commands side by side, and a STATUS sent behind a
    NOOP in one flight reported the mailbox without the mail the NOOP found."""
    dovecot.append(imap_user, "INBOX", message(1))
    session.select("INBOX")
    new_uid = dovecot.append(imap_user, "INBOX", message(2))
    session.survey(["INBOX", "Sent"])
    refreshed = session.select("INBOX")
    assert refreshed.exists == 2 and refreshed.uidnext == new_uid + 1
    assert session.search_uids(1) == [1, new_uid]


def test_right_after_idle_the_survey_asks_about_the_open_folder_too(
    dovecot: DovecotServer, imap_user: str, session: ImapSession
) -> None:
    """IDLE's DONE leaves the session's view up to date (RFC 2177): the worker's pass
    after new mail gets the Inbox's STATUS in the same flight, no NOOP round trip."""
    dovecot.append(imap_user, "INBOX", message(1))
    session.select("INBOX")
    timer = threading.Timer(0.3, lambda: dovecot.append(imap_user, "INBOX", message(2)))
    timer.start()
    try:
        assert session.idle_wait(timeout=10)
    finally:
        timer.join()
    session.survey(["INBOX", "Sent"])
    received = session.bytes_received
    refreshed = session.select("INBOX")
    assert session.bytes_received == received  # answered by the survey
    assert refreshed.exists == 2
    assert refreshed == _status_elsewhere(dovecot, imap_user, "INBOX")
    assert len(session.search_uids(1)) == 2


def test_after_another_command_the_survey_leaves_the_open_folder_to_select(
    session: ImapSession,
) -> None:
    session.select("INBOX")
    session.idle_wait(timeout=0.1)
    session.status("Sent")  # the view is no longer known to be the one DONE left
    session.survey(["INBOX"])
    received = session.bytes_received
    session.select("INBOX")
    assert session.bytes_received > received  # NOOP and STATUS, one after the other


# -- the few new messages of a folder synced before -------------------------------------


def test_new_messages_from_gives_sizes_and_dates_in_one_fetch(
    dovecot: DovecotServer, imap_user: str, session: ImapSession
) -> None:
    """RFC 3501 §6.4.8: `n:*` names the highest UID even when it is below n; only UIDs
    from n up come back."""
    when = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    uids = [dovecot.append(imap_user, "INBOX", message(n), internaldate=when) for n in range(3)]
    session.select("INBOX")
    found = session.new_messages_from(uids[1])
    assert sorted(found) == uids[1:]
    assert {size for size, _ in found.values()} == {len(message(1))}
    assert {arrived for _, arrived in found.values()} == {when}
    assert session.new_messages_from(uids[-1] + 1) == {}


def test_few_new_messages_skip_those_from_before_the_window(
    dovecot: DovecotServer, imap_user: str, session: ImapSession
) -> None:
    """A message moved in from an old archive keeps its old INTERNALDATE: it is not a
    candidate, as SEARCH SINCE would not have named it, and its body is not fetched."""
    now = datetime.now(UTC)
    first = dovecot.append(imap_user, "INBOX", message(1), internaldate=now - timedelta(days=3))
    new = dovecot.append(imap_user, "INBOX", message(2), internaldate=now)
    dovecot.append(imap_user, "INBOX", message(3), internaldate=now - timedelta(days=400))
    session.select("INBOX")
    folder = Folder(
        id=1, account_id=1, name="INBOX", role=FolderRole.INBOX, server_messages=1,
        uidvalidity=1, uid_cursor=first, uidnext=first + 1, highestmodseq=None,
        window_start=now - timedelta(days=90), remapping=False, last_sync_at=None,
        last_error=None,
    )  # fmt: skip
    candidates, sizes = _few_candidates(session, folder)
    assert candidates == _candidates(session, folder) == [new]
    assert sizes[new] == len(message(2))

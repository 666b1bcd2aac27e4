"""An in-memory IMAP mailbox that answers `emailsync.imap.protocol.ImapSession`'s calls.

Beside the real Dovecot, never instead of it: tests/integration/
test_folder_sync_contract.py runs the folder-sync cases against both, and checks that
the two answer the same calls alike. The fake exists for what Dovecot cannot show:
servers with other extensions (Gmail's X-GM-EXT-1 next), failures at a chosen call,
and mailboxes too big to seed through APPEND.

The model follows RFC 3501 and RFC 7162 as Dovecot implements them:
- a folder has a UIDVALIDITY, a UIDNEXT that only grows, and a HIGHESTMODSEQ that every
  change raises (an APPEND, a flag change, an expunge); a message keeps the MODSEQ of
  its last change, an expunged UID the MODSEQ of its expunge (for VANISHED);
- INTERNALDATE is kept to the second, as an IMAP date-time carries it (RFC 3501 §9);
- bytes are kept with CRLF line ends, as Dovecot hands them out whatever was
  appended, so RFC822.SIZE is the length of what BODY[] returns;
- SEARCH SINCE compares the INTERNALDATE's day in this machine's zone, as Dovecot does
  for maildir, which keeps no zone (RFC 3501 §6.4.4 leaves the zone to the server);
- \\Recent is never reported (the real session drops it too);
- folders are those Dovecot's test configuration creates: INBOX, Sent, Drafts, Trash,
  Junk and Archive with their SPECIAL-USE attributes (RFC 6154).

Where Gmail (X-GM-EXT-1) goes when it is built: the capability in
`FakeMailbox.capabilities.raw`, the per-message X-GM-LABELS/X-GM-THRID/X-GM-MSGID in
`StoredMessage.gm_*` (one message object shared by the folders of its labels, "[Gmail]/All
Mail" holding them all), and their FETCH items beside `fetch_messages` once the protocol
asks for them. Nothing of it is answered yet.

The session is always up to date with its mailbox (a real one sees changes only after
NOOP/IDLE/SELECT): what the sync can tell apart is unaffected, since `select()` and
`status()` refresh the real session's view too.
"""

from __future__ import annotations

import email
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from emailsync.domain.model import (
    Capabilities,
    FetchedMessage,
    FlagChange,
    FolderStatus,
    ServerFolder,
)
from emailsync.errors import EmailsyncError, TransientError
from emailsync.imap.folders import role_for
from emailsync.imap.session import HEADER_FIELDS, FolderNotFoundError

DELIMITER = "/"
# Dovecot's folders in tests/support/dovecot.py, with their RFC 6154 attributes.
STANDARD_FOLDERS: dict[str, tuple[str, ...]] = {
    "INBOX": (),
    "Sent": ("\\Sent",),
    "Drafts": ("\\Drafts",),
    "Trash": ("\\Trash",),
    "Junk": ("\\Junk",),
    "Archive": ("\\Archive",),
}
_ADDRESS_HEADERS = frozenset(HEADER_FIELDS.lower().split())
_HEADER_LINE = re.compile(rb"([^\s:]+)[ \t]*:")


@dataclass(slots=True)
class StoredMessage:
    """One message in one folder, as the server holds it."""

    uid: int
    raw: bytes  # CRLF line ends
    internaldate: datetime  # aware UTC, whole seconds
    flags: set[str]
    modseq: int
    # Gmail (X-GM-EXT-1) goes here when the fake learns it: X-GM-LABELS, X-GM-THRID and
    # X-GM-MSGID are per message and shared by its copies in every label's folder.
    gm_labels: set[str] = field(default_factory=set)
    gm_thread_id: int | None = None
    gm_message_id: int | None = None

    @property
    def size(self) -> int:
        return len(self.raw)


@dataclass(slots=True)
class FakeFolder:
    """A folder: its messages by UID and the counters that describe them."""

    name: str
    uidvalidity: int
    attributes: tuple[str, ...] = ()
    uidnext: int = 1
    highestmodseq: int = 1  # Dovecot's value for a folder that never changed
    messages: dict[int, StoredMessage] = field(default_factory=dict)
    expunged: dict[int, int] = field(default_factory=dict)  # UID → MODSEQ of its expunge

    def status(self, condstore: bool) -> FolderStatus:
        return FolderStatus(
            uidvalidity=self.uidvalidity,
            uidnext=self.uidnext,
            exists=len(self.messages),
            highestmodseq=self.highestmodseq if condstore else None,
        )

    def next_modseq(self) -> int:
        self.highestmodseq += 1
        return self.highestmodseq


class FakeMailbox:
    """The server side of one account: tests seed and change it, sessions read it.

    `condstore`/`qresync` say what the server offers (RFC 7162); without CONDSTORE no
    MODSEQ is reported, as by a server that never heard of it."""

    def __init__(
        self,
        *,
        email: str = "me@example.com",
        host: str = "fake.imap.example",
        condstore: bool = True,
        qresync: bool = True,
        idle: bool = True,
    ) -> None:
        self.email = email
        self.host = host
        self.capabilities = Capabilities(
            condstore=condstore,
            qresync=qresync and condstore,
            idle=idle,
            special_use=True,
            move=True,
            uidplus=True,
            raw=frozenset(
                {"IMAP4REV1", "SPECIAL-USE", "UIDPLUS", "MOVE"}
                | ({"IDLE"} if idle else set())
                | ({"CONDSTORE"} if condstore else set())
                | ({"QRESYNC"} if qresync and condstore else set())
            ),
        )
        self.folders: dict[str, FakeFolder] = {}
        self.calls: list[str] = []  # every session call by name, in order (for tests)
        self._drops: dict[str, int] = {}  # call name → which call of it loses the line
        self._changed = threading.Condition()
        self._version = 0  # raised by every change: what IDLE waits for
        self._next_uidvalidity = int(time.time())
        for name, attributes in STANDARD_FOLDERS.items():
            self.create_folder(name, attributes)

    # -- changing the mailbox, as another client or the server would ------------------

    def create_folder(self, name: str, attributes: tuple[str, ...] = ()) -> FakeFolder:
        if name in self.folders:
            raise ValueError(f"folder {name!r} exists already")
        self._next_uidvalidity += 1
        folder = FakeFolder(name, self._next_uidvalidity, attributes)
        self.folders[name] = folder
        self._touch()
        return folder

    def delete_folder(self, name: str) -> None:
        del self.folders[name]
        self._touch()

    def append(
        self,
        folder: str,
        raw: bytes,
        flags: Iterable[str] = (),
        internaldate: datetime | None = None,
    ) -> int:
        """APPEND (creating the folder if missing, as support.dovecot does); the UID."""
        box = self.folders.get(folder) or self.create_folder(folder)
        moment = (internaldate or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
        uid = box.uidnext
        box.uidnext += 1
        box.messages[uid] = StoredMessage(
            uid=uid,
            raw=_crlf(raw),
            internaldate=moment,
            flags={f for f in flags if f.casefold() != "\\recent"},
            modseq=box.next_modseq(),
        )
        self._touch()
        return uid

    def set_flags(self, folder: str, uid: int, flags: Sequence[str]) -> None:
        """STORE FLAGS: replace a message's flags (a no-op change leaves MODSEQ alone,
        RFC 7162 §3.1.3)."""
        box = self.folders[folder]
        message = box.messages[uid]
        wanted = set(flags)
        if wanted != message.flags:
            message.flags = wanted
            message.modseq = box.next_modseq()
            self._touch()

    def expunge(self, folder: str, uid: int) -> None:
        box = self.folders[folder]
        del box.messages[uid]
        box.expunged[uid] = box.next_modseq()
        self._touch()

    def change_uidvalidity(self, folder: str, *, renumber: bool = False) -> int:
        """A new UIDVALIDITY, as after a server restore. Like `doveadm mailbox update
        --uid-validity` the UIDs stay; `renumber` gives the messages new ones from 1,
        as a migration to another server does."""
        box = self.folders[folder]
        box.uidvalidity += 1000
        if renumber:
            old = sorted(box.messages.values(), key=lambda m: m.uid)
            box.messages = {}
            box.expunged = {}
            for uid, message in enumerate(old, 1):
                message.uid = uid
                box.messages[uid] = message
            box.uidnext = len(old) + 1
        self._touch()
        return box.uidvalidity

    def session(self) -> FakeImapSession:
        """A logged-in session on this mailbox."""
        return FakeImapSession(self)

    def drop_on(self, call: str, nth: int = 1) -> None:
        """Lose the connection at the `nth` `call` (e.g. "fetch_messages") from now on,
        counted over all sessions: that call and every later one of its session raise
        `TransientError`, as a socket dying mid-pass does."""
        self._drops[call] = self.calls.count(call) + nth

    def _dropping(self, call: str) -> bool:
        if self._drops.get(call) == self.calls.count(call):
            del self._drops[call]
            return True
        return False

    # -- IDLE -------------------------------------------------------------------------

    def _touch(self) -> None:
        with self._changed:
            self._version += 1
            self._changed.notify_all()

    def version(self) -> int:
        return self._version

    def wait_for_change(self, since: int, timeout: float, stop: Callable[[], bool] | None) -> bool:
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._version == since:
                left = deadline - time.monotonic()
                if left <= 0 or (stop is not None and stop()):
                    return False
                self._changed.wait(min(left, 0.1))
            return True


class FakeImapSession:
    """A session on a `FakeMailbox`, answering as `emailsync.imap.session.ImapSession`.

    `drop()` (or the mailbox's `drop_on`) makes it behave like a session whose
    connection died: every later call raises `TransientError`, as the real one does
    after a lost socket."""

    def __init__(self, mailbox: FakeMailbox) -> None:
        self.mailbox = mailbox
        self.email = mailbox.email
        self.host = mailbox.host
        self.capabilities = mailbox.capabilities
        self.selected: str | None = None
        self._broken = False
        self._seen_version = mailbox.version()

    def drop(self) -> None:
        self._broken = True

    def _call(self, name: str) -> None:
        self.mailbox.calls.append(name)
        if not self._broken and self.mailbox._dropping(name):
            self._broken = True
            raise TransientError(
                f"Lost the IMAP connection to {self.host} for {self.email} while {name}: "
                "connection reset — will retry"
            )
        if self._broken:
            raise TransientError(
                f"The IMAP connection to {self.host} for {self.email} was lost earlier; "
                "reconnect and retry"
            )

    def _folder(self, name: str, doing: str) -> FakeFolder:
        box = self.mailbox.folders.get(name)
        if box is None:
            raise FolderNotFoundError(
                f"{self.host} says the folder is gone while {doing} for {self.email}: it "
                "was deleted or renamed; the next folder list will pick that up"
            )
        return box

    def _open(self) -> FakeFolder:
        if self.selected is None:
            raise EmailsyncError(f"{self.host} refused a command for {self.email}: no folder open")
        return self._folder(self.selected, f"reading {self.selected!r}")

    def close(self) -> None:
        self.mailbox.calls.append("close")
        self._broken = True

    def __enter__(self) -> FakeImapSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- folders ----------------------------------------------------------------------

    def list_folders(self) -> list[ServerFolder]:
        self._call("list_folders")
        folders = []
        for box in self.mailbox.folders.values():
            flags = ("\\HasNoChildren", *box.attributes)
            folders.append(ServerFolder(box.name, role_for(box.name, flags, DELIMITER), flags))
        return folders

    def survey(self, names: Sequence[str]) -> list[ServerFolder]:
        self._call("survey")
        return self.list_folders()

    def folder_message_count(self, name: str) -> int:
        self._call("folder_message_count")
        return len(self._folder(name, f"asking how many messages {name!r} holds").messages)

    def select(self, name: str) -> FolderStatus:
        self._call("select")
        self.selected = None
        box = self._folder(name, f"opening folder {name!r}")
        self.selected = name
        self._seen_version = self.mailbox.version()
        return box.status(self.capabilities.condstore)

    def status(self, name: str) -> FolderStatus:
        """STATUS; a missing folder is refused with a plain NO (Dovecot sends no
        [NONEXISTENT] there), so this is an `EmailsyncError`, not `FolderNotFoundError`."""
        self._call("status")
        box = self.mailbox.folders.get(name)
        if box is None:
            raise EmailsyncError(
                f"{self.host} refused asking for the status of folder {name!r} for "
                f"{self.email}: Mailbox doesn't exist: {name}"
            )
        return box.status(self.capabilities.condstore)

    # -- searching --------------------------------------------------------------------

    def search_uids(self, min_uid: int, since: date | None = None) -> list[int]:
        self._call("search_uids")
        box = self._open()
        return sorted(
            uid
            for uid, m in box.messages.items()
            if uid >= max(min_uid, 1)
            and (since is None or m.internaldate.astimezone().date() >= since)
        )

    def search(self, criteria: Sequence[Any]) -> list[int]:
        """The subset of SEARCH that `messages why-not` sends: HEADER, FROM, TO, CC, OR and
        parenthesised groups, matched as Dovecot does (case-insensitive substring of the
        header's value)."""
        self._call("search")
        box = self._open()
        return sorted(uid for uid, m in box.messages.items() if _matches(m.raw, list(criteria)))

    def new_messages_from(self, min_uid: int) -> dict[int, tuple[int, datetime]]:
        self._call("new_messages_from")
        box = self._open()
        return {
            uid: (m.size, m.internaldate)
            for uid, m in sorted(box.messages.items())
            if uid >= max(min_uid, 1)
        }

    def all_uids(self) -> list[int]:
        self._call("all_uids")
        return sorted(self._open().messages)

    # -- fetching ---------------------------------------------------------------------

    def fetch_messages(self, uids: Sequence[int], *, headers_only: bool) -> list[FetchedMessage]:
        self._call("fetch_messages")
        box = self._open()
        condstore = self.capabilities.condstore
        found = [box.messages[uid] for uid in sorted(set(uids)) if uid in box.messages]
        return [
            FetchedMessage(
                uid=m.uid,
                internaldate=m.internaldate,
                flags=tuple(sorted(m.flags)),
                size=m.size,
                modseq=m.modseq if condstore else None,
                raw=None if headers_only else m.raw,
                header_bytes=address_headers(m.raw) if headers_only else None,
            )
            for m in found
        ]

    def sizes_ahead(self, uids: Sequence[int]) -> FakeSizes:
        self._call("sizes_ahead")
        box = self._open()
        return FakeSizes({uid: box.messages[uid].size for uid in uids if uid in box.messages})

    def fetch_flags(self, uids: Sequence[int]) -> list[FlagChange]:
        self._call("fetch_flags")
        box = self._open()
        condstore = self.capabilities.condstore
        return [
            FlagChange(uid, tuple(sorted(m.flags)), m.modseq if condstore else None)
            for uid in sorted(set(uids))
            if (m := box.messages.get(uid)) is not None
        ]

    def changes_since(self, modseq: int) -> tuple[list[FlagChange], list[int] | None]:
        """CHANGEDSINCE (RFC 7162 §3.1.4): every message whose MODSEQ is above `modseq`
        (appended ones too); with QRESYNC also VANISHED (§3.2.10)."""
        self._call("changes_since")
        if not self.capabilities.condstore:
            raise EmailsyncError(
                f"{self.host} does not support CONDSTORE for {self.email}, so changes "
                "cannot be asked for by mod-sequence; compare flags and UID sets instead"
            )
        box = self._open()
        changes = [
            FlagChange(uid, tuple(sorted(m.flags)), m.modseq)
            for uid, m in sorted(box.messages.items())
            if m.modseq > modseq
        ]
        if not self.capabilities.qresync:
            return changes, None
        return changes, sorted(uid for uid, gone in box.expunged.items() if gone > modseq)

    # -- waiting ----------------------------------------------------------------------

    def idle_wait(self, timeout: float, stop: Callable[[], bool] | None = None) -> bool:
        """True when the mailbox changed since this session last looked (SELECT or the
        last IDLE), else waits up to `timeout` for a change."""
        self._call("idle_wait")
        self._open()
        changed = self.mailbox.wait_for_change(self._seen_version, timeout, stop)
        self._seen_version = self.mailbox.version()
        return changed


@dataclass(slots=True)
class FakeSizes:
    """The answer of `FakeImapSession.sizes_ahead`, known at once."""

    sizes: dict[int, int]

    def result(self) -> dict[int, int]:
        return self.sizes


def address_headers(raw: bytes) -> bytes:
    """BODY[HEADER.FIELDS (MESSAGE-ID FROM ...)] of `raw` (RFC 3501 §6.4.5): the matching
    header lines with their folded continuations, in message order, then a blank line."""
    kept: list[bytes] = []
    keep = False
    for line in raw.split(b"\r\n"):
        if not line:
            break  # the end of the header block
        if line[:1] in (b" ", b"\t"):
            if keep:
                kept.append(line)
            continue
        match = _HEADER_LINE.match(line)
        keep = match is not None and match.group(1).decode("latin-1").lower() in _ADDRESS_HEADERS
        if keep:
            kept.append(line)
    return b"".join(line + b"\r\n" for line in kept) + b"\r\n"


def _crlf(raw: bytes) -> bytes:
    """Every line end as CRLF, as Dovecot returns a message whatever was appended."""
    return re.sub(rb"\r?\n", b"\r\n", raw)


def _matches(raw: bytes, criteria: list[Any]) -> bool:
    """All keys of `criteria` hold for the message (SEARCH ANDs its keys)."""
    rest = list(criteria)
    while rest:
        if not _match_one(raw, rest):
            return False
    return True


def _match_one(raw: bytes, rest: list[Any]) -> bool:
    key = rest.pop(0)
    if isinstance(key, list):
        return _matches(raw, key)
    key = str(key).upper()
    if key == "OR":
        first = _match_one(raw, rest)
        second = _match_one(raw, rest)
        return first or second
    if key == "HEADER":
        name, value = str(rest.pop(0)), str(rest.pop(0))
    elif key in ("FROM", "TO", "CC"):
        name, value = key, str(rest.pop(0))
    else:
        raise NotImplementedError(f"the fake does not search by {key}")
    message = email.message_from_bytes(raw)
    return any(value.lower() in str(v).lower() for v in message.get_all(name) or [])

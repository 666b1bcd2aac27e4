"""What the sync and the worker ask of an IMAP connection: the seam for tests.

`emailsync.imap.session.ImapSession` is the real thing (imapclient over a socket);
tests/support/fake_imap.py holds an in-memory mailbox that answers the same calls,
and tests/integration/test_folder_sync_contract.py runs the folder-sync cases against
both and checks that the two answer alike. A third kind of server (Gmail's X-GM-EXT-1,
an SMTP sink's mailbox) plugs in here without the sync noticing.

Only what sync/folder_sync.py, sync/account_sync.py, sync/setup.py and
runtime/worker.py call is listed: a method added to the session but not used by them
does not belong here until they use it. Errors follow the session's contract: a lost
connection raises `TransientError`, a folder gone raises `FolderNotFoundError`, any
other refusal an `EmailsyncError` naming the account.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol

from emailsync.domain.model import (
    Capabilities,
    FetchedMessage,
    FlagChange,
    FolderStatus,
    ServerFolder,
)


class SizesPending(Protocol):
    """An RFC822.SIZE FETCH sent ahead; its answer read on `result()`."""

    def result(self) -> dict[int, int]:
        """UID → RFC822.SIZE; UIDs the server no longer has are missing."""
        ...


class ImapSession(Protocol):
    """One logged-in connection to one account, read-only on the mailbox.

    Not thread-safe: one caller at a time. `selected` is the folder open now (None after
    a failed SELECT); the sync reads it to avoid re-opening the folder held for IDLE."""

    email: str
    host: str
    capabilities: Capabilities
    selected: str | None

    def close(self) -> None:
        """LOGOUT; never raises. The session is unusable afterwards."""
        ...

    # -- folders ----------------------------------------------------------------------

    def list_folders(self) -> list[ServerFolder]:
        """Every selectable folder with its role (LIST, RFC 3501 §6.3.8; RFC 6154)."""
        ...

    def survey(self, names: Sequence[str]) -> list[ServerFolder]:
        """`list_folders`, and the STATUS of `names` kept for the `status()` or `select()`
        that follows soon (an optimisation: answering like `list_folders` is correct)."""
        ...

    def folder_message_count(self, name: str) -> int:
        """STATUS MESSAGES of a folder, without selecting it."""
        ...

    def select(self, name: str) -> FolderStatus:
        """Open a folder read-only (EXAMINE): UIDVALIDITY, UIDNEXT, EXISTS and, with
        CONDSTORE, HIGHESTMODSEQ. Raises `FolderNotFoundError` when it is gone."""
        ...

    def status(self, name: str) -> FolderStatus:
        """A folder's counters without opening it (STATUS, RFC 3501 §6.3.10)."""
        ...

    # -- searching (in the selected folder) -------------------------------------------

    def search_uids(self, min_uid: int, since: date | None = None) -> list[int]:
        """UIDs >= min_uid, optionally only those with INTERNALDATE on or after `since`
        (day granularity, RFC 3501 §6.4.4), sorted."""
        ...

    def search(self, criteria: Sequence[Any]) -> list[int]:
        """UIDs matching SEARCH `criteria` (RFC 3501 §6.4.4), e.g. ["HEADER", "Message-ID",
        "<id>"] or ["OR", "FROM", a, "TO", a]; a nested list is a parenthesised group."""
        ...

    def new_messages_from(self, min_uid: int) -> dict[int, tuple[int, datetime]]:
        """UID → (RFC822.SIZE, INTERNALDATE as aware UTC) of every UID >= min_uid."""
        ...

    def all_uids(self) -> list[int]:
        """Every UID, sorted (the expunge check without QRESYNC)."""
        ...

    # -- fetching (in the selected folder) --------------------------------------------

    def fetch_messages(self, uids: Sequence[int], *, headers_only: bool) -> list[FetchedMessage]:
        """Messages by UID, sorted: the full bytes, or only the address headers
        (Message-ID, From, Sender, Reply-To, To, Cc, Bcc). Flags never change (PEEK);
        UIDs the server no longer has are skipped."""
        ...

    def sizes_ahead(self, uids: Sequence[int]) -> SizesPending:
        """Ask for the sizes of `uids` now, read the answer later."""
        ...

    def fetch_flags(self, uids: Sequence[int]) -> list[FlagChange]:
        """Current flags (and MODSEQ under CONDSTORE) of `uids`, sorted by UID."""
        ...

    def changes_since(self, modseq: int) -> tuple[list[FlagChange], list[int] | None]:
        """Flag changes since `modseq` (CONDSTORE, RFC 7162 §3.1.4) and, with QRESYNC,
        the UIDs expunged since then (None without QRESYNC: compare UID sets)."""
        ...

    # -- waiting ----------------------------------------------------------------------

    def idle_wait(self, timeout: float, stop: Callable[[], bool] | None = None) -> bool:
        """Wait up to `timeout` s for the selected folder to change; True if it did."""
        ...


if TYPE_CHECKING:  # mypy checks that the real session is one (the fake: its tests)
    from emailsync.imap import session as _session

    def _real_session_is_one(real: _session.ImapSession) -> ImapSession:
        return real

"""One logged-in IMAP connection, speaking in domain values.

`ImapSession` is the only place that touches imapclient's result dictionaries: the
sync layers get `ServerFolder`, `FolderStatus`, `FetchedMessage` and `FlagChange`
back and never see bytes keys or naive datetimes. It never changes the mailbox:
folders are opened with EXAMINE and bodies fetched with BODY.PEEK, so syncing does
not mark anything read (RFC 3501 §6.3.2, §6.4.5).

Failures are translated at this edge: a dropped socket or an imaplib abort becomes
`TransientError` (retry later) and a NO/BAD answer becomes an `EmailsyncError` naming
the account, so callers never see an imaplib traceback. After a drop the session is
unusable and every later call raises `TransientError`; make a new one.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import re
import select
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime
from typing import Any, BinaryIO, NoReturn

from imapclient import IMAPClient
from imapclient.imap_utf7 import decode as decode_utf7
from imapclient.imapclient import as_pairs, join_message_ids, seq_to_parenstr_upper
from imapclient.response_parser import parse_fetch_response, parse_response

from emailsync.domain.model import (
    Capabilities,
    FetchedMessage,
    FlagChange,
    FolderStatus,
    ServerFolder,
)
from emailsync.errors import EmailsyncError, TransientError
from emailsync.imap.fetch_parser import parse_fetch
from emailsync.imap.folders import role_for
from emailsync.imap.wire import SKIP_ATTRIBUTES

log = logging.getLogger(__name__)

FETCH_CHUNK = 500  # UIDs per FETCH command: keeps command lines short and memory bounded
# DATE SUBJECT CONTENT-TYPE with FROM TO CC: the head of a fingerprint (mime/fingerprint.py)
HEADER_FIELDS = "MESSAGE-ID FROM SENDER REPLY-TO TO CC BCC DATE SUBJECT CONTENT-TYPE"
# How long a STATUS read by `survey` stands in for asking again (see there).
STATUS_FRESH_SECONDS = 2.0
# IDLE is ended and sent again this often: RFC 2177 §3 has servers log out a client idle
# for 30 minutes, and asks clients to renew before 29.
IDLE_RENEW_SECONDS = 25 * 60.0
# Without IDLE, the wait asks the server (NOOP) at least this often.
NOOP_SECONDS = 45.0
# Reads in a row that found the socket readable and nothing in it: the server closed it.
QUIET_READS_CLOSED = 3
# TCP keepalive on the connection: a half-open one (the server's machine gone without a
# FIN, a NAT that forgot us) is found after 20 s of silence and 3 probes 10 s apart:
# within a minute, while the worker IDLEs and sends nothing.
KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT = 20, 10, 3
# Response codes that mean "try again later" (RFC 5530 §3).
_TRANSIENT_CODES = (b"[UNAVAILABLE]", b"[INUSE]", b"[LIMIT]", b"[SERVERBUG]", b"[EXPUNGEISSUED]")
_CHANGE_RESPONSES = frozenset({b"EXISTS", b"EXPUNGE", b"FETCH", b"VANISHED"})


class FolderNotFoundError(EmailsyncError):
    """The folder was deleted or renamed on the server since it was listed."""


class _CountingReader:
    """Wraps imaplib's socket file so the session can report bytes received."""

    def __init__(self, inner: BinaryIO) -> None:
        self.inner = inner
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self.inner.read(size)
        self.count += len(data)
        return data

    def readline(self, limit: int = -1) -> bytes:
        data = self.inner.readline(limit)
        self.count += len(data)
        return data

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class ImapSession:
    """A logged-in connection to one account. Not thread-safe: one caller at a time.

    Build it with `emailsync.imap.connect()`, which logs in, sends ID and ENABLEs
    CONDSTORE/QRESYNC; `capabilities` says what was actually enabled.
    """

    def __init__(
        self, client: IMAPClient, *, email: str, host: str, capabilities: Capabilities
    ) -> None:
        self._client = client
        self.email = email
        self.host = host
        self.capabilities = capabilities
        self.selected: str | None = None
        self._broken = False
        self._ahead: SizesAhead | None = None  # a FETCH sent, its answer not read yet
        self._fresh: dict[str, tuple[float, FolderStatus]] = {}  # survey(): when, STATUS
        self._view_synced = False  # the last command was IDLE's DONE (or NOOP): see survey
        self._reader: _CountingReader | None = None
        with contextlib.suppress(Exception):  # a socket of an odd platform: no keepalive
            _keep_alive(client.socket())
        imap = client._imap
        if getattr(imap, "file", None) is not None:
            self._reader = _CountingReader(imap.file)
            imap.file = self._reader

    # -- plumbing -------------------------------------------------------------------

    @property
    def bytes_received(self) -> int:
        """Bytes read from the server since login (for bandwidth accounting)."""
        return self._reader.count if self._reader is not None else 0

    @contextlib.contextmanager
    def _guard(self, doing: str) -> Iterator[None]:
        """Translate imaplib/socket failures of one operation into our error tree."""
        if self._broken:
            raise TransientError(
                f"The IMAP connection to {self.host} for {self.email} was lost earlier; "
                "reconnect and retry"
            )
        if self._ahead is not None:  # its answer comes first on the wire: read it now
            self._ahead.result()
        self._view_synced = False
        try:
            yield
        except imaplib.IMAP4.abort as e:  # includes readonly; must precede IMAP4.error
            self._broken = True
            raise TransientError(
                f"Lost the IMAP connection to {self.host} for {self.email} while {doing}: "
                f"{_text(e)} — will retry"
            ) from e
        except imaplib.IMAP4.error as e:
            text = _text(e)
            if any(code.decode() in text for code in _TRANSIENT_CODES):
                raise TransientError(
                    f"{self.host} is busy and refused {doing} for {self.email}: {text} — will retry"
                ) from e
            if "[NONEXISTENT]" in text:
                raise FolderNotFoundError(
                    f"{self.host} says the folder is gone while {doing} for {self.email}: "
                    f"{text} — it was deleted or renamed; the next folder list will pick "
                    "that up"
                ) from e
            raise EmailsyncError(f"{self.host} refused {doing} for {self.email}: {text}") from e
        except OSError as e:  # socket errors, timeouts, TLS errors mid-session
            self._broken = True
            raise TransientError(
                f"Lost the IMAP connection to {self.host} for {self.email} while {doing}: "
                f"{e or type(e).__name__} — will retry"
            ) from e

    def close(self) -> None:
        """LOGOUT, ignoring errors: the connection may already be gone."""
        try:
            self._client.logout()
        except Exception:
            with contextlib.suppress(Exception):
                self._client.shutdown()
        self._broken = True

    def __enter__(self) -> ImapSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- folders --------------------------------------------------------------------

    def list_folders(self) -> list[ServerFolder]:
        """Every selectable folder with its role (LIST, RFC 3501 §6.3.8; RFC 6154)."""
        with self._guard("listing folders"):
            listing = self._client.list_folders()
        return _server_folders(listing)

    def survey(self, names: Sequence[str]) -> list[ServerFolder]:
        """`list_folders`, and the STATUS of `names`, in one flight (RFC 3501 §5.5).

        A pass lists the folders and then asks each folder it synced before for its
        counters; one after the other that is a round trip per folder, 30-50 ms each to
        a provider far away. Here every command is written before the first answer is
        read. The answers are kept for `status()` of those folders for
        STATUS_FRESH_SECONDS, so a pass asks again about a folder it comes to later than
        that. A STATUS the server refuses (a folder deleted meanwhile) is simply not
        kept: asked again, it says so in the usual words.

        The folder open already is asked about only right after IDLE: its DONE leaves
        this session's view of it up to date, which is what STATUS reports there.
        Otherwise `select` brings the view up to date with NOOP and then asks: Dovecot
        runs pipelined commands side by side, so a NOOP in the flight does not make a
        STATUS after it see what the NOOP found."""
        client = self._client
        imap = client._imap
        items = "(" + " ".join(self._status_items()) + ")"
        self._fresh.clear()
        open_too = self._view_synced
        with self._guard("listing folders"):
            imap.untagged_responses.pop("STATUS", None)  # nothing stale among the answers
            list_tag = imap._command("LIST", client._normalise_folder(""), '"*"')
            asked = [n for n in dict.fromkeys(names) if n != self.selected or open_too]
            sent = [
                imap._command("STATUS", client._normalise_folder(name), items) for name in asked
            ]
            typ, data = imap._command_complete("LIST", list_tag)
            for tag in sent:  # every answer is read, even when LIST failed
                with contextlib.suppress(imaplib.IMAP4.error):  # NO: not kept (see above)
                    imap._command_complete("STATUS", tag)
            answers = imap.untagged_responses.pop("STATUS", [])
            client._checkok("list", typ, data)
            typ, listing = imap._untagged_response(typ, data, "LIST")
            folders = _server_folders(client._proc_folder_list(listing))
        now = time.monotonic()
        for line in answers:
            if not isinstance(line, bytes):
                continue  # a name sent as a literal: left to status()
            with contextlib.suppress(ValueError, IndexError, TypeError):
                name, status = _status_answer(client, line)
                if name in asked:
                    self._fresh[name] = (now, status)
        return folders

    def _take_fresh(self, name: str) -> FolderStatus | None:
        """The STATUS `survey` read for `name`, if it is recent enough; used once."""
        kept = self._fresh.pop(name, None)
        if kept is None or time.monotonic() - kept[0] > STATUS_FRESH_SECONDS:
            return None
        return kept[1]

    def _status_items(self) -> list[str]:
        items = ["UIDNEXT", "UIDVALIDITY", "MESSAGES"]
        if self.capabilities.condstore:
            items.append("HIGHESTMODSEQ")
        return items

    def folder_message_count(self, name: str) -> int:
        """How many messages a folder holds, without selecting it (STATUS MESSAGES)."""
        with self._guard(f"asking how many messages {name!r} holds"):
            status = self._client.folder_status(name, ["MESSAGES"])
        return int(status[b"MESSAGES"])

    def select(self, name: str) -> FolderStatus:
        """Open a folder read-only (EXAMINE, RFC 3501 §6.3.2): sync never changes it.

        The folder open already (the worker IDLEs on the Inbox) is refreshed instead of
        opened again: on a big mailbox a SELECT costs the server tens of milliseconds,
        which new mail would wait for. NOOP brings this session's view up to date, then
        STATUS reports it (Dovecot answers STATUS on the selected folder from the
        session's view; RFC 9051 §6.3.11 allows the command there). The SEARCH that
        follows runs on the same view, so what STATUS counts is what the pass sees."""
        if name == self.selected:
            return self._take_fresh(name) or self._refresh_selected(name)
        self.selected = None  # a failed SELECT leaves no folder selected (RFC 3501 §6.3.1)
        try:
            with self._guard(f"opening folder {name!r}"):
                response = self._client.select_folder(name, readonly=True)
        except (FolderNotFoundError, TransientError):
            raise
        except EmailsyncError as refused:
            # Not every server says [NONEXISTENT] (Dovecot doesn't on SELECT): ask LIST.
            with self._guard(f"checking whether folder {name!r} exists"):
                exists = self._client.folder_exists(name)
            if not exists:
                raise FolderNotFoundError(
                    f"Folder {name!r} no longer exists on {self.host} for {self.email}: it "
                    "was deleted or renamed; the next folder list will pick that up"
                ) from refused
            raise
        self.selected = name
        modseq = response.get(b"HIGHESTMODSEQ") if self.capabilities.condstore else None
        return FolderStatus(
            uidvalidity=int(response.get(b"UIDVALIDITY", 0)),
            uidnext=int(response.get(b"UIDNEXT", 0)),
            exists=int(response.get(b"EXISTS", 0)),
            highestmodseq=int(modseq) if modseq is not None else None,
        )

    def _refresh_selected(self, name: str) -> FolderStatus:
        with self._guard(f"refreshing folder {name!r}"):
            self._client.noop()
        return self.status(name)

    def status(self, name: str) -> FolderStatus:
        """A folder's counters without opening it (STATUS, RFC 3501 §6.3.10; with
        CONDSTORE also HIGHESTMODSEQ, RFC 7162 §3.1.6)."""
        fresh = self._take_fresh(name)
        if fresh is not None:
            return fresh
        with self._guard(f"asking for the status of folder {name!r}"):
            status = self._client.folder_status(name, self._status_items())
        return _folder_status(status)

    # -- searching ------------------------------------------------------------------

    def search_uids(self, min_uid: int, since: date | None = None) -> list[int]:
        """UIDs >= min_uid in the selected folder, optionally only those since a date.

        `UID SEARCH UID n:*` always matches the highest UID even when it is below n
        (RFC 3501 §6.4.8: "*" is the largest UID in use), so the result is filtered.
        """
        lowest = max(min_uid, 1)
        criteria: list[Any] = ["UID", f"{lowest}:*"]
        if since is not None:
            criteria += ["SINCE", since]
        with self._guard(f"searching {self.selected!r}"):
            uids = self._client.search(criteria)
        return sorted(uid for uid in uids if uid >= lowest)

    def new_messages_from(self, min_uid: int) -> dict[int, tuple[int, datetime]]:
        """UID → (RFC822.SIZE, INTERNALDATE) of every message from `min_uid` up in the
        selected folder: for the few new messages of a folder synced before, one FETCH
        instead of a SEARCH and then a size FETCH (a round trip less for new mail).
        Like SEARCH, `n:*` also names the highest UID when it is below n (RFC 3501
        §6.4.8), so the result is filtered."""
        lowest = max(min_uid, 1)
        with self._guard(f"searching {self.selected!r}"):
            tag = self._send_fetch(f"{lowest}:*", ["RFC822.SIZE", "INTERNALDATE"])
            parsed = self._receive_fetch(tag, None)
        return {
            uid: (int(d[b"RFC822.SIZE"]), _utc(d[b"INTERNALDATE"]))
            for uid, d in parsed.items()
            if uid >= lowest and b"RFC822.SIZE" in d and b"INTERNALDATE" in d
        }

    def all_uids(self) -> list[int]:
        """Every UID in the selected folder (UID SEARCH ALL): the deletion check
        for servers without QRESYNC."""
        with self._guard(f"listing UIDs of {self.selected!r}"):
            uids = self._client.search(["ALL"])
        return sorted(uids)

    def search(self, criteria: Sequence[Any]) -> list[int]:
        """UIDs in the selected folder matching SEARCH `criteria` (RFC 3501 §6.4.4),
        e.g. ["HEADER", "Message-ID", "<id>"]: for `messages why-not`."""
        with self._guard(f"searching {self.selected!r}"):
            uids = self._client.search(list(criteria))
        return sorted(uids)

    # -- fetching -------------------------------------------------------------------

    def fetch_messages(self, uids: Sequence[int], *, headers_only: bool) -> list[FetchedMessage]:
        """Messages by UID, with full bytes or only the address headers.

        BODY.PEEK leaves \\Seen alone (RFC 3501 §6.4.5). UIDs the server no longer has
        are skipped silently; the result is sorted by UID.
        """
        body = f"BODY.PEEK[HEADER.FIELDS ({HEADER_FIELDS})]" if headers_only else "BODY.PEEK[]"
        items = ["INTERNALDATE", "FLAGS", "RFC822.SIZE", body]
        if self.capabilities.condstore:
            items.append("MODSEQ")
        messages: list[FetchedMessage] = []
        for chunk in _chunks(sorted(set(uids)), FETCH_CHUNK):
            with self._guard(f"fetching messages from {self.selected!r}"):
                response = self._fetch_raw(chunk, items)
            for uid, data in response.items():
                if b"INTERNALDATE" not in data:  # an unsolicited FLAGS-only update
                    continue
                content = _body_section(data, headers=headers_only)
                messages.append(
                    FetchedMessage(
                        uid=uid,
                        internaldate=_utc(data[b"INTERNALDATE"]),
                        flags=_flags(data.get(b"FLAGS", ())),
                        size=int(data.get(b"RFC822.SIZE", 0)),
                        modseq=_modseq(data),
                        raw=None if headers_only else content,
                        header_bytes=content if headers_only else None,
                    )
                )
        return sorted(messages, key=lambda m: m.uid)

    def _fetch_raw(self, uids: list[int], items: list[str]) -> dict[int, dict[bytes, Any]]:
        """`IMAPClient.fetch`, but parsed with the fast FETCH parser.

        Sends the command exactly as imapclient's fetch() does (same imaplib calls,
        so tagged/untagged bookkeeping is unchanged) and keeps only the UIDs asked
        for. The fast parser needs imapclient's settings as `connect()` leaves them
        (UIDs as keys, INTERNALDATE with its own offset); otherwise, and for any
        response it does not recognise, imapclient's parser is used.
        """
        return self._receive_fetch(self._send_fetch(uids, items), uids)

    def _send_fetch(self, uids: list[int] | str, items: list[str]) -> Any:
        """Write a FETCH of `uids` (a list, or a set like "5:*") without reading it."""
        client = self._client
        args = ["FETCH", join_message_ids(uids), seq_to_parenstr_upper(items)]
        if client.use_uid:
            args.insert(0, "UID")
        return client._imap._command(*args)

    def _receive_fetch(self, tag: Any, uids: list[int] | None) -> dict[int, dict[bytes, Any]]:
        """The answer of a FETCH sent by `_send_fetch`: by UID, only `uids` (in that
        order) unless None."""
        client = self._client
        imap = client._imap
        typ, data = imap._command_complete("FETCH", tag)
        client._checkok("fetch", typ, data)
        typ, data = imap._untagged_response(typ, data, "FETCH")
        if client.use_uid and not client.normalise_times:
            response: dict[int, dict[bytes, Any]] = parse_fetch(data)
        else:
            response = parse_fetch_response(data, client.normalise_times, client.use_uid)
        if uids is None:
            return response
        return {uid: response[uid] for uid in uids if uid in response}

    def sizes_ahead(self, uids: Sequence[int]) -> SizesAhead:
        """Send the RFC822.SIZE FETCH for `uids` now and read its answer when asked
        (`.result()`), so the server answers while the caller works: a big pass plans
        its next body batches this way instead of waiting for each answer (20 ms to
        0.15 s per 1,000 UIDs on a loaded 2-core machine). Any other command of this
        session first reads that answer, so the two never mix."""
        chunk = sorted(set(uids))
        with self._guard(f"fetching message sizes from {self.selected!r}"):
            tag = self._send_fetch(chunk, ["RFC822.SIZE"])
        self._ahead = SizesAhead(self, tag, chunk)
        return self._ahead

    def fetch_flags(self, uids: Sequence[int]) -> list[FlagChange]:
        """Current flags of the given UIDs (and MODSEQ under CONDSTORE), sorted by UID."""
        items = ["FLAGS", "MODSEQ"] if self.capabilities.condstore else ["FLAGS"]
        changes: list[FlagChange] = []
        for chunk in _chunks(sorted(set(uids)), FETCH_CHUNK):
            with self._guard(f"fetching flags from {self.selected!r}"):
                response = self._client.fetch(chunk, items)
            changes += [
                FlagChange(uid, _flags(data.get(b"FLAGS", ())), _modseq(data))
                for uid, data in response.items()
                if b"FLAGS" in data
            ]
        return sorted(changes, key=lambda c: c.uid)

    def changes_since(self, modseq: int) -> tuple[list[FlagChange], list[int] | None]:
        """Flag changes and expunged UIDs in the selected folder since `modseq`.

        With QRESYNC: `UID FETCH 1:* (FLAGS) (CHANGEDSINCE m VANISHED)` (RFC 7162
        §3.2.6), which also reports UIDs expunged since then. With CONDSTORE only,
        expunges are not reported: `vanished` is None and the caller must compare UID
        sets (RFC 7162 §3.1.4.1). imapclient's fetch() refuses "1:*", so the command
        is sent through its imaplib object and parsed with imapclient's parser.
        """
        if not self.capabilities.condstore:
            raise EmailsyncError(
                f"{self.host} does not support CONDSTORE for {self.email}, so changes "
                "cannot be asked for by mod-sequence; compare flags and UID sets instead"
            )
        qresync = self.capabilities.qresync
        modifier = f"(CHANGEDSINCE {int(modseq)}{' VANISHED' if qresync else ''})"
        imap = self._client._imap
        with self._guard(f"fetching changes in {self.selected!r}"):
            for stale in ("FETCH", "VANISHED", "EXPUNGE"):
                imap.untagged_responses.pop(stale, None)
            tag = imap._command("UID", "FETCH", "1:*", "(FLAGS)", modifier)
            typ, data = imap._command_complete("FETCH", tag)
            if typ != "OK":
                raise imaplib.IMAP4.error(f"UID FETCH CHANGEDSINCE failed: {_text(data)}")
            _, fetched = imap._untagged_response(typ, data, "FETCH")
            vanished_lines = imap.untagged_responses.pop("VANISHED", [])
            parsed = parse_fetch_response(fetched, False, True)
        changes = sorted(
            (
                FlagChange(uid, _flags(d.get(b"FLAGS", ())), _modseq(d))
                for uid, d in parsed.items()
                if b"FLAGS" in d
            ),
            key=lambda c: c.uid,
        )
        if not qresync:
            return changes, None
        vanished: set[int] = set()
        for line in vanished_lines:
            vanished.update(parse_vanished(line))
        return changes, sorted(vanished)

    # -- waiting --------------------------------------------------------------------

    def idle_wait(self, timeout: float, stop: Callable[[], bool] | None = None) -> bool:
        """Wait up to `timeout` seconds for the selected folder to change (IDLE, RFC 2177).

        True when the server reported new, expunged or changed messages. One IDLE for
        the wait, renewed every `IDLE_RENEW_SECONDS` (servers may log out a client idle
        for 30 minutes, RFC 2177 §3), its responses read as they come, and `stop()`
        asked every second: ending and re-issuing IDLE every second cost new mail a good
        part of a second on a big mailbox. A connection the server closed (EOF, BYE) or
        that TCP keepalive found dead ends the wait at once with `TransientError`: it
        used to spin a core until the poll ended. Without IDLE it sleeps and asks with
        NOOP at least every `NOOP_SECONDS`, which finds a dead connection as well.
        """
        deadline = time.monotonic() + timeout
        changed = False
        with self._guard(f"waiting for changes in {self.selected!r}"):
            if not self.capabilities.idle:
                while not changed and time.monotonic() < deadline and not (stop and stop()):
                    ask_at = min(deadline, time.monotonic() + NOOP_SECONDS)
                    while time.monotonic() < ask_at and not (stop and stop()):
                        time.sleep(min(1.0, max(ask_at - time.monotonic(), 0)))
                    _, responses = self._client.noop()
                    changed = _any_change(responses)
            else:
                while not changed and time.monotonic() < deadline and not (stop and stop()):
                    changed = self._idle_once(
                        min(deadline, time.monotonic() + IDLE_RENEW_SECONDS), stop
                    )
        self._view_synced = True
        return changed

    def _idle_once(self, until: float, stop: Callable[[], bool] | None) -> bool:
        """One IDLE command, ended by DONE at `until`, on a change or on `stop()`."""
        self._client.idle()
        sock = self._client.socket()
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN | select.POLLPRI)
        changed = False
        quiet = 0  # readable, yet nothing read: what EOF looks like through imapclient
        while not changed and time.monotonic() < until and not (stop and stop()):
            pending = getattr(sock, "pending", None)  # TLS bytes decrypted already
            wait_ms = 0 if pending and pending() else min(1.0, until - time.monotonic()) * 1000
            events = poller.poll(max(wait_ms, 0))
            if not events:
                quiet = 0  # a quiet wait: not a closed socket, which stays readable
                continue
            if any(
                flags & (select.POLLERR | select.POLLHUP | select.POLLNVAL) for _, flags in events
            ):
                self._closed_while_idle("the connection failed")
            before = self.bytes_received
            responses = self._client.idle_check(timeout=0)
            if any(r and r[0] == b"BYE" for r in responses):
                self._closed_while_idle("the server said goodbye (BYE)")
            changed = _any_change(responses)
            if responses or self.bytes_received != before:
                quiet = 0
                continue
            quiet += 1  # imapclient's idle_check swallows EOF and returns nothing
            if quiet >= QUIET_READS_CLOSED:
                self._closed_while_idle("the server closed the connection")
        _, more = self._client.idle_done()
        return changed or _any_change(more)

    def _closed_while_idle(self, what: str) -> NoReturn:
        self._broken = True
        with contextlib.suppress(Exception):
            self._client.shutdown()
        raise TransientError(
            f"Lost the IMAP connection to {self.host} for {self.email} while waiting for "
            f"new mail: {what} — will reconnect"
        )


class SizesAhead:
    """The answer of a size FETCH sent ahead (`ImapSession.sizes_ahead`)."""

    def __init__(self, session: ImapSession, tag: Any, uids: list[int]) -> None:
        self._session = session
        self._tag = tag
        self._uids = uids
        self._sizes: dict[int, int] | None = None

    def result(self) -> dict[int, int]:
        """UID → RFC822.SIZE; UIDs the server no longer has are missing."""
        if self._sizes is None:
            session = self._session
            if session._ahead is self:
                session._ahead = None  # read once, even when reading fails
            with session._guard(f"fetching message sizes from {session.selected!r}"):
                response = session._receive_fetch(self._tag, self._uids)
            self._sizes = {
                uid: int(data[b"RFC822.SIZE"])
                for uid, data in response.items()
                if b"RFC822.SIZE" in data
            }
        return self._sizes


# -- helpers ----------------------------------------------------------------------------


def _keep_alive(sock: socket.socket) -> None:
    """Have the kernel probe a silent connection (see KEEPALIVE_IDLE): a dead one then
    fails the IDLE wait, or any read, with an error instead of hanging."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, KEEPALIVE_IDLE)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, KEEPALIVE_INTERVAL)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, KEEPALIVE_COUNT)


def _server_folders(listing: Sequence[tuple[Any, Any, Any]]) -> list[ServerFolder]:
    """imapclient's LIST answer as the selectable folders with their roles."""
    folders = []
    for raw_flags, raw_delimiter, raw_name in listing:
        flags = tuple(_str(f) for f in raw_flags)
        if any(f.casefold() in SKIP_ATTRIBUTES for f in flags):
            continue
        delimiter = _str(raw_delimiter) if raw_delimiter else ""
        # imapclient parses an all-digit folder name ("2024") as an int.
        name = raw_name if isinstance(raw_name, str) else _str(raw_name)
        folders.append(ServerFolder(name, role_for(name, flags, delimiter), flags))
    return folders


def _status_answer(client: IMAPClient, line: bytes) -> tuple[str, FolderStatus]:
    """One untagged STATUS answer (RFC 3501 §7.2.4), its mailbox name decoded as
    imapclient decodes LIST names."""
    name, *_, items = parse_response([line])
    values = dict(as_pairs(items))
    if isinstance(name, int):
        name = str(name)
    elif client.folder_encode:
        name = decode_utf7(name)
    return _str(name), _folder_status(values)


def _folder_status(values: dict[bytes, Any]) -> FolderStatus:
    modseq = values.get(b"HIGHESTMODSEQ")
    return FolderStatus(
        uidvalidity=int(values.get(b"UIDVALIDITY", 0)),
        uidnext=int(values.get(b"UIDNEXT", 0)),
        exists=int(values.get(b"MESSAGES", 0)),
        highestmodseq=int(modseq) if modseq is not None else None,
    )


def _any_change(responses: Sequence[Any]) -> bool:
    return any(
        isinstance(part, bytes) and part.upper() in _CHANGE_RESPONSES
        for response in responses
        if isinstance(response, tuple)
        for part in response[:2]
    )


def parse_vanished(data: bytes | str) -> list[int]:
    """UIDs from a VANISHED response's data, e.g. b"(EARLIER) 1:3,7" → [1, 2, 3, 7]
    (RFC 7162 §3.2.10)."""
    text = data.decode("ascii") if isinstance(data, bytes) else data
    text = re.sub(r"^\s*\(EARLIER\)\s*", "", text, flags=re.IGNORECASE).strip()
    uids: set[int] = set()
    for part in filter(None, text.split(",")):
        low, _, high = part.partition(":")
        a, b = int(low), int(high or low)
        uids.update(range(min(a, b), max(a, b) + 1))
    return sorted(uids)


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _str(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _text(error: object) -> str:
    """A readable message from an imaplib exception or response data."""
    if isinstance(error, BaseException):
        args = error.args
        return " ".join(_str(a) for a in args) if args else type(error).__name__
    if isinstance(error, list):
        return " ".join(_str(a) for a in error if a is not None)
    return _str(error)


def _flags(raw: object) -> tuple[str, ...]:
    """Flags as str, without \\Recent: it is per-session and gone in IMAP4rev2."""
    if not isinstance(raw, tuple):
        return ()
    return tuple(_str(f) for f in raw if _str(f).casefold() != "\\recent")


def _modseq(data: dict[bytes, Any]) -> int | None:
    value = data.get(b"MODSEQ")
    if isinstance(value, tuple):
        value = value[0] if value else None
    return int(value) if value is not None else None


def _utc(value: object) -> datetime:
    """INTERNALDATE as aware UTC (the client is set to keep the server's offset)."""
    if not isinstance(value, datetime):
        raise EmailsyncError(f"server sent an unreadable INTERNALDATE: {value!r}")
    if value.tzinfo is None:  # only if a caller left normalise_times on
        value = value.astimezone()
    return value.astimezone(UTC)


def _body_section(data: dict[bytes, Any], *, headers: bool) -> bytes:
    prefix = b"BODY[HEADER.FIELDS" if headers else b"BODY[]"
    for key, value in data.items():
        if isinstance(key, bytes) and key.upper().startswith(prefix):
            return value if isinstance(value, bytes) else b""
    return b""

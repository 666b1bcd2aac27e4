"""Sync one folder: the state machine that keeps a folder's copy in the store exact.

    SELECT ──► uidvalidity unknown ──► START (window fixed, cursor 0) ─┐
           ├─► uidvalidity changed ──► REMAP (locations dropped,      │
           │                           cursor 0, messages kept) ──────┤
           └─► same uidvalidity ──────────────────────────────────────┤
                                                                       ▼
                                                     NEW: UIDs > cursor in the window,
                                                     in batches; each batch commits its
                                                     messages AND the cursor together
                                                                       │
                                       CHANGES on UIDs <= the cursor ◄─┘
                                       the pass began with (flags, expunges;
                                       HIGHESTMODSEQ moves only with them)

Why it is safe to kill at any instant: the only state that says "done up to here" is
folders.uid_cursor, and it moves in the same transaction as the messages it covers.
Replaying a batch finds its messages by dedup key and its locations by (folder, uid),
so nothing is doubled; nothing past the cursor was promised, so nothing is lost.

WIDEN (after the rest, on a folder synced before): the conditions now ask for past
mail the folder's coverage (store/coverage.py) has not read: a wider window, the folder
newly selected, or all people after contacts. The UIDs behind the cursor in that part
of the past that the folder does not hold go through the same headers-first path and
the same write; the coverage moves only after the last of them. Nothing there moves the
cursor, so a kill resumes by asking again for what is not held; known messages become
locations by dedup key, so nothing is doubled.

Moved mail: new UIDs older than the folder's window are not fetched, but their headers
are read first and those the store knows already (moved here from another folder) get
their location, so the move does not lose the message.

Why headers come first: a light FETCH (dates, sizes, flags, a few header fields)
decides per message whether the body is needed at all: outside the window, not
involving a contact (contacts scope), or known already from another folder or before a
UIDVALIDITY change. Bodies are then fetched in chunks bounded in bytes, so memory does
not grow with the mailbox.
"""

from __future__ import annotations

import contextlib
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import cast

import sqlalchemy as sa

from emailsync.domain.blocking import screened_by_block
from emailsync.domain.conditions import (
    PastScope,
    SyncConditions,
    Widening,
    widening,
)
from emailsync.domain.direction import direction
from emailsync.domain.model import (
    FetchedMessage,
    FolderStatus,
    HeaderSummary,
    Participants,
)
from emailsync.domain.screening import REASON_OF, KeptOut, Reason, kept_out
from emailsync.errors import ConnectionSetupError, EmailsyncError, TransientError
from emailsync.imap.protocol import ImapSession
from emailsync.mime.fingerprint import head_print
from emailsync.mime.parse import parse_header_summary, parse_safely
from emailsync.store import accounts as account_store
from emailsync.store import coverage as coverage_store
from emailsync.store import messages as message_store
from emailsync.store.accounts import Folder
from emailsync.store.db import reading
from emailsync.store.raw import RawFiles, raw_digest
from emailsync.sync.fetchers import (
    Digested,
    FetchedBatch,
    FetcherUnavailable,
    FetchPool,
    FolderJob,
    batch_of,
    outcome,
)
from emailsync.sync.memory import fewer_collections, release_memory
from emailsync.sync.progress import Progress

HEADER_BATCH = 500  # UIDs per light FETCH
BODY_CHUNK_BYTES = 8 * 1024 * 1024  # bodies per commit, by RFC822.SIZE
DIRECT_BATCH = 100  # UIDs per body FETCH when no header round trip is needed
DIRECT_CHUNK_BYTES = 4 * 1024 * 1024  # bytes per direct batch (one big message: alone)
# direct batches are committed together up to this many messages or bytes: each commit
# rewrites the index pages it touched, so fewer, bigger commits write less
COMMIT_MESSAGES = 400
COMMIT_BYTES = 16 * 1024 * 1024
PARALLEL_FETCH_MIN = 2000  # from this many new messages on, fetch in other processes
LOOKAHEAD_BATCHES = 8  # batches left in flight behind a commit (with fetcher processes)
SIZE_PLAN = 1000  # UIDs per RFC822.SIZE FETCH when planning body batches
FLAG_BATCH = 2000


@dataclass(frozen=True, slots=True)
class AccountContext:
    """What every folder of one account pass shares."""

    account_id: int
    conditions: SyncConditions
    started_at: datetime
    own_emails: frozenset[str]
    contact_emails: frozenset[str]
    default_sharing: str = "private"
    blocked: frozenset[str] = frozenset()
    # a re-scan for one contact's past mail looks only at messages involving these
    only_emails: frozenset[str] | None = None
    raw_files: RawFiles | None = None  # None: raw bytes go into the database
    # fetcher processes for big passes (sync/fetchers.py); None: this process fetches
    fetchers: FetchPool | None = None


@dataclass(slots=True)
class FolderResult:
    new_messages: int = 0
    new_locations: int = 0
    skipped: int = 0
    flag_updates: int = 0
    removed: int = 0
    completed: bool = False  # every UID up to the server's UIDNEXT was looked at
    # what this pass decided to leave out, by reason (the end-of-sync summary)
    left_out: Counter[Reason] = field(default_factory=Counter)


def sync_folder(
    session: ImapSession,
    engine: sa.Engine,
    ctx: AccountContext,
    folder: Folder,
    *,
    window_start: datetime,
    progress: Progress,
    covered: coverage_store.Coverage | None = None,
) -> FolderResult:
    """`covered`: the folder's coverage (store/coverage.py), None for none recorded."""
    result = FolderResult()
    wider = _wider(ctx, folder, window_start, covered)
    if wider is None and _unchanged_on_server(session, folder):
        result.completed = True
        return result
    status = session.select(folder.name)
    if folder.uidvalidity != status.uidvalidity:
        wider = None  # read from UID 1 with the window asked for now
    folder = _prepare(engine, folder, status, window_start, ctx.conditions.past_scope)
    # New mail first, then the flags and expunges of what was stored before: new mail is
    # what the user waits for, and on a big folder the CHANGEDSINCE scan costs the server
    # milliseconds (50k messages: 3-5 ms). Either order ends in the same state:
    # _fetch_new leaves HIGHESTMODSEQ to _apply_changes (which runs on the folder as it
    # was, so the messages just fetched, stored with their current flags, are not
    # touched), and until _apply_changes commits the next pass asks for the changes again.
    _fetch_new(session, engine, ctx, folder, status, result, progress)
    if folder.uid_cursor > 0:
        _apply_changes(session, engine, folder, status, result)
    if wider is not None:
        with reading(engine) as conn:
            folder = account_store.get_folder(conn, folder.id)  # the cursor just moved
        _widen(session, engine, ctx, folder, wider, result, progress)
    return result


def _wider(
    ctx: AccountContext,
    folder: Folder,
    window_start: datetime,
    covered: coverage_store.Coverage | None,
) -> Widening | None:
    """The past the conditions now ask of a folder synced before and it has not read."""
    if folder.uidvalidity is None or folder.window_start is None or ctx.only_emails is not None:
        return None
    if covered is None:  # synced before coverage was recorded: as it was synced
        covered = coverage_store.Coverage(folder.window_start, ctx.conditions.past_scope)
    return widening(
        covered.covered_from,
        covered.past_scope,
        window_start,
        ctx.conditions.past_scope,
        ctx.started_at,
    )


def _widen(
    session: ImapSession,
    engine: sa.Engine,
    ctx: AccountContext,
    folder: Folder,
    wider: Widening,
    result: FolderResult,
    progress: Progress,
) -> None:
    """Read the part of the past `wider` names (see WIDEN in the module docstring).

    SEARCH SINCE has day granularity in the server's zone: the UIDs from a day before
    `since` on, less those from two days after `before` on, are looked at, and their
    exact INTERNALDATE decides."""
    since = (wider.since - timedelta(days=1)).date()
    newer = set(session.search_uids(1, (wider.before + timedelta(days=2)).date()))
    with reading(engine) as conn:
        held = set(message_store.folder_uids(conn, folder.id))
    candidates = [
        uid
        for uid in session.search_uids(1, since)
        if uid <= folder.uid_cursor and uid not in held and uid not in newer
    ]
    progress.folder_started(folder.name, len(candidates))
    scoped = replace(folder, window_start=wider.since)
    for start in range(0, len(candidates), HEADER_BATCH):
        batch = candidates[start : start + HEADER_BATCH]
        metas = [
            m
            for m in session.fetch_messages(batch, headers_only=True)
            if m.internaldate < wider.before
        ]
        for group, _end in _plan_groups(engine, ctx, scoped, metas, batch, result):
            _store_group(session, engine, ctx, folder, group, folder.uid_cursor, result, None)
        progress.advanced(folder.name, len(batch))
    with engine.begin() as conn:
        coverage_store.record(conn, folder.id, wider.since, wider.scope)
        if folder.window_start is not None and wider.since < folder.window_start:
            # new UIDs from the wider past (moved or restored mail) are taken from now on
            account_store.update_folder(conn, folder.id, window_start=wider.since)
    progress.folder_finished(folder.name)


def _unchanged_on_server(session: ImapSession, folder: Folder) -> bool:
    """A folder synced before whose STATUS matches what the last pass recorded has
    nothing new, nothing expunged and no flag changed (CONDSTORE: every change raises
    HIGHESTMODSEQ, RFC 7162 §3.1), so it is not opened: the worker keeps its Inbox
    selected for IDLE, and a SELECT of a big folder costs the server tens of ms."""
    if (
        not session.capabilities.condstore
        or folder.name == session.selected  # refreshing it is cheaper than STATUS
        or folder.uidvalidity is None
        or folder.remapping
        or folder.highestmodseq is None
        or folder.last_error is not None
    ):
        return False
    try:
        status = session.status(folder.name)
    except (ConnectionSetupError, TransientError):
        raise
    except EmailsyncError:  # gone or refused: the SELECT that follows says it properly
        return False
    return status_matches(folder, status)


def status_matches(folder: Folder, status: FolderStatus) -> bool:
    """The server reports the folder as the last pass recorded it: nothing new, nothing
    expunged, no flag changed (with CONDSTORE; see `_unchanged_on_server`)."""
    return (status.uidvalidity, status.uidnext, status.exists, status.highestmodseq) == (
        folder.uidvalidity,
        folder.uidnext,
        folder.server_messages,
        folder.highestmodseq,
    )


def _prepare(
    engine: sa.Engine,
    folder: Folder,
    status: FolderStatus,
    window_start: datetime,
    scope: PastScope,
) -> Folder:
    if folder.uidvalidity is not None and folder.uidvalidity == status.uidvalidity:
        return folder  # the usual pass: nothing to record before looking at changes
    with engine.begin() as conn:
        if folder.uidvalidity is None:
            # START: read from UID 1 with the window asked for now (a folder selected
            # again after it was left out too: its messages still stored are matched
            # back by dedup key), which is then what the folder covers
            account_store.update_folder(
                conn,
                folder.id,
                uidvalidity=status.uidvalidity,
                uid_cursor=0,
                window_start=window_start,
                remapping=False,
            )
            coverage_store.record(conn, folder.id, window_start, scope)
        elif folder.uidvalidity != status.uidvalidity:
            account_store.start_remap(conn, folder.id, status.uidvalidity)
        return account_store.get_folder(conn, folder.id)


def _apply_changes(
    session: ImapSession,
    engine: sa.Engine,
    folder: Folder,
    status: FolderStatus,
    result: FolderResult,
) -> None:
    """Flags and expunges of the UIDs we hold (RFC 7162 when offered, else a full scan)."""
    caps = session.capabilities
    if caps.condstore and folder.highestmodseq is not None and status.highestmodseq is not None:
        if status.highestmodseq == folder.highestmodseq:
            return
        changes, vanished = session.changes_since(folder.highestmodseq)
        flag_rows = [(c.uid, c.flags, c.modseq) for c in changes if c.uid <= folder.uid_cursor]
        if vanished is None:  # CONDSTORE without QRESYNC: compare the UID sets
            with reading(engine) as conn:
                stored = message_store.folder_uids(conn, folder.id)
            gone = sorted(set(stored) - set(session.all_uids()))
        else:  # QRESYNC named them (remove_uids ignores UIDs we never stored)
            gone = sorted(set(vanished))
    else:
        with reading(engine) as conn:
            known_flags = message_store.folder_flags(conn, folder.id)
        on_server = set(session.all_uids())
        gone = sorted(set(known_flags) - on_server)
        present = sorted(set(known_flags) & on_server)
        flag_rows = []
        for start in range(0, len(present), FLAG_BATCH):
            for change in session.fetch_flags(present[start : start + FLAG_BATCH]):
                if " ".join(sorted(set(change.flags))) != known_flags.get(change.uid):
                    flag_rows.append((change.uid, change.flags, change.modseq))
    with engine.begin() as conn:
        result.flag_updates += message_store.set_flags(conn, folder.id, flag_rows)
        result.removed += message_store.remove_uids(conn, folder.id, gone)
        account_store.update_folder(conn, folder.id, highestmodseq=status.highestmodseq)


def _fetch_new(
    session: ImapSession,
    engine: sa.Engine,
    ctx: AccountContext,
    folder: Folder,
    status: FolderStatus,
    result: FolderResult,
    progress: Progress,
) -> None:
    assert folder.window_start is not None
    done_values: dict[str, object] = {
        "uidnext": status.uidnext,
        "server_messages": status.exists,
        "last_sync_at": datetime.now(UTC),
        "last_error": None,
    }
    if status.uidnext > folder.uid_cursor + 1:
        # A complete pass has looked at every UID below UIDNEXT: those it did not take
        # were outside the window. Without this the cursor stopped at the last message
        # taken, and the old mail above it was searched again on every pass with new
        # mail, and left out of a widening (which reads only UIDs behind the cursor).
        done_values["uid_cursor"] = status.uidnext - 1
    if folder.highestmodseq is None or folder.uid_cursor == 0:
        # Nothing stored yet whose flags could change (_apply_changes ran otherwise and
        # recorded it): without this, a folder first seen empty kept its first
        # HIGHESTMODSEQ, and the next pass opened it again for nothing.
        done_values["highestmodseq"] = status.highestmodseq
    nothing_new = folder.uidnext == status.uidnext and not folder.remapping
    sizes: dict[int, int] | None = None
    if nothing_new:
        candidates: list[int] = []
    elif _few_new(folder, status):
        candidates, sizes = _few_candidates(session, folder)
        taken = set(candidates)  # `sizes` names every new UID, old ones too
        _locate_moved(session, engine, ctx, folder, sorted(set(sizes) - taken), result)
    else:
        candidates = _candidates(session, folder)
        if folder.uid_cursor == 0 and not folder.remapping:
            # a first pass: what the SEARCH did not find arrived before the window
            outside = status.exists - len(candidates)
            result.left_out[Reason.OUTSIDE_WINDOW] += max(outside, 0)
        if folder.uid_cursor > 0 and not folder.remapping:
            taken = set(candidates)
            older = [u for u in session.search_uids(folder.uid_cursor + 1) if u not in taken]
            _locate_moved(session, engine, ctx, folder, older, result)
    progress.folder_started(folder.name, len(candidates))
    if not candidates:
        if not nothing_new or folder.highestmodseq != status.highestmodseq:
            with engine.begin() as conn:
                account_store.update_folder(conn, folder.id, **done_values)
        progress.folder_finished(folder.name)
        result.completed = True
        return
    if _bodies_directly(ctx, folder):
        with fewer_collections() if _big(candidates) else contextlib.nullcontext():
            _fetch_bodies_directly(
                session, engine, ctx, folder, candidates, result, progress, done_values, sizes
            )
        return
    for start in range(0, len(candidates), HEADER_BATCH):
        batch = candidates[start : start + HEADER_BATCH]
        last_batch = start + HEADER_BATCH >= len(candidates)
        metas = session.fetch_messages(batch, headers_only=True)
        for group, group_end in _plan_groups(engine, ctx, folder, metas, batch, result):
            final = last_batch and group_end == batch[-1]
            _store_group(
                session,
                engine,
                ctx,
                folder,
                group,
                group_end,
                result,
                done_values if final else None,
            )
            progress.advanced(folder.name, group.count)
    progress.folder_finished(folder.name)
    result.completed = True


def _big(candidates: list[int]) -> bool:
    """A big pass: its bodies are fetched by fetcher processes, and garbage is collected
    rarely while it runs (sync/memory.py)."""
    return len(candidates) >= PARALLEL_FETCH_MIN


def _bodies_directly(ctx: AccountContext, folder: Folder) -> bool:
    """When no message can be screened out before its body is read (all people, or no
    past), the header round trip buys nothing: fetch bodies straight away."""
    conditions = ctx.conditions
    no_contact_rule = (
        conditions.past_scope is PastScope.ALL or not conditions.sync_from.has_past_sync
    )
    return no_contact_rule and not folder.remapping and ctx.only_emails is None


def _fetch_bodies_directly(
    session: ImapSession,
    engine: sa.Engine,
    ctx: AccountContext,
    folder: Folder,
    candidates: list[int],
    result: FolderResult,
    progress: Progress,
    done_values: dict[str, object],
    sizes: dict[int, int] | None = None,
) -> None:
    """Bodies in batches of at most DIRECT_BATCH messages and DIRECT_CHUNK_BYTES (sizes
    from light FETCHes, or `sizes` when known already), so memory stays bounded. On big
    passes fetcher processes (sync/fetchers.py) fetch, keep and parse the batches
    over their own connections while this process writes the oldest: a commit is only
    made while LOOKAHEAD_BATCHES more are in flight behind it, so the fetchers always
    have work. Writes stay in UID order and stop at the first batch that failed, so the
    cursor still covers exactly what is committed."""
    assert folder.window_start is not None and folder.uidvalidity is not None
    pool = ctx.fetchers if _big(candidates) else None
    if pool is not None:
        pool.start()  # the fetchers log in while the first sizes are fetched
    job = FolderJob(folder.name, folder.uidvalidity, folder.window_start)
    in_flight: deque[_DirectBatch] = deque()  # fetched (or being fetched), not written yet

    def fetch_here(uids: list[int]) -> FetchedBatch:
        fetched = session.fetch_messages(uids, headers_only=False)
        return batch_of(fetched, job.window_start, ctx.raw_files, ctx.account_id, drop_bytes=False)

    planned = _planned_batches(session, candidates, sizes)
    while True:
        try:
            step = next(planned, None)
            if step is None:
                break
            uids, weight, final = step
            outcome: Future[FetchedBatch] | FetchedBatch = (
                pool.submit(job, uids)
                if pool is not None and not pool.unavailable
                else fetch_here(uids)
            )
        except EmailsyncError:
            _write_all(engine, ctx, folder, in_flight, result, progress)  # what arrived
            raise
        in_flight.append(
            _DirectBatch(uids, outcome, weight, done_values if final else None, fetch_here)
        )
        while _commit_due(in_flight, LOOKAHEAD_BATCHES if pool else 0):
            _write_direct(engine, ctx, folder, _commit_group(in_flight), result, progress)
    _write_all(engine, ctx, folder, in_flight, result, progress)
    if pool is not None:
        release_memory()
    progress.folder_finished(folder.name)
    result.completed = True


def _planned_batches(
    session: ImapSession, candidates: list[int], known: dict[int, int] | None = None
) -> Iterator[tuple[list[int], int, bool]]:
    """(UIDs, bytes by RFC822.SIZE, last?) per batch. Sizes are asked for SIZE_PLAN UIDs
    at a time, the next chunk's as soon as this one's are in (`sizes_ahead`): the first
    batch leaves after one short FETCH instead of one over the whole folder (10,000
    sizes take the server and imaplib about a second), and later ones find their sizes
    answered already instead of waiting for them. `known`: sizes read with the
    candidates already (`_few_candidates`), nothing is asked."""
    chunks = [
        candidates[start : start + SIZE_PLAN] for start in range(0, len(candidates), SIZE_PLAN)
    ]
    ahead = session.sizes_ahead(chunks[0]) if chunks and known is None else None
    for number, chunk in enumerate(chunks, 1):
        if known is not None:  # the few new messages: found with their sizes
            sizes = known
        else:
            assert ahead is not None
            sizes = ahead.result()
            ahead = session.sizes_ahead(chunks[number]) if number < len(chunks) else None
        batches = _by_weight(chunk, sizes)
        for count, uids in enumerate(batches, 1):
            weight = sum(sizes.get(uid, 0) for uid in uids)
            yield uids, weight, number == len(chunks) and count == len(batches)


@dataclass(slots=True)
class _DirectBatch:
    uids: list[int]
    outcome: Future[FetchedBatch] | FetchedBatch
    weight: int  # bytes, by RFC822.SIZE
    done_values: dict[str, object] | None
    fetch_here: Callable[[list[int]], FetchedBatch]

    def result(self) -> FetchedBatch:
        """The batch, fetched by this process when its fetcher could not connect."""
        if isinstance(self.outcome, FetchedBatch):
            return self.outcome
        try:
            self.outcome = outcome(self.outcome)
        except FetcherUnavailable:
            self.outcome = self.fetch_here(self.uids)
        return self.outcome


def _group_size(in_flight: deque[_DirectBatch]) -> tuple[int, bool]:
    """How many of the oldest batches make one commit (up to COMMIT_MESSAGES messages
    or COMMIT_BYTES), and whether they reach it (else: all of them, short of it)."""
    messages = weight = 0
    for taken, batch in enumerate(in_flight, 1):
        messages += len(batch.uids)
        weight += batch.weight
        if messages >= COMMIT_MESSAGES or weight >= COMMIT_BYTES:
            return taken, True
    return len(in_flight), False


def _commit_due(in_flight: deque[_DirectBatch], lookahead: int) -> bool:
    """A whole commit group is waiting, with `lookahead` batches in flight behind it."""
    size, whole = _group_size(in_flight)
    return whole and len(in_flight) - size >= lookahead


def _commit_group(in_flight: deque[_DirectBatch]) -> list[_DirectBatch]:
    """The oldest batches that make one commit (at least one)."""
    size, _whole = _group_size(in_flight)
    return [in_flight.popleft() for _ in range(max(size, 1))]


def _write_all(
    engine: sa.Engine,
    ctx: AccountContext,
    folder: Folder,
    in_flight: deque[_DirectBatch],
    result: FolderResult,
    progress: Progress,
) -> None:
    while in_flight:
        _write_direct(engine, ctx, folder, _commit_group(in_flight), result, progress)


def _by_weight(uids: list[int], sizes: dict[int, int]) -> list[list[int]]:
    """Consecutive UIDs in batches of at most DIRECT_BATCH and DIRECT_CHUNK_BYTES. UIDs
    without a size (expunged meanwhile) ride along: the FETCH skips them."""
    batches: list[list[int]] = []
    batch: list[int] = []
    weight = 0
    for uid in uids:
        size = sizes.get(uid, 0)
        if batch and (len(batch) == DIRECT_BATCH or weight + size > DIRECT_CHUNK_BYTES):
            batches.append(batch)
            batch, weight = [], 0
        batch.append(uid)
        weight += size
    if batch:
        batches.append(batch)
    return batches


def _write_direct(
    engine: sa.Engine,
    ctx: AccountContext,
    folder: Folder,
    batches: list[_DirectBatch],
    result: FolderResult,
    progress: Progress,
) -> None:
    """Write consecutive direct batches in one transaction. A batch that failed (its
    fetcher lost the connection) ends the pass: the batches before it are written, the
    error goes up, and the next pass starts again after them."""
    keep = []
    written: list[_DirectBatch] = []
    failure: EmailsyncError | None = None
    for batch in batches:
        try:
            outcome = batch.result()
        except EmailsyncError as exc:
            failure = exc
            break
        written.append(batch)
        result.skipped += outcome.skipped
        result.left_out[Reason.OUTSIDE_WINDOW] += outcome.skipped
        for fetched, digested in zip(outcome.messages, outcome.digested, strict=True):
            new = _new_message(ctx, folder, fetched, digested)
            if screened_by_block(new.parsed.participants.emails(), ctx.own_emails, ctx.blocked):
                result.skipped += 1
                result.left_out[Reason.BLOCKED] += 1
                continue
            keep.append(new)
    if written:
        last = written[-1]
        _write(engine, ctx, folder, keep, [], last.uids[-1], result, last.done_values)
        progress.advanced(folder.name, sum(len(b.uids) for b in written))
    if failure is not None:
        raise failure


def rescan_folder(
    session: ImapSession,
    engine: sa.Engine,
    ctx: AccountContext,
    folder: Folder,
    *,
    progress: Progress,
) -> FolderResult:
    """Look again at the UIDs behind the cursor that are not stored (screened out by the
    contacts scope or a block list at the time) and take those the rules now keep.

    The cursor does not move: these UIDs are behind it already. Used after unblocking an
    address and for `--backfill-contact`; dedup keeps copies from doubling."""
    result = FolderResult()
    status = session.select(folder.name)
    if folder.uidvalidity != status.uidvalidity or folder.uid_cursor == 0:
        return result  # never synced, or UIDs void: the normal pass does it all
    assert folder.window_start is not None
    since = (folder.window_start - timedelta(days=1)).date()
    with reading(engine) as conn:
        held = set(message_store.folder_uids(conn, folder.id))
    candidates = [
        uid for uid in session.search_uids(1, since) if uid <= folder.uid_cursor and uid not in held
    ]
    progress.folder_started(folder.name, len(candidates))
    for start in range(0, len(candidates), HEADER_BATCH):
        batch = candidates[start : start + HEADER_BATCH]
        metas = session.fetch_messages(batch, headers_only=True)
        for group, _end in _plan_groups(engine, ctx, folder, metas, batch, result):
            _store_group(session, engine, ctx, folder, group, folder.uid_cursor, result, None)
            progress.advanced(folder.name, group.count)
    progress.folder_finished(folder.name)
    return result


def _few_new(folder: Folder, status: FolderStatus) -> bool:
    """A folder synced before with at most SIZE_PLAN new UIDs (the usual pass after new
    mail): its candidates and their sizes come from one FETCH (`_few_candidates`)."""
    return (
        folder.uid_cursor > 0
        and not folder.remapping
        and 0 < status.uidnext - folder.uid_cursor - 1 <= SIZE_PLAN
    )


def _few_candidates(session: ImapSession, folder: Folder) -> tuple[list[int], dict[int, int]]:
    """What `_candidates` finds (INTERNALDATE from a day before the window, as its SEARCH
    SINCE asks), with the sizes `_planned_batches` would ask for next (of every new UID,
    those older than the window too: `_locate_moved` looks at them)."""
    assert folder.window_start is not None
    since = folder.window_start - timedelta(days=1)
    found = session.new_messages_from(folder.uid_cursor + 1)
    candidates = sorted(uid for uid, (_size, arrived) in found.items() if arrived >= since)
    return candidates, {uid: size for uid, (size, _arrived) in found.items()}


def _locate_moved(
    session: ImapSession,
    engine: sa.Engine,
    ctx: AccountContext,
    folder: Folder,
    uids: list[int],
    result: FolderResult,
) -> None:
    """New UIDs older than the folder's window are not fetched; but one the store knows
    already was moved or copied here from another folder (its INTERNALDATE travels with
    it), and gets its location, so that the other folder's expunge does not remove it.
    Only locations are written, the cursor stays: replayed after a kill, the locations
    are found by (folder, uid) and not doubled."""
    for start in range(0, len(uids), HEADER_BATCH):
        metas = session.fetch_messages(uids[start : start + HEADER_BATCH], headers_only=True)
        seen = {m.uid: (_summary(m).message_id, head_print(m.header_bytes or b"")) for m in metas}
        with reading(engine) as conn:
            known = message_store.stored_copies(conn, ctx.account_id, seen.values(), ctx.raw_files)
        locations = [
            message_store.NewLocation(known[seen[m.uid]], m) for m in metas if seen[m.uid] in known
        ]
        if locations:
            _write(engine, ctx, folder, [], locations, folder.uid_cursor, result, None)


def _candidates(session: ImapSession, folder: Folder) -> list[int]:
    assert folder.window_start is not None
    # SEARCH SINCE has day granularity in the server's zone: ask a day early, then
    # filter by the exact INTERNALDATE (RFC 3501 §6.4.4).
    since = (folder.window_start - timedelta(days=1)).date()
    return sorted(uid for uid in session.search_uids(folder.uid_cursor + 1, since) if uid > 0)


@dataclass(slots=True)
class _Group:
    """Consecutive UIDs whose outcome commits together."""

    bodies: list[tuple[FetchedMessage, HeaderSummary]]
    locations: list[message_store.NewLocation]
    body_bytes: int = 0
    count: int = 0


def _plan_groups(
    engine: sa.Engine,
    ctx: AccountContext,
    folder: Folder,
    metas: Sequence[FetchedMessage],
    batch: Sequence[int],
    result: FolderResult,
) -> Iterator[tuple[_Group, int]]:
    """Decide per message: skip, add a location to a known message, or fetch the body.
    Yields groups ending at a UID, each small enough in body bytes to hold in memory."""
    assert folder.window_start is not None
    summaries = {m.uid: _summary(m) for m in metas}
    # (Message-ID, head print): a copy of a stored message has both (mime/fingerprint.py)
    seen = {m.uid: (summaries[m.uid].message_id, head_print(m.header_bytes or b"")) for m in metas}
    with reading(engine) as conn:
        known = message_store.stored_copies(conn, ctx.account_id, seen.values(), ctx.raw_files)
    group = _Group([], [])
    for meta in sorted(metas, key=lambda m: m.uid):
        group.count += 1
        summary = summaries[meta.uid]
        stored = known.get(seen[meta.uid])
        if stored is not None:
            group.locations.append(message_store.NewLocation(stored, meta))
        elif meta.internaldate < folder.window_start:
            result.skipped += 1
            result.left_out[Reason.OUTSIDE_WINDOW] += 1
        elif (rule := _screened_out(ctx, meta, summary)) is not None:
            result.skipped += 1
            if rule in REASON_OF:
                result.left_out[REASON_OF[rule]] += 1
        else:  # a second copy in this batch is fetched too: write_batch finds it the same
            group.bodies.append((meta, summary))
            group.body_bytes += meta.size
        if group.body_bytes >= BODY_CHUNK_BYTES:
            yield group, meta.uid
            group = _Group([], [])
    # UIDs the server did not return (expunged meanwhile) are covered by the batch end.
    yield group, batch[-1]


def _screened_out(
    ctx: AccountContext, meta: FetchedMessage, summary: HeaderSummary
) -> KeptOut | None:
    """The rule that keeps it out, or None: mail of blocked people only, mail outside a
    re-scan's focus, and past mail without a CRM contact under the contacts scope
    (domain.screening)."""
    return kept_out(
        summary.participants.emails(),
        meta.internaldate,
        conditions=ctx.conditions,
        started_at=ctx.started_at,
        own_emails=ctx.own_emails,
        contact_emails=ctx.contact_emails,
        blocked=ctx.blocked,
        only_emails=ctx.only_emails,
    )


def _summary(meta: FetchedMessage) -> HeaderSummary:
    try:
        return parse_header_summary(meta.header_bytes or b"")
    except Exception:  # the parser promises not to raise; never let it stop a sync
        return HeaderSummary(message_id="", participants=Participants())


def _store_group(
    session: ImapSession,
    engine: sa.Engine,
    ctx: AccountContext,
    folder: Folder,
    group: _Group,
    cursor: int,
    result: FolderResult,
    done_values: dict[str, object] | None,
) -> None:
    new_messages: list[message_store.NewMessage] = []
    if group.bodies:
        wanted = [meta.uid for meta, _ in group.bodies]
        for fetched in session.fetch_messages(wanted, headers_only=False):
            if fetched.raw is not None:
                new_messages.append(_new_message(ctx, folder, fetched))
    _write(engine, ctx, folder, new_messages, group.locations, cursor, result, done_values)


def _new_message(
    ctx: AccountContext,
    folder: Folder,
    fetched: FetchedMessage,
    digested: Digested | None = None,
) -> message_store.NewMessage:
    """`digested`: what fetchers.batch_of made of the bytes, having written them to
    ctx.raw_files already (a fetcher process then leaves `fetched.raw` out); without
    it, parsed here and the bytes left to write_batch."""
    if digested is None:
        assert fetched.raw is not None
        parsed, (digest, spot) = parse_safely(fetched.raw), (raw_digest(fetched.raw), None)
    else:
        parsed, (digest, spot) = digested
    return message_store.NewMessage(
        key=message_store.identity_key(parsed.message_id, parsed.fingerprint, digest),
        fetched=fetched,
        parsed=parsed,
        digest=digest,
        raw_spot=spot,
        direction=direction(
            [a.email for a in parsed.participants.from_], ctx.own_emails, folder.role
        ),
    )


def _write(
    engine: sa.Engine,
    ctx: AccountContext,
    folder: Folder,
    new_messages: list[message_store.NewMessage],
    locations: list[message_store.NewLocation],
    cursor: int,
    result: FolderResult,
    done_values: dict[str, object] | None,
) -> None:
    """One transaction: the messages, their locations and the cursor that covers them
    (the last write of a pass: every UID below UIDNEXT, see `_fetch_new`)."""
    if done_values is not None and "uid_cursor" in done_values:
        cursor = max(cursor, cast(int, done_values["uid_cursor"]))
    with engine.begin() as conn:
        created = message_store.write_batch(
            conn,
            account_id=ctx.account_id,
            folder_id=folder.id,
            new_messages=new_messages,
            new_locations=locations,
            cursor=cursor,
            default_sharing=ctx.default_sharing,
            folder_values=done_values,
            raw_files=ctx.raw_files,
        )
    result.new_messages += created
    result.new_locations += len(locations) + len(new_messages) - created

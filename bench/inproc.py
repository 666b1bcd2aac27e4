"""Measurements that need emailsync in-process; run.py starts one subprocess per
measurement (its environment names the installation: EMAILSYNC_HOME, ...) and reads
the JSON this prints on its last line.

    incremental  one open session; time `sync_account` passes with nothing changed,
                 each after the worker's IDLE on the Inbox (and, for the record, without)
    contacts     one pass of a contacts-scope account; bytes received from the server
    latency      the worker idling on INBOX: APPEND -> message in the store; and the
                 reference, an IDLE-ing imapclient seeing EXISTS after the same APPEND
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from imapclient import IMAPClient

from emailsync.config import Settings
from emailsync.runtime.worker import _wait_for_mail
from emailsync.store import accounts as account_store
from emailsync.store.db import open_database, reading
from emailsync.store.tables import messages as messages_table
from emailsync.sync.account_sync import open_session, sync_account

IDLE_POLL = 0.05  # seconds of IDLE between two no-change passes (the worker: 60)


def _context(account_ref: str):
    settings = Settings.from_environment()
    engine = open_database(settings)
    with engine.connect() as conn:
        account = account_store.find_account(conn, account_ref)
    return settings, engine, account


def _stats(values: list[float]) -> dict:
    ordered = sorted(values)
    return {
        "median": round(statistics.median(ordered), 4),
        "min": round(ordered[0], 4),
        "max": round(ordered[-1], 4),
        "p90": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))], 4),
        "n": len(ordered),
    }


def incremental(args: argparse.Namespace) -> dict:
    """No-change passes as a running worker makes them: between two passes it refreshes
    the Inbox and IDLEs on it (`runtime.worker._wait_for_mail`, here with a poll of
    IDLE_POLL seconds, untimed), so each pass finds the Inbox open and current. For the
    record, and first, passes back to back on the fresh session (`no_idle`; what this
    measurement was until 2026-11-27): the Inbox is not open then, so each pass asks
    its STATUS, and once a session has had a folder open and left it, Dovecot 2.3
    answers that folder's STATUS as slowly as it opens it: ~19 ms for a 50k-message
    Inbox (0.2 ms before the session first opened it, 0.1 ms while it is open)."""
    settings, engine, account = _context(args.account)
    session = open_session(settings, account)
    try:
        started = time.perf_counter()
        first = sync_account(settings, engine, account, session=session)
        first_seconds = time.perf_counter() - started
        passes: dict[str, list[float]] = {"worker": [], "no_idle": []}
        for mode in ("no_idle", "worker"):
            for _ in range(args.reps):
                if mode == "worker":
                    assert _wait_for_mail(session, threading.Event(), IDLE_POLL, None)
                with engine.connect() as conn:  # as the worker does before each pass
                    account = account_store.find_account(conn, args.account)
                started = time.perf_counter()
                result = sync_account(settings, engine, account, session=session)
                passes[mode].append(time.perf_counter() - started)
                assert result.new_messages == 0, "the mailbox changed during the no-change passes"
    finally:
        session.close()
    return {
        "first_pass_seconds": round(first_seconds, 4),
        "first_pass_new_messages": first.new_messages,
        "pass_seconds": _stats(passes["worker"]),
        "pass_seconds_no_idle": _stats(passes["no_idle"]),
    }


def contacts(args: argparse.Namespace) -> dict:
    settings, engine, account = _context(args.account)
    session = open_session(settings, account)
    after_login = session.bytes_received
    try:
        started = time.perf_counter()
        result = sync_account(settings, engine, account, session=session)
        seconds = time.perf_counter() - started
        received = session.bytes_received - after_login
    finally:
        session.close()
    with engine.connect() as conn:
        stored_count, stored_bytes = conn.execute(
            sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(messages_table.c.size), 0))
        ).one()
    return {
        "seconds": round(seconds, 3),
        "bytes_received": received,
        "new_messages": result.new_messages,
        "skipped": sum(f.skipped for f in result.folders.values()),
        "stored_messages": stored_count,
        "stored_bytes": int(stored_bytes),
    }


def _probe_message(tag: str) -> tuple[str, bytes]:
    message_id = f"<latency-{tag}@bench.example>"
    body = ("Latency probe for the emailsync benchmark.\r\n" * 150).encode()
    head = (
        f'From: "Probe" <probe@bench.example>\r\nTo: <alice@example.com>\r\n'
        f"Subject: latency probe {tag}\r\nMessage-ID: {message_id}\r\n"
        f"Date: {datetime.now(UTC).strftime('%a, %d %b %Y %H:%M:%S +0000')}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    ).encode()
    return message_id, head + body


def _imap(args: argparse.Namespace) -> IMAPClient:
    client = IMAPClient(args.host, args.port, ssl=False, timeout=30)
    client._imap.debug = 0  # imapclient's default debug level makes it ~6x slower
    client.login(args.user, args.password)
    return client


def latency(args: argparse.Namespace) -> dict:
    from emailsync.runtime.worker import run_account

    settings, engine, account = _context(args.account)
    stop = threading.Event()
    passes: list[float] = []
    pass_done = threading.Condition()

    def on_pass(_result: object) -> None:
        with pass_done:
            passes.append(time.perf_counter())
            pass_done.notify_all()

    def wait_passes(count: int, timeout: float) -> None:
        with pass_done:
            if not pass_done.wait_for(lambda: len(passes) >= count, timeout):
                raise RuntimeError(f"the worker did not finish pass {count} in {timeout} s")

    worker = threading.Thread(
        target=run_account,
        args=(settings, engine, account.id),
        kwargs={"stop": stop, "poll_seconds": 600.0, "on_pass": on_pass},
        daemon=True,
    )
    worker.start()
    appender = _imap(args)
    store_ms, append_ms = [], []
    try:
        wait_passes(1, 600)  # the worker's first pass (catches up), then it IDLEs
        time.sleep(0.5)
        query = sa.select(messages_table.c.id).where(
            messages_table.c.message_id.in_(sa.bindparam("ids", expanding=True))
        )
        for rep in range(args.reps):
            message_id, raw = _probe_message(f"{rep}-{uuid.uuid4().hex[:8]}")
            ids = [message_id, message_id.strip("<>")]
            done_before = len(passes)
            started = time.perf_counter()
            appender.append("INBOX", raw)
            append_ms.append((time.perf_counter() - started) * 1000)
            deadline = started + 60
            while True:
                # a reader: a writer's BEGIN IMMEDIATE every 5 ms would take the write
                # lock from the worker and delay the very commit being timed
                with reading(engine) as conn:
                    if conn.execute(query, {"ids": ids}).first() is not None:
                        break
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"{message_id} did not reach the store within 60 s")
                time.sleep(0.005)
            store_ms.append((time.perf_counter() - started) * 1000)
            wait_passes(done_before + 1, 60)  # let the worker go back to IDLE
            time.sleep(0.3)
    finally:
        stop.set()
        worker.join(timeout=15)
    reference = _dovecot_idle_reference(args, appender, readonly=False)
    readonly_reference = _dovecot_idle_reference(args, appender, readonly=True)
    appender.logout()
    return {
        "append_to_store_ms": _stats(store_ms),
        "append_roundtrip_ms": _stats(append_ms),
        "dovecot_append_to_exists_ms": reference,
        # the worker IDLEs on a read-only (EXAMINE) Inbox, so as not to take the
        # \Recent flag from the user's own mail program; Dovecot tells such a session
        # later than a read-write one
        "dovecot_append_to_exists_readonly_ms": readonly_reference,
    }


def _dovecot_idle_reference(
    args: argparse.Namespace, appender: IMAPClient, *, readonly: bool
) -> dict:
    """Dovecot's own notification latency: APPEND on one connection -> `* n EXISTS`
    seen by another connection that IDLEs on INBOX (opened read-only: EXAMINE)."""
    watcher = _imap(args)
    watcher.select_folder("INBOX", readonly=readonly)
    watcher.idle()
    seen: list[float] = []
    arrived = threading.Event()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            for response in watcher.idle_check(timeout=0.5):
                if isinstance(response, tuple) and len(response) > 1 and response[1] == b"EXISTS":
                    seen.append(time.perf_counter())
                    arrived.set()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    delays = []
    try:
        for rep in range(args.reps):
            arrived.clear()
            count = len(seen)
            _, raw = _probe_message(f"ref-{rep}-{uuid.uuid4().hex[:8]}")
            started = time.perf_counter()
            appender.append("INBOX", raw)
            if not arrived.wait(30):
                raise RuntimeError("no EXISTS within 30 s")
            delays.append((seen[count] - started) * 1000)
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=5)
        watcher.idle_done()
        watcher.logout()
    return _stats(delays)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="what", required=True)
    for name in ("incremental", "contacts", "latency"):
        p = sub.add_parser(name)
        p.add_argument("--account", required=True)
        p.add_argument("--reps", type=int, default=5)
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, default=0)
        p.add_argument("--user", default="")
        p.add_argument("--password", default="secret")
    args = ap.parse_args()
    result = {"incremental": incremental, "contacts": contacts, "latency": latency}[args.what](args)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

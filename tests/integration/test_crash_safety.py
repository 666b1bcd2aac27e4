"""Nothing lost, nothing doubled: a sync killed at any instant or cut off mid-FETCH,
then run again, ends with every message exactly once."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from emailsync.config import Settings
from emailsync.store.db import create_engine, reading
from support.dovecot import DovecotServer
from support.harness import Harness
from support.mail import make_message
from support.proxy import CuttingProxy

NOW = datetime.now(UTC)


def seed(server: DovecotServer, user: str, folder: str, count: int, body_bytes: int) -> None:
    """APPEND `count` distinct messages over one connection (fast bulk seeding)."""
    filler = "lorem ipsum dolor sit amet " * (body_bytes // 27 + 1)
    with server.client(user) as client:
        if not client.folder_exists(folder):
            client.create_folder(folder)
        for n in range(count):
            raw = make_message(
                subject=f"{folder} {n}",
                body=filler,
                message_id=f"<{folder}-{n}-{uuid.uuid4().hex}@seed.example>",
            )
            client.append(folder, raw, msg_time=NOW - timedelta(minutes=n + 1))


def stored_locations(engine: sa.Engine) -> int:
    # a reader (plain BEGIN): a writer's BEGIN IMMEDIATE would queue behind the sync's
    # transactions and see its first commit only thousands of messages late
    with reading(engine) as conn:
        return conn.execute(sa.text("SELECT count(*) FROM message_locations")).scalar_one()


def assert_exactly_once(harness: Harness, account: str, expected: int) -> None:
    messages = harness.messages(account)
    ids = [m["message_id"] for m in messages]
    assert len(ids) == len(set(ids)), "a message was stored twice"
    assert len(messages) == expected, f"{expected - len(messages)} messages lost"
    raw = harness.raw_copies()
    assert len(raw) == expected
    assert all(
        data is not None and hashlib.sha256(data).hexdigest() == digest
        for digest, data in raw.items()
    ), "a raw message is missing or damaged"
    status = harness.ok("accounts", "status", account, "--json").json()
    locations = sum(f["synced_messages"] for f in status["folders"])
    assert locations == expected


def test_sync_killed_at_random_instants_converges_to_every_message_once(
    harness: Harness, dovecot: DovecotServer, tmp_path: Path
) -> None:
    """kill -9 lands during FETCH, parsing and database writes across the runs."""
    user = dovecot.add_user(f"k{uuid.uuid4().hex[:12]}")
    # fetcher processes fetch and parse 100 UIDs a batch; commits of up to 400 messages
    # come with eight batches in flight behind them
    seed(dovecot, user, "INBOX", 2500, 6000)
    seed(dovecot, user, "Sent", 500, 6000)
    account = harness.connect(dovecot, user)
    harness.ok("accounts", "configure", account, "--past-scope", "all")
    env = {**os.environ, "CI": "1"}
    command = [sys.executable, "-m", "emailsync", "sync", account, "--once"]
    engine = create_engine(Settings.from_environment().database_url)
    rng = random.Random(7)
    counts = []
    kills = 0
    for _ in range(20):
        before = stored_locations(engine)
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        # Wait for the run to commit something, then kill it a random moment later:
        # the kill lands in a FETCH, in parsing or inside a database transaction.
        deadline = time.monotonic() + 30
        while process.poll() is None and stored_locations(engine) == before:
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.08))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait()
        counts.append(stored_locations(engine))
        if counts[-1] == 3000:
            break
    engine.dispose()
    assert kills >= 3, "the sync finished before it could be killed: seed more mail"
    assert counts == sorted(counts), "a killed run lost committed messages"
    harness.ok("sync", account, "--once")
    assert_exactly_once(harness, account, 3000)


def _cut_run_keeps_a_part(harness: Harness, proxy: CuttingProxy, account: str, total: int) -> int:
    """A run whose connection the proxy cut: reported without a traceback and naming the
    account, part of the mail stored; returns how much."""
    result = harness.cli("sync", account, "--once")
    assert proxy.cuts == 1
    assert result.code == 1
    assert "Traceback" not in result.err
    assert "me@example.com" in result.err
    partial = len(harness.messages(account))
    assert 0 < partial < total
    return partial


def test_connection_cut_mid_fetch_is_reported_and_the_next_run_completes(
    harness: Harness, dovecot: DovecotServer
) -> None:
    user = dovecot.add_user(f"c{uuid.uuid4().hex[:12]}")
    seed(dovecot, user, "INBOX", 300, 40_000)  # 12 MB: more than one body chunk
    proxy = CuttingProxy(dovecot.host, dovecot.port)
    try:
        account = harness.connect_through(proxy, user)
        proxy.cut_after = 10_000_000  # inside the second chunk of bodies
        _cut_run_keeps_a_part(harness, proxy, account, 300)
        harness.ok("sync", account, "--once")
        assert_exactly_once(harness, account, 300)
    finally:
        proxy.close()


def test_a_fetcher_losing_its_connection_keeps_the_batches_before_it(
    harness: Harness, dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a big pass the bodies come over the fetchers' own connections
    (sync/fetchers.py). One of them dropped mid-FETCH: the pass reports it, the
    batches before the failed one are committed, none after, and the next run ends with
    every message exactly once."""
    from emailsync.sync import folder_sync

    monkeypatch.setattr(folder_sync, "PARALLEL_FETCH_MIN", 1)
    monkeypatch.setattr(folder_sync, "DIRECT_BATCH", 20)  # ~0.8 MB a batch, 15 batches
    user = dovecot.add_user(f"f{uuid.uuid4().hex[:12]}")
    seed(dovecot, user, "INBOX", 300, 40_000)
    proxy = CuttingProxy(dovecot.host, dovecot.port)
    try:
        account = harness.connect_through(proxy, user)
        proxy.spare = 1  # the sync process's own connection
        proxy.cut_after = 2_500_000  # the first fetcher's, inside its third or fourth batch
        partial = _cut_run_keeps_a_part(harness, proxy, account, 300)
        assert partial % 20 == 0  # whole batches only
        harness.ok("sync", account, "--once")
        assert_exactly_once(harness, account, 300)
    finally:
        proxy.close()


def test_a_server_refusing_more_connections_is_synced_over_one(
    harness: Harness, dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some servers allow one connection per user: the fetchers cannot log in, and the
    sync process fetches every batch itself."""
    from emailsync.sync import folder_sync

    monkeypatch.setattr(folder_sync, "PARALLEL_FETCH_MIN", 1)
    monkeypatch.setattr(folder_sync, "DIRECT_BATCH", 20)
    user = dovecot.add_user(f"n{uuid.uuid4().hex[:12]}")
    seed(dovecot, user, "INBOX", 120, 2_000)
    proxy = CuttingProxy(dovecot.host, dovecot.port)
    try:
        account = harness.connect_through(proxy, user)
        proxy.accepted, proxy.accept_only = 0, 1
        harness.ok("sync", account, "--once")
        assert proxy.accepted > 1  # the fetchers did try
        assert_exactly_once(harness, account, 120)
    finally:
        proxy.close()


@pytest.mark.parametrize("security", ["plain"])
def test_plain_imap_is_refused_for_a_non_loopback_host(harness: Harness, security: str) -> None:
    harness.ok("users", "add", "seller@crm.example")
    result = harness.cli(
        "accounts", "add", "--user", "seller@crm.example", "--email", "me@example.com",
        "--imap", "imap.example.com:143", "--imap-security", security,
        "--password-stdin", stdin="secret\n",
    )  # fmt: skip
    assert result.code == 1
    assert "plain" in result.err.lower() or "unencrypted" in result.err.lower()


def test_a_killed_sync_leaves_no_parser_process_behind(
    harness: Harness, dovecot: DovecotServer
) -> None:
    """The fetcher processes of a big pass exit with their parent, even after kill -9."""
    user = dovecot.add_user(f"o{uuid.uuid4().hex[:12]}")
    seed(dovecot, user, "INBOX", 2100, 1500)  # above PARALLEL_FETCH_MIN
    account = harness.connect(dovecot, user)
    harness.ok("accounts", "configure", account, "--past-scope", "all")
    env = {**os.environ, "CI": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "emailsync", "sync", account, "--once"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def parsers() -> list[str]:
        out = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True)
        return out.stdout.split()

    deadline = time.monotonic() + 30
    while not parsers() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    children = parsers()
    assert children, "no fetcher process was started"
    process.send_signal(signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(Path(f"/proc/{c}").exists() for c in children):
        time.sleep(0.1)
    assert not any(Path(f"/proc/{c}").exists() for c in children), "a fetcher outlived the sync"

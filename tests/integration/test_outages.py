"""Outages heal by themselves (issue 13, items 1-3): a mail server that restarts, is not
up yet or drops a pass, a database that restarts and a disk that fills up are waited out
with backoff, the account says so in words, and syncing resumes without anybody acting.

The servers are real: a Dovecot of this module's own that can be halted and resumed on
the same port (a restart), PostgreSQL's own cluster stopped and started, a tmpfs of a
few MB as the data directory. Backoff is shrunk (0.05 s doubling to 0.5 s) so the tests
stay fast; production waits 1 s doubling to 5 min.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from emailsync.config import Settings
from emailsync.domain.states import AccountState
from emailsync.retry import Backoff
from emailsync.runtime.worker import run_account, sync_in_foreground
from emailsync.serve import Supervisor
from emailsync.store import accounts as account_store
from emailsync.store.db import open_database, reading
from support.dovecot import DOVECOT, DovecotServer
from support.harness import Harness
from support.mail import make_message
from support.postgres import PostgresServer
from support.proxy import CuttingProxy


def fast_backoff() -> Backoff:
    return Backoff(base=0.05, cap=0.5)


@pytest.fixture
def server() -> Iterator[DovecotServer]:
    """A Dovecot of this test's own: halting the shared one would break other tests."""
    if not os.path.exists(DOVECOT):
        pytest.skip("Dovecot is not installed")
    with DovecotServer() as own:
        yield own


@pytest.fixture
def installation(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, server: DovecotServer) -> Harness:
    return Harness(monkeypatch, tmp_path / "data", None, server.cafile)


def wait_for(what: str, check: Callable[[], Any], timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    last = getattr(check, "last", None)
    raise AssertionError(f"timed out waiting for {what}" + (f": {last}" if last else ""))


def account_row(engine: sa.Engine, account: str) -> account_store.Account:
    with reading(engine) as conn:
        return account_store.find_account(conn, account)


def in_state(
    engine: sa.Engine, account: str, state: AccountState
) -> Callable[[], account_store.Account | None]:
    """For wait_for: the account once it is in `state`."""

    def check() -> account_store.Account | None:
        row = account_row(engine, account)
        check.last = row  # type: ignore[attr-defined]
        return row if row.state == state else None

    return check


def subjects(harness: Harness, account: str) -> set[str]:
    return {m["subject"] for m in harness.messages(account)}


@contextlib.contextmanager
def worker(
    settings: Settings, engine: sa.Engine, account: str, **kwargs: Any
) -> Iterator[list[Any]]:
    """run_account in a thread, stopped at the end; yields the results of its passes."""
    stop = threading.Event()
    passes: list[Any] = []
    thread = threading.Thread(
        target=run_account,
        args=(settings, engine, int(account)),
        kwargs={
            "stop": stop,
            "poll_seconds": 600,
            "on_pass": passes.append,
            "backoff": fast_backoff(),
            **kwargs,
        },
        name="worker-under-test",
    )
    thread.start()
    try:
        yield passes
    finally:
        stop.set()
        thread.join(timeout=15)
        assert not thread.is_alive(), "the worker did not stop"


# -- item 1 and 2: the mail server restarts ---------------------------------------------


def test_a_dovecot_restart_while_the_worker_idles_heals_without_spinning(
    installation: Harness, server: DovecotServer
) -> None:
    """Measured before: IDLE on the closed connection spun ~90 % of a core until the poll
    ended, the account stayed "active", and new mail waited. Now the EOF ends IDLE at
    once, the account says it is retrying, and mail sent after the restart comes in."""
    user = server.add_user(f"r{uuid.uuid4().hex[:10]}")
    server.append(
        user,
        "INBOX",
        make_message(subject="before the restart"),
        internaldate=datetime.now(UTC) - timedelta(days=1),
    )
    account = installation.connect(server, user)
    installation.ok("accounts", "configure", account, "--past-scope", "all")
    settings = Settings.from_environment()
    engine = open_database(settings)
    try:
        with worker(settings, engine, account) as passes:
            wait_for("the first pass", lambda: passes)
            time.sleep(0.5)  # IDLE
            cpu_before, wall_before = time.process_time(), time.monotonic()
            server.halt()
            retrying = wait_for(
                "the state retrying",
                in_state(engine, account, AccountState.RETRYING),
                timeout=10,
            )
            time.sleep(2)  # the server stays down: the worker must wait, not spin
            cpu = time.process_time() - cpu_before
            wall = time.monotonic() - wall_before
            assert cpu < 0.35 * wall, (
                f"{cpu:.2f} s of CPU in {wall:.2f} s while the server was down"
            )
            assert retrying.last_error.startswith(f"Cannot reach {server.host} since ")
            assert "; retrying in " in retrying.last_error
            assert retrying.failing_since is not None and retrying.retry_at is not None
            server.resume()
            server.append(user, "INBOX", make_message(subject="after the restart"))
            wait_for(
                "the mail sent after the restart",
                lambda: "after the restart" in subjects(installation, account),
            )
            final = wait_for("the state active", in_state(engine, account, AccountState.ACTIVE))
            assert final.last_error is None and final.failing_since is None
    finally:
        engine.dispose()
    assert subjects(installation, account) == {"before the restart", "after the restart"}


def test_serve_started_before_the_mail_server_syncs_once_it_comes_up(
    installation: Harness, server: DovecotServer
) -> None:
    """A reboot's order: the product starts, the mail server a little later. Before,
    "connection refused" put every account in "needs reconnect" for good."""
    user = server.add_user(f"b{uuid.uuid4().hex[:10]}")
    server.append(
        user,
        "INBOX",
        make_message(subject="waiting on the server"),
        internaldate=datetime.now(UTC) - timedelta(days=1),
    )
    account = installation.connect(server, user)
    installation.ok("accounts", "configure", account, "--past-scope", "all")
    server.halt()
    settings = Settings.from_environment()
    engine = open_database(settings)
    supervisor = Supervisor(
        settings, engine, poll_seconds=600, tick_seconds=0.1, backoff=fast_backoff
    )
    supervisor.start()
    try:
        state = wait_for("the state retrying", in_state(engine, account, AccountState.RETRYING))
        assert state.last_error.startswith(f"Cannot reach {server.host} since ")
        time.sleep(1)
        assert account_row(engine, account).state == AccountState.RETRYING
        server.resume()
        wait_for(
            "the past mail", lambda: "waiting on the server" in subjects(installation, account)
        )
        wait_for("the state active", in_state(engine, account, AccountState.ACTIVE))
        assert supervisor.started == {int(account): 1}, (
            "the worker was restarted instead of retrying"
        )
    finally:
        supervisor.stop()
        engine.dispose()


def test_sync_now_retries_at_once(installation: Harness, server: DovecotServer) -> None:
    """With the backoff at its ceiling, "Sync now" (Supervisor.wake) does not wait for it."""
    user = server.add_user(f"n{uuid.uuid4().hex[:10]}")
    account = installation.connect(server, user)
    installation.ok("accounts", "configure", account, "--past-scope", "all")
    server.halt()
    settings = Settings.from_environment()
    engine = open_database(settings)
    supervisor = Supervisor(
        settings,
        engine,
        poll_seconds=600,
        tick_seconds=0.1,
        backoff=lambda: Backoff(base=120, cap=120),
    )
    supervisor.start()
    try:
        wait_for(
            "the state retrying",
            in_state(engine, account, AccountState.RETRYING),
        )
        server.resume()
        time.sleep(1)
        assert account_row(engine, account).state == AccountState.RETRYING  # waiting up to 2 min
        supervisor.wake(int(account))
        wait_for(
            "the state active",
            in_state(engine, account, AccountState.ACTIVE),
            timeout=10,
        )
    finally:
        supervisor.stop()
        engine.dispose()


def test_sync_command_keeps_running_through_a_drop_in_its_first_pass(
    installation: Harness, server: DovecotServer
) -> None:
    """Before: `sync ACCOUNT` exited ("will retry", rc 1) on a drop during its first pass
    and never resumed."""
    user = server.add_user(f"d{uuid.uuid4().hex[:10]}")
    for i in range(20):
        server.append(
            user,
            "INBOX",
            make_message(subject=f"past {i}", body="x" * 4000 + "\n"),
            internaldate=datetime.now(UTC) - timedelta(days=1),
        )
    proxy = CuttingProxy(server.host, server.port)
    try:
        email = installation.connect_through(proxy, user)
        proxy.cut_after = 30_000  # the first pass's connection, in the middle of the bodies
        settings = Settings.from_environment()
        engine = open_database(settings)
        account = account_row(engine, email)
        stop = threading.Event()
        codes: list[int] = []
        reports: list[Any] = []
        thread = threading.Thread(
            target=lambda: codes.append(
                sync_in_foreground(
                    settings,
                    engine,
                    account,
                    once=False,
                    report=lambda _e, r: reports.append(r),
                    backoff=fast_backoff(),
                    stop=stop,
                )
            ),
        )
        thread.start()
        try:
            wait_for(
                "all the past mail", lambda: len(subjects(installation, email)) == 20, timeout=30
            )
            assert proxy.cuts == 1
            assert thread.is_alive(), "sync ACCOUNT gave up after a drop"
            server.append(user, "INBOX", make_message(subject="later"))
            wait_for("new mail after the drop", lambda: "later" in subjects(installation, email))
        finally:
            stop.set()
            thread.join(timeout=15)
            engine.dispose()
        assert codes == [0]
    finally:
        proxy.close()


def test_sync_command_exits_1_when_the_account_needs_the_user(
    installation: Harness, server: DovecotServer
) -> None:
    """A service manager restarts or reports what exits non-zero; before, it exited 0."""
    user = server.add_user(f"p{uuid.uuid4().hex[:10]}")
    account = installation.connect(server, user)
    server.halt()  # a fresh Dovecot reads the changed password for sure
    (server.root / "users" / user).write_text(f"{user}:{{PLAIN}}changed\n")
    server.resume()
    settings = Settings.from_environment()
    engine = open_database(settings)
    try:
        code = sync_in_foreground(
            settings,
            engine,
            account_row(engine, account),
            once=False,
            report=lambda _e, _r: None,
            backoff=fast_backoff(),
        )
        assert code == 1
        assert account_row(engine, account).state == AccountState.NEEDS_RECONNECT
    finally:
        engine.dispose()


def test_sync_once_with_the_server_down_exits_1_with_a_sentence(
    installation: Harness, server: DovecotServer
) -> None:
    user = server.add_user(f"o{uuid.uuid4().hex[:10]}")
    account = installation.connect(server, user)
    server.halt()
    result = installation.cli("sync", account, "--once")
    assert result.code == 1
    assert "Traceback" not in result.err
    lines = [line for line in result.err.splitlines() if line.startswith("emailsync:")]
    assert len(lines) == 1 and "me@example.com" in lines[0] and "Cannot reach" in lines[0]
    status = installation.ok("accounts", "list", "--json").json()
    assert status[0]["state"] == AccountState.RETRYING


def test_idle_is_renewed_before_the_server_gives_up_on_it(
    installation: Harness, server: DovecotServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RFC 2177 §3: a client re-issues IDLE at least every 29 minutes (shrunk here)."""
    from emailsync.imap import session as session_module

    monkeypatch.setattr(session_module, "IDLE_RENEW_SECONDS", 0.3)
    user = server.add_user(f"i{uuid.uuid4().hex[:10]}")
    with server_session(server, user) as session:
        session.select("INBOX")
        issued: list[float] = []
        real_idle = session._client.idle
        monkeypatch.setattr(
            session._client, "idle", lambda: (issued.append(time.monotonic()), real_idle())[1]
        )
        cpu = time.process_time()
        assert session.idle_wait(timeout=1.5) is False
        assert time.process_time() - cpu < 0.3
    assert len(issued) >= 4


@contextlib.contextmanager
def server_session(server: DovecotServer, user: str) -> Iterator[Any]:
    from emailsync.imap.connection import connect

    session = connect(
        server.host,
        server.tls_port,
        "ssl",
        user,
        "secret",
        email="me@example.com",
        cafile=server.cafile,
    )
    try:
        yield session
    finally:
        session.close()


def kill_server_side(server: DovecotServer, session: Any) -> None:
    """SIGKILL the Dovecot imap process serving `session`: the kernel closes its socket
    at once (EOF), as when the server crashes. (A halted Dovecot says BYE only ~9 s
    after its master exits.)"""
    local_port = session._client.socket().getsockname()[1]
    out = subprocess.run(
        [
            "ss",
            "-Htnp",
            "state",
            "established",
            f"( sport = :{server.tls_port} and dport = :{local_port} )",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pids = {int(p) for p in re.findall(r"pid=(\d+)", out)}
    assert len(pids) == 1, out
    os.kill(pids.pop(), signal.SIGKILL)


def test_idle_on_a_connection_the_server_closed_ends_at_once(server: DovecotServer) -> None:
    """Before: imapclient's idle_check swallows EOF, so the wait spun until its timeout."""
    from emailsync.errors import TransientError

    user = server.add_user(f"e{uuid.uuid4().hex[:10]}")
    with server_session(server, user) as session:
        session.select("INBOX")
        threading.Timer(0.5, kill_server_side, args=(server, session)).start()
        started, cpu = time.monotonic(), time.process_time()
        with pytest.raises(TransientError, match="while waiting for new mail"):
            session.idle_wait(timeout=30)
        assert time.monotonic() - started < 3
        assert time.process_time() - cpu < 0.5


# -- item 3: the disk fills up, the database restarts ------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of its own as the data directory, so the test can fill it (root only)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace')}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def resize(mount: Path, size_bytes: int) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size_bytes}", str(mount)], check=True)


def test_a_full_disk_backs_off_says_so_and_heals(
    monkeypatch: pytest.MonkeyPatch, server: DovecotServer, small_disk: Path
) -> None:
    """Measured before: `serve` on a full disk restarted its workers 782 times in 60 s,
    with 522 IMAP logins. Now the worker waits with backoff, the account says "the disk
    is full", the packs of the failed batches are swept, and once there is room again
    the mail comes in."""
    from emailsync.store import raw_upkeep

    monkeypatch.setattr(raw_upkeep, "FAILED_PACK_SETTLE", 0.0)
    installation = Harness(monkeypatch, small_disk / "data", None, server.cafile)
    user = server.add_user(f"f{uuid.uuid4().hex[:10]}")
    for i in range(30):
        server.append(
            user,
            "INBOX",
            make_message(subject=f"big {i}", body=f"{i}" * 60_000 + "\n"),
            internaldate=datetime.now(UTC) - timedelta(days=1),
        )
    account = installation.connect(server, user)
    installation.ok("accounts", "configure", account, "--past-scope", "all")
    used = os.statvfs(small_disk)
    resize(small_disk, (used.f_blocks - used.f_bfree) * used.f_frsize + 400_000)
    settings = Settings.from_environment()
    engine = open_database(settings)
    supervisor = Supervisor(
        settings, engine, poll_seconds=600, tick_seconds=0.1, backoff=fast_backoff
    )
    supervisor.start()
    try:
        full = wait_for("the state retrying", in_state(engine, account, AccountState.RETRYING))
        assert full.last_error.startswith("The disk is full since "), full.last_error
        time.sleep(2)
        assert supervisor.started == {int(account): 1}, "workers restarted in a loop"
        resize(small_disk, 64 * 1024 * 1024)
        wait_for("all the mail", lambda: len(subjects(installation, account)) == 30, timeout=30)
        wait_for("the state active", in_state(engine, account, AccountState.ACTIVE))
    finally:
        supervisor.stop()
        engine.dispose()
    packs = {p.stem for p in (small_disk / "data" / "raw" / account).glob("*.pack")}
    with reading(open_database(settings)) as conn:
        from emailsync.store.messages import raw_pack_usage

        referenced = set(raw_pack_usage(conn, int(account)))
    assert packs == referenced, "packs of the failed batches were left behind"


def test_a_postgresql_restart_mid_sync_is_waited_out_and_logs_no_mail(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    server: DovecotServer,
    postgres_server: PostgresServer,
    postgres_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Measured before: 17.8 KB of traceback with the subjects, addresses and bodies of
    ten messages (the engine showed statement parameters), and the account left
    "syncing" with no worker."""
    installation = Harness(monkeypatch, tmp_path / "data", postgres_url, server.cafile)
    user = server.add_user(f"g{uuid.uuid4().hex[:10]}")
    account = installation.connect(server, user)
    installation.ok("accounts", "configure", account, "--past-scope", "all")
    settings = Settings.from_environment()
    engine = open_database(settings)
    pg_ctl = ("--pgdata", str(postgres_server.data_dir))
    caplog.set_level(logging.INFO)
    try:
        with worker(settings, engine, account) as passes:
            wait_for("the first pass", lambda: passes)
            postgres_server._run("pg_ctl", "stop", *pg_ctl, "--mode", "fast", "--wait")
            try:
                server.append(
                    user,
                    "INBOX",
                    make_message(
                        subject="Secret merger plan",
                        sender="ceo@initech.example",
                        body="Confidential body\n",
                    ),
                )
                wait_for(
                    "a failed pass",
                    lambda: any(
                        "Cannot write to the database" in r.getMessage() for r in caplog.records
                    ),
                )
                time.sleep(1)
            finally:
                postgres_server._run(
                    "pg_ctl", "start", *pg_ctl, "--log", str(postgres_server.log_file), "--wait"
                )
            wait_for(
                "the mail after the restart",
                lambda: "Secret merger plan" in subjects(installation, account),
            )
            wait_for("the state active", in_state(engine, account, AccountState.ACTIVE))
    finally:
        engine.dispose()
    logged = caplog.text
    for secret in ("Secret merger plan", "ceo@initech.example", "Confidential body"):
        assert secret not in logged


def test_a_session_probes_a_silent_connection_so_a_half_open_one_is_found_in_a_minute(
    server: DovecotServer,
) -> None:
    """While the worker IDLEs it sends nothing, so only TCP keepalive can find a server
    whose machine vanished without closing the connection."""
    import socket

    user = server.add_user(f"k{uuid.uuid4().hex[:10]}")
    with server_session(server, user) as session:
        sock = session._client.socket()
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        idle = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE)
        interval = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL)
        count = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT)
    assert idle + interval * count <= 60


def test_a_worker_that_keeps_dying_is_restarted_with_backoff_not_in_a_loop(
    installation: Harness, server: DovecotServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The supervisor's second line of defence: a worker killed by a bug of ours is
    restarted after the same backoff, never at every tick."""
    from emailsync import serve

    user = server.add_user(f"c{uuid.uuid4().hex[:10]}")
    account = installation.connect(server, user)
    installation.ok("accounts", "configure", account, "--past-scope", "all")

    def dies(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(serve, "run_account", dies)
    settings = Settings.from_environment()
    engine = open_database(settings)
    supervisor = Supervisor(
        settings,
        engine,
        poll_seconds=600,
        tick_seconds=0.01,
        backoff=lambda: Backoff(base=0.2, cap=0.4),
    )
    supervisor.start()
    try:
        time.sleep(2)
    finally:
        supervisor.stop()
        engine.dispose()
    assert 2 <= supervisor.started[int(account)] <= 25

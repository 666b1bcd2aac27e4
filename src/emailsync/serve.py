"""The product in one process: sync workers beside the web server (SQLite default).

A `Supervisor` keeps one worker thread (runtime.worker.run_account) per account that
should sync, and reacts to what users do in the web app through `wake(account_id)`:

    state read from the store         supervisor does
    ------------------------------    --------------------------------------------------
    setup (conditions not chosen)     nothing yet: the first pass waits for "Sync"
    paused / removed / needs_reconnect stop the worker (after its running pass) and keep
                                      that state: a pass that ends meanwhile writes
                                      "active", which is put back to the user's choice
    anything else (new, syncing,      a worker runs; wake() ends its wait for new mail
      active, retrying, error)        (or its wait to retry) so a new pass starts at
                                      once ("Sync now"), its backoff started over

The worker notices a stop request between passes, within about a second. A worker
retries its own failures with backoff (runtime/worker.py); should one still die (a
bug), it is restarted with the same backoff, never in a tight loop: on a full disk
a restart per tick logged in to the mail server hundreds of times a minute.
"""

from __future__ import annotations

import logging
import shlex
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
import uvicorn

from emailsync.config import Settings
from emailsync.domain.states import USER_HELD_STATES, WAITING_FOR_USER_STATES
from emailsync.retry import Backoff, storage_error
from emailsync.runtime.worker import run_account
from emailsync.services import users as user_service
from emailsync.store import accounts as account_store
from emailsync.store.db import reading
from emailsync.web.app import create_app

log = logging.getLogger("emailsync.product")

# Accounts added in the web app wait in "setup" until the user presses Sync; the other
# waiting states (needs_reconnect, paused, removed) wait for the user too.
WAITING_STATES = WAITING_FOR_USER_STATES
# Held states the supervisor restores when a finishing pass overwrote them.
HELD_STATES = USER_HELD_STATES


class Supervisor:
    def __init__(
        self,
        settings: Settings,
        engine: sa.Engine,
        *,
        poll_seconds: float = 60.0,
        tick_seconds: float = 1.0,
        backoff: Callable[[], Backoff] = Backoff,
    ) -> None:
        self.settings = settings
        self.backoff = backoff  # a fresh one per worker and per account's restarts
        self.engine = engine
        self.poll_seconds = poll_seconds
        self.tick_seconds = tick_seconds
        self.stop_event = threading.Event()
        self._nudge = threading.Event()
        self._lock = threading.Lock()
        self._woken: set[int] = set()
        self._workers: dict[int, tuple[threading.Thread, threading.Event]] = {}
        self._held: dict[int, str] = {}
        self._restarts: dict[int, Backoff] = {}  # accounts whose worker died
        self._not_before: dict[int, float] = {}  # ... and when it may start again
        self.started: dict[int, int] = {}  # workers started per account (for tests)
        self._thread: threading.Thread | None = None

    def wake(self, account_id: int) -> None:
        """Something changed for this account (Sync, Sync now, pause, resume, reconnect):
        its worker's wait ends and a new pass starts at once, backoff started over. The
        web app's "Sync now" calls this (`create_app(..., wake=supervisor.wake)`)."""
        with self._lock:
            self._woken.add(account_id)
        self._nudge.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="supervisor", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        self._nudge.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        try:
            while not self.stop_event.is_set():
                try:
                    self._tick()
                except Exception as exc:  # the supervisor must outlive a bad tick (db down)
                    storage = storage_error(exc)
                    if storage is not None:
                        log.warning("supervisor: %s", storage.what)
                    else:
                        log.exception("supervisor tick failed")
                self._nudge.wait(self.tick_seconds)
                self._nudge.clear()
        finally:
            for _, stop in self._workers.values():
                stop.set()
            for thread, _ in self._workers.values():
                thread.join(timeout=10)

    def _tick(self) -> None:
        with self._lock:
            woken, self._woken = self._woken, set()
        with reading(self.engine) as conn:
            states = {a.id: a.state for a in account_store.list_accounts(conn)}
        for account_id in woken:
            self._held.pop(account_id, None)
            self._restarts.pop(account_id, None)
            self._not_before.pop(account_id, None)
            worker = self._workers.get(account_id)
            if worker is not None:
                worker[1].set()  # ends the wait for mail; a new worker starts a new pass
        for account_id, (thread, stop) in list(self._workers.items()):
            state = states.get(account_id)
            if state is None or state in WAITING_STATES:
                stop.set()
                if state in HELD_STATES:
                    self._held[account_id] = state
            if not thread.is_alive():
                del self._workers[account_id]
        for account_id, held in list(self._held.items()):
            if account_id in self._workers:
                continue  # its last pass is still running
            del self._held[account_id]
            if states.get(account_id) not in (None, held):
                with self.engine.begin() as conn:
                    account_store.set_state(conn, account_id, held)
                states[account_id] = held
        now = time.monotonic()
        for account_id, state in states.items():
            if state in WAITING_STATES or account_id in self._workers:
                continue
            if self._not_before.get(account_id, 0.0) > now:
                continue  # its last worker died: restart after the backoff
            self.started[account_id] = self.started.get(account_id, 0) + 1
            stop = threading.Event()
            thread = threading.Thread(
                target=self._run_worker,
                args=(account_id, stop),
                name=f"account-{account_id}",
                daemon=True,
            )
            self._workers[account_id] = (thread, stop)
            thread.start()

    def _run_worker(self, account_id: int, stop: threading.Event) -> None:
        try:
            run_account(
                self.settings,
                self.engine,
                account_id,
                stop=stop,
                poll_seconds=self.poll_seconds,
                backoff=self.backoff(),
            )
        except Exception:
            with self._lock:
                backoff = self._restarts.setdefault(account_id, self.backoff())
                wait = backoff.next_wait()
                self._not_before[account_id] = time.monotonic() + wait
            log.exception("worker for account %s stopped; restarting in %.0f s", account_id, wait)
        else:
            with self._lock:
                self._restarts.pop(account_id, None)
        finally:
            self._nudge.set()


def run_product(
    settings: Settings,
    engine: sa.Engine,
    *,
    host: str = "127.0.0.1",
    port: int = 8025,
    poll_seconds: float = 60.0,
) -> None:
    """Serve the web app and keep every account in sync until Ctrl-C (or SIGTERM)."""
    _greet(settings, engine, host, port)
    supervisor = Supervisor(settings, engine, poll_seconds=poll_seconds)
    app = create_app(settings, engine, wake=supervisor.wake)
    supervisor.start()
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="info"))
    try:
        server.run()  # handles Ctrl-C / SIGTERM itself and returns
    finally:
        supervisor.stop()


def _greet(settings: Settings, engine: sa.Engine, host: str, port: int) -> None:
    """Tell the person who started the product where it is and how to sign in."""
    users = user_service.list_users(engine)
    lines = [f"emailsync is running at http://{host}:{port}/ (data in {settings.home})"]
    if not users:  # the command must reach this data directory, wherever it is typed
        default = settings.home == Path("emailsync-data").resolve()
        env = "" if default else f"EMAILSYNC_HOME={shlex.quote(str(settings.home))} "
        lines.append(
            "No user yet. Create one to sign in:\n"
            f"  {env}.venv/bin/emailsync users add you@example.com --name 'Your Name' "
            "--password-stdin"
        )
    else:
        lines.append(f"Sign in as one of: {', '.join(u.email for u in users[:5])}")
    print("\n".join(lines), file=sys.stderr, flush=True)

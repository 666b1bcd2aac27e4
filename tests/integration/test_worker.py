"""The worker keeps an account in sync while the product runs: new mail arrives in the
store without anybody asking, and stopping it is prompt."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

from emailsync.config import Settings
from emailsync.runtime.worker import run_account
from emailsync.store.db import open_database
from support.dovecot import DovecotServer
from support.harness import Harness
from support.mail import make_message


def test_new_mail_reaches_the_store_while_the_worker_idles(
    harness: Harness, dovecot: DovecotServer
) -> None:
    user = dovecot.add_user(f"w{uuid.uuid4().hex[:12]}")
    dovecot.append(
        user,
        "INBOX",
        make_message(subject="before"),
        internaldate=datetime.now(UTC) - timedelta(days=1),
    )
    account = harness.connect(dovecot, user)
    harness.ok("accounts", "configure", account, "--past-scope", "all")
    settings = Settings.from_environment()
    engine = open_database(settings)
    stop = threading.Event()
    passes: list[int] = []
    worker = threading.Thread(
        target=run_account,
        args=(settings, engine, int(account)),
        kwargs={"stop": stop, "poll_seconds": 600, "on_pass": lambda r: passes.append(1)},
    )
    worker.start()
    try:
        deadline = time.monotonic() + 20
        while not passes and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [m["subject"] for m in harness.messages(account)] == ["before"]
        dovecot.append(user, "INBOX", make_message(subject="while idling"))
        arrived = None
        deadline = time.monotonic() + 10  # the poll is 600 s: only IDLE can bring it
        while time.monotonic() < deadline:
            if any(m["subject"] == "while idling" for m in harness.messages(account)):
                arrived = time.monotonic()
                break
            time.sleep(0.1)
        assert arrived is not None, "new mail did not arrive while the worker idled"
        time.sleep(0.5)  # back to IDLE
    finally:
        stopped_at = time.monotonic()
        stop.set()
        worker.join(timeout=10)
        engine.dispose()
    assert not worker.is_alive(), "the worker did not stop"
    assert time.monotonic() - stopped_at < 3, "a stop request waited for the IDLE to end"


def test_mail_that_arrives_while_a_pass_runs_is_not_left_for_the_poll(
    harness: Harness, dovecot: DovecotServer
) -> None:
    """The refresh before IDLE (NOOP) takes mail that came in during the pass into the
    session's view, and IDLE then only tells of later changes: such mail must start the
    next pass, not wait for the 600 s poll. The first pass's on_pass hook delivers it
    after the pass has read the Inbox and before the worker goes back to IDLE."""
    user = dovecot.add_user(f"w{uuid.uuid4().hex[:12]}")
    account = harness.connect(dovecot, user)
    settings = Settings.from_environment()
    engine = open_database(settings)
    stop = threading.Event()
    passes: list[int] = []

    def on_pass(_result: object) -> None:
        passes.append(1)
        if len(passes) == 1:
            dovecot.append(user, "INBOX", make_message(subject="during the pass"))

    worker = threading.Thread(
        target=run_account,
        args=(settings, engine, int(account)),
        kwargs={"stop": stop, "poll_seconds": 600, "on_pass": on_pass},
    )
    worker.start()
    try:
        deadline = time.monotonic() + 15  # the poll is 600 s, Dovecot's own check 30 s
        while time.monotonic() < deadline:
            if any(m["subject"] == "during the pass" for m in harness.messages(account)):
                break
            time.sleep(0.1)
        else:
            raise AssertionError("mail that arrived during a pass waited for the poll")
    finally:
        stop.set()
        worker.join(timeout=10)
        engine.dispose()
    assert len(passes) == 2

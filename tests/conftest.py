"""Fixtures shared by all tests: real Dovecot servers and test users (the mail corpora:
support/corpus.py)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.dovecot import DOVECOT, DovecotServer

_TESTS_DIR = Path(__file__).resolve().parent

REPO_ROOT = _TESTS_DIR.parent


def _start_dovecot(*, condstore: bool) -> Iterator[DovecotServer]:
    """Start a Dovecot, or skip when it is missing (fail in CI, where it must be there)."""
    if not os.path.exists(DOVECOT) or shutil.which("openssl") is None:
        reason = "Dovecot (apt-get install dovecot-imapd) or openssl is not installed"
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail(f"{reason}. In CI (CI is set) this is an error.", pytrace=False)
        pytest.skip(reason)
    server = DovecotServer(condstore=condstore)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    """A Dovecot with CONDSTORE and QRESYNC (RFC 7162), shared by the whole session."""
    yield from _start_dovecot(condstore=True)


@pytest.fixture(scope="session")
def dovecot_basic() -> Iterator[DovecotServer]:
    """A Dovecot that advertises neither CONDSTORE nor QRESYNC, like older servers."""
    yield from _start_dovecot(condstore=False)


@pytest.fixture
def imap_user(dovecot: DovecotServer) -> str:
    """A fresh user (password "secret") on `dovecot`, with an empty mailbox."""
    return dovecot.add_user(f"u{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The shared real-world corpus (support/corpus.py): tests that use it skip, with its
    path named, where a lone clone has none."""
    from support.corpus import SHARED_CORPUS

    return SHARED_CORPUS

"""Processes that open one fresh database at the same moment (issue 16: several workers
started together). Each migrates under a database lock; the ones that wait find the
schema current and go on. Real processes, started as a user would (the CLI)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

STARTS = 4  # processes started together on one empty database
TRIES = 2  # fresh databases: without the lock, 4 processes failed on the first


def _start_together(url: str, home: Path) -> list[subprocess.CompletedProcess[str]]:
    env = {**os.environ, "EMAILSYNC_DATABASE_URL": url, "EMAILSYNC_HOME": str(home)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "emailsync", "accounts", "list", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(STARTS)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    return results


@pytest.mark.postgres
def test_processes_starting_together_on_a_fresh_postgres_all_start(
    postgres_server, tmp_path: Path
) -> None:
    for attempt in range(TRIES):
        url = postgres_server.create_database()
        try:
            results = _start_together(url, tmp_path / f"home{attempt}")
        finally:
            postgres_server.drop_database(url.rsplit("/", 1)[1])
        for r in results:
            assert r.returncode == 0, r.stderr
            assert r.stdout.strip() == "[]"
            assert "Traceback" not in r.stderr


def test_processes_starting_together_on_a_fresh_sqlite_all_start(tmp_path: Path) -> None:
    for attempt in range(TRIES):
        home = tmp_path / f"home{attempt}"
        results = _start_together(f"sqlite:///{home}/emailsync.db", home)
        for r in results:
            assert r.returncode == 0, r.stderr
            assert r.stdout.strip() == "[]"

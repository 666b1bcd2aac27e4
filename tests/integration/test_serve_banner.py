"""`emailsync serve` greets with the `users add` command to type, pointed at the data
directory it runs with (issue 13 item 11): typed as printed, it reaches that store."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest


def banner(cwd: Path, home: Path | None) -> list[str]:
    """The lines `emailsync serve` prints before it serves, then stop it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMAILSYNC_")}
    if home is not None:
        env["EMAILSYNC_HOME"] = str(home)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "emailsync", "serve", "--port", str(port), "--poll", "3600"],
        cwd=cwd,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(60, proc.kill)
    watchdog.start()
    try:
        assert proc.stderr is not None
        lines = []
        for line in proc.stderr:
            lines.append(line.rstrip("\n"))
            if "users add" in line or "Sign in as" in line:
                return lines
        pytest.fail(f"serve ended without its banner: {lines}")
    finally:
        watchdog.cancel()
        proc.terminate()
        proc.wait(timeout=30)


def users_add_line(lines: list[str]) -> str:
    return next(line.strip() for line in lines if "users add" in line)


def test_the_banner_names_a_data_directory_that_is_not_the_default(tmp_path: Path) -> None:
    home = tmp_path / "my data"
    line = users_add_line(banner(tmp_path, home))
    assert line.startswith(f"EMAILSYNC_HOME={shlex.quote(str(home.resolve()))} ")
    # typed elsewhere, as printed, the command adds the user to this installation
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMAILSYNC_")}
    words = shlex.split(line)
    env[words[0].split("=", 1)[0]] = words[0].split("=", 1)[1]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    subprocess.run(
        [sys.executable, "-m", "emailsync", "users", "add", "you@example.com"],
        cwd=elsewhere,
        env=env,
        check=True,
        capture_output=True,
    )
    assert "Sign in as one of: you@example.com" in banner(tmp_path, home)[-1]


def test_the_banner_of_the_default_data_directory_needs_no_variable(tmp_path: Path) -> None:
    line = users_add_line(banner(tmp_path, None))
    assert line.startswith(".venv/bin/emailsync users add you@example.com")
    assert (tmp_path / "emailsync-data").is_dir()

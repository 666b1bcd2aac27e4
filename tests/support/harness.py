"""Drive emailsync as a user would, in-process: the CLI's own entry point, real stores."""

from __future__ import annotations

import contextlib
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from emailsync.cli import main
from emailsync.store.raw import raw_files


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class Harness:
    """One emailsync installation (data dir + database) talking to one Dovecot."""

    def __init__(
        self, monkeypatch: pytest.MonkeyPatch, home: Path, database_url: str | None, cafile: str
    ) -> None:
        monkeypatch.setenv("EMAILSYNC_HOME", str(home))
        monkeypatch.setenv("EMAILSYNC_CA_FILE", cafile)
        monkeypatch.delenv("EMAILSYNC_SECRET_KEYS", raising=False)
        if database_url:
            monkeypatch.setenv("EMAILSYNC_DATABASE_URL", database_url)
        else:
            monkeypatch.delenv("EMAILSYNC_DATABASE_URL", raising=False)
        self.home = home
        self._monkeypatch = monkeypatch

    def cli(self, *args: str, stdin: str = "") -> CliResult:
        out, err = io.StringIO(), io.StringIO()
        old_stdin = sys.stdin
        sys.stdin = io.StringIO(stdin)
        code = 0
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                main(list(args))
        except SystemExit as exc:
            code = int(exc.code or 0)
        finally:
            sys.stdin = old_stdin
        return CliResult(code, out.getvalue(), err.getvalue())

    def ok(self, *args: str, stdin: str = "") -> CliResult:
        result = self.cli(*args, stdin=stdin)
        assert result.code == 0, f"emailsync {' '.join(args)} failed: {result.err}"
        return result

    def connect(
        self,
        server: Any,
        user: str,
        *,
        email: str = "me@example.com",
        crm_user: str = "seller@crm.example",
        password: str = "secret",
    ) -> str:
        """Add the CRM user (once) and connect the Dovecot mailbox; returns the account id.

        Trusts that server's self-signed certificate from here on (EMAILSYNC_CA_FILE)."""
        self._monkeypatch.setenv("EMAILSYNC_CA_FILE", server.cafile)
        self.cli("users", "add", crm_user)
        self.ok(
            "accounts", "add", "--user", crm_user, "--email", email,
            "--imap", f"{server.host}:{server.tls_port}", "--imap-security", "ssl",
            "--username", user, "--password-stdin", stdin=password + "\n",
        )  # fmt: skip
        accounts = self.ok("accounts", "list", "--json").json()
        return str(next(a["id"] for a in accounts if a["email"] == email))

    def connect_through(self, proxy: Any, user: str, *, email: str = "me@example.com") -> str:
        """Connect a mailbox over plain IMAP through `proxy` (a CuttingProxy in front of
        Dovecot), syncing all people; returns the account's email."""
        self.cli("users", "add", "seller@crm.example")
        self.ok(
            "accounts", "add", "--user", "seller@crm.example", "--email", email,
            "--imap", f"127.0.0.1:{proxy.port}", "--imap-security", "plain",
            "--username", user, "--password-stdin", stdin="secret\n",
        )  # fmt: skip
        self.ok("accounts", "configure", email, "--past-scope", "all")
        return email

    def messages(self, account: str) -> list[dict[str, Any]]:
        return self.ok("messages", "list", "--account", account, "--json").json()

    def raw_copies(self) -> dict[str, bytes | None]:
        """Every stored message's raw bytes as the product reads them back (files or the
        message_raw table, whichever this installation uses), by their recorded SHA-256."""
        import sqlalchemy as sa

        from emailsync.config import Settings
        from emailsync.store.db import open_database, reading
        from emailsync.store.messages import raw_message
        from emailsync.store.tables import messages

        settings = Settings.from_environment()
        engine = open_database(settings)
        try:
            with reading(engine) as conn:
                rows = conn.execute(sa.select(messages.c.id, messages.c.raw_sha256)).all()
                return {r.raw_sha256: raw_message(conn, r.id, raw_files(settings)) for r in rows}
        finally:
            engine.dispose()

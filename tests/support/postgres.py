"""A private, throwaway PostgreSQL cluster for the tests.

``PostgresServer`` runs ``initdb`` into a fresh temporary directory and starts ``postgres``
on 127.0.0.1 with a free port, trust authentication and durability turned off (fsync,
full_page_writes, synchronous_commit) for speed. The Debian package's system cluster is not
used and need not run.

PostgreSQL refuses to run as root. When the tests run as root, every server command runs as
the ``postgres`` system user (``runuser -u postgres --``), and the temporary directory is
created directly under the system temp dir (pytest's ``/tmp/pytest-of-root`` is mode 0700,
so ``postgres`` could not reach anything inside it) and handed over to that user.
"""

from __future__ import annotations

import atexit
import itertools
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

HOST = "127.0.0.1"
SUPERUSER = "postgres"
SYSTEM_USER = "postgres"

_counter = itertools.count(1)


class PostgresUnavailable(RuntimeError):
    """PostgreSQL binaries were not found or the server could not be started."""


def find_postgres_bindir() -> Path | None:
    """The bin directory of the newest PostgreSQL under /usr/lib/postgresql, else of PATH's."""

    def version(bindir: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", bindir.parent.name)) or (0,)

    candidates = [
        bindir
        for bindir in Path("/usr/lib/postgresql").glob("*/bin")
        if all((bindir / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres"))
    ]
    if candidates:
        return max(candidates, key=version)
    on_path = shutil.which("pg_ctl")
    if on_path and (Path(on_path).parent / "initdb").is_file():
        return Path(on_path).parent
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class PostgresServer:
    """One private cluster. ``start()`` / ``stop()``, or use it as a context manager."""

    def __init__(self, bindir: Path | None = None) -> None:
        found = bindir or find_postgres_bindir()
        if found is None:
            raise PostgresUnavailable(
                "PostgreSQL is not installed: no /usr/lib/postgresql/*/bin/initdb "
                "(./scripts/test installs the Debian package)."
            )
        self.bindir = Path(found)
        self.host = HOST
        self.port = 0
        self.base_dir: Path | None = None
        self._running = False
        self._as_postgres = os.geteuid() == 0

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        assert self.base_dir is not None, "server not started"
        return self.base_dir / "data"

    @property
    def log_file(self) -> Path:
        assert self.base_dir is not None, "server not started"
        return self.base_dir / "postgres.log"

    def start(self) -> PostgresServer:
        if self._running:
            return self
        # Short path: the unix socket lives here too and socket paths are limited to ~107 bytes.
        self.base_dir = Path(tempfile.mkdtemp(prefix="emailsync-pg-"))
        if self._as_postgres:
            try:
                user = pwd.getpwnam(SYSTEM_USER)
            except KeyError:
                raise PostgresUnavailable(
                    f"Running as root, PostgreSQL needs a '{SYSTEM_USER}' system user to run "
                    "as, and there is none (the Debian postgresql package creates it)."
                ) from None
            os.chown(self.base_dir, user.pw_uid, user.pw_gid)
        atexit.register(self.stop)
        try:
            self._run(
                "initdb",
                "--pgdata", str(self.data_dir),
                "--username", SUPERUSER,
                "--auth", "trust",
                "--encoding", "UTF8",
                "--locale", "C",
                "--no-sync",
                "--no-instructions",
            )  # fmt: skip
            for attempt in range(5):
                self.port = _free_port()
                self._write_config()
                result = self._run(
                    "pg_ctl", "start",
                    "--pgdata", str(self.data_dir),
                    "--log", str(self.log_file),
                    "--wait", "--timeout", "60",
                    check=False,
                )  # fmt: skip
                if result.returncode == 0:
                    self._running = True
                    return self
                # Another process may have taken the port between probing and binding.
                if attempt < 4 and "could not bind" in self.log_tail():
                    continue
                raise PostgresUnavailable(
                    f"PostgreSQL did not start (pg_ctl exit {result.returncode}).\n"
                    f"{result.stdout}{result.stderr}\n--- {self.log_file} ---\n{self.log_tail()}"
                )
        except BaseException:
            self.stop()
            raise
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """Stop the server (immediately: the data is thrown away) and delete its directory."""
        if self._running:
            self._running = False
            self._run(
                "pg_ctl", "stop", "--pgdata", str(self.data_dir), "--mode", "immediate", "--wait",
                check=False,
            )  # fmt: skip
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None
        atexit.unregister(self.stop)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- databases ------------------------------------------------------------------------

    def url(self, database: str) -> str:
        """SQLAlchemy URL of ``database`` on this server."""
        return f"postgresql+psycopg://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        """libpq/psycopg connection string of ``database`` on this server."""
        return f"host={self.host} port={self.port} user={SUPERUSER} dbname={database}"

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database (a fresh name if none is given); return its SQLAlchemy URL."""
        name = name or f"test_{next(_counter)}_{uuid.uuid4().hex[:8]}"
        self._admin(f'CREATE DATABASE "{_check_name(name)}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop ``name``, disconnecting anyone still connected to it."""
        self._admin(f'DROP DATABASE IF EXISTS "{_check_name(name)}" WITH (FORCE)')

    # -- helpers --------------------------------------------------------------------------

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except (OSError, AssertionError):
            return ""

    def _admin(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True, connect_timeout=10) as conn:
            conn.execute(statement)  # type: ignore[arg-type]

    def _write_config(self) -> None:
        # Appended settings override earlier ones; on a port retry the last port wins.
        settings = {
            "listen_addresses": f"'{HOST}'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.base_dir}'",
            "fsync": "off",
            "full_page_writes": "off",
            "synchronous_commit": "off",
            "max_connections": "200",
            "logging_collector": "off",
        }
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# emailsync test server\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / tool), *args]
        if self._as_postgres:
            command = ["runuser", "-u", SYSTEM_USER, "--", *command]
        # PG* variables of the caller (PGDATA, PGPORT, ...) must not leak into our cluster.
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        env["LC_ALL"] = "C"
        result = subprocess.run(
            command,
            cwd=self.base_dir,  # postgres must be able to enter its working directory
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and result.returncode != 0:
            raise PostgresUnavailable(
                f"{' '.join(command)} failed with exit code {result.returncode}:\n"
                f"{result.stdout}{result.stderr}"
            )
        return result


def _check_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", name):
        raise ValueError(f"not a plain database name: {name!r}")
    return name

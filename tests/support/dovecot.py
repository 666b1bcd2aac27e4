"""A real Dovecot IMAP server for integration tests.

Tests talk to Dovecot rather than a mock so the IMAP edge is checked against the
protocol as a real server speaks it (literals, VANISHED, SPECIAL-USE, TLS). Each
server lives in its own temporary directory on free loopback ports; each test gets
its own user (a passwd-file line plus a maildir), so tests never see each other's mail.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

from imapclient import IMAPClient

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
DOVEADM = shutil.which("doveadm") or "/usr/bin/doveadm"
HOST = "127.0.0.1"
MAIL_USER = "mail"  # Dovecot refuses uid 0 for mail access; Debian's stock "mail" user

# Capabilities Dovecot 2.3 advertises after login, minus CONDSTORE and QRESYNC:
# used for a server that behaves like an IMAP4rev1 server without RFC 7162.
BASIC_CAPABILITIES = (
    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES "
    "THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN "
    "NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH "
    "LIST-STATUS BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW STATUS=SIZE SAVEDATE "
    "LITERAL+ NOTIFY SPECIAL-USE"
)

_CONFIG = """\
protocols = imap
listen = {host}
base_dir = {root}/run
state_dir = {root}/state
instance_name = {instance}
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log

default_internal_user = dovecot
default_login_user = dovenull

auth_mechanisms = plain login
auth_failure_delay = 0
disable_plaintext_auth = {disable_plaintext_auth}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users/%u
}}
userdb {{
  driver = static
  args = uid={mail_user} gid={mail_user} home={root}/home/%u
}}
first_valid_uid = 1
mail_location = maildir:~/Maildir
mail_privileged_group =
{capability_line}

namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Drafts {{
    special_use = \\Drafts
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = subscribe
  }}
  mailbox Junk {{
    special_use = \\Junk
    auto = subscribe
  }}
  mailbox Archive {{
    special_use = \\Archive
    auto = subscribe
  }}
}}

ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem

service imap-login {{
  inet_listener imap {{
    address = {host}
    port = {port}
  }}
  inet_listener imaps {{
    address = {host}
    port = {tls_port}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service submission-login {{
  inet_listener submission {{
    port = 0
  }}
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0600
  }}
}}
mail_max_userip_connections = 200
"""


def free_port() -> int:
    """A loopback port nobody listens on right now (there is a small race; fine for tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class DovecotServer:
    """One Dovecot instance (`dovecot -F`) with all its state under a temporary directory.

    `condstore=False` makes it advertise an explicit capability list without CONDSTORE and
    QRESYNC (RFC 7162), to test the fallbacks used for servers such as old Exchange.
    `plaintext_auth=True` allows LOGIN on the unencrypted port (loopback tests only).
    """

    def __init__(self, *, condstore: bool = True, plaintext_auth: bool = True) -> None:
        self.condstore = condstore
        self.plaintext_auth = plaintext_auth
        self.host = HOST
        self.port = 0
        self.tls_port = 0
        self.root = Path(tempfile.mkdtemp(prefix="dovecot-"))
        self.cafile = str(self.root / "cert.pem")
        self._process: subprocess.Popen[bytes] | None = None
        self._passwords: dict[str, str] = {}

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        """Write the config and certificate, start Dovecot, wait until both ports answer."""
        os.chmod(self.root, 0o755)  # the mail user must reach home/<user>
        for sub in ("run", "state", "home"):
            (self.root / sub).mkdir(exist_ok=True)
        shutil.chown(self.root / "home", MAIL_USER, MAIL_USER)
        # One passwd-file per user: Dovecot notices a changed passwd-file by its mtime,
        # whose one-second resolution hides users added within the same second.
        (self.root / "users").mkdir(exist_ok=True)
        self._make_certificate()
        self.port, self.tls_port = free_port(), free_port()
        capability_line = "" if self.condstore else f"imap_capability = {BASIC_CAPABILITIES}"
        config = _CONFIG.format(
            host=self.host,
            root=self.root,
            instance=f"emailsync-test-{self.root.name}",
            disable_plaintext_auth="no" if self.plaintext_auth else "yes",
            mail_user=MAIL_USER,
            capability_line=capability_line,
            port=self.port,
            tls_port=self.tls_port,
        )
        self.config_path = self.root / "dovecot.conf"
        self.config_path.write_text(config)
        self._process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.root / "dovecot.stderr", "wb"),  # noqa: SIM115
        )
        self._wait_until_listening()

    def stop(self) -> None:
        """Stop the Dovecot we started (by its pid) and remove its directory."""
        if self._process is not None:
            if self._process.poll() is None:
                self._process.send_signal(signal.SIGTERM)
                try:
                    self._process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait(timeout=10)
            self._process = None
        shutil.rmtree(self.root, ignore_errors=True)

    def halt(self) -> None:
        """Stop Dovecot as a restart does (SIGTERM; its imap processes say BYE to their
        clients some 9 s later), keeping its mail, users and ports: `resume()` brings
        the same server back."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            self._process.wait(timeout=10)

    def resume(self) -> None:
        """Start the halted Dovecot again on the same ports, with the same mail."""
        self._process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.root / "dovecot.stderr", "ab"),  # noqa: SIM115
        )
        self._wait_until_listening()

    def __enter__(self) -> DovecotServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log(self) -> str:
        """Dovecot's log, for assertion messages when something unexpected happens."""
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _make_certificate(self) -> None:
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
                "-subj", "/CN=localhost",
                "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                "-keyout", str(self.root / "key.pem"), "-out", self.cafile,
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip

    def _wait_until_listening(self, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        pending = {self.port, self.tls_port}
        while pending:
            assert self._process is not None
            if self._process.poll() is not None:
                stderr = (self.root / "dovecot.stderr").read_text(errors="replace")
                raise RuntimeError(f"dovecot exited: {stderr}\n{self.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"dovecot did not listen on {pending}:\n{self.log()}")
            for port in list(pending):
                try:
                    socket.create_connection((self.host, port), timeout=1).close()
                    pending.discard(port)
                except OSError:
                    pass
            time.sleep(0.05)

    # -- users and mail -------------------------------------------------------------

    def add_user(self, name: str, password: str = "secret") -> str:
        """Add a login (its own passwd-file, users/<name>) and its home directory."""
        if name in self._passwords:
            raise ValueError(f"user {name!r} already exists on this server")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._@+-]*", name):
            raise ValueError(f"unsafe user name {name!r}")
        home = self.root / "home" / name
        home.mkdir()
        shutil.chown(home, MAIL_USER, MAIL_USER)
        passwd_file = self.root / "users" / name
        passwd_file.write_text(f"{name}:{{PLAIN}}{password}\n")
        passwd_file.chmod(0o644)
        self._passwords[name] = password
        return name

    def client(self, user: str, *, ssl_port: bool = False) -> IMAPClient:
        """A logged-in IMAPClient for seeding and inspecting a mailbox."""
        if ssl_port:
            context = ssl.create_default_context(cafile=self.cafile)
            client = IMAPClient(self.host, self.tls_port, ssl=True, ssl_context=context)
        else:
            client = IMAPClient(self.host, self.port, ssl=False, timeout=30)
        client._imap.debug = 0  # imapclient's debug logging makes it ~6x slower
        client.login(user, self._passwords[user])
        return client

    def append(
        self,
        user: str,
        folder: str,
        raw: bytes,
        flags: Iterable[str] = (),
        internaldate: datetime | None = None,
    ) -> int:
        """APPEND a message (creating the folder if missing); the UID from APPENDUID."""
        with self.client(user) as c:
            if not c.folder_exists(folder):
                c.create_folder(folder)
            response = c.append(folder, raw, flags=tuple(flags), msg_time=internaldate)
        return _appenduid(response)

    def set_flags(self, user: str, folder: str, uid: int, flags: Sequence[str]) -> None:
        """Replace a message's flags (STORE FLAGS), as another mail client would."""
        with self.client(user) as c:
            c.select_folder(folder)
            c.set_flags([uid], list(flags))

    def expunge(self, user: str, folder: str, uid: int) -> None:
        """Delete one message for good (\\Deleted + UID EXPUNGE, RFC 4315)."""
        with self.client(user) as c:
            c.select_folder(folder)
            c.delete_messages([uid])
            c.uid_expunge([uid])

    def change_uidvalidity(self, user: str, folder: str) -> int:
        """Give the folder a new UIDVALIDITY, as a server restore or migration does."""
        with self.client(user) as c:
            old = int(c.folder_status(folder, ["UIDVALIDITY"])[b"UIDVALIDITY"])
        new = old + 1000
        subprocess.run(
            [DOVEADM, "-c", str(self.config_path), "mailbox", "update",
             "-u", user, "--uid-validity", str(new), folder],
            check=True,
            capture_output=True,
        )  # fmt: skip
        return new


def _appenduid(response: bytes) -> int:
    """The UID from an APPEND response such as b'[APPENDUID 1712 7] Append completed.'."""
    match = re.search(rb"\[APPENDUID \d+ (\d+)\]", response)
    if match is None:
        raise RuntimeError(f"no APPENDUID in {response!r}")
    return int(match.group(1))

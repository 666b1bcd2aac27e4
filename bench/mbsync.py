"""mbsync (isync 1.4), the reference: pull INBOX and Sent into a local Maildir.

`FSync no` is the reference for the targets (a fair fight with an SQLite store using
synchronous=NORMAL); `FSync yes`, mbsync's default, is recorded too.
"""

from __future__ import annotations

import shutil
from pathlib import Path

TEMPLATE = """\
# written by emailsync's bench/mbsync.py
FSync {fsync}

IMAPAccount bench
Host {host}
Port {port}
User {user}
Pass {password}
SSLType {ssl_type}
{cert_line}AuthMechs LOGIN

IMAPStore remote
Account bench

MaildirStore local
Path {local}/
Inbox {local}/INBOX
SubFolders Verbatim

Channel bench
Far :remote:
Near :local:
Patterns INBOX Sent
Create Near
Sync Pull
Expunge None
SyncState *
"""


def available() -> bool:
    return shutil.which("mbsync") is not None


class Mbsync:
    """One mbsync configuration (a local copy directory and an rc file) in `work`."""

    def __init__(
        self, work: Path, *, port: int, user: str, password: str, fsync: bool,
        tls: bool = False, cafile: str | None = None,
    ) -> None:  # fmt: skip
        name = f"mbsync-fsync-{'yes' if fsync else 'no'}"
        self.local = work / name
        self.rc = work / f"{name}.rc"
        self.rc.write_text(
            TEMPLATE.format(
                fsync="yes" if fsync else "no",
                # isync 1.4 checks a certificate's DNS names only, never IP addresses
                host="localhost" if tls else "127.0.0.1",
                port=port,
                user=user,
                password=password,
                ssl_type="IMAPS" if tls else "None",
                cert_line=f"CertificateFile {cafile}\n" if tls and cafile else "",
                local=self.local,
            )
        )
        self.rc.chmod(0o600)

    def wipe(self) -> None:
        """Forget the local copy and the sync state: the next run is a full pull."""
        shutil.rmtree(self.local, ignore_errors=True)
        self.local.mkdir(parents=True)

    def command(self) -> list[str]:
        return ["mbsync", "-q", "-c", str(self.rc), "-a"]

"""The benchmark's Dovecot: the test suite's DovecotServer plus a pre-built mailbox.

Reuses tests/support/dovecot.py (private directory, free loopback ports, one
passwd-file per user, mail owned by the `mail` user) so the bench and the tests talk to
the same server setup. A cached mailbox is installed by hard-linking its files into the
user's Maildir (fast, and the cache stays pristine: Dovecot only adds index files and
renames messages whose flags change, which never alters a cached file's content).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

_TESTS = Path(__file__).resolve().parents[1] / "tests"
if str(_TESTS) not in sys.path:
    sys.path.insert(0, str(_TESTS))

from support.dovecot import DOVEADM, MAIL_USER, DovecotServer  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")

__all__ = ["BenchDovecot"]


class BenchDovecot(DovecotServer):
    def install_mailbox(self, user: str, mailbox: Path) -> None:
        """Hard-link the cached mailbox's Maildir into the user's home, then let Dovecot
        build its index so no timed run pays for that."""
        source = mailbox / "Maildir"
        target = self.root / "home" / user / "Maildir"
        for root, _dirs, files in os.walk(source):
            rel = Path(root).relative_to(source)
            (target / rel).mkdir(parents=True, exist_ok=True)
            shutil.chown(target / rel, MAIL_USER, MAIL_USER)
            for name in files:
                try:
                    os.link(Path(root) / name, target / rel / name)
                except OSError:  # another filesystem: copy (keeps the mtime = INTERNALDATE)
                    shutil.copy2(Path(root) / name, target / rel / name)
                    shutil.chown(target / rel / name, MAIL_USER, MAIL_USER)
        subprocess.run(
            [DOVEADM, "-c", str(self.config_path), "index", "-u", user, "*"],
            check=True, capture_output=True,
        )  # fmt: skip

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def server_cpu(self) -> float:
        """CPU seconds of the master's exited children (imap, imap-login, auth...):
        sample before and after a run whose IMAP connections have closed."""
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            return float("nan")
        # fields after ")": state is [0], so cutime and cstime are [13] and [14]
        return (int(fields[13]) + int(fields[14])) / TICK


def warm_page_cache(mailbox: Path) -> None:
    """Read every message once so the first timed run is not the only cold one."""
    for root, _, files in os.walk(mailbox / "Maildir"):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                while f.read(1 << 20):
                    pass

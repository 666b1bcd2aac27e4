"""Credentials encrypted at rest.

Secrets (IMAP passwords, OAuth tokens) are stored as Fernet tokens. Each token is bound to
the row it belongs to: what gets encrypted is ``{"c": context, "v": plaintext}``, and
decrypting with a different context is refused, so a ciphertext copied to another row
cannot be used there.

Keys, newest first, come from ``EMAILSYNC_SECRET_KEYS`` (comma-separated Fernet keys, read
by config.py into ``Settings.secret_keys``) or else from ``$EMAILSYNC_HOME/secret.key``,
which is generated on first use with mode 0600. Key rotation: put the new key first and
the old one second, call :meth:`SecretBox.rotate` on every stored token, then drop the old
key.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from emailsync.config import SECRET_KEYS, Settings
from emailsync.errors import EmailsyncError, UsageError

ENV_VAR = SECRET_KEYS
KEY_FILE_NAME = "secret.key"

_KEY_CHANGED = (
    "A stored password cannot be decrypted: the secret key changed. Set "
    f"{ENV_VAR} to the old key (comma-separated, newest first) or reconnect the account."
)
_WRONG_ROW = (
    "A stored password cannot be decrypted: it was encrypted for another record "
    "(copied between rows?). Reconnect the account to store it again."
)


class SecretBox:
    """Encrypts and decrypts secrets with the first key; decrypts with any of them."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise UsageError(f"No secret key is configured: {ENV_VAR} holds no key.")
        fernets = []
        for position, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key))
            except (ValueError, TypeError):
                raise UsageError(
                    f"Secret key number {position} (in {ENV_VAR} or secret.key) is not a "
                    "Fernet key (32 url-safe base64 bytes); generate one with `python -c "
                    "'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())'`."
                ) from None
        self._fernet = MultiFernet(fernets)
        self._key_count = len(fernets)

    def __repr__(self) -> str:
        return f"SecretBox(<{self._key_count} key(s)>)"

    @staticmethod
    def generate_key() -> bytes:
        return Fernet.generate_key()

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        """Keys from EMAILSYNC_SECRET_KEYS, else from ``home/secret.key`` (created if missing)."""
        if settings.secret_keys:
            return cls([key.encode("ascii") for key in settings.secret_keys])
        return cls(_load_or_create_key_file(Path(settings.home) / KEY_FILE_NAME))

    def encrypt(self, plaintext: str, *, context: str) -> str:
        payload = json.dumps({"c": context, "v": plaintext}, separators=(",", ":"))
        return self._fernet.encrypt(payload.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str, *, context: str) -> str:
        try:
            raw = self._fernet.decrypt(token.encode("utf-8"))
        except InvalidToken:
            raise EmailsyncError(_KEY_CHANGED) from None
        try:
            payload = json.loads(raw)
            stored_context, plaintext = payload["c"], payload["v"]
        except (ValueError, KeyError, TypeError):
            raise EmailsyncError(_WRONG_ROW) from None
        if stored_context != context or not isinstance(plaintext, str):
            raise EmailsyncError(_WRONG_ROW)
        return plaintext

    def rotate(self, token: str) -> str:
        """Re-encrypt ``token`` with the newest key; its context is kept."""
        try:
            return self._fernet.rotate(token.encode("utf-8")).decode("ascii")
        except InvalidToken:
            raise EmailsyncError(_KEY_CHANGED) from None


def _load_or_create_key_file(path: Path) -> list[bytes]:
    """Read the key file, creating it with a fresh key (mode 0600) if it does not exist.

    Two processes starting at once may both try to create it: O_EXCL lets exactly one win,
    and the other reads the winner's key (waiting briefly for it to be written).
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process won the race; read its key below
        else:
            key = Fernet.generate_key()
            try:
                os.fchmod(fd, 0o600)  # in case the umask was unusual
                os.write(fd, key + b"\n")
                os.fsync(fd)
            finally:
                os.close(fd)
            return [key]

    deadline = time.monotonic() + 5.0
    while True:
        keys = [line.strip() for line in path.read_bytes().splitlines() if line.strip()]
        if keys:
            return keys
        if time.monotonic() > deadline:
            raise UsageError(
                f"The secret key file {path} is empty. If no account was connected yet, "
                f"delete it and start again; otherwise restore it or set {ENV_VAR}."
            )
        time.sleep(0.05)

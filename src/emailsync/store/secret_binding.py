"""What each stored secret is bound to: the context SecretBox (store/crypto.py) encrypts
it with, so a ciphertext copied to another row cannot be decrypted there.

Its own module, free of SQLAlchemy and cryptography, so store/accounts.py and the quick
no-change check (sync/quick_check.py) share it without importing either.
"""

from __future__ import annotations


def password_context(account_id: int) -> str:
    """The context of an account's IMAP password."""
    return f"account:{account_id}:imap-password"

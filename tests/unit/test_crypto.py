"""SecretBox: credentials encrypted at rest, bound to their row, with key rotation."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from emailsync.config import Settings
from emailsync.errors import EmailsyncError
from emailsync.store.crypto import ENV_VAR, KEY_FILE_NAME, SecretBox


def box_for(home: Path, keys: str | None = None) -> SecretBox:
    """The box the product opens for this environment (EMAILSYNC_SECRET_KEYS = `keys`)."""
    environ = {"EMAILSYNC_HOME": str(home)}
    if keys is not None:
        environ[ENV_VAR] = keys
    return SecretBox.from_settings(Settings.from_environment(environ))


def test_round_trip() -> None:
    box = SecretBox([Fernet.generate_key()])
    token = box.encrypt("hunter2 ünïcode", context="account:1:password")
    assert box.decrypt(token, context="account:1:password") == "hunter2 ünïcode"


def test_ciphertext_does_not_contain_the_plaintext() -> None:
    box = SecretBox([Fernet.generate_key()])
    token = box.encrypt("correct-horse-battery-staple", context="account:1:password")
    assert "correct-horse-battery-staple" not in token
    assert "account:1" not in token
    # Fresh IV every time: the same secret never gives the same ciphertext.
    assert token != box.encrypt("correct-horse-battery-staple", context="account:1:password")


def test_context_mismatch_is_refused() -> None:
    box = SecretBox([Fernet.generate_key()])
    token = box.encrypt("secret", context="account:1:password")
    with pytest.raises(EmailsyncError, match="encrypted for another record"):
        box.decrypt(token, context="account:2:password")


def test_wrong_key_says_the_key_changed() -> None:
    token = SecretBox([Fernet.generate_key()]).encrypt("secret", context="a")
    with pytest.raises(EmailsyncError, match=f"the secret key changed.*{ENV_VAR}"):
        SecretBox([Fernet.generate_key()]).decrypt(token, context="a")


def test_garbage_token_is_an_emailsync_error() -> None:
    box = SecretBox([Fernet.generate_key()])
    with pytest.raises(EmailsyncError):
        box.decrypt("not a token ✗", context="a")


def test_invalid_key_is_refused_with_a_sentence() -> None:
    with pytest.raises(EmailsyncError, match="not a Fernet key"):
        SecretBox([b"too-short"])
    with pytest.raises(EmailsyncError):
        SecretBox([])


def test_repr_does_not_show_keys() -> None:
    key = Fernet.generate_key()
    assert key.decode() not in repr(SecretBox([key]))


def test_key_file_is_created_0600_and_reused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    box = box_for(home)
    key_file = home / KEY_FILE_NAME
    assert key_file.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    content = key_file.read_bytes()

    token = box.encrypt("secret", context="a")
    again = box_for(home)
    assert key_file.read_bytes() == content
    assert again.decrypt(token, context="a") == "secret"


def test_key_file_race_gives_everyone_the_same_key(tmp_path: Path) -> None:
    boxes: list[SecretBox] = []
    barrier = threading.Barrier(8)

    def open_box() -> None:
        barrier.wait()
        boxes.append(box_for(tmp_path))

    threads = [threading.Thread(target=open_box) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(boxes) == 8
    token = boxes[0].encrypt("secret", context="a")
    assert all(box.decrypt(token, context="a") == "secret" for box in boxes)


def test_env_keys_take_precedence_over_the_key_file(tmp_path: Path) -> None:
    file_box = box_for(tmp_path)  # creates secret.key
    env_key = Fernet.generate_key()

    env_box = box_for(tmp_path, f" {env_key.decode()} ,")
    token = env_box.encrypt("secret", context="a")
    assert SecretBox([env_key]).decrypt(token, context="a") == "secret"
    with pytest.raises(EmailsyncError, match="secret key changed"):
        file_box.decrypt(token, context="a")


def test_env_keys_do_not_create_a_key_file(tmp_path: Path) -> None:
    box_for(tmp_path / "home", Fernet.generate_key().decode())
    assert not (tmp_path / "home" / KEY_FILE_NAME).exists()


def test_rotation_with_old_key_second(tmp_path: Path) -> None:
    old_key, new_key = Fernet.generate_key(), Fernet.generate_key()
    old_token = SecretBox([old_key]).encrypt("secret", context="account:7:password")

    both = box_for(tmp_path, f"{new_key.decode()},{old_key.decode()}")
    assert both.decrypt(old_token, context="account:7:password") == "secret"

    rotated = both.rotate(old_token)
    new_only = SecretBox([new_key])
    assert new_only.decrypt(rotated, context="account:7:password") == "secret"
    # Rotation keeps the row binding.
    with pytest.raises(EmailsyncError, match="another record"):
        new_only.decrypt(rotated, context="account:8:password")
    # The old key alone can no longer read the rotated token.
    with pytest.raises(EmailsyncError, match="secret key changed"):
        SecretBox([old_key]).decrypt(rotated, context="account:7:password")


def test_rotate_with_unknown_key_is_an_emailsync_error() -> None:
    token = SecretBox([Fernet.generate_key()]).encrypt("secret", context="a")
    with pytest.raises(EmailsyncError, match="secret key changed"):
        SecretBox([Fernet.generate_key()]).rotate(token)

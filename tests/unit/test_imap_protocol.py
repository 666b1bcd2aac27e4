"""The real session and the test fake both answer every call of the `ImapSession`
protocol, with the same signatures: a method added to one and not the others fails
here before any sync test runs (mypy checks the types; this checks the names)."""

from __future__ import annotations

import inspect

import pytest

from emailsync.imap import protocol, session
from support import fake_imap

CALLS = sorted(
    name
    for name, member in vars(protocol.ImapSession).items()
    if callable(member) and not name.startswith("_")
)
ATTRIBUTES = sorted(protocol.ImapSession.__annotations__)


def test_the_protocol_names_what_the_sync_calls() -> None:
    assert {"select", "status", "survey", "fetch_messages", "changes_since", "idle_wait"} <= set(
        CALLS
    )
    assert ATTRIBUTES == ["capabilities", "email", "host", "selected"]


@pytest.mark.parametrize("name", CALLS)
@pytest.mark.parametrize("cls", [session.ImapSession, fake_imap.FakeImapSession])
def test_each_session_has_the_call_with_the_protocol_s_signature(cls: type, name: str) -> None:
    wanted = inspect.signature(getattr(protocol.ImapSession, name))
    got = inspect.signature(getattr(cls, name))
    assert list(got.parameters) == list(wanted.parameters)
    for param, expected in wanted.parameters.items():
        assert got.parameters[param].kind == expected.kind, param
        assert got.parameters[param].default == expected.default, param


def test_the_fake_session_sets_the_protocol_s_attributes() -> None:
    fake = fake_imap.FakeMailbox().session()
    for name in ATTRIBUTES:
        assert hasattr(fake, name), name
    assert fake.selected is None and fake.capabilities.condstore


def test_sizes_ahead_answers_have_a_result() -> None:
    mailbox = fake_imap.FakeMailbox()
    uid = mailbox.append("INBOX", b"Subject: x\n\nbody\n")
    fake = mailbox.session()
    fake.select("INBOX")
    assert fake.sizes_ahead([uid, 99]).result() == {uid: len(b"Subject: x\r\n\r\nbody\r\n")}

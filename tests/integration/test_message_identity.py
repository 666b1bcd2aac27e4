"""Distinct messages stay distinct, copies of one message stay one (issue 13, item 4).

A message is its Message-ID with its fingerprint (mime/fingerprint.py). Two different
messages under one Message-ID (a broken mailer, a forger) are both kept, marked with a
defect, and the id joins no thread; the same message in two folders, in Sent and in
the Inbox (written to oneself, the delivered copy with the headers delivery adds), or
stored with LF and with CRLF, stays one message with several locations. Through the
store on SQLite and PostgreSQL, and through the real Dovecot on both sync paths
(headers first under "Only CRM contacts", bodies directly under "All people").
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from emailsync.domain.model import Address, FetchedMessage, ParsedMessage, Participants
from emailsync.domain.threading import MessageNode, group
from emailsync.mime.fingerprint import fingerprint
from emailsync.mime.parse import parse_safely
from emailsync.store import messages as message_store
from emailsync.store.messages import SHARED_ID_DEFECT
from emailsync.store.raw import raw_digest
from emailsync.store.tables import messages
from support.dovecot import DovecotServer
from support.harness import Harness
from support.mail import make_message
from support.store import bare_store

NOW = datetime.now(UTC)
DAYS = timedelta(days=1)
T0 = datetime(2026, 11, 1, tzinfo=UTC)

# What a delivery puts in front of the message the client APPENDed to Sent.
DELIVERY_HEADERS = (
    b"Return-Path: <me@example.com>\r\n"
    b"Delivered-To: me@example.com\r\n"
    b"Received: from mail.example.com (mail.example.com [192.0.2.7])\r\n"
    b"\tby mx.example.com (Postfix) with ESMTPS id 4C1F2; Tue, 01 Dec 2026 10:00:01 +0000\r\n"
    b"X-Spam-Status: No, score=-0.1\r\n"
)


def crafted_pair() -> tuple[bytes, bytes]:
    """Two different messages under one Message-ID: other sender, date, subject, body."""
    first = make_message(
        subject="Renewal quote",
        sender="bob@acme.example",
        date=NOW - 3 * DAYS,
        message_id="<shared-1@acme.example>",
        body="The quote is attached.\n",
    )
    second = make_message(
        subject="Invoice overdue",
        sender="carol@acme.example",
        date=NOW - 2 * DAYS,
        message_id="<shared-1@acme.example>",
        body="Please pay at once.\n",
    )
    return first, second


def reply_to_the_shared_id() -> bytes:
    return make_message(
        subject="Thanks",
        sender="dave@acme.example",
        date=NOW - DAYS,
        in_reply_to="<shared-1@acme.example>",
        body="Got it.\n",
    )


def lf(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n")


# -- the pure rule ---------------------------------------------------------------------


def node(key: int, mid: str, refs: tuple[str, ...] = ()) -> MessageNode:
    return MessageNode(key, mid, refs, "", frozenset(), T0)


def test_an_id_two_messages_carry_joins_no_thread() -> None:
    first, second, reply = node(1, "x@a"), node(2, "x@a"), node(3, "r@a", ("x@a",))
    assert group([first, second, reply]) == [frozenset({1}), frozenset({2}), frozenset({3})]
    # without the second holder, the reply joins its parent as always
    assert group([first, reply]) == [frozenset({1, 3})]
    # told that the id is held twice elsewhere, the same
    assert group([first, reply], frozenset({"x@a"})) == [frozenset({1}), frozenset({3})]


# -- the store -------------------------------------------------------------------------


def _engine(url: str) -> tuple[sa.Engine, int, int]:
    """A store with one user, account and folder."""
    return bare_store(url, email="me@example.com")


def new_message(raw: bytes, uid: int) -> message_store.NewMessage:
    """`raw` as the sync makes it ready for write_batch."""
    parsed, digest = parse_safely(raw), raw_digest(raw)
    return message_store.NewMessage(
        key=message_store.identity_key(parsed.message_id, parsed.fingerprint, digest),
        fetched=FetchedMessage(uid=uid, internaldate=T0, flags=(), size=len(raw), raw=raw),
        parsed=parsed,
        direction="received",
        digest=digest,
    )


def write(engine: sa.Engine, account: int, folder: int, raws: list[tuple[int, bytes]]) -> int:
    with engine.begin() as conn:
        return message_store.write_batch(
            conn,
            account_id=account,
            folder_id=folder,
            new_messages=[new_message(raw, uid) for uid, raw in raws],
            new_locations=[],
            cursor=max(uid for uid, _ in raws),
        )


def rows(engine: sa.Engine) -> list[sa.Row]:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(
                messages.c.id,
                messages.c.subject,
                messages.c.thread_id,
                messages.c.defects,
                messages.c.fingerprint,
            ).order_by(messages.c.id)
        ).all()


@pytest.mark.parametrize("one_batch", [True, False])
def test_two_messages_under_one_id_are_both_stored_and_marked(db_url: str, one_batch: bool) -> None:
    engine, account, folder = _engine(db_url)
    first, second = crafted_pair()
    if one_batch:
        assert write(engine, account, folder, [(1, first), (2, second)]) == 2
    else:
        assert write(engine, account, folder, [(1, first)]) == 1
        assert write(engine, account, folder, [(2, second)]) == 1
    stored = rows(engine)
    engine.dispose()
    assert [r.subject for r in stored] == ["Renewal quote", "Invoice overdue"]
    assert all(SHARED_ID_DEFECT in r.defects for r in stored)
    assert stored[0].thread_id != stored[1].thread_id


@pytest.mark.parametrize("order", ["reply first", "reply last", "reply between"])
def test_a_reply_to_a_shared_id_joins_neither_message_whatever_the_order(
    db_url: str, order: str
) -> None:
    """Arriving between the two, the reply was joined to the first; the second must
    take it out again, so the threads do not depend on the order mail arrives in."""
    engine, account, folder = _engine(db_url)
    first, second = crafted_pair()
    reply = reply_to_the_shared_id()
    sequence = {
        "reply first": [reply, first, second],
        "reply last": [first, second, reply],
        "reply between": [first, reply, second],
    }[order]
    for uid, raw in enumerate(sequence, 1):
        write(engine, account, folder, [(uid, raw)])
    stored = {r.subject: r for r in rows(engine)}
    with engine.connect() as conn:
        thread_count = conn.execute(sa.text("SELECT count(*) FROM threads")).scalar()
    engine.dispose()
    assert len({r.thread_id for r in stored.values()}) == 3
    assert thread_count == 3
    assert SHARED_ID_DEFECT not in stored["Thanks"].defects


def test_copies_of_one_message_stay_one(db_url: str) -> None:
    """The Sent copy, the delivered copy and an LF copy: one message, three locations;
    a replayed batch adds nothing."""
    engine, account, folder = _engine(db_url)
    sent = make_message(sender="me@example.com", to="me@example.com", cc="bob@acme.example")
    delivered = DELIVERY_HEADERS + sent
    assert write(engine, account, folder, [(1, sent), (2, delivered), (3, lf(sent))]) == 1
    assert write(engine, account, folder, [(1, sent), (2, delivered), (3, lf(sent))]) == 0
    with engine.connect() as conn:
        locations = conn.execute(sa.text("SELECT count(*) FROM message_locations")).scalar()
    stored = rows(engine)
    engine.dispose()
    assert locations == 3
    assert len(stored) == 1 and stored[0].defects == []


def test_lf_and_crlf_copies_without_a_message_id_are_one(db_url: str) -> None:
    """Without a Message-ID the fingerprint alone decides (before: the exact bytes)."""
    engine, account, folder = _engine(db_url)
    raw = b"From: bob@acme.example\r\nSubject: no id\r\nDate: Tue, 01 Dec 2026 10:00:00 +0000"
    raw += b"\r\n\r\nHello.\r\n"
    other = raw.replace(b"Hello.", b"Goodbye.")
    assert write(engine, account, folder, [(1, raw), (2, lf(raw)), (3, other)]) == 2
    engine.dispose()


def test_a_very_long_message_id_still_fits_its_key(db_url: str) -> None:
    engine, account, folder = _engine(db_url)
    long_id = "<" + "x" * 960 + "@acme.example>"  # fits message_id, not with a fingerprint
    raw = make_message(message_id=long_id)
    other = make_message(message_id=long_id, subject="Other")
    assert write(engine, account, folder, [(1, raw), (2, other), (3, lf(raw))]) == 2
    engine.dispose()


def test_rows_from_before_fingerprints_get_theirs_from_their_bytes(db_url: str) -> None:
    """A row stored before migration 0006 has only its Message-ID (dedup_key "<id>",
    no fingerprint): a copy of it is still a copy, a different message is not."""
    engine, account, folder = _engine(db_url)
    first, second = crafted_pair()
    write(engine, account, folder, [(1, first)])
    with engine.begin() as conn:
        conn.execute(
            messages.update().values(fingerprint=None, dedup_key="<shared-1@acme.example>")
        )
    assert write(engine, account, folder, [(2, DELIVERY_HEADERS + first)]) == 0
    assert rows(engine)[0].fingerprint == fingerprint(first)  # filled in from the bytes
    assert write(engine, account, folder, [(3, second)]) == 1
    stored = rows(engine)
    engine.dispose()
    assert [SHARED_ID_DEFECT in r.defects for r in stored] == [True, True]


def test_stored_copies_answers_from_the_headers_alone(db_url: str) -> None:
    """The headers-first pass asks before it downloads a body: the same Message-ID and
    head is the stored message; another head under that id is not."""
    from emailsync.mime.fingerprint import head_print

    engine, account, folder = _engine(db_url)
    first, second = crafted_pair()
    write(engine, account, folder, [(1, first)])
    head = head_print((DELIVERY_HEADERS + first).split(b"\r\n\r\n", 1)[0] + b"\r\n")
    other = head_print(second.split(b"\r\n\r\n", 1)[0] + b"\r\n")
    with engine.connect() as conn:
        found = message_store.stored_copies(
            conn, account, [("shared-1@acme.example", head), ("shared-1@acme.example", other)]
        )
    pk = rows(engine)[0].id
    engine.dispose()
    assert found == {("shared-1@acme.example", head): pk}


# -- through Dovecot ---------------------------------------------------------------------


def fresh_user(server: DovecotServer) -> str:
    return server.add_user(f"u{uuid.uuid4().hex[:12]}")


@pytest.fixture(params=["all", "contacts"])
def scope(request: pytest.FixtureRequest, harness: Harness) -> str:
    """Both sync paths: bodies directly (all people) and headers first (only CRM
    contacts, which asks `stored_copies` before it downloads a body)."""
    for address in ("bob@acme.example", "carol@acme.example", "dave@acme.example"):
        harness.ok("contacts", "add", address)
    return str(request.param)


def synced(harness: Harness, server: DovecotServer, user: str, scope: str, folders: str) -> str:
    account = harness.connect(server, user)
    harness.ok(
        "accounts", "configure", account, "--sync-from", "3m", "--past-scope", scope,
        "--folders", folders,
    )  # fmt: skip
    harness.ok("sync", account, "--once")
    return account


def test_a_shared_message_id_keeps_both_messages_through_a_sync(
    harness: Harness, dovecot: DovecotServer, scope: str
) -> None:
    user = fresh_user(dovecot)
    first, second = crafted_pair()
    dovecot.append(user, "INBOX", first, internaldate=NOW - 3 * DAYS)
    account = synced(harness, dovecot, user, scope, "INBOX")
    # the second message and a reply to the shared id come with the next pass
    dovecot.append(user, "INBOX", reply_to_the_shared_id(), internaldate=NOW - DAYS)
    dovecot.append(user, "INBOX", second, internaldate=NOW - 2 * DAYS)
    harness.ok("sync", account, "--once")
    stored = {m["subject"]: m for m in harness.messages(account)}
    assert sorted(stored) == ["Invoice overdue", "Renewal quote", "Thanks"]
    assert SHARED_ID_DEFECT in stored["Invoice overdue"]["defects"]
    assert SHARED_ID_DEFECT in stored["Renewal quote"]["defects"]
    assert len({m["thread_id"] for m in stored.values()}) == 3


def test_a_message_in_sent_and_in_the_inbox_is_one_message(
    harness: Harness, dovecot: DovecotServer, scope: str
) -> None:
    """Written to oneself: the client APPENDs to Sent, the delivery adds Return-Path,
    Delivered-To and Received in front of the Inbox copy."""
    user = fresh_user(dovecot)
    sent = make_message(
        subject="Note to self", sender="me@example.com", to="me@example.com",
        cc="bob@acme.example", date=NOW - 2 * DAYS,
    )  # fmt: skip
    dovecot.append(user, "Sent", sent, flags=[r"\Seen"], internaldate=NOW - 2 * DAYS)
    dovecot.append(user, "INBOX", DELIVERY_HEADERS + sent, internaldate=NOW - 2 * DAYS)
    account = synced(harness, dovecot, user, scope, "INBOX,Sent")
    [message] = harness.messages(account)
    assert message["folders"] == ["INBOX", "Sent"]
    assert message["defects"] == []


def test_a_message_copied_to_a_second_folder_is_one_message(
    harness: Harness, dovecot: DovecotServer, scope: str
) -> None:
    user = fresh_user(dovecot)
    uid = dovecot.append(user, "INBOX", make_message(subject="Filed"), internaldate=NOW - DAYS)
    account = synced(harness, dovecot, user, scope, "INBOX,Archive")
    with dovecot.client(user) as client:
        client.select_folder("INBOX")
        client.copy([uid], "Archive")
    harness.ok("sync", account, "--once")
    [message] = harness.messages(account)
    assert message["folders"] == ["Archive", "INBOX"]


def test_lf_and_crlf_copies_are_one_message_through_a_sync(
    harness: Harness, dovecot: DovecotServer, scope: str, corpus_dir: Path
) -> None:
    """A self-made twin always, with and without a Message-ID; the corpus's twins when
    the shared corpus is there."""
    user = fresh_user(dovecot)
    made = make_message(subject="Twin", date=NOW - DAYS)
    anonymous = b"".join(line for line in made.splitlines(True) if b"Message-ID" not in line)
    twins = [made, anonymous]
    names = [
        "mikel-mail__plain_emails__basic_email",
        "mikel-mail__attachment_emails__attachment_pdf",
    ]
    if all((corpus_dir / f"{n}_lf.eml").exists() for n in names):
        twins += [(corpus_dir / f"{n}.eml").read_bytes() for n in names]
    for raw in twins:
        dovecot.append(user, "INBOX", raw, internaldate=NOW - DAYS)
        dovecot.append(user, "INBOX", lf(raw), internaldate=NOW - DAYS)
        for sender in parse_safely(raw).participants.from_:
            harness.cli("contacts", "add", sender.email)  # the contacts scope needs them
    account = synced(harness, dovecot, user, scope, "INBOX")
    stored = harness.messages(account)
    assert len(stored) == len(twins)
    assert all(m["folders"] == ["INBOX", "INBOX"] for m in stored)


# -- any arrival order -------------------------------------------------------------------

POOL = [f"m{i}@x" for i in range(5)]


@st.composite
def mail_with_shared_ids(draw: st.DrawFn) -> list[dict]:
    """Distinct messages whose Message-IDs repeat (a small pool), replying to the pool."""
    count = draw(st.integers(min_value=2, max_value=8))
    return [
        {
            "n": n,
            "message_id": draw(st.sampled_from(POOL)),
            "refs": tuple(draw(st.lists(st.sampled_from(POOL), max_size=2, unique=True))),
            "subject": f"subject {n}",  # no subject edges: the references decide
        }
        for n in range(count)
    ]


def _hand_made(m: dict) -> message_store.NewMessage:
    parsed = ParsedMessage(
        message_id=m["message_id"],
        in_reply_to="",
        references=m["refs"],
        date=T0,
        subject=m["subject"],
        participants=Participants(from_=(Address(f"p{m['n']}@x"),)),
        text_body="",
        html_body="",
        attachments=(),
        defects=(),
        fingerprint=f"{m['n']:032x}",  # every message a different one
    )
    raw = m["subject"].encode()
    return message_store.NewMessage(
        key=message_store.identity_key(parsed.message_id, parsed.fingerprint, raw_digest(raw)),
        fetched=FetchedMessage(uid=m["n"] + 1, internaldate=T0, flags=(), size=1, raw=raw),
        parsed=parsed,
        direction="received",
        digest=raw_digest(raw),
    )


@settings(max_examples=40, deadline=None)
@given(mail_with_shared_ids(), st.randoms(use_true_random=False))
def test_threads_with_shared_ids_do_not_depend_on_the_arrival_order(
    tmp_path_factory: pytest.TempPathFactory, batch: list[dict], rnd: object
) -> None:
    """Written one message per transaction in any order, the store's threads are the
    pure rule's over the whole set (splits when an id becomes shared included)."""
    path = tmp_path_factory.mktemp("shared") / "db.sqlite"
    engine, account, folder = _engine(f"sqlite:///{path}")
    order = list(batch)
    rnd.shuffle(order)  # type: ignore[attr-defined]
    for m in order:
        with engine.begin() as conn:
            message_store.write_batch(
                conn,
                account_id=account,
                folder_id=folder,
                new_messages=[_hand_made(m)],
                new_locations=[],
                cursor=m["n"] + 1,
            )
    with engine.connect() as conn:
        thread_of = dict(conn.execute(sa.select(messages.c.subject, messages.c.thread_id)).all())
    engine.dispose()
    got = {frozenset(s for s, t in thread_of.items() if t == tid) for tid in thread_of.values()}
    nodes = [MessageNode(m["n"], m["message_id"], m["refs"], "", frozenset(), T0) for m in batch]
    expected = {frozenset(batch[k]["subject"] for k in part) for part in group(nodes)}
    assert got == expected

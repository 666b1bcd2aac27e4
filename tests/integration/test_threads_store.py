"""The store's incremental threader gives the same threads as the pure rules applied to
the whole mailbox at once, whatever order the mail arrives in."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emailsync.domain.model import Address, FetchedMessage, ParsedMessage, Participants
from emailsync.domain.threading import MessageNode, group, subject_key
from emailsync.store import messages as message_store
from emailsync.store.db import create_engine, upgrade
from emailsync.store.raw import raw_digest
from emailsync.store.tables import accounts, folders, messages, users

T0 = datetime(2026, 11, 1, tzinfo=UTC)
IDS = [f"m{i}@x" for i in range(10)]


def _engine(path: Path) -> tuple[sa.Engine, int, int]:
    engine = create_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.begin() as conn:
        uid = conn.execute(users.insert().values(email="u@x", created_at=T0)).inserted_primary_key[
            0
        ]
        account = conn.execute(
            accounts.insert().values(
                user_id=uid,
                email="me@x",
                imap_host="h",
                imap_port=1,
                imap_security="ssl",
                username="me",
                password_secret="",
                aliases=[],
                sync_from="3m",
                past_scope="all",
                folders=[],
                future_mode="selected",
                track_opens=True,
                track_links=True,
                state="active",
                created_at=T0,
            )
        ).inserted_primary_key[0]
        folder = conn.execute(folders.insert().values(account_id=account, name="INBOX"))
    return engine, account, folder.inserted_primary_key[0]


@st.composite
def mail(draw: st.DrawFn) -> list[dict]:
    count = draw(st.integers(min_value=1, max_value=10))
    out = []
    used: set[str] = set()
    for n in range(count):
        mid = draw(st.sampled_from(IDS).filter(lambda m: m not in used))
        used.add(mid)
        out.append(
            {
                "uid": n + 1,
                "message_id": mid,
                "refs": tuple(draw(st.lists(st.sampled_from(IDS), max_size=3, unique=True))),
                "subject": draw(st.sampled_from(["Quote", "Re: quote", "Lunch", ""])),
                "people": sorted(
                    draw(
                        st.sets(st.sampled_from(["me@x", "bob@a", "ann@b"]), min_size=1, max_size=3)
                    )
                ),
                "days": draw(st.integers(min_value=0, max_value=60)),
            }
        )
    return out


def _parsed(m: dict) -> ParsedMessage:
    people = [Address(e) for e in m["people"]]
    return ParsedMessage(
        message_id=m["message_id"],
        in_reply_to="",
        references=m["refs"],
        date=T0 + timedelta(days=m["days"]),
        subject=m["subject"],
        participants=Participants(from_=tuple(people[:1]), to=tuple(people[1:])),
        text_body="",
        html_body="",
        attachments=(),
        defects=(),
    )


def _write(engine: sa.Engine, account: int, folder: int, m: dict) -> None:
    fetched = FetchedMessage(
        uid=m["uid"], internaldate=T0 + timedelta(days=m["days"]), flags=(), size=10, raw=b"x"
    )
    with engine.begin() as conn:
        message_store.write_batch(
            conn,
            account_id=account,
            folder_id=folder,
            new_messages=[
                message_store.NewMessage(
                    key=f"<{m['message_id']}>",
                    fetched=fetched,
                    parsed=_parsed(m),
                    direction="received",
                    digest=raw_digest(b"x"),
                )
            ],
            new_locations=[],
            cursor=m["uid"],
        )


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(mail(), st.integers(min_value=0, max_value=1000))
def test_incremental_threads_equal_the_pure_grouping_in_any_arrival_order(
    tmp_path_factory: object, batch: list[dict], seed: int
) -> None:
    path = tmp_path_factory.mktemp("threads") / "db.sqlite"  # type: ignore[attr-defined]
    engine, account, folder = _engine(path)
    order = list(batch)
    random.Random(seed).shuffle(order)
    for m in order:  # one message per transaction: the worst case for incremental merging
        _write(engine, account, folder, m)
    with engine.connect() as conn:
        stored = {
            r.message_id: r.thread_id
            for r in conn.execute(sa.select(messages.c.message_id, messages.c.thread_id))
        }
    engine.dispose()
    assert all(t is not None for t in stored.values())
    got = {frozenset(m for m, t in stored.items() if t == tid) for tid in set(stored.values())}
    nodes = [
        MessageNode(
            n,
            m["message_id"],
            m["refs"],
            subject_key(m["subject"]),
            frozenset(m["people"]),
            T0 + timedelta(days=m["days"]),
        )
        for n, m in enumerate(batch)
    ]
    expected = {frozenset(batch[k]["message_id"] for k in comp) for comp in group(nodes)}
    assert got == expected


def test_threads_never_join_messages_of_another_account(tmp_path: Path) -> None:
    """Account A holds a reply to <root@x>, account B then receives <root@x> itself, with
    the same subject and people: every edge is there, but across accounts."""
    engine, account_a, folder_a = _engine(tmp_path / "db.sqlite")
    with engine.begin() as conn:
        values = conn.execute(sa.select(accounts).where(accounts.c.id == account_a)).one()
        row = {k: v for k, v in values._mapping.items() if k != "id"}
        account_b = conn.execute(
            accounts.insert().values(**{**row, "email": "other@x"})
        ).inserted_primary_key[0]
        folder_b = conn.execute(
            folders.insert().values(account_id=account_b, name="INBOX")
        ).inserted_primary_key[0]
    people = ["ann@b", "bob@a", "me@x"]
    reply = {"uid": 1, "message_id": "a1@x", "refs": ("root@x",), "subject": "Quote",
             "people": people, "days": 1}  # fmt: skip
    root = {"uid": 1, "message_id": "root@x", "refs": (), "subject": "Re: quote",
            "people": people, "days": 0}  # fmt: skip
    _write(engine, account_a, folder_a, reply)
    _write(engine, account_b, folder_b, root)
    _write(engine, account_b, folder_b, {**root, "uid": 2, "message_id": "b2@x",
                                         "refs": ("a1@x",)})  # fmt: skip
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(messages.c.account_id, messages.c.message_id, messages.c.thread_id)
        ).all()
    engine.dispose()
    thread_of = {(r.account_id, r.message_id): r.thread_id for r in rows}
    assert thread_of[(account_b, "root@x")] == thread_of[(account_b, "b2@x")]
    assert thread_of[(account_a, "a1@x")] != thread_of[(account_b, "root@x")]

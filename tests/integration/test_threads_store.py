"""The store's incremental threader gives the same threads as the pure rules applied to
the whole mailbox at once, whatever order the mail arrives in."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emailsync.domain.model import Address, FetchedMessage, ParsedMessage, Participants
from emailsync.domain.threading import MessageNode, group, subject_key
from emailsync.store import messages as message_store
from emailsync.store import threads
from emailsync.store.raw import raw_digest
from emailsync.store.tables import accounts, folders, messages
from support.store import bare_store

T0 = datetime(2026, 11, 1, tzinfo=UTC)
IDS = [f"m{i}@x" for i in range(10)]


def _engine(where: Path | str) -> tuple[sa.Engine, int, int]:
    """A store with one user, account and folder: `where` a SQLite file or a database URL."""
    return bare_store(where if isinstance(where, str) else f"sqlite:///{where}")


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
        date=T0 + timedelta(days=m.get("dated", m["days"])),  # Date header; else = arrival
        subject=m["subject"],
        participants=Participants(from_=tuple(people[:1]), to=tuple(people[1:])),
        text_body="",
        html_body="",
        attachments=(),
        defects=(),
    )


def _write(engine: sa.Engine, account: int, folder: int, m: dict) -> None:
    _write_batch(engine, account, folder, [m])


def _write_batch(engine: sa.Engine, account: int, folder: int, batch: list[dict]) -> None:
    """One transaction, as the sync writes a batch of fetched messages."""
    new = [
        message_store.NewMessage(
            key=f"<{m['message_id']}>",
            fetched=FetchedMessage(
                uid=m["uid"],
                internaldate=T0 + timedelta(days=m["days"]),
                flags=(),
                size=10,
                raw=b"x",
            ),
            parsed=_parsed(m),
            direction="received",
            digest=raw_digest(b"x"),
        )
        for m in batch
    ]
    with engine.begin() as conn:
        message_store.write_batch(
            conn,
            account_id=account,
            folder_id=folder,
            new_messages=new,
            new_locations=[],
            cursor=max(m["uid"] for m in batch),
        )


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(mail(), st.integers(min_value=0, max_value=1000), st.integers(min_value=1, max_value=4))
@pytest.mark.parametrize("read_whole", [threads.READ_WHOLE, 0])
def test_incremental_threads_equal_the_pure_grouping_in_any_arrival_order(
    tmp_path_factory: object,
    monkeypatch: pytest.MonkeyPatch,
    read_whole: int,
    batch: list[dict],
    seed: int,
    per_transaction: int,
) -> None:
    """With read_whole 0 every stored thread is looked up one message per new message
    (`_one_per_thread`) instead of being read whole; the threads must not change. One
    message per transaction is the worst case for incremental merging."""
    monkeypatch.setattr(threads, "READ_WHOLE", read_whole)
    path = tmp_path_factory.mktemp("threads") / "db.sqlite"  # type: ignore[attr-defined]
    engine, account, folder = _engine(path)
    order = list(batch)
    random.Random(seed).shuffle(order)
    for start in range(0, len(order), per_transaction):
        _write_batch(engine, account, folder, order[start : start + per_transaction])
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


def test_a_subject_flood_reads_one_message_of_the_thread_not_all(db_url: str) -> None:
    """300 "Daily report" mails between the same two people make one thread; a new batch
    of them must not read all 300 back (every batch did: quadratic when the folder's
    UIDs are not in date order), and still joins the thread."""
    engine, account, folder = _engine(db_url)
    people = ["alerts@a", "me@x"]
    report = {"refs": (), "subject": "Daily report", "people": people}
    flood = [{**report, "uid": i + 1, "message_id": f"r{i}@a", "days": i % 20} for i in range(300)]
    _write_batch(engine, account, folder, flood)
    when = [T0 + timedelta(days=d) for d in (3, 5, 19, 40)]
    new = [
        MessageNode(10_000 + i, f"n{i}@a", (), "daily report", frozenset(people), date)
        for i, date in enumerate(when)
    ]
    with engine.connect() as conn:
        read = threads._candidates(conn, account, new)
        placed = threads.place_in_threads(conn, account, {n.key: n for n in new}, "private")
        flood_thread = conn.execute(sa.select(messages.c.thread_id).limit(1)).scalar()
    engine.dispose()
    assert 1 <= len(read) <= 2  # one lookup; the others are within 30 days of it
    assert set(placed.thread_of.values()) == {flood_thread}


def _threads_after(db_url: str, stored: list[dict], new: list[dict], manual: list[str] = ()):
    """Thread of each message id after writing `stored` (then moving `manual` out by
    hand) and then `new` as one batch, with every stored thread looked up rather than
    read whole."""
    engine, account, folder = _engine(db_url)
    _write_batch(engine, account, folder, stored)
    with engine.begin() as conn:
        for mid in manual:
            pk = conn.execute(sa.select(messages.c.id).where(messages.c.message_id == mid))
            threads.split_thread(conn, [pk.scalar_one()])
    saved, threads.READ_WHOLE = threads.READ_WHOLE, 0
    try:
        _write_batch(engine, account, folder, new)
    finally:
        threads.READ_WHOLE = saved
    with engine.connect() as conn:
        rows = conn.execute(sa.select(messages.c.message_id, messages.c.thread_id)).all()
    engine.dispose()
    return dict(rows)


def _report(uid: int, day: int, name: str = "") -> dict:
    return {"uid": uid, "message_id": name or f"d{day}@a", "refs": (), "subject": "Report",
            "people": ["alerts@a", "me@x"], "days": day}  # fmt: skip


@pytest.mark.parametrize("stored_day, new_day", [(0, 31), (31, 0), (0, 30), (30, 0)])
def test_looked_up_threads_keep_the_thirty_day_edge(
    db_url: str, stored_day: int, new_day: int
) -> None:
    got = _threads_after(db_url, [_report(1, stored_day)], [_report(2, new_day, "new@a")])
    joined = got["new@a"] == got[f"d{stored_day}@a"]
    assert joined == (abs(stored_day - new_day) <= 30)


def test_a_later_message_of_a_batch_looks_up_the_thread_again_past_thirty_days(
    db_url: str,
) -> None:
    """n1 (day 5) and n2 (day 50) have no edge between them; each reaches the stored
    thread (a report every other day, days 0-50) on its own."""
    stored = [_report(i + 1, day) for i, day in enumerate(range(0, 51, 2))]
    got = _threads_after(db_url, stored, [_report(100, 5, "n1@a"), _report(101, 50, "n2@a")])
    assert got["n1@a"] == got["n2@a"] == got["d0@a"]


def test_a_message_moved_by_hand_is_not_looked_up_for_the_subject_rule(db_url: str) -> None:
    stored = [_report(i + 1, day) for i, day in enumerate(range(0, 11, 2))] + [_report(20, 35)]
    got = _threads_after(db_url, stored, [_report(100, 50, "new@a")], manual=["d35@a"])
    assert got["new@a"] != got["d35@a"]


def test_a_lookup_goes_on_past_a_message_dated_outside_the_edge(db_url: str) -> None:
    """The index orders a thread's messages by arrival; the first in range may be dated
    outside the thirty days, and the lookup must go on to one inside them. New at day
    40: day 9 is 31 days off, day 15 is not."""
    got = _threads_after(db_url, [_report(1, 9), _report(2, 15)], [_report(100, 40, "new@a")])
    assert got["new@a"] == got["d15@a"]


def test_a_lookup_goes_by_the_date_header_not_the_arrival(db_url: str) -> None:
    """Arrived on day 20 but dated day 31 (the Date header rules, as in `subject_edge`):
    31 days from a new message of day 0, so the lookup goes on to day 25."""
    late = [{**_report(1, 20), "dated": 31}, _report(2, 25)]
    got = _threads_after(db_url, late, [_report(100, 0, "new@a")])
    assert got["new@a"] == got["d25@a"]


def test_a_lookup_goes_past_messages_moved_by_hand_to_one_that_was_not(db_url: str) -> None:
    """Thread M: d35 and d40 moved there by hand, and r45, a reply to d40 that joined it
    by reference. A report of day 70 has subject edges to d40 (first in the index) and
    r45; only r45 counts."""
    stored = [_report(1, 35), _report(2, 40), {**_report(3, 45, "r45@a"), "refs": ("d40@a",)}]
    engine, account, folder = _engine(db_url)
    _write_batch(engine, account, folder, stored[:2])
    with engine.begin() as conn:
        pks = conn.execute(sa.select(messages.c.id)).scalars().all()
        threads.split_thread(conn, list(pks))
    _write_batch(engine, account, folder, stored[2:])
    saved, threads.READ_WHOLE = threads.READ_WHOLE, 0
    try:
        _write_batch(engine, account, folder, [_report(100, 70, "new@a")])
    finally:
        threads.READ_WHOLE = saved
    with engine.connect() as conn:
        got = dict(conn.execute(sa.select(messages.c.message_id, messages.c.thread_id)).all())
    engine.dispose()
    assert got["d40@a"] == got["r45@a"] == got["new@a"]

"""Threads in the store: the incremental side of domain/threading.py.

When messages are stored, `attach_messages` finds the stored messages they share an
edge with (through indexed columns: Message-ID, message_references, provider thread id,
subject key), and joins their thread, creating one when there is none and merging
threads the new message connects. Messages the user moved by hand (`thread_manual`)
stay where they are, and threads holding such messages are never merged away.

A Message-ID that two messages of the account carry is ambiguous (domain/threading.py):
placing leaves it out, and when a second message arrives under an id, the threads
joined through it so far are split where only it held them together
(`split_at_shared_ids`), so the threads do not depend on the order mail arrives in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from emailsync.domain.threading import (
    SUBJECT_GAP,
    MessageNode,
    UnionFind,
    group,
    neighbours,
    subject_links,
    without_ids,
)
from emailsync.errors import UsageError
from emailsync.store.bulk import insert_many
from emailsync.store.db import allocate_ids
from emailsync.store.tables import (
    UtcDateTime,
    accounts,
    message_addresses,
    message_references,
    messages,
    thread_links,
    threads,
)

THREAD_FIELDS = ("from", "to", "cc")  # Bcc is private: never a reason to join threads


@dataclass(frozen=True, slots=True)
class ThreadFacts:
    """What a message being stored adds to its thread row, so a thread made of new
    messages only is written once, complete."""

    internaldate: datetime
    subject: str


def _nodes(conn: sa.Connection, ids: list[int]) -> dict[int, MessageNode]:
    if not ids:
        return {}
    rows = conn.execute(sa.select(*_NODE_COLUMNS).where(messages.c.id.in_(ids))).all()
    return _as_nodes(conn, rows)


_NODE_COLUMNS = (
    messages.c.id,
    messages.c.message_id,
    messages.c.in_reply_to,
    messages.c.reference_ids,
    messages.c.subject_key,
    messages.c.date,
    messages.c.internaldate,
    messages.c.provider_thread_id,
)


def _as_nodes(conn: sa.Connection, rows: Sequence[sa.Row[Any]]) -> dict[int, MessageNode]:
    """Thread nodes of message rows (_NODE_COLUMNS), with their participants."""
    people: dict[int, set[str]] = {}
    for chunk in _chunks([r.id for r in rows]):
        for r in conn.execute(
            sa.select(message_addresses.c.message_id, message_addresses.c.email).where(
                message_addresses.c.message_id.in_(chunk),
                message_addresses.c.field.in_(THREAD_FIELDS),
            )
        ):
            people.setdefault(r.message_id, set()).add(r.email)
    return {
        r.id: MessageNode(
            key=r.id,
            message_id=r.message_id,
            references=tuple(x for x in dict.fromkeys([*r.reference_ids, r.in_reply_to]) if x),
            subject_key=r.subject_key,
            participants=frozenset(people.get(r.id, ())),
            date=r.date or r.internaldate,
            provider_thread_id=r.provider_thread_id or "",
        )
        for r in rows
    }


@dataclass(slots=True)
class _Stored:
    """The stored messages a batch may join: as nodes, their threads, and which of
    them the user placed by hand."""

    nodes: dict[int, MessageNode]
    thread_of: dict[int, int]
    manual: set[int]


def _stored(conn: sa.Connection, account_id: int, ids: set[int]) -> _Stored:
    """The account's messages among `ids` (a reference can name another account's
    message: those are left out), read in one pass over their rows."""
    rows: list[sa.Row[*tuple[Any, ...]]] = []
    for chunk in _chunks(sorted(ids)):
        rows.extend(
            conn.execute(
                sa.select(*_NODE_COLUMNS, messages.c.thread_id, messages.c.thread_manual).where(
                    messages.c.id.in_(chunk), messages.c.account_id == account_id
                )
            ).all()
        )
    return _Stored(
        nodes=_as_nodes(conn, rows),
        thread_of={r.id: r.thread_id for r in rows if r.thread_id is not None},
        manual={r.id for r in rows if r.thread_manual},
    )


def _chunks(items: list, size: int = 500) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _id_holders(conn: sa.Connection, account_id: int, tokens: list[str]) -> dict[str, set[int]]:
    """The account's stored messages whose Message-ID is one of `tokens`, by id."""
    holders: dict[str, set[int]] = {}
    for chunk in _chunks(tokens):
        for row in conn.execute(
            sa.select(messages.c.id, messages.c.message_id).where(
                messages.c.account_id == account_id, messages.c.message_id.in_(chunk)
            )
        ):
            holders.setdefault(row.message_id, set()).add(row.id)
    return holders


def _ambiguous(holders: dict[str, set[int]], nodes: dict[int, MessageNode]) -> frozenset[str]:
    """The Message-IDs two messages carry: stored ones (`holders`) or `nodes` (stored
    already or not)."""
    every = {t: set(pks) for t, pks in holders.items()}
    for k, n in nodes.items():
        if n.message_id:
            every.setdefault(n.message_id, set()).add(k)
    return frozenset(t for t, pks in every.items() if len(pks) > 1)


def _tokens(nodes: Iterable[MessageNode]) -> list[str]:
    return sorted({t for n in nodes for t in (*n.references, n.message_id) if t})


def _candidates(
    conn: sa.Connection,
    account_id: int,
    nodes: list[MessageNode],
    ambiguous_out: set[str] | None = None,
) -> set[int]:
    """Ids of stored messages that might share an edge with any of `nodes` (a superset:
    the pure rule decides; references may name other accounts' messages), found through
    indexed columns only. Ambiguous Message-IDs lead nowhere (a mailer that gives every
    message one id would otherwise make each batch read them all); they are added to
    `ambiguous_out`."""
    found = _id_holders(conn, account_id, _tokens(nodes))
    ambiguous = _ambiguous(found, {n.key: n for n in nodes})
    if ambiguous_out is not None:
        ambiguous_out.update(ambiguous)
    tokens = [t for t in _tokens(nodes) if t not in ambiguous]
    providers = sorted({n.provider_thread_id for n in nodes if n.provider_thread_id})
    ids = {pk for t, pks in found.items() if t not in ambiguous for pk in pks}
    for chunk in _chunks(tokens):
        # Driven by the ref index alone (joined to messages, SQLite would walk every
        # message of the account for each batch); other accounts' messages are dropped
        # when the candidates are read (`_stored`).
        ids.update(
            conn.execute(
                sa.select(message_references.c.message_id).where(
                    message_references.c.ref.in_(chunk)
                )
            ).scalars()
        )
    for chunk in _chunks(providers):
        ids.update(
            conn.execute(
                sa.select(messages.c.id).where(
                    messages.c.account_id == account_id, messages.c.provider_thread_id.in_(chunk)
                )
            ).scalars()
        )
    ids.update(_subject_candidates(conn, account_id, [n for n in nodes if n.subject_key]))
    return ids


# Date header and INTERNALDATE differ by transit time; widen the SQL prefilter by it.
_SLACK = SUBJECT_GAP / 30

# A thread holding more messages of a batch's subjects in its date window than this is
# not read whole: for each new message, one of its messages that the new one shares a
# subject edge with is looked up instead (`_one_per_thread`).
READ_WHOLE = 64


def _subject_candidates(conn: sa.Connection, account_id: int, nodes: list[MessageNode]) -> set[int]:
    """Stored messages the subject rule may join to `nodes`, bounded by thread.

    The rule only ever joins a new message to a stored thread (stored messages are
    grouped by thread already), so from a thread it needs one message the new one has
    an edge with, not all of them. Reading them all made a flood of one subject between
    the same people ("Daily report", alerts) read every such message in the window for
    every batch: quadratic when a folder's UIDs are not in date order."""
    if not nodes:
        return set()
    earliest = min(n.date for n in nodes) - SUBJECT_GAP - _SLACK
    latest = max(n.date for n in nodes) + SUBJECT_GAP + _SLACK
    window = (
        messages.c.account_id == account_id,
        messages.c.internaldate >= earliest,
        messages.c.internaldate <= latest,
    )
    subjects = _chunks(sorted({n.subject_key for n in nodes}))
    counted: dict[int | None, int] = {}
    holders: dict[str, list[int | None]] = {}  # subject key → threads holding it
    for chunk in subjects:
        for row in conn.execute(
            sa.select(messages.c.thread_id, messages.c.subject_key, sa.func.count().label("held"))
            .where(*window, messages.c.subject_key.in_(chunk))
            .group_by(messages.c.thread_id, messages.c.subject_key)
        ):
            counted[row.thread_id] = counted.get(row.thread_id, 0) + row.held
            holders.setdefault(row.subject_key, []).append(row.thread_id)
    large = {t for t, count in counted.items() if t is not None and count > READ_WHOLE}
    ids: set[int] = set()
    if len(large) < len(counted):
        for chunk in subjects:
            ids.update(
                conn.execute(
                    sa.select(messages.c.id).where(
                        *window,
                        messages.c.subject_key.in_(chunk),
                        sa.or_(
                            messages.c.thread_id.is_(None),
                            messages.c.thread_id.not_in(sorted(large)),
                        ),
                    )
                ).scalars()
            )
    big = {
        key: [t for t in threads_ if t is not None and t in large]
        for key, threads_ in holders.items()
        if any(t in large for t in threads_)
    }
    if big:
        involved = _involved(conn, window, big)
        ids.update(_one_per_thread(conn, account_id, nodes, big, involved))
    return ids


def _one_per_thread(
    conn: sa.Connection,
    account_id: int,
    nodes: list[MessageNode],
    big: dict[str, list[int]],
    involved: dict[tuple[int, str], set[str]],
) -> set[int]:
    """For each new node and big thread of its subject, one message of the thread it has
    a subject edge with (`subject_edge` in SQL: same subject key, dates at most
    SUBJECT_GAP apart, two shared From/To/Cc addresses; messages placed by hand are left
    out of the subject rule). The index on (account, subject key, internaldate) makes
    each lookup a short range that stops at the first match. (Its arrival-date
    prefilter is the node's own window widened by _SLACK, as the batch's is for the
    threads read whole.)

    Lookups are skipped where the answer is known: a node sharing fewer than two
    addresses with everyone the thread's messages of that subject involve has no edge
    into it, and a node with the same participants as an earlier node (by date) that
    found the thread, within SUBJECT_GAP of it, joins that node and so the thread."""
    shared = (
        sa.select(sa.func.count(sa.distinct(message_addresses.c.email)))
        .where(
            message_addresses.c.message_id == messages.c.id,
            message_addresses.c.field.in_(THREAD_FIELDS),
            message_addresses.c.email.in_(sa.bindparam("people", expanding=True)),
        )
        .scalar_subquery()
    )
    when = sa.func.coalesce(messages.c.date, messages.c.internaldate, type_=UtcDateTime())
    query = (
        sa.select(messages.c.id)
        .where(
            messages.c.account_id == account_id,
            messages.c.subject_key == sa.bindparam("subject"),
            messages.c.internaldate >= sa.bindparam("arrived_from", type_=UtcDateTime()),
            messages.c.internaldate <= sa.bindparam("arrived_to", type_=UtcDateTime()),
            messages.c.thread_id == sa.bindparam("thread"),
            messages.c.thread_manual == sa.false(),
            when >= sa.bindparam("dated_from", type_=UtcDateTime()),
            when <= sa.bindparam("dated_to", type_=UtcDateTime()),
            shared >= 2,
        )
        .limit(1)
    )
    found: set[int] = set()
    reached: dict[tuple[str, frozenset[str], int], datetime] = {}  # → latest date covered
    for node in sorted(nodes, key=lambda n: n.date):
        if len(node.participants) < 2:
            continue
        for thread in big.get(node.subject_key, ()):
            if len(node.participants & involved.get((thread, node.subject_key), set())) < 2:
                continue
            known = (node.subject_key, node.participants, thread)
            if known in reached and node.date <= reached[known]:
                continue
            hit = conn.execute(
                query,
                {
                    "people": sorted(node.participants),
                    "subject": node.subject_key,
                    "arrived_from": node.date - SUBJECT_GAP - _SLACK,
                    "arrived_to": node.date + SUBJECT_GAP + _SLACK,
                    "thread": thread,
                    "dated_from": node.date - SUBJECT_GAP,
                    "dated_to": node.date + SUBJECT_GAP,
                },
            ).scalar()
            if hit is not None:
                found.add(hit)
                reached[known] = node.date + SUBJECT_GAP
    return found


def _involved(
    conn: sa.Connection, window: tuple[sa.ColumnElement[bool], ...], big: dict[str, list[int]]
) -> dict[tuple[int, str], set[str]]:
    """(big thread, subject key) → the From/To/Cc addresses of its messages of that
    subject in the batch's window, read in one query (big threads are few)."""
    out: dict[tuple[int, str], set[str]] = {}
    rows = conn.execute(
        sa.select(messages.c.thread_id, messages.c.subject_key, message_addresses.c.email)
        .distinct()
        .join(message_addresses, message_addresses.c.message_id == messages.c.id)
        .where(
            *window,
            messages.c.subject_key.in_(sorted(big)),
            messages.c.thread_id.in_(sorted({t for threads_ in big.values() for t in threads_})),
            message_addresses.c.field.in_(THREAD_FIELDS),
        )
    )
    for row in rows:
        out.setdefault((row.thread_id, row.subject_key), set()).add(row.email)
    return out


def attach_messages(
    conn: sa.Connection, account_id: int, message_pks: list[int], default_sharing: str
) -> dict[int, int]:
    """Put stored messages without a thread into their threads, a whole batch with a
    handful of queries; returns message → thread. Same result as attaching them one by
    one. (The sync's batch writer places its messages before it inserts them:
    `place_in_threads`.)"""
    if not message_pks:
        return {}
    new = _nodes(conn, message_pks)
    insert_many(conn, message_references, reference_rows(new.values()))
    placement = place_in_threads(conn, account_id, new, default_sharing)
    conn.execute(
        messages.update()
        .where(messages.c.id == sa.bindparam("b_id"))
        .values(thread_id=sa.bindparam("b_thread")),
        [{"b_id": k, "b_thread": t} for k, t in placement.thread_of.items()],
    )
    refresh_threads(conn, placement.stale)
    return placement.thread_of


def reference_rows(nodes: Iterable[MessageNode]) -> list[dict[str, object]]:
    """message_references rows: the threader's edges, found again by later messages."""
    return [{"message_id": n.key, "ref": r} for n in nodes for r in n.references]


@dataclass(slots=True)
class Placement:
    thread_of: dict[int, int]  # message → thread
    stale: set[int]  # threads to recount once the messages are in (refresh_threads)


def place_in_threads(
    conn: sa.Connection,
    account_id: int,
    new: dict[int, MessageNode],
    default_sharing: str,
    facts: dict[int, ThreadFacts] | None = None,
) -> Placement:
    """Decide the thread of each new message (keyed by its id, which need not be in the
    table yet): join, merge, or create threads. Writes threads only; the caller writes
    the messages' thread_id. With `facts`, new threads are written complete."""
    ambiguous: set[str] = set()
    candidates = _candidates(conn, account_id, list(new.values()), ambiguous)
    found = _stored(conn, account_id, candidates - set(new))
    thread_of, manual = found.thread_of, found.manual
    everyone = {k: without_ids(n, ambiguous) for k, n in {**found.nodes, **new}.items()}
    new = {k: everyone[k] for k in new}
    sets = UnionFind(everyone)
    find, union = sets.find, sets.union

    by_thread: dict[int, int] = {}
    for k, t in thread_of.items():  # stored messages of one thread belong together
        union(by_thread.setdefault(t, k), k)
    by_token: dict[str, list[int]] = {}
    for k, n in everyone.items():
        for token in {*n.references, n.message_id} - {""}:
            by_token.setdefault(token, []).append(k)
        if n.provider_thread_id:
            by_token.setdefault("provider:" + n.provider_thread_id, []).append(k)
    for k, node in new.items():
        near = {j for t in {*node.references, node.message_id} - {""} for j in by_token[t]}
        if node.provider_thread_id:
            near.update(by_token["provider:" + node.provider_thread_id])
        near.discard(k)
        for j in neighbours(node, [everyone[j] for j in sorted(near)]):
            # A message the user moved by hand only pulls in direct replies to it: the
            # message it was split from must not follow it into its new thread.
            if j in manual and everyone[j].message_id not in node.references:
                continue
            union(k, j)
    # The subject rule, without the messages moved by hand (see above).
    for a, b in subject_links([n for k, n in everyone.items() if k not in manual], set(new)):
        union(a, b)
    components: dict[int, list[int]] = {}
    for k in new:
        components.setdefault(find(k), []).append(k)
    threads_of_root: dict[int, list[int]] = {}
    for j, t in thread_of.items():
        threads_of_root.setdefault(find(j), []).append(t)
    result: dict[int, int] = {}
    fresh: list[list[int]] = []  # components of new messages only: a new thread each
    for root, members in components.items():
        threads_in = sorted(set(threads_of_root.get(root, ())))
        if threads_in:
            result.update(dict.fromkeys(members, _merge(conn, threads_in)))
        else:
            fresh.append(members)
    result.update(_new_threads(conn, account_id, fresh, default_sharing, facts))
    complete = {result[members[0]] for members in fresh} if facts else set()
    return Placement(result, set(result.values()) - complete)


def _new_threads(
    conn: sa.Connection,
    account_id: int,
    components: list[list[int]],
    default_sharing: str,
    facts: dict[int, ThreadFacts] | None,
) -> dict[int, int]:
    """One new thread per component, in one statement; with `facts`, counted and dated
    already (what refresh_threads would find)."""
    if not components:
        return {}
    now = datetime.now(UTC)
    rows = []
    for members in components:
        row: dict[str, object] = {
            "account_id": account_id,
            "subject": "",
            "sharing": default_sharing,
            "created_at": now,
            "message_count": 0,
            "last_message_at": None,
        }
        if facts:
            row["subject"] = facts[min(members)].subject
            row["message_count"] = len(members)
            row["last_message_at"] = max(facts[k].internaldate for k in members)
        rows.append(row)
    ids = allocate_ids(conn, threads, len(rows))
    for row, thread_id in zip(rows, ids, strict=True):
        row["id"] = thread_id
    insert_many(conn, threads, rows)
    return {
        k: thread_id for members, thread_id in zip(components, ids, strict=True) for k in members
    }


def _merge(conn: sa.Connection, thread_ids: list[int]) -> int:
    """Merge threads a message connects into the oldest one. Threads with hand-placed
    messages are not merged (that would undo the user's split): the message then joins
    the oldest of the threads."""
    if len(thread_ids) == 1:
        return thread_ids[0]
    manual: set[int] = set(
        conn.execute(
            sa.select(messages.c.thread_id)
            .where(messages.c.thread_id.in_(thread_ids), messages.c.thread_manual)
            .distinct()
        ).scalars()
    )
    survivor = thread_ids[0]
    for other in thread_ids[1:]:
        if other in manual or survivor in manual:
            continue
        conn.execute(
            messages.update().where(messages.c.thread_id == other).values(thread_id=survivor)
        )
        _merge_attributes(conn, survivor, other)
        conn.execute(threads.delete().where(threads.c.id == other))
    return survivor


def _merge_attributes(conn: sa.Connection, survivor: int, other: int) -> None:
    """Keep the user's choices of both threads: shared wins, a deal link carries over."""
    a = conn.execute(sa.select(threads).where(threads.c.id == survivor)).one()
    b = conn.execute(sa.select(threads).where(threads.c.id == other)).one()
    values: dict[str, object] = {}
    if b.sharing == "shared":
        values["sharing"] = "shared"
    if a.deal_id is None and b.deal_id is not None:
        values.update(
            deal_id=b.deal_id,
            deal_link_manual=b.deal_link_manual,
            deal_link_reason=b.deal_link_reason,
        )
    if values:
        conn.execute(threads.update().where(threads.c.id == survivor).values(**values))
    existing = {
        (r.kind, r.target_id)
        for r in conn.execute(sa.select(thread_links).where(thread_links.c.thread_id == survivor))
    }
    for link in conn.execute(sa.select(thread_links).where(thread_links.c.thread_id == other)):
        if (link.kind, link.target_id) not in existing:
            conn.execute(
                thread_links.insert().values(
                    thread_id=survivor,
                    kind=link.kind,
                    target_id=link.target_id,
                    manual=link.manual,
                    removed=link.removed,
                    reason=link.reason,
                )
            )


def split_at_shared_ids(conn: sa.Connection, account_id: int, shared: set[str]) -> set[int]:
    """Split the threads joined through `shared` Message-IDs, now that two messages
    carry each (store/messages.py found a second one): each such thread becomes its
    components under the rule without the ambiguous ids. The part holding the thread's
    first message keeps the thread; each other part gets a new thread with the user's
    choices (sharing, a deal linked by hand, links and unlinks). Threads holding a
    message moved by hand are left as the user arranged them. Returns the threads to
    recount (`refresh_threads`)."""
    ids = sorted(shared)
    pks: set[int] = set()
    for chunk in _chunks(ids):
        pks.update(
            conn.execute(
                sa.select(messages.c.id).where(
                    messages.c.account_id == account_id, messages.c.message_id.in_(chunk)
                )
            ).scalars()
        )
        pks.update(
            conn.execute(
                sa.select(message_references.c.message_id).where(
                    message_references.c.ref.in_(chunk)
                )
            ).scalars()
        )
    thread_ids: set[int] = set()
    for chunk in _chunks(sorted(pks)):
        thread_ids.update(
            conn.execute(
                sa.select(messages.c.thread_id)
                .where(
                    messages.c.id.in_(chunk),
                    messages.c.account_id == account_id,
                    messages.c.thread_id.is_not(None),
                )
                .distinct()
            ).scalars()
        )
    touched: set[int] = set()
    for thread_id in sorted(thread_ids):
        rows = conn.execute(
            sa.select(*_NODE_COLUMNS, messages.c.thread_manual).where(
                messages.c.thread_id == thread_id
            )
        ).all()
        if any(r.thread_manual for r in rows):
            continue
        nodes = _as_nodes(conn, rows)
        ambiguous = _ambiguous(_id_holders(conn, account_id, _tokens(nodes.values())), nodes)
        parts = group(list(nodes.values()), ambiguous | frozenset(shared))
        if len(parts) > 1:
            touched.add(thread_id)
            touched.update(_split_off(conn, thread_id, parts[1:]))
    return touched


def _split_off(conn: sa.Connection, thread_id: int, parts: list[frozenset[int]]) -> list[int]:
    """Move each part (message ids) of a thread into a new thread of its own that
    keeps the thread's user choices; the new threads' ids."""
    source = conn.execute(sa.select(threads).where(threads.c.id == thread_id)).one()
    links = conn.execute(sa.select(thread_links).where(thread_links.c.thread_id == thread_id)).all()
    now = datetime.now(UTC)
    new_ids = allocate_ids(conn, threads, len(parts))
    manual_deal = source.deal_link_manual
    insert_many(
        conn,
        threads,
        [
            {
                "id": new_id,
                "account_id": source.account_id,
                "subject": "",
                "sharing": source.sharing,
                "deal_id": source.deal_id if manual_deal else None,
                "deal_link_manual": manual_deal,
                "deal_link_reason": source.deal_link_reason if manual_deal else None,
                "message_count": 0,
                "created_at": now,
            }
            for new_id in new_ids
        ],
    )
    for new_id, part in zip(new_ids, parts, strict=True):
        conn.execute(
            messages.update().where(messages.c.id.in_(sorted(part))).values(thread_id=new_id)
        )
    insert_many(
        conn,
        thread_links,
        [
            {
                "thread_id": new_id,
                "kind": link.kind,
                "target_id": link.target_id,
                "manual": link.manual,
                "removed": link.removed,
                "reason": link.reason,
            }
            for new_id in new_ids
            for link in links
        ],
    )
    return new_ids


def refresh_threads(conn: sa.Connection, thread_ids: set[int]) -> None:
    """Recount threads and date them by their newest message, in one grouped query."""
    ids = sorted(thread_ids)
    if not ids:
        return
    rows: list[sa.Row[*tuple[Any, ...]]] = []
    for chunk in _chunks(ids):
        rows += conn.execute(
            sa.select(
                messages.c.thread_id,
                sa.func.count(),
                sa.func.max(messages.c.internaldate),
                sa.func.min(messages.c.id),
            )
            .where(messages.c.thread_id.in_(chunk))
            .group_by(messages.c.thread_id)
        ).all()
    firsts = [r[3] for r in rows]
    subjects: dict[int, str] = {}
    for chunk in _chunks(firsts):
        subjects.update(
            conn.execute(
                sa.select(messages.c.id, messages.c.subject).where(messages.c.id.in_(chunk))
            ).all()
        )
    if rows:
        conn.execute(
            threads.update()
            .where(threads.c.id == sa.bindparam("b_id"))
            .values(
                message_count=sa.bindparam("b_count"),
                last_message_at=sa.bindparam("b_last"),
                subject=sa.bindparam("b_subject"),
            ),
            [
                {"b_id": r[0], "b_count": r[1], "b_last": r[2], "b_subject": subjects[r[3]]}
                for r in rows
            ],
        )
    empty = set(ids) - {r[0] for r in rows}
    if empty:
        conn.execute(threads.delete().where(threads.c.id.in_(sorted(empty))))


def refresh_thread(conn: sa.Connection, thread_id: int) -> None:
    """Recount a thread and date it by its newest message; drop it when it is empty."""
    stats = conn.execute(
        sa.select(
            sa.func.count(),
            sa.func.max(messages.c.internaldate),
            sa.func.min(messages.c.id),
        ).where(messages.c.thread_id == thread_id)
    ).one()
    if stats[0] == 0:
        conn.execute(threads.delete().where(threads.c.id == thread_id))
        return
    first_subject: str | None = conn.execute(
        sa.select(messages.c.subject).where(messages.c.id == stats[2])
    ).scalar_one()
    conn.execute(
        threads.update()
        .where(threads.c.id == thread_id)
        .values(message_count=stats[0], last_message_at=stats[1], subject=first_subject)
    )


def delete_empty_threads(conn: sa.Connection, account_id: int) -> int:
    empty = sa.select(threads.c.id).where(
        threads.c.account_id == account_id,
        ~sa.exists().where(messages.c.thread_id == threads.c.id),
    )
    return conn.execute(threads.delete().where(threads.c.id.in_(empty))).rowcount or 0


def refresh_account_threads(conn: sa.Connection, account_id: int) -> None:
    """After deletions: empty threads go, the others are recounted."""
    delete_empty_threads(conn, account_id)
    thread_id: int
    for thread_id in conn.execute(
        sa.select(threads.c.id).where(threads.c.account_id == account_id)
    ).scalars():
        refresh_thread(conn, thread_id)


def rebuild_threads(conn: sa.Connection, account_id: int) -> int:
    """Thread every message of the account again from scratch (after a change of the
    rules, or on data from before threads existed). Hand-placed messages stay put."""
    sharing: str = conn.execute(
        sa.select(accounts.c.default_sharing).where(accounts.c.id == account_id)
    ).scalar_one()
    ids: list[int] = list(
        conn.execute(
            sa.select(messages.c.id)
            .where(messages.c.account_id == account_id, ~messages.c.thread_manual)
            .order_by(messages.c.internaldate, messages.c.id)
        ).scalars()
    )
    if ids:
        conn.execute(messages.update().where(messages.c.id.in_(ids)).values(thread_id=None))
        conn.execute(message_references.delete().where(message_references.c.message_id.in_(ids)))
    delete_empty_threads(conn, account_id)
    for chunk in _chunks(ids):  # the result does not depend on the grouping
        attach_messages(conn, account_id, chunk, sharing)
    return len(ids)


def split_thread(conn: sa.Connection, message_pks: list[int]) -> int:
    """Move messages out of their thread into a new one of their own, by hand."""
    if not message_pks:
        raise UsageError("Name the messages to move into a thread of their own")
    rows = conn.execute(
        sa.select(messages.c.thread_id, messages.c.account_id).where(messages.c.id.in_(message_pks))
    ).all()
    old = {r.thread_id for r in rows}
    if len(rows) != len(set(message_pks)) or len(old) != 1:
        raise UsageError("Name existing messages of one thread")
    source = conn.execute(sa.select(threads).where(threads.c.id.in_(old))).first()
    inserted = conn.execute(
        threads.insert().values(
            account_id=rows[0].account_id,
            subject="",
            sharing=source.sharing if source else "private",
            created_at=datetime.now(UTC),
        )
    ).inserted_primary_key
    assert inserted is not None
    new_id = int(inserted[0])
    conn.execute(
        messages.update()
        .where(messages.c.id.in_(message_pks))
        .values(thread_id=new_id, thread_manual=True)
    )
    for thread_id in [*old, new_id]:
        if thread_id is not None:
            refresh_thread(conn, thread_id)
    return new_id

"""Which messages belong to one conversation: the rules, pure.

A thread is a connected component of messages under three kinds of edge, tried in this
order of trust:

  1. references  A names B's Message-ID in In-Reply-To/References, or A and B name the
                 same Message-ID (siblings under a parent we never saw: JWZ's empty
                 container). The backbone, as in JWZ's algorithm, minus its subject
                 merging, which joins unrelated "Invoice" threads. A Message-ID that
                 two different messages carry (a broken mailer, a forger hiding behind
                 a real message's id: store/messages.py keeps both) is ambiguous: no
                 edge runs through it, neither between its holders nor to a message
                 that names it (`shared_ids`, `without_ids`).
  2. provider    the server's own thread id (Gmail X-GM-THRID) is equal.
  3. subject     the cleaned subjects are equal and not empty, the two messages share at
                 least two participants (From/To/Cc; Bcc is private and ignored), and
                 they are at most SUBJECT_GAP apart: a cap, so a yearly "Invoice" to the
                 same two people does not grow one endless thread.

Every edge is a symmetric test on a pair, so the components (the threads) are the same
whatever order the mail arrives in; a message that arrives later and connects two
threads merges them. `group` computes the components for a whole set at once; the store
does the same incrementally (store/threads.py), and a test checks the two agree.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import combinations

SUBJECT_GAP = timedelta(days=30)
MAX_SUBJECT_KEY = 300

_PREFIX = re.compile(
    r"^\s*((re|fw|fwd|aw|wg|sv|vs|antw|ref|tr|rif|r|enc|odp|res)(\[\d+\])?\s*[:：]\s*"
    r"|\[[^\]]{1,40}\]\s*)",
    re.IGNORECASE,
)


def subject_key(subject: str) -> str:
    """The subject without reply/forward prefixes, list tags and case: "Re: [acme] Fwd:
    Renewal" and "renewal" are the same conversation subject."""
    s = subject
    while True:
        stripped = _PREFIX.sub("", s, count=1)
        if stripped == s:
            break
        s = stripped
    return " ".join(s.split()).casefold()[:MAX_SUBJECT_KEY]


@dataclass(frozen=True, slots=True)
class MessageNode:
    """What the threader needs to know about one message."""

    key: int  # the message's id in the store (or any unique key)
    message_id: str
    references: tuple[str, ...]  # In-Reply-To and References, in any order
    subject_key: str
    participants: frozenset[str]  # From, To, Cc (never Bcc), normalised
    date: datetime
    provider_thread_id: str = ""


def shared_ids(nodes: Iterable[MessageNode]) -> frozenset[str]:
    """Message-IDs that more than one of `nodes` (distinct messages) carries."""
    seen: set[str] = set()
    shared: set[str] = set()
    for n in nodes:
        if n.message_id:
            (shared if n.message_id in seen else seen).add(n.message_id)
    return frozenset(shared)


def without_ids(node: MessageNode, ids: frozenset[str] | set[str]) -> MessageNode:
    """The node with the ambiguous `ids` taken out of its Message-ID and references, so
    no reference edge runs through them."""
    if not ids or (node.message_id not in ids and ids.isdisjoint(node.references)):
        return node
    return replace(
        node,
        message_id="" if node.message_id in ids else node.message_id,
        references=tuple(r for r in node.references if r not in ids),
    )


def subject_edge(a: MessageNode, b: MessageNode) -> bool:
    return (
        bool(a.subject_key)
        and a.subject_key == b.subject_key
        and abs(a.date - b.date) <= SUBJECT_GAP
        and len(a.participants & b.participants) >= 2
    )


def reference_edge(a: MessageNode, b: MessageNode) -> bool:
    """On nodes with the ambiguous ids taken out (`without_ids`): two messages with
    one Message-ID are not joined by it."""
    a_refs, b_refs = set(a.references), set(b.references)
    return (
        (bool(b.message_id) and b.message_id in a_refs)
        or (bool(a.message_id) and a.message_id in b_refs)
        or bool(a_refs & b_refs)
    )


def provider_edge(a: MessageNode, b: MessageNode) -> bool:
    return bool(a.provider_thread_id) and a.provider_thread_id == b.provider_thread_id


def connected(a: MessageNode, b: MessageNode) -> bool:
    return reference_edge(a, b) or provider_edge(a, b) or subject_edge(a, b)


class UnionFind:
    """Disjoint sets of keys; a set is named by its smallest key."""

    def __init__(self, keys: Iterable[int]) -> None:
        self._parent = {k: k for k in keys}

    def find(self, key: int) -> int:
        parent = self._parent
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self._parent[max(ra, rb)] = min(ra, rb)


def group(
    nodes: Sequence[MessageNode], ambiguous: frozenset[str] = frozenset()
) -> list[frozenset[int]]:
    """The threads of a set of messages, as sets of keys (sorted by smallest key).
    Message-IDs two of them carry are ambiguous, and so are `ambiguous` (held twice
    among messages not given here)."""
    unclear = ambiguous | shared_ids(nodes)
    nodes = [without_ids(n, unclear) for n in nodes]
    sets = UnionFind(n.key for n in nodes)
    find, union = sets.find, sets.union

    # Index by the values an edge can share, so this is not quadratic on big mailboxes.
    by_ref: dict[str, list[int]] = {}
    by_provider: dict[str, list[int]] = {}
    by_subject: dict[str, list[MessageNode]] = {}
    for n in nodes:
        for ref in {*n.references, n.message_id} - {""}:
            by_ref.setdefault(ref, []).append(n.key)
        if n.provider_thread_id:
            by_provider.setdefault(n.provider_thread_id, []).append(n.key)
        if n.subject_key:
            by_subject.setdefault(n.subject_key, []).append(n)
    for keys in (*by_ref.values(), *by_provider.values()):
        for k in keys[1:]:
            union(keys[0], k)
    for same in by_subject.values():
        for i, a in enumerate(same):
            for b in same[i + 1 :]:
                if subject_edge(a, b):
                    union(a.key, b.key)
    components: dict[int, set[int]] = {}
    for n in nodes:
        components.setdefault(find(n.key), set()).add(n.key)
    return sorted((frozenset(c) for c in components.values()), key=min)


def neighbours(node: MessageNode, candidates: Iterable[MessageNode]) -> list[int]:
    """Keys of the candidates that share an edge with `node`."""
    return [c.key for c in candidates if c.key != node.key and connected(node, c)]


WIDE = 8  # participants above which a message's subject edges are tested pair by pair


def subject_links(nodes: Sequence[MessageNode], new: set[int]) -> list[tuple[int, int]]:
    """Pairs of keys whose union joins every node in `new` with every node it shares a
    subject edge with: the same components as testing each new node against all nodes
    of its subject, without the quadratic cost (thousands of "Daily report" mails
    between the same two people would otherwise test millions of pairs).

    Two messages with a subject edge share two participants, so both sit in the bucket
    of (subject, that pair); inside a bucket the edge is only the date gap. Sorted by
    date, the nodes within SUBJECT_GAP of a new node are a run, and linking neighbours
    along the run joins them all; each neighbour link is made once per bucket. Messages
    with more than WIDE participants (too many pairs) are tested pair by pair."""
    links: list[tuple[int, int]] = []
    by_subject: dict[str, list[MessageNode]] = {}
    for n in nodes:
        if n.subject_key:
            by_subject.setdefault(n.subject_key, []).append(n)
    for same in by_subject.values():
        if len(same) < 2:
            continue
        for wide in (n for n in same if len(n.participants) > WIDE):
            links.extend(
                (wide.key, other.key)
                for other in same
                if other.key != wide.key
                and (wide.key in new or other.key in new)
                and subject_edge(wide, other)
            )
        buckets: dict[tuple[str, str], list[MessageNode]] = {}
        for n in same:
            if 2 <= len(n.participants) <= WIDE:
                for pair in combinations(sorted(n.participants), 2):
                    buckets.setdefault(pair, []).append(n)
        for members in buckets.values():
            if len(members) > 1 and any(n.key in new for n in members):
                links.extend(_runs_linked(members, new))
    return links


def _runs_linked(members: list[MessageNode], new: set[int]) -> list[tuple[int, int]]:
    """Neighbour links of one bucket covering, for each new member, the run of members
    within SUBJECT_GAP of it."""
    members = sorted(members, key=lambda n: n.date)
    dates = [n.date for n in members]
    skip = list(range(len(members)))  # skip[i] > i: position i is linked to i + 1 already

    def unlinked(i: int) -> int:
        root = i
        while skip[root] != root:
            root = skip[root]
        while skip[i] != root:
            skip[i], i = root, skip[i]
        return root

    links = []
    for n in members:
        if n.key not in new:
            continue
        first = bisect_left(dates, n.date - SUBJECT_GAP)
        last = bisect_right(dates, n.date + SUBJECT_GAP) - 1
        i = unlinked(first)
        while i < last:
            links.append((members[i].key, members[i + 1].key))
            skip[i] = i + 1
            i = unlinked(i + 1)
    return links

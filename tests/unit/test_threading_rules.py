"""Conversation threading (domain/threading.py): references first, then the provider's
thread id, then cleaned subject + two shared participants within a gap."""

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from emailsync.domain.threading import (
    MessageNode,
    UnionFind,
    group,
    subject_edge,
    subject_key,
    subject_links,
)

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def node(
    key: int,
    mid: str = "",
    refs: tuple[str, ...] = (),
    subject: str = "",
    people: set[str] | None = None,
    days: float = 0,
    thrid: str = "",
) -> MessageNode:
    return MessageNode(
        key,
        mid,
        refs,
        subject_key(subject),
        frozenset(people or set()),
        T0 + timedelta(days=days),
        thrid,
    )


def test_reply_prefixes_list_tags_and_case_do_not_change_the_subject_key() -> None:
    assert subject_key("Re: [acme] FWD: AW: Renewal  quote") == "renewal quote"
    assert subject_key("Invoice") == subject_key("RE: invoice")


def test_a_reply_joins_its_parent_by_in_reply_to() -> None:
    threads = group([node(1, "a@x"), node(2, "b@x", ("a@x",))])
    assert threads == [frozenset({1, 2})]


def test_siblings_under_a_missing_parent_share_a_thread() -> None:
    """JWZ's empty container: both reply to a message we never synced."""
    threads = group([node(1, "b@x", ("gone@x",)), node(2, "c@x", ("gone@x",))])
    assert threads == [frozenset({1, 2})]


def test_same_subject_alone_never_merges_unrelated_mail() -> None:
    a = node(1, "a@x", subject="Invoice", people={"me@x", "billing@shop"})
    b = node(2, "b@x", subject="Invoice", people={"me@x", "ann@other"})
    assert group([a, b]) == [frozenset({1}), frozenset({2})]


def test_same_subject_and_two_shared_participants_joins_threads() -> None:
    a = node(1, "a@x", subject="Quote", people={"me@x", "bob@acme"})
    b = node(2, "b@x", subject="RE: quote", people={"bob@acme", "me@x", "cc@acme"}, days=2)
    assert group([a, b]) == [frozenset({1, 2})]


def test_the_subject_rule_is_capped_in_time() -> None:
    a = node(1, "a@x", subject="Monthly report", people={"me@x", "bob@acme"})
    b = node(2, "b@x", subject="Monthly report", people={"me@x", "bob@acme"}, days=45)
    assert group([a, b]) == [frozenset({1}), frozenset({2})]


def test_provider_thread_id_joins_messages_without_references() -> None:
    assert group([node(1, "a@x", thrid="77"), node(2, "b@x", thrid="77")]) == [frozenset({1, 2})]


def test_a_late_message_connecting_two_threads_merges_them() -> None:
    a, c = node(1, "a@x"), node(3, "c@x")
    b = node(2, "b@x", ("a@x", "c@x"))
    assert group([a, c]) == [frozenset({1}), frozenset({3})]
    assert group([a, c, b]) == [frozenset({1, 2, 3})]


ids = st.sampled_from([f"m{i}@x" for i in range(8)])
subjects = st.sampled_from(["", "Quote", "Re: quote", "Invoice", "Lunch"])
people = st.sets(st.sampled_from(["me@x", "bob@a", "ann@b", "cy@c"]), max_size=3)


@st.composite
def mailboxes(draw: st.DrawFn) -> list[MessageNode]:
    count = draw(st.integers(min_value=0, max_value=12))
    return [
        node(
            k,
            draw(ids),
            tuple(draw(st.lists(ids, max_size=3))),
            draw(subjects),
            draw(people),
            draw(st.integers(min_value=0, max_value=90)),
            draw(st.sampled_from(["", "", "t1", "t2"])),
        )
        for k in range(count)
    ]


@settings(max_examples=300)
@given(mailboxes(), st.randoms())
def test_every_message_is_in_exactly_one_thread_whatever_the_order(
    nodes: list[MessageNode], rnd: object
) -> None:
    threads = group(nodes)
    keys = [k for t in threads for k in t]
    assert sorted(keys) == sorted(n.key for n in nodes)
    shuffled = list(nodes)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert set(group(shuffled)) == set(threads)


_PEOPLE = [f"p{i}@x" for i in range(12)]


@st.composite
def subject_nodes(draw: st.DrawFn) -> tuple[list[MessageNode], set[int]]:
    """Messages on few subjects and people, some of them wide, some of them new."""
    count = draw(st.integers(min_value=1, max_value=14))
    nodes = [
        node(
            key,
            f"m{key}@x",
            subject=draw(st.sampled_from(["Quote", "Re: quote", "Lunch", ""])),
            people=set(
                draw(st.lists(st.sampled_from(_PEOPLE), max_size=draw(st.sampled_from([3, 12]))))
            ),
            days=draw(st.sampled_from([0, 0, 1.5, 29, 30, 31, 45, 61, 90])),
        )
        for key in range(count)
    ]
    new = set(draw(st.lists(st.sampled_from(range(count)), unique=True)))
    return nodes, new


def _components(keys: list[int], pairs: list[tuple[int, int]]) -> set[frozenset[int]]:
    sets = UnionFind(keys)
    for a, b in pairs:
        sets.union(a, b)
    found: dict[int, set[int]] = {}
    for k in keys:
        found.setdefault(sets.find(k), set()).add(k)
    return {frozenset(c) for c in found.values()}


@settings(max_examples=1500, deadline=None)
@given(subject_nodes())
def test_subject_links_give_the_components_of_testing_every_pair(
    case: tuple[list[MessageNode], set[int]],
) -> None:
    """Reference: each new message tested against every other message."""
    nodes, new = case
    keys = [n.key for n in nodes]
    every_pair = [
        (a.key, b.key)
        for a in nodes
        for b in nodes
        if a.key in new and a.key != b.key and subject_edge(a, b)
    ]
    assert _components(keys, subject_links(nodes, new)) == _components(keys, every_pair)


def test_thousands_of_same_subject_mails_link_in_linear_time() -> None:
    """A daily-report flood between the same two people: one link per neighbour, not
    one test per pair."""
    people = {"me@x", "reports@vendor"}
    nodes = [node(k, subject="Daily report", people=people, days=k / 100) for k in range(20_000)]
    links = subject_links(nodes, {n.key for n in nodes[10_000:]})  # 100 a day
    assert len(links) < 20_000
    # the new half and the 30 days of stored mail before it
    joined = frozenset(range(7_000, 20_000))
    assert _components([n.key for n in nodes], links) == {
        joined,
        *(frozenset({k}) for k in range(7_000)),
    }

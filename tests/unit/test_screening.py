"""domain.screening: which rule keeps a message out, in the order the sync checks them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from emailsync.domain.conditions import PastScope, SyncConditions
from emailsync.domain.screening import KeptOut, kept_out

STARTED = datetime(2026, 11, 1, tzinfo=UTC)
PAST = STARTED - timedelta(days=3)
FUTURE = STARTED + timedelta(days=3)
ME = frozenset({"me@example.com"})


def rule(
    people: set[str],
    when: datetime = PAST,
    *,
    scope: PastScope = PastScope.CONTACTS,
    contacts: frozenset[str] = frozenset(),
    blocked: frozenset[str] = frozenset(),
    only: frozenset[str] | None = None,
) -> KeptOut | None:
    return kept_out(
        frozenset(people),
        when,
        conditions=SyncConditions(past_scope=scope),
        started_at=STARTED,
        own_emails=ME,
        contact_emails=contacts,
        blocked=blocked,
        only_emails=only,
    )


def test_a_block_wins_over_being_a_contact() -> None:
    people = {"me@example.com", "news@blocked.example"}
    assert rule(people, contacts=frozenset(people), blocked=frozenset({"blocked.example"})) == (
        KeptOut.BLOCKED
    )


def test_past_mail_without_a_contact_is_kept_out_under_only_contacts() -> None:
    assert rule({"me@example.com", "x@else.example"}) is KeptOut.NOT_A_CONTACT


def test_the_user_alone_is_not_a_contact_of_their_own_mail() -> None:
    assert rule({"me@example.com"}, contacts=ME) is KeptOut.NOT_A_CONTACT


def test_mail_after_the_sync_started_needs_no_contact() -> None:
    assert rule({"me@example.com", "x@else.example"}, FUTURE) is None


def test_all_people_keeps_past_mail_without_a_contact() -> None:
    assert rule({"x@else.example"}, scope=PastScope.ALL) is None


def test_a_rescan_for_some_people_leaves_the_others_out() -> None:
    people = {"x@else.example"}
    assert rule(people, scope=PastScope.ALL, only=frozenset({"y@else.example"})) is (
        KeptOut.OUT_OF_FOCUS
    )

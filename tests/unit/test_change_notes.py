"""What a change of conditions does to mail already synced (issue 13, item 5): wider
choices fetch the newly covered past (`widening`), narrower ones keep what is stored,
and `change_notes` says so to the user."""

from __future__ import annotations

from datetime import UTC, datetime

from emailsync.domain.conditions import (
    PastScope,
    SyncConditions,
    Widening,
    change_notes,
    widening,
)
from emailsync.domain.window import SyncFrom


def test_change_notes_say_what_happens_to_stored_mail() -> None:
    three = SyncConditions(sync_from=SyncFrom.THREE_MONTHS, folders=("INBOX", "Projects"))
    six = SyncConditions(sync_from=SyncFrom.SIX_MONTHS, folders=("INBOX", "Projects"))
    assert change_notes(three, six) == [
        "The next sync brings in the mail from 3 months back to 6 months back."
    ]
    assert "stays there" in change_notes(six, three)[0]
    to_all = SyncConditions(past_scope=PastScope.ALL, folders=("INBOX",))
    notes = change_notes(three, to_all)
    assert any("people who are not CRM contacts" in n for n in notes)
    assert any("Mail of Projects already in the CRM stays there" in n for n in notes)
    assert change_notes(three, three) == []


START = datetime(2026, 6, 1, tzinfo=UTC)
THREE = datetime(2026, 3, 1, tzinfo=UTC)
SIX = datetime(2025, 12, 1, tzinfo=UTC)


def test_a_wider_window_reads_only_the_newly_covered_past_under_the_same_scope() -> None:
    assert widening(THREE, PastScope.CONTACTS, SIX, PastScope.CONTACTS, START) == Widening(
        SIX, THREE, PastScope.CONTACTS
    )


def test_all_people_after_contacts_rereads_the_whole_past_of_the_window() -> None:
    assert widening(THREE, PastScope.CONTACTS, THREE, PastScope.ALL, START) == Widening(
        THREE, START, PastScope.ALL
    )
    assert widening(THREE, PastScope.CONTACTS, SIX, PastScope.ALL, START) == Widening(
        SIX, START, PastScope.ALL
    )


def test_the_same_or_narrower_conditions_read_nothing() -> None:
    assert widening(SIX, PastScope.ALL, THREE, PastScope.CONTACTS, START) is None
    assert widening(THREE, PastScope.ALL, THREE, PastScope.ALL, START) is None
    # no past asked for: the scope does not matter
    assert widening(START, PastScope.CONTACTS, START, PastScope.ALL, START) is None

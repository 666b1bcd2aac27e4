"""The rules that follow from the seed's sync conditions."""

from datetime import UTC, datetime, timedelta

from emailsync.domain.conditions import (
    FutureMode,
    PastScope,
    SyncConditions,
    folder_window_start,
    folders_to_sync,
    involves_contact,
    needs_contact,
    selected_folders,
)
from emailsync.domain.direction import direction
from emailsync.domain.model import FolderRole, ServerFolder
from emailsync.domain.window import SyncFrom

STARTED = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
SERVER = [
    ServerFolder("INBOX", FolderRole.INBOX),
    ServerFolder("Sent", FolderRole.SENT),
    ServerFolder("Trash", FolderRole.TRASH),
    ServerFolder("Junk", FolderRole.JUNK),
    ServerFolder("Drafts", FolderRole.DRAFTS),
    ServerFolder("Projects", FolderRole.NONE),
    ServerFolder("Shared", FolderRole.NONE, selectable=False),
]


def test_default_folders_are_inbox_and_sent() -> None:
    assert selected_folders(SyncConditions(), SERVER) == ["INBOX", "Sent"]


def test_chosen_folders_replace_the_defaults_and_unknown_names_are_ignored() -> None:
    chosen = SyncConditions(folders=("Projects", "Gone"))
    assert selected_folders(chosen, SERVER) == ["Projects"]


def test_future_all_adds_every_ordinary_folder_but_not_spam_bin_or_drafts() -> None:
    conditions = SyncConditions(future=FutureMode.ALL)
    assert folders_to_sync(conditions, SERVER) == ["INBOX", "Sent", "Projects"]


def test_future_selected_keeps_to_the_selection() -> None:
    assert folders_to_sync(SyncConditions(future=FutureMode.SELECTED), SERVER) == ["INBOX", "Sent"]


def test_folders_outside_the_selection_get_no_past_mail() -> None:
    conditions = SyncConditions(sync_from=SyncFrom.SIX_MONTHS)
    assert folder_window_start(conditions, STARTED, selected=False) == STARTED
    assert folder_window_start(conditions, STARTED, selected=True) < STARTED - timedelta(days=180)


def test_contacts_scope_applies_to_past_mail_only() -> None:
    conditions = SyncConditions(sync_from=SyncFrom.THREE_MONTHS, past_scope=PastScope.CONTACTS)
    assert needs_contact(conditions, STARTED - timedelta(days=3), STARTED)
    assert not needs_contact(conditions, STARTED + timedelta(seconds=1), STARTED)


def test_all_people_scope_never_needs_a_contact() -> None:
    conditions = SyncConditions(sync_from=SyncFrom.ONE_YEAR, past_scope=PastScope.ALL)
    assert not needs_contact(conditions, STARTED - timedelta(days=3), STARTED)


def test_now_has_no_past_so_no_contact_rule() -> None:
    conditions = SyncConditions(sync_from=SyncFrom.NOW, past_scope=PastScope.CONTACTS)
    assert not needs_contact(conditions, STARTED - timedelta(days=3), STARTED)


def test_the_account_owner_is_not_a_contact_of_their_own_mail() -> None:
    own = frozenset({"me@example.com"})
    contacts = frozenset({"me@example.com", "bob@acme.example"})
    assert not involves_contact(["me@example.com", "x@other.example"], own, contacts)
    assert involves_contact(["me@example.com", "bob@acme.example"], own, contacts)


def test_direction_is_sent_in_the_sent_folder_or_from_an_own_address() -> None:
    own = frozenset({"me@example.com", "alias@example.com"})
    assert direction(["x@y.example"], own, FolderRole.SENT) == "sent"
    assert direction(["alias@example.com"], own, FolderRole.INBOX) == "sent"
    assert direction(["x@y.example"], own, FolderRole.INBOX) == "received"

"""What `accounts configure` and the web conditions page say a change does to mail
already stored (issue 13, item 5): wider choices fetch, narrower ones keep."""

from __future__ import annotations

from emailsync.domain.conditions import PastScope, SyncConditions, change_notes
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

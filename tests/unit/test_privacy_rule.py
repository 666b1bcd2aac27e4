"""The privacy rule as a table: viewer × owner × sharing × link → visible or not."""

import pytest

from emailsync.domain.privacy import RecordRef, can_see_record, can_see_thread

OWNER, COLLEAGUE = 1, 2
COMPANY_RECORD = RecordRef(owner_user_id=OWNER, visibility="company")
OWNERS_RECORD = RecordRef(owner_user_id=OWNER, visibility="owner")
COLLEAGUES_RECORD = RecordRef(owner_user_id=COLLEAGUE, visibility="owner")


@pytest.mark.parametrize(
    ("viewer", "sharing", "links", "visible"),
    [
        (OWNER, "private", [], True),
        (OWNER, "shared", [], True),
        (OWNER, "private", [COMPANY_RECORD], True),
        (COLLEAGUE, "private", [], False),
        (COLLEAGUE, "private", [COMPANY_RECORD], False),  # private is private
        (COLLEAGUE, "shared", [], False),  # shared but linked to nothing
        (COLLEAGUE, "shared", [COMPANY_RECORD], True),
        (COLLEAGUE, "shared", [OWNERS_RECORD], False),  # a record the colleague can't see
        (COLLEAGUE, "shared", [OWNERS_RECORD, COMPANY_RECORD], True),
        (COLLEAGUE, "shared", [COLLEAGUES_RECORD], True),
    ],
)
def test_who_sees_a_thread(
    viewer: int, sharing: str, links: list[RecordRef], visible: bool
) -> None:
    assert can_see_thread(viewer, OWNER, sharing, links) is visible


def test_an_admin_reads_no_private_inbox() -> None:
    assert not can_see_thread(COLLEAGUE, OWNER, "private", [COMPANY_RECORD], viewer_is_admin=True)


def test_records_are_company_wide_unless_kept_by_their_owner() -> None:
    assert can_see_record(COLLEAGUE, COMPANY_RECORD)
    assert not can_see_record(COLLEAGUE, OWNERS_RECORD)
    assert can_see_record(OWNER, OWNERS_RECORD)

"""Before a message leaves the CRM: does any folder of the mailbox still hold it?

A message without a location in a synced folder was expunged, moved out of the
selection, or its folder was left out or renamed. Only the first means it is gone; so
before deleting, every folder of the mailbox is asked, the ones outside the selection
too, with a header search (UID SEARCH HEADER Message-ID, then a FETCH of the few hits'
headers to confirm the exact id): no body is read. Junk, Trash and Drafts count only
when selected: mail moved to the bin is a deletion (domain.conditions).

When a folder cannot be read, nothing is deleted this pass: the question is asked
again on the next one. Messages without a Message-ID cannot be searched for and go as
before (their folders' expunges are all there is to go on).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from emailsync.domain.conditions import NEVER_IMPLIED_ROLES
from emailsync.domain.model import ServerFolder
from emailsync.errors import ConnectionSetupError, EmailsyncError, TransientError
from emailsync.imap.protocol import ImapSession
from emailsync.mime.parse import parse_header_summary

SEARCH_CHUNK = 50  # Message-IDs per SEARCH (OR-ed)
SEARCH_ROUNDS = 4  # more SEARCHes than this per folder: read its headers instead
FETCH_CHUNK = 1000


def held_ids(
    session: ImapSession,
    server: Sequence[ServerFolder],
    synced: Collection[str],
    unlocated: dict[int, str],
) -> set[int]:
    """The ids among `unlocated` (id → Message-ID) that a folder of the mailbox holds;
    all of them when a folder could not be read."""
    by_message_id: dict[str, list[int]] = {}
    for pk, message_id in unlocated.items():
        if message_id:
            by_message_id.setdefault(message_id, []).append(pk)
    if not by_message_id:
        return set()
    found: set[str] = set()
    for folder in server:
        if not folder.selectable or (
            folder.role in NEVER_IMPLIED_ROLES and folder.name not in synced
        ):
            continue
        wanted = sorted(set(by_message_id) - found)
        if not wanted:
            break
        try:
            session.select(folder.name)
            found |= _found_in_selected(session, wanted)
        except (ConnectionSetupError, TransientError):
            raise
        except EmailsyncError:  # gone or refused: cannot tell, so keep everything
            return set(unlocated)
    return {pk for message_id in found for pk in by_message_id[message_id]}


def _found_in_selected(session: ImapSession, wanted: list[str]) -> set[str]:
    """The Message-IDs among `wanted` in the selected folder: searched for when few;
    when many (a folder left out of the selection), the headers of the whole folder
    are read once instead of a SEARCH per SEARCH_CHUNK, each scanning the folder."""
    wanted_set = set(wanted)
    found: set[str] = set()
    if len(wanted) > SEARCH_CHUNK * SEARCH_ROUNDS:
        hit_lists = [session.all_uids()]
    else:
        hit_lists = [
            session.search(_any_message_id(wanted[start : start + SEARCH_CHUNK]))
            for start in range(0, len(wanted), SEARCH_CHUNK)
        ]
    for uids in hit_lists:
        for first in range(0, len(uids), FETCH_CHUNK):
            for meta in session.fetch_messages(
                uids[first : first + FETCH_CHUNK], headers_only=True
            ):
                message_id = parse_header_summary(meta.header_bytes or b"").message_id
                if message_id in wanted_set:
                    found.add(message_id)
    return found


def _any_message_id(values: list[str]) -> list[object]:
    """UID SEARCH OR HEADER Message-ID a OR ... (RFC 3501 §6.4.4): a substring match,
    confirmed by the FETCH of the hits' headers."""
    criteria: list[object] = ["OR"] * (len(values) - 1)
    for value in values:
        criteria += ["HEADER", "Message-ID", value]
    return criteria

"""CRM use cases: persons, organisations, deals and the links of a thread, as the API and
the command line both run them. Each call is one transaction; the store below it only
takes a connection.

Who may do what (the one statement of it):

* The caller is a *viewer*: a user id, or None for the operator at the command line, who
  runs the installation and sees every record (there is no one's view to protect there).
* A record (person, organisation, deal) is seen by everyone when its visibility is
  `company`, else by its owner alone (domain.privacy.can_see_record). A record the viewer
  cannot see answers NotFound, exactly like one that does not exist.
* Anyone who can see a record may change or delete it; only its owner may change its
  visibility (a record without an owner, made from the command line, keeps the visibility
  it has). A deal may only point at records the viewer can see (UsageError: the request
  names them).
* Putting a person at an organisation by name makes the organisation (the viewer's,
  company-wide) when the name is new; a name taken by a record the viewer cannot see is
  refused rather than silently attaching the person to it.
* Links and splits change a thread: its owner only. Link reasons never name a record the
  viewer cannot see.
* After a change to a person or a deal, the threads of the addresses concerned are linked
  to deals again (store.conversations.relink_deals), in the same transaction.

An address (or an organisation's name) held by a record the viewer cannot see is refused
(Conflict), from the API and the command line alike, and the refusal names no part of
that record. Merging into it would change a record the viewer may not even read, and
would tell them, by what the merge returns, who holds that address. The operator sees
every record, so from the command line this refusal never arises there: `contacts add`
and `orgs add` go on merging into the record that holds the address or name (`merge=True`),
as they always have. The API creates only (`merge=False`): a taken address or name there
is a Conflict that points at PATCH, which adds to the record the caller can see.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Protocol, TypeVar

import sqlalchemy as sa

from emailsync.domain.addresses import normalize_email
from emailsync.domain.privacy import RecordRef, can_see_record
from emailsync.domain.states import Visibility
from emailsync.errors import Conflict, NotFound, UsageError
from emailsync.store import conversations, crm, directory
from emailsync.store import threads as thread_store
from emailsync.store.crm import Deal, Organisation
from emailsync.store.db import reading
from emailsync.store.directory import Person
from emailsync.store.tables import messages

Viewer = int | None
OPERATOR: Viewer = None  # the command line: sees and may change every record


class _Record(Protocol):
    @property
    def owner_user_id(self) -> int | None: ...

    @property
    def visibility(self) -> str: ...


def sees(viewer: Viewer, record: _Record) -> bool:
    return viewer is None or can_see_record(
        viewer, RecordRef(record.owner_user_id, record.visibility)
    )


def _check_visibility_change(
    viewer: Viewer, record: _Record, visibility: str | None, what: str
) -> None:
    if viewer is None or visibility is None or visibility == record.visibility:
        return
    if record.owner_user_id != viewer:
        raise UsageError(f"Only the owner of {what} can change who sees it")


def _relink(conn: sa.Connection, emails: Iterable[str] | None) -> int:
    return conversations.relink_deals(conn, None if emails is None else list(emails))


def relink(engine: sa.Engine, emails: Iterable[str] | None = None) -> int:
    """Link the threads of these addresses (all threads: None) to deals again."""
    with engine.begin() as conn:
        return _relink(conn, emails)


def _emails_of_persons(conn: sa.Connection, person_ids: set[int | None]) -> list[str]:
    return [
        e
        for p in sorted(i for i in person_ids if i)
        for e in conversations.person_emails_of(conn, p)
    ]


def _addresses(raw: Iterable[str]) -> list[str]:
    out = []
    for value in raw:
        email = normalize_email(value)
        if not email:
            raise UsageError(f"{value!r} is not an email address")
        out.append(email)
    return list(dict.fromkeys(out))


Record = TypeVar("Record", Organisation, Deal, Person)


def _visible(
    conn: sa.Connection,
    viewer: Viewer,
    read: Callable[[sa.Connection, int], Record],
    record_id: int,
    kind: str,
) -> Record:
    """The record, if the viewer may see it; the same answer when it does not exist."""
    try:
        record: Record | None = read(conn, record_id)
    except UsageError:
        record = None
    if record is None and viewer is None:
        raise NotFound(f"No {kind} {record_id}")  # the operator sees every record
    if record is None or not sees(viewer, record):
        raise NotFound(f"There is no {kind} {record_id} you can see")
    return record


# -- persons ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PersonSeen:
    """A person with their organisation, if the viewer may see it (else None)."""

    person: Person
    organisation: Organisation | None


def _person(conn: sa.Connection, viewer: Viewer, person_id: int) -> Person:
    return _visible(conn, viewer, directory.get_person, person_id, "contact")


def _seen(conn: sa.Connection, viewer: Viewer, person: Person) -> PersonSeen:
    org = None
    if person.organisation_id:
        org = crm.get_organisation(conn, person.organisation_id)
    return PersonSeen(person, org if org is not None and sees(viewer, org) else None)


def _organisation_named(conn: sa.Connection, viewer: Viewer, name: str) -> str:
    """The organisation a person is put at, by name: made (the viewer's, company-wide)
    when new; refused when the name is taken by a record the viewer cannot see."""
    name = name.strip()
    if not name:
        return ""
    org_id = directory.organisation_by_name(conn, name, create=False)
    if org_id is None:
        crm.add_organisation(conn, name, owner_user_id=viewer, visibility=Visibility.COMPANY)
    elif not sees(viewer, crm.get_organisation(conn, org_id)):
        raise UsageError(
            f"The organisation name {name!r} is taken by a record you cannot see; "
            "choose another name"
        )
    return name


def list_persons(engine: sa.Engine, viewer: Viewer) -> list[PersonSeen]:
    with reading(engine) as conn:
        orgs = {o.id: o for o in crm.list_organisations(conn)}
        persons = directory.list_persons(conn)
    out = []
    for p in persons:
        if sees(viewer, p):
            org = orgs.get(p.organisation_id) if p.organisation_id else None
            out.append(PersonSeen(p, org if org is not None and sees(viewer, org) else None))
    return out


def get_person(engine: sa.Engine, viewer: Viewer, person_id: int) -> PersonSeen:
    with reading(engine) as conn:
        return _seen(conn, viewer, _person(conn, viewer, person_id))


def find_person_by_email(engine: sa.Engine, viewer: Viewer, email: str) -> int | None:
    """The id of the contact the viewer can see that has this address."""
    with reading(engine) as conn:
        person_id = directory.find_person_by_email(conn, email)
        if person_id is None or not sees(viewer, directory.get_person(conn, person_id)):
            return None
        return person_id


def add_person(
    engine: sa.Engine,
    viewer: Viewer,
    emails: Iterable[str],
    name: str = "",
    org: str = "",
    *,
    owner_user_id: int | None,
    visibility: str = Visibility.COMPANY,
    merge: bool = False,
) -> tuple[PersonSeen, int]:
    """Add a contact; with `merge`, add to the contact that holds one of the addresses.
    Returns the contact and how many threads went onto a deal because of it."""
    addresses = _addresses(emails)
    with engine.begin() as conn:
        for email in addresses:
            holder = directory.find_person_by_email(conn, email)
            if holder is None:
                continue
            if not sees(viewer, directory.get_person(conn, holder)):
                raise Conflict(f"The address {email} belongs to a contact you cannot see")
            if not merge:
                raise Conflict(
                    f"The address {email} belongs to contact {holder} already: add addresses "
                    f"with PATCH /api/v1/persons/{holder}"
                )
        org_name = _organisation_named(conn, viewer, org)
        person = directory.add_person(
            conn,
            addresses,
            name.strip(),
            org_name,
            owner_user_id=owner_user_id,
            visibility=visibility,
        )
        linked = _relink(conn, person.emails)
        return _seen(conn, viewer, person), linked


def update_person(
    engine: sa.Engine,
    viewer: Viewer,
    person_id: int,
    *,
    name: str | None = None,
    org: str | None = None,
    visibility: str | None = None,
    add_emails: Iterable[str] = (),
) -> tuple[PersonSeen, int]:
    """Change a contact (`org=""` takes them off their organisation); addresses are only
    ever added here. Returns the contact and how many threads went onto a deal."""
    with engine.begin() as conn:
        person = _person(conn, viewer, person_id)
        _check_visibility_change(viewer, person, visibility, f"contact {person_id}")
        org_name = None if org is None else _organisation_named(conn, viewer, org)
        new = [e for e in _addresses(add_emails) if e not in person.emails]
        for email in new:
            holder = directory.find_person_by_email(conn, email)
            if holder is not None and holder != person_id:
                raise Conflict(f"The address {email} belongs to another contact already")
        person = directory.update_person(
            conn,
            person_id,
            name=name.strip() if name is not None else None,
            org=org_name,
            visibility=visibility,
        )
        linked = 0
        if new:
            person = directory.add_person(conn, [*person.emails, *new])
            linked = _relink(conn, person.emails)
        return _seen(conn, viewer, person), linked


def delete_person(engine: sa.Engine, viewer: Viewer, person_id: int) -> None:
    """The mail with them stays, no longer linked to them; their deals lose their person."""
    with engine.begin() as conn:
        _person(conn, viewer, person_id)
        directory.delete_person(conn, person_id)


def import_persons_csv(engine: sa.Engine, path: Path) -> int:
    """The operator's import of `name,email,org` rows: all rows or none, then every thread
    linked to deals again."""
    with engine.begin() as conn:
        count = directory.import_persons_csv(conn, path)
        _relink(conn, None)
        return count


# -- organisations --------------------------------------------------------------------------


def _organisation(conn: sa.Connection, viewer: Viewer, org_id: int) -> Organisation:
    return _visible(conn, viewer, crm.get_organisation, org_id, "organisation")


def list_organisations(engine: sa.Engine, viewer: Viewer) -> list[Organisation]:
    with reading(engine) as conn:
        return [o for o in crm.list_organisations(conn) if sees(viewer, o)]


def get_organisation(engine: sa.Engine, viewer: Viewer, org_id: int) -> Organisation:
    with reading(engine) as conn:
        return _organisation(conn, viewer, org_id)


def find_organisation(engine: sa.Engine, viewer: Viewer, name: str) -> Organisation | None:
    """The organisation of that name (case-insensitive), if the viewer can see it."""
    with reading(engine) as conn:
        org_id = directory.organisation_by_name(conn, name, create=False)
        if org_id is None:
            return None
        org = crm.get_organisation(conn, org_id)
    return org if sees(viewer, org) else None


def add_organisation(
    engine: sa.Engine,
    viewer: Viewer,
    name: str,
    domains: Iterable[str] = (),
    *,
    owner_user_id: int | None,
    visibility: str | None = None,
    merge: bool = False,
) -> Organisation:
    """Add an organisation; with `merge`, add the domains to the one of that name (whose
    owner stays, and whose visibility changes only when one is given)."""
    name = name.strip()
    if not name:
        raise UsageError("An organisation needs a name")
    with engine.begin() as conn:
        existing = directory.organisation_by_name(conn, name, create=False)
        if existing is not None:
            org = crm.get_organisation(conn, existing)
            if not sees(viewer, org):
                raise Conflict(
                    f"The organisation name {name!r} is taken by a record you cannot see"
                )
            if not merge:
                raise Conflict(
                    f"An organisation named {name!r} exists already (id {existing}): add "
                    f"domains with PATCH /api/v1/organisations/{existing}"
                )
            _check_visibility_change(viewer, org, visibility, f"organisation {existing}")
        return crm.add_organisation(
            conn, name, domains, owner_user_id=owner_user_id, visibility=visibility
        )


def update_organisation(
    engine: sa.Engine,
    viewer: Viewer,
    org_id: int,
    *,
    add_domains: Iterable[str] = (),
    visibility: str | None = None,
) -> Organisation:
    """Add domains, or (owner only) change who sees it. Renaming and removing domains are
    not offered: the store has no operation for them."""
    domains = list(add_domains)
    with engine.begin() as conn:
        org = _organisation(conn, viewer, org_id)
        _check_visibility_change(viewer, org, visibility, f"organisation {org_id}")
        if not domains and visibility in (None, org.visibility):
            return org
        return crm.add_organisation(
            conn,
            org.name,
            domains,
            owner_user_id=org.owner_user_id,  # add_organisation keeps them: say them again
            visibility=visibility or org.visibility,
        )


def delete_organisation(engine: sa.Engine, viewer: Viewer, org_id: int) -> None:
    """Its persons and deals stay, without an organisation."""
    with engine.begin() as conn:
        _organisation(conn, viewer, org_id)
        crm.delete_organisation(conn, org_id)


def import_organisations_csv(engine: sa.Engine, path: Path) -> int:
    """The operator's import of `name,domains` rows: all rows or none."""
    with engine.begin() as conn:
        return crm.import_organisations_csv(conn, path)


# -- deals ----------------------------------------------------------------------------------


def _deal(conn: sa.Connection, viewer: Viewer, deal_id: int) -> Deal:
    return _visible(conn, viewer, crm.get_deal, deal_id, "deal")


def _references(
    conn: sa.Connection, viewer: Viewer, person_id: int | None, org_id: int | None
) -> None:
    """A deal may only point at records the viewer can see (UsageError: the request's
    fault, not a missing deal)."""
    try:
        if person_id is not None:
            _person(conn, viewer, person_id)
        if org_id is not None:
            _organisation(conn, viewer, org_id)
    except NotFound as exc:
        raise UsageError(str(exc)) from None


def list_deals(engine: sa.Engine, viewer: Viewer) -> list[Deal]:
    with reading(engine) as conn:
        return [d for d in crm.list_deals(conn) if sees(viewer, d)]


def get_deal(engine: sa.Engine, viewer: Viewer, deal_id: int) -> Deal:
    with reading(engine) as conn:
        return _deal(conn, viewer, deal_id)


def add_deal(
    engine: sa.Engine,
    viewer: Viewer,
    title: str,
    *,
    value: str | Decimal | int = 0,
    currency: str = "EUR",
    status: str = "open",
    person_id: int | None = None,
    organisation_id: int | None = None,
    owner_user_id: int | None,
    visibility: str = Visibility.COMPANY,
) -> tuple[Deal, int]:
    """When it is its person's only open deal, their threads without a deal go onto it.
    Returns the deal and how many threads went onto a deal."""
    with engine.begin() as conn:
        _references(conn, viewer, person_id, organisation_id)
        deal = crm.add_deal(
            conn,
            title,
            value=value,
            currency=currency,
            person_id=person_id,
            organisation_id=organisation_id,
            owner_user_id=owner_user_id,
            status=status,
            visibility=visibility,
        )
        return deal, _relink(conn, _emails_of_persons(conn, {deal.person_id}))


def update_deal(
    engine: sa.Engine,
    viewer: Viewer,
    deal_id: int,
    *,
    title: str | None = None,
    value: str | Decimal | int | None = None,
    currency: str | None = None,
    status: str | None = None,
    person_id: int | None = None,
    organisation_id: int | None = None,
    visibility: str | None = None,
) -> tuple[Deal, int]:
    """Anyone who can see the deal may change it (None: leave as is); its visibility only
    its owner. A thread stays on a deal once put there."""
    with engine.begin() as conn:
        deal = _deal(conn, viewer, deal_id)
        _check_visibility_change(viewer, deal, visibility, f"deal {deal_id}")
        _references(conn, viewer, person_id, organisation_id)
        changes = (title, value, currency, status, person_id, organisation_id, visibility)
        if all(c is None for c in changes):
            return deal, 0
        updated = crm.update_deal(
            conn,
            deal_id,
            title=title,
            value=value,
            currency=currency,
            status=status,
            person_id=person_id,
            organisation_id=organisation_id,
            visibility=visibility,
        )
        emails = _emails_of_persons(conn, {deal.person_id, updated.person_id})
        return updated, _relink(conn, emails)


def delete_deal(engine: sa.Engine, viewer: Viewer, deal_id: int) -> int:
    """Its threads lose the deal, and may go on their person's only other open deal.
    Returns how many threads went onto a deal."""
    with engine.begin() as conn:
        deal = _deal(conn, viewer, deal_id)
        crm.delete_deal(conn, deal_id)
        return _relink(conn, _emails_of_persons(conn, {deal.person_id}))


def import_deals_csv(engine: sa.Engine, path: Path) -> int:
    """The operator's import of `title,value,status,person_email,organisation` rows: all
    rows or none, then every thread linked to deals again."""
    with engine.begin() as conn:
        count = crm.import_deals_csv(conn, path)
        _relink(conn, None)
        return count


# -- a thread's links, splitting it, why a message is linked -----------------------------------


def _visible_thread(conn: sa.Connection, viewer: int, thread_id: int) -> None:
    if thread_id not in conversations.visible_thread_ids(conn, viewer, [thread_id]):
        raise NotFound(f"There is no conversation {thread_id} you can open")


def _own_thread(conn: sa.Connection, viewer: int, thread_id: int) -> None:
    _visible_thread(conn, viewer, thread_id)
    if conversations.thread_owner(conn, thread_id) != viewer:
        raise UsageError(f"Only the owner of conversation {thread_id} can change it")


def _all_links(conn: sa.Connection, viewer: int, thread_id: int) -> conversations.ThreadLinks:
    return conversations.links_of_threads(conn, [thread_id], viewer).get(
        thread_id, conversations.ThreadLinks()
    )


def _links(conn: sa.Connection, viewer: int, thread_id: int) -> conversations.ThreadLinks:
    """The thread's links, leaving out every record the viewer cannot see."""
    links = _all_links(conn, viewer, thread_id)

    def seen(r: conversations.LinkedRecord) -> bool:
        return can_see_record(viewer, r.ref())

    return conversations.ThreadLinks(
        persons=[p for p in links.persons if seen(p)],
        organisations=[o for o in links.organisations if seen(o)],
        deal=links.deal if links.deal and seen(links.deal) else None,
    )


def thread_links(engine: sa.Engine, viewer: int, thread_id: int) -> conversations.ThreadLinks:
    """The records a thread the viewer can open is linked to, each with its reason."""
    with reading(engine) as conn:
        _visible_thread(conn, viewer, thread_id)
        return _links(conn, viewer, thread_id)


def link_thread(
    engine: sa.Engine, viewer: int, thread_id: int, kind: str, target_id: int
) -> conversations.ThreadLinks:
    """A manual link (owner only) always wins over the linker; a deal replaces the
    thread's deal. The record must be one the viewer can see."""
    finders = {"person": _person, "organisation": _organisation, "deal": _deal}
    with engine.begin() as conn:
        _own_thread(conn, viewer, thread_id)
        try:
            finders[kind](conn, viewer, target_id)
        except NotFound as exc:
            raise UsageError(str(exc)) from None
        conversations.link(conn, viewer, thread_id, kind, target_id)
    return thread_links(engine, viewer, thread_id)


def unlink_thread(
    engine: sa.Engine, viewer: int, thread_id: int, kind: str, target_id: int
) -> None:
    """Owner only; the linker will not add the link back."""
    with engine.begin() as conn:
        _own_thread(conn, viewer, thread_id)
        if kind == "deal":
            current = _all_links(conn, viewer, thread_id).deal
            if current is None or current.id != target_id:
                # conversations.unlink drops whatever deal the thread is on: check it is this one
                raise UsageError(f"Conversation {thread_id} is not on deal {target_id}")
        conversations.unlink(conn, viewer, thread_id, kind, target_id)


def split_thread(engine: sa.Engine, viewer: int, thread_id: int, message_ids: Iterable[int]) -> int:
    """Move messages of a thread (owner only) into a thread of their own, which the
    threader respects later. Returns the new thread's id."""
    wanted = list(dict.fromkeys(message_ids))
    with engine.begin() as conn:
        _own_thread(conn, viewer, thread_id)
        members: set[int] = set(
            conn.execute(
                sa.select(messages.c.id).where(messages.c.thread_id == thread_id)
            ).scalars()
        )
        strangers = [m for m in wanted if m not in members]
        if strangers:
            raise UsageError(
                f"Message {strangers[0]} is not in conversation {thread_id}: name messages of it"
            )
        if len(wanted) == len(members):
            raise UsageError(f"Leave at least one message in conversation {thread_id}")
        return thread_store.split_thread(conn, wanted)


def message_why(engine: sa.Engine, viewer: int, message_id: int) -> list[str]:
    """Every link of a message with its reason, leaving out what the viewer may not see."""
    with reading(engine) as conn:
        try:
            return conversations.why(conn, viewer, message_id)
        except UsageError:
            raise NotFound(f"There is no message {message_id} you can open") from None

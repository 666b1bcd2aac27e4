"""Which CRM records a conversation is linked to, and why: the one statement of the rule.
store/links.py loads the facts and calls it; no SQL and no I/O here.

For each participant other than the account's own addresses, in address order:
  * an address of a contact links that person ("x@acme.com (To) is Ann"), and the
    person's organisation ("Ann works at Acme");
  * otherwise an address at a domain of an organisation, or a subdomain of one, links
    that organisation ("... is at acme.com, a domain of Acme");
  * a person or organisation is linked once, by its first reason.
The user's own word wins: an unlinked record never comes back, a record linked by hand
is added ("linked by hand"). A thread is on at most one deal, stored because "once
linked, the thread stays on that deal": the linker puts a thread on the only open deal
of one of its persons (`deal_to_link`), and after a deal is won or lost, mail that
arrives later is not counted on it (`counts_on_deal`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from emailsync.domain.addresses import email_domain
from emailsync.domain.privacy import RecordRef, can_see_record

# Header fields in the order a participant's reason names them: the first one it is in.
FIELD_NAMES = {
    "from": "From",
    "sender": "Sender",
    "reply_to": "Reply-To",
    "to": "To",
    "cc": "Cc",
    "bcc": "Bcc",
}
_FIELD_ORDER = {name: i for i, name in enumerate(FIELD_NAMES)}


@dataclass(frozen=True, slots=True)
class Person:
    id: int
    name: str
    organisation_id: int | None
    owner_user_id: int | None
    visibility: str


@dataclass(frozen=True, slots=True)
class Organisation:
    id: int
    name: str
    owner_user_id: int | None
    visibility: str


@dataclass(frozen=True, slots=True)
class Deal:
    id: int
    title: str
    status: str  # open | won | lost
    closed_at: datetime | None
    person_id: int | None
    owner_user_id: int | None
    visibility: str

    @property
    def closed_since(self) -> datetime | None:
        """When a won or lost deal closed; None while it is open (or has no date)."""
        return self.closed_at if self.status != "open" else None


@dataclass(frozen=True, slots=True)
class Override:
    """The user's own word on one record of one thread (table thread_links)."""

    kind: str  # person | organisation
    target_id: int
    manual: bool
    removed: bool


@dataclass(frozen=True, slots=True)
class ThreadFacts:
    id: int
    own_emails: frozenset[str]  # the account's address and aliases: never a link
    participants: Mapping[str, str]  # address -> the first header field it appears in
    overrides: Sequence[Override] = ()
    deal_id: int | None = None
    deal_link_manual: bool = False
    deal_link_reason: str | None = None


@dataclass(frozen=True, slots=True)
class CrmFacts:
    """The part of the CRM a set of threads can link to."""

    person_of: Mapping[str, int] = field(default_factory=dict)  # address -> person
    persons: Mapping[int, Person] = field(default_factory=dict)
    organisations: Mapping[int, Organisation] = field(default_factory=dict)
    domains: Mapping[str, int] = field(default_factory=dict)  # domain -> organisation
    deals: Mapping[int, Deal] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LinkedRecord:
    kind: str  # person | organisation | deal
    id: int
    name: str
    reason: str
    manual: bool
    owner_user_id: int | None
    visibility: str
    closed_at: datetime | None = None  # deals only: Deal.closed_since

    def ref(self) -> RecordRef:
        return RecordRef(self.owner_user_id, self.visibility)


@dataclass(slots=True)
class ThreadLinks:
    persons: list[LinkedRecord] = field(default_factory=list)
    organisations: list[LinkedRecord] = field(default_factory=list)
    deal: LinkedRecord | None = None

    def records(self) -> list[LinkedRecord]:
        return [*self.persons, *self.organisations, *([self.deal] if self.deal else [])]

    def deal_of_message(self, received_at: datetime) -> LinkedRecord | None:
        """The thread's deal if this message counts on it (`counts_on_deal`), else None."""
        if self.deal is None or not counts_on_deal(received_at, self.deal.closed_at):
            return None
        return self.deal


def counts_on_deal(received_at: datetime, closed_at: datetime | None) -> bool:
    """Mail counts on its thread's deal unless it arrived after the deal was won or lost."""
    return closed_at is None or received_at <= closed_at


def first_fields(fields: Iterable[tuple[str, str]]) -> dict[str, str]:
    """(address, header field) pairs -> each address's first field in FIELD_NAMES order."""
    result: dict[str, str] = {}
    for email, name in fields:
        if email not in result or _FIELD_ORDER[name] < _FIELD_ORDER[result[email]]:
            result[email] = name
    return result


def domain_match(domain: str, domains: Mapping[str, int]) -> int | None:
    """The organisation owning the domain or its nearest parent (a subdomain counts)."""
    labels = domain.split(".")
    for i in range(len(labels) - 1):
        org = domains.get(".".join(labels[i:]))
        if org is not None:
            return org
    return None


def _person_record(p: Person, name: str, reason: str, manual: bool) -> LinkedRecord:
    return LinkedRecord("person", p.id, name, reason, manual, p.owner_user_id, p.visibility)


def _org_record(o: Organisation, reason: str, manual: bool) -> LinkedRecord:
    return LinkedRecord("organisation", o.id, o.name, reason, manual, o.owner_user_id, o.visibility)


def links_of(thread: ThreadFacts, crm: CrmFacts) -> ThreadLinks:
    """Every record the thread is linked to, with its reason (see the module docstring)."""
    links = ThreadLinks()
    removed = {(o.kind, o.target_id) for o in thread.overrides if o.removed}
    seen_orgs: set[int] = set()
    matched_people: set[int] = set()
    for email, header in sorted(thread.participants.items()):
        if email in thread.own_emails:
            continue
        person_id = crm.person_of.get(email)
        p = crm.persons.get(person_id) if person_id is not None else None
        if p is not None:
            if ("person", p.id) in removed or p.id in matched_people:
                continue
            matched_people.add(p.id)
            reason = f"{email} ({FIELD_NAMES[header]}) is {p.name or 'a contact'}"
            links.persons.append(_person_record(p, p.name or email, reason, False))
            org = crm.organisations.get(p.organisation_id) if p.organisation_id else None
            if org and org.id not in seen_orgs and ("organisation", org.id) not in removed:
                seen_orgs.add(org.id)
                links.organisations.append(
                    _org_record(org, f"{p.name or email} works at {org.name}", False)
                )
            continue
        domain = email_domain(email)
        org_id = domain_match(domain, crm.domains)
        org = crm.organisations.get(org_id) if org_id is not None else None
        if org is None or org.id in seen_orgs or ("organisation", org.id) in removed:
            continue
        seen_orgs.add(org.id)
        reason = (
            f"{email} ({FIELD_NAMES[header]}) is at {domain}, "
            f"a domain of {org.name} (no contact has this address)"
        )
        links.organisations.append(_org_record(org, reason, False))
    for o in thread.overrides:
        if o.removed or not o.manual:
            continue
        if o.kind == "person" and o.target_id not in matched_people:
            p = crm.persons.get(o.target_id)
            if p is not None:
                links.persons.append(_person_record(p, p.name, "linked by hand", True))
        if o.kind == "organisation" and o.target_id not in seen_orgs:
            org = crm.organisations.get(o.target_id)
            if org is not None:
                links.organisations.append(_org_record(org, "linked by hand", True))
    deal = crm.deals.get(thread.deal_id) if thread.deal_id else None
    if deal is not None:
        links.deal = LinkedRecord(
            "deal",
            deal.id,
            deal.title,
            "linked by hand" if thread.deal_link_manual else (thread.deal_link_reason or ""),
            thread.deal_link_manual,
            deal.owner_user_id,
            deal.visibility,
            deal.closed_since,
        )
    return links


def seen_by(viewer_id: int, links: ThreadLinks) -> ThreadLinks:
    """The links a viewer may see: a colleague's owner-only record shows on no one
    else's screen (domain.privacy.can_see_record)."""
    return ThreadLinks(
        persons=[r for r in links.persons if can_see_record(viewer_id, r.ref())],
        organisations=[r for r in links.organisations if can_see_record(viewer_id, r.ref())],
        deal=links.deal if links.deal and can_see_record(viewer_id, links.deal.ref()) else None,
    )


def deal_to_link(
    links: ThreadLinks, open_deals: Mapping[int, Sequence[Deal]]
) -> tuple[Deal, str] | None:
    """The deal the linker puts a thread on, with its reason: the only open deal of one
    of the thread's persons (lowest person id first). None when no person has exactly
    one. The caller asks only for threads without a deal and not linked by hand."""
    for person in sorted(links.persons, key=lambda p: p.id):
        candidates = open_deals.get(person.id, ())
        if len(candidates) == 1:
            deal = candidates[0]
            return deal, f"{person.reason}, whose only open deal is '{deal.title}'"
    return None

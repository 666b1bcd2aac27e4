"""The linking rule (domain.linking): participants, persons, domains, overrides -> links
with their reasons, and which mail counts on a deal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from emailsync.domain.linking import (
    CrmFacts,
    Deal,
    Organisation,
    Override,
    Person,
    ThreadFacts,
    ThreadLinks,
    counts_on_deal,
    deal_to_link,
    domain_match,
    first_fields,
    links_of,
    seen_by,
)

OWNER, COLLEAGUE = 1, 2
ACME = Organisation(10, "Acme", None, "company")
SECRET_ORG = Organisation(11, "Secret", OWNER, "owner")
ANN = Person(100, "Ann", ACME.id, None, "company")
BOB = Person(101, "", None, OWNER, "owner")
CRM = CrmFacts(
    person_of={"ann@acme.com": ANN.id, "ann@home.example": ANN.id, "bob@else.example": BOB.id},
    persons={ANN.id: ANN, BOB.id: BOB},
    organisations={ACME.id: ACME, SECRET_ORG.id: SECRET_ORG},
    domains={"acme.com": ACME.id, "secret.example": SECRET_ORG.id},
)
ME = frozenset({"me@example.com", "alias@example.com"})
WON = datetime(2026, 3, 1, 12, tzinfo=UTC)


def thread(participants: dict[str, str], *overrides: Override, **deal: object) -> ThreadFacts:
    return ThreadFacts(1, ME, participants, overrides, **deal)  # type: ignore[arg-type]


def reasons(links: ThreadLinks) -> list[tuple[str, str, str]]:
    return [(r.kind, r.name, r.reason) for r in links.records()]


def test_a_contacts_address_links_the_person_and_their_organisation() -> None:
    links = links_of(thread({"ann@acme.com": "to", "me@example.com": "from"}), CRM)
    assert reasons(links) == [
        ("person", "Ann", "ann@acme.com (To) is Ann"),
        ("organisation", "Acme", "Ann works at Acme"),
    ]


def test_an_unknown_address_at_an_organisations_subdomain_links_the_organisation() -> None:
    links = links_of(thread({"zed@eu.acme.com": "cc"}), CRM)
    assert reasons(links) == [
        (
            "organisation",
            "Acme",
            "zed@eu.acme.com (Cc) is at eu.acme.com, a domain of Acme "
            "(no contact has this address)",
        )
    ]


def test_a_person_with_two_addresses_in_the_thread_is_linked_once_by_the_first() -> None:
    links = links_of(thread({"ann@home.example": "cc", "ann@acme.com": "to"}), CRM)
    assert [r.reason for r in links.persons] == ["ann@acme.com (To) is Ann"]


def test_a_nameless_contact_is_named_by_address() -> None:
    links = links_of(thread({"bob@else.example": "from"}), CRM)
    assert reasons(links) == [
        ("person", "bob@else.example", "bob@else.example (From) is a contact")
    ]


def test_the_accounts_own_addresses_and_aliases_link_nothing() -> None:
    crm = CrmFacts(person_of={"alias@example.com": ANN.id}, persons={ANN.id: ANN})
    assert links_of(thread({"alias@example.com": "to"}), crm).records() == []


def test_unlinked_by_hand_stays_unlinked_and_linked_by_hand_is_added() -> None:
    links = links_of(
        thread(
            {"ann@acme.com": "to"},
            Override("organisation", ACME.id, manual=True, removed=True),
            Override("person", BOB.id, manual=True, removed=False),
        ),
        CRM,
    )
    assert reasons(links) == [
        ("person", "Ann", "ann@acme.com (To) is Ann"),
        ("person", "", "linked by hand"),
    ]


def test_a_viewer_sees_only_records_they_may_see() -> None:
    links = links_of(thread({"bob@else.example": "to", "x@secret.example": "to"}), CRM)
    assert len(links.records()) == 2
    assert seen_by(COLLEAGUE, links).records() == []
    assert seen_by(OWNER, links).records() == links.records()


def test_the_first_header_field_names_the_reason() -> None:
    fields = [("a@x.example", "bcc"), ("a@x.example", "from"), ("b@x.example", "cc")]
    assert first_fields(fields) == {"a@x.example": "from", "b@x.example": "cc"}


def test_a_domain_matches_itself_and_its_subdomains_never_a_bare_suffix() -> None:
    domains = {"acme.com": 1}
    assert domain_match("acme.com", domains) == 1
    assert domain_match("mail.eu.acme.com", domains) == 1
    assert domain_match("notacme.com", domains) is None
    assert domain_match("com", {"com": 2}) is None


def deal(status: str = "open", closed_at: datetime | None = None, person: int = ANN.id) -> Deal:
    return Deal(7, "Big one", status, closed_at, person, None, "company")


def test_a_thread_goes_on_the_only_open_deal_of_one_of_its_persons() -> None:
    links = links_of(thread({"ann@acme.com": "to"}), CRM)
    chosen = deal_to_link(links, {ANN.id: [deal()]})
    assert chosen is not None
    assert chosen[1] == "ann@acme.com (To) is Ann, whose only open deal is 'Big one'"
    assert deal_to_link(links, {ANN.id: [deal(), deal()]}) is None  # which one? none
    assert deal_to_link(links, {}) is None


def test_mail_after_a_deal_was_won_does_not_count_on_it() -> None:
    won = deal("won", WON)
    assert won.closed_since == WON
    assert counts_on_deal(WON, won.closed_since)
    assert not counts_on_deal(WON + timedelta(seconds=1), won.closed_since)
    assert deal("open", WON).closed_since is None  # reopened: everything counts again
    links = links_of(thread({}, deal_id=7), CrmFacts(deals={7: won}))
    assert links.deal_of_message(WON - timedelta(days=1)) == links.deal
    assert links.deal_of_message(WON + timedelta(days=1)) is None


# -- invariants ------------------------------------------------------------------------------

ADDRESSES = st.sampled_from(
    [
        "ann@acme.com",
        "ann@home.example",
        "bob@else.example",
        "x@eu.acme.com",
        "y@secret.example",
        "nobody@nowhere.example",
        "me@example.com",
        "alias@example.com",
    ]
)
FIELDS = st.sampled_from(["from", "sender", "reply_to", "to", "cc", "bcc"])
OVERRIDES = st.builds(
    Override,
    st.sampled_from(["person", "organisation"]),
    st.sampled_from([ANN.id, BOB.id, ACME.id, SECRET_ORG.id, 999]),
    st.booleans(),
    st.booleans(),
)


@given(st.dictionaries(ADDRESSES, FIELDS), st.lists(OVERRIDES, max_size=4))
def test_links_are_distinct_never_the_owner_and_never_what_was_unlinked(
    participants: dict[str, str], overrides: list[Override]
) -> None:
    # one override per record, as store.conversations._set_override keeps it
    unique = list({(o.kind, o.target_id): o for o in overrides}.values())
    links = links_of(thread(participants, *unique), CRM)
    keys = [(r.kind, r.id) for r in links.records()]
    assert len(keys) == len(set(keys))
    removed = {(o.kind, o.target_id) for o in unique if o.removed}
    assert not removed & set(keys)
    assert all(not r.reason.startswith(tuple(ME)) for r in links.records())
    for viewer in (OWNER, COLLEAGUE):
        seen = seen_by(viewer, links)
        assert seen_by(viewer, seen) == seen
        assert set(map(id, seen.records())) <= set(map(id, links.records()))


@given(st.dictionaries(ADDRESSES, FIELDS), st.dictionaries(st.just("me@example.com"), FIELDS))
def test_the_owner_joining_a_thread_changes_no_link(
    participants: dict[str, str], owner: dict[str, str]
) -> None:
    assert links_of(thread({**participants, **owner}), CRM) == links_of(
        thread({k: v for k, v in participants.items() if k not in ME}), CRM
    )
